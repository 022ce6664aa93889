"""The fleet's targets: which databases a fleet command runs on, and each one's Environment.

A project lists them per environment in `config/<env>.fleet.toml`:

    # every database on the configured server (DATABASE_URL) whose name matches a SQL LIKE
    # pattern (a string, or a list of them)
    match = "tenant_%"

    # or: the schemas of the configured database whose names match a LIKE pattern (schema
    # per tenant: each runs the migrations with its schema first on the search_path, and
    # keeps its own tracking table, in its bookkeeping schema nself_<schema>)
    schemas = "tenant_%"

    # named databases anywhere (a URL, or a libpq `key=value` string)
    [databases]
    eu = "postgresql://app@db-eu.example.com:5432/app"
    us = "postgresql://app@db-us.example.com:5432/app"

`--match PATTERN` or `--schemas PATTERN` replaces the file for one run. A matched
database's or schema's target name is its own name; a listed one's is its key. The
project's settings (migrations folder, passwords, lock settings) apply to every target;
only the address differs.
"""

from __future__ import annotations

import sys
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo

from nself import userfile
from nself.config import (
    ADDRESS_KEYS,
    SEARCH_PATH_SETTING,
    URL_FLAG,
    Database,
    Environment,
    parse_database_url,
)
from nself.errors import ConfigError, UsageError
from nself.pg import catalog, connection, scope

if sys.version_info >= (3, 11):
    import tomllib
else:  # the same reader, before it joined the standard library
    import tomli as tomllib

KEYS = ("match", "schemas", "databases")
# the databases a LIKE pattern matches on the configured server (templates and databases
# that refuse connections are never targets)
MATCH_SQL = """
SELECT datname FROM pg_database
WHERE datname LIKE %s AND datallowconn AND NOT datistemplate
ORDER BY datname
"""
# the user schemas a LIKE pattern matches in the configured database (never a tenant's own
# bookkeeping schema, nor nself's)
SCHEMAS_SQL = f"""
SELECT n.nspname FROM pg_namespace n
WHERE n.nspname LIKE %s AND {catalog.USER_SCHEMA_WHERE.replace('%', '%%')}
  AND coalesce(obj_description(n.oid, 'pg_namespace'), '') NOT LIKE 'nself''s own%%'
ORDER BY 1
"""


@dataclass(frozen=True)
class Target:
    """One database of the fleet: its name in the fleet, how to reach it, who named it."""

    name: str
    database: Database
    source: str
    schema: str | None = None  # a schema target: this schema of the database

    def environment(self, env: Environment) -> Environment:
        """`env` (the project's settings) with this target's address, as if `--url` gave it
        for the run: undo lines and messages name this database, never another. A schema
        target's schema comes first on the search_path (then DATABASE_SEARCH_PATH, or
        public)."""
        settings = {k: v for k, v in env.settings.items() if k not in ADDRESS_KEYS}
        origins = {k: v for k, v in env.origins.items() if k not in ADDRESS_KEYS}
        settings["DATABASE_URL"] = make_conninfo(**self.database.params)
        origins["DATABASE_URL"] = URL_FLAG
        if self.schema is not None:
            first = '"' + self.schema.replace('"', '""') + '"'
            settings[SEARCH_PATH_SETTING] = f"{first},{env.search_path or 'public'}"
        return replace(env, settings=settings, origins=origins, ignored=(), notes=())

    def scope(self):
        """The run's scope on this target (`nself.pg.scope`): a tenant's for a schema."""
        return scope.tenant(self.schema) if self.schema is not None else nullcontext()


def config_path(env: Environment) -> Path:
    """The fleet file of `env`'s environment: config/<env>.fleet.toml."""
    return env.root / "config" / f"{env.name}.fleet.toml"


@dataclass(frozen=True)
class FleetConfig:
    """What a fleet file says: LIKE patterns and named database addresses."""

    match: tuple[str, ...] = ()
    schemas: tuple[str, ...] = ()
    databases: tuple[tuple[str, str], ...] = ()


def read_config(path: Path, shown: str) -> FleetConfig:
    """The fleet file at PATH; anything malformed is one ConfigError naming the file (never
    a URL's password)."""
    text = userfile.read_text(path, "a fleet file", userfile.SETTINGS_LIMIT, shown=shown,
                              error=ConfigError)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{shown} is not valid TOML: {exc}.") from None
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise ConfigError(f"{shown}: unknown key {unknown[0]!r}; a fleet file has `match` "
                          "and `schemas` (LIKE patterns) and a [databases] table (name = URL).")
    match, schemas = (_patterns(data, key, shown) for key in ("match", "schemas"))
    databases = data.get("databases", {})
    if not isinstance(databases, dict):
        raise ConfigError(f"{shown}: `databases` must be a table of name = URL ([databases] "
                          "then eu = \"postgresql://...\").")
    for name, url in databases.items():
        if not isinstance(url, str):
            raise ConfigError(f"{shown}: databases.{name} must be a URL in quotes.")
    if not match and not schemas and not databases:
        raise ConfigError(f"{shown} names no target: add `match = \"PATTERN\"`, `schemas = "
                          "\"PATTERN\"` or a [databases] table.")
    return FleetConfig(match, schemas, tuple(databases.items()))


def _patterns(data: dict, key: str, shown: str) -> tuple[str, ...]:
    """The fleet file's KEY: a LIKE pattern or a list of them."""
    value = data.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise ConfigError(f"{shown}: `{key}` must be a LIKE pattern or a list of them "
                          f"({key} = \"tenant_%\").")
    return tuple(value)


def check_pattern(pattern: str, where: str) -> str:
    """A LIKE pattern PostgreSQL accepts (checked before any database is read)."""
    if not pattern:
        raise UsageError(f"{where}: the pattern is empty; give a LIKE pattern such as "
                         "tenant_% (% any characters, _ one).")
    trailing = len(pattern) - len(pattern.rstrip("\\"))
    if trailing % 2:
        raise UsageError(f"{where} {pattern!r} ends with the escape character \\, which LIKE "
                         "refuses; write \\\\ for a backslash.")
    return pattern


def matching(server: Database, query: str, pattern: str, origin: str) -> list[str]:
    """The names QUERY finds on SERVER for the LIKE PATTERN (databases or schemas); a
    pattern the server refuses, or one that matches nothing, is a UsageError."""
    try:
        with connection.connect(server) as conn:
            names = [row[0] for row in conn.execute(query, (pattern,)).fetchall()]
    except psycopg.DatabaseError as exc:
        raise UsageError(f"{origin} {pattern!r}: the server refused the pattern: "
                         f"{connection.describe_error(exc)}") from None
    if not names:
        what = "database on" if query is MATCH_SQL else "schema in"
        shown = server.display("" if query is MATCH_SQL else None)
        raise UsageError(f"{origin} {pattern!r} matches no {what} {shown}; nothing was run.")
    return names


def resolve(env: Environment, match: str | None = None, schemas: str | None = None,
            only: list[str] | None = None) -> list[Target]:
    """The targets of a fleet command: `--match` / `--schemas` when given, else
    config/<env>.fleet.toml; `only` keeps the named ones (an unknown name is refused, with
    the names there are). Refused before anything runs: no file and no flag, a bad file or
    pattern, a pattern that matches nothing, one name twice."""
    path = config_path(env)
    shown = env.relative(path)
    if match is not None or schemas is not None:
        config = FleetConfig(match=(match,) if match is not None else (),
                             schemas=(schemas,) if schemas is not None else ())
    elif path.exists():
        config = read_config(path, shown)
    else:
        raise ConfigError(f"No fleet targets: {shown} does not exist. Write it (match = "
                          "\"tenant_%\", schemas = \"tenant_%\", or a [databases] table of "
                          "name = URL), or give --match PATTERN or --schemas PATTERN.")
    targets: list[Target] = []
    if config.match or config.schemas:
        server = connection.target(env)
        for key, query in (("match", MATCH_SQL), ("schemas", SCHEMAS_SQL)):
            from_flag = (match if key == "match" else schemas) is not None
            origin = f"--{key}" if from_flag else f"{shown}: {key}"
            for pattern in getattr(config, key):
                check_pattern(pattern, origin)
                for name in matching(server, query, pattern, origin):
                    if key == "match":
                        targets.append(Target(name, replace(
                            server, params={**server.params, "dbname": name}, embedded=False),
                            f"{origin} {pattern}"))
                    else:
                        targets.append(Target(name, replace(server, embedded=False),
                                              f"{origin} {pattern}", schema=name))
    for name, url in config.databases:
        try:
            params = parse_database_url(url)
        except ConfigError as exc:
            raise ConfigError(f"{shown}: databases.{name}: {exc}") from None
        targets.append(Target(name, Database(params), shown))
    seen: set[str] = set()
    for target in targets:
        if target.name in seen:
            raise ConfigError(f"{shown}: the target {target.name!r} is named twice (a "
                              "[databases] key and a matched database or schema, or two "
                              "patterns); each target must be named once.")
        seen.add(target.name)
    return chosen(targets, only)


def chosen(targets: list[Target], only: list[str] | None) -> list[Target]:
    """The targets `--only` names, in the fleet's order; all of them without --only."""
    if not only:
        return targets
    names = {t.name for t in targets}
    unknown = [name for name in only if name not in names]
    if unknown:
        listed = ", ".join(t.name for t in targets[:10]) + (", ..." if len(targets) > 10 else "")
        raise UsageError(f"--only: no target named {', '.join(map(repr, unknown))}; the "
                         f"targets are {listed}.")
    wanted = set(only)
    return [t for t in targets if t.name in wanted]
