"""The fleet's targets: which databases a fleet command runs on, and each one's Environment.

A project lists them per environment in `config/<env>.fleet.toml`:

    # every database on the configured server (DATABASE_URL) whose name matches a SQL LIKE
    # pattern (a string, or a list of them)
    match = "tenant_%"

    # named databases anywhere (a URL, or a libpq `key=value` string)
    [databases]
    eu = "postgresql://app@db-eu.example.com:5432/app"
    us = "postgresql://app@db-us.example.com:5432/app"

`--match PATTERN` replaces the file for one run. A matched database's target name is its
own name; a listed one's is its key. The project's settings (migrations folder, passwords,
lock settings) apply to every target; only the address differs.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo

from nself import userfile
from nself.config import ADDRESS_KEYS, URL_FLAG, Database, Environment, parse_database_url
from nself.errors import ConfigError, UsageError
from nself.pg import connection

if sys.version_info >= (3, 11):
    import tomllib
else:  # the same reader, before it joined the standard library
    import tomli as tomllib

KEYS = ("match", "databases")
# the databases a LIKE pattern matches on the configured server (templates and databases
# that refuse connections are never targets)
MATCH_SQL = """
SELECT datname FROM pg_database
WHERE datname LIKE %s AND datallowconn AND NOT datistemplate
ORDER BY datname
"""


@dataclass(frozen=True)
class Target:
    """One database of the fleet: its name in the fleet, how to reach it, who named it."""

    name: str
    database: Database
    source: str

    def environment(self, env: Environment) -> Environment:
        """`env` (the project's settings) with this target's address, as if `--url` gave it
        for the run: undo lines and messages name this database, never another."""
        settings = {k: v for k, v in env.settings.items() if k not in ADDRESS_KEYS}
        origins = {k: v for k, v in env.origins.items() if k not in ADDRESS_KEYS}
        settings["DATABASE_URL"] = make_conninfo(**self.database.params)
        origins["DATABASE_URL"] = URL_FLAG
        return replace(env, settings=settings, origins=origins, ignored=(), notes=())


def config_path(env: Environment) -> Path:
    """The fleet file of `env`'s environment: config/<env>.fleet.toml."""
    return env.root / "config" / f"{env.name}.fleet.toml"


@dataclass(frozen=True)
class FleetConfig:
    """What a fleet file says: LIKE patterns and named database addresses."""

    match: tuple[str, ...] = ()
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
                          "(LIKE patterns) and a [databases] table (name = URL).")
    match = data.get("match", [])
    if isinstance(match, str):
        match = [match]
    if not isinstance(match, list) or not all(isinstance(p, str) for p in match):
        raise ConfigError(f"{shown}: `match` must be a LIKE pattern or a list of them "
                          "(match = \"tenant_%\").")
    databases = data.get("databases", {})
    if not isinstance(databases, dict):
        raise ConfigError(f"{shown}: `databases` must be a table of name = URL ([databases] "
                          "then eu = \"postgresql://...\").")
    for name, url in databases.items():
        if not isinstance(url, str):
            raise ConfigError(f"{shown}: databases.{name} must be a URL in quotes.")
    if not match and not databases:
        raise ConfigError(f"{shown} names no target: add `match = \"PATTERN\"` or a "
                          "[databases] table.")
    return FleetConfig(tuple(match), tuple(databases.items()))


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


def matching(server: Database, pattern: str) -> list[str]:
    """The databases of SERVER whose names match the LIKE PATTERN."""
    with connection.connect(server) as conn:
        return [row[0] for row in conn.execute(MATCH_SQL, (pattern,)).fetchall()]


def resolve(env: Environment, match: str | None = None, only: list[str] | None = None
            ) -> list[Target]:
    """The targets of a fleet command: `--match` when given, else config/<env>.fleet.toml;
    `only` keeps the named ones (an unknown name is refused, with the names there are).
    Refused before anything runs: no file and no --match, a bad file or pattern, a pattern
    that matches nothing, one name twice."""
    path = config_path(env)
    shown = env.relative(path)
    if match is not None:
        config, origin = FleetConfig(match=(match,)), "--match"
    elif path.exists():
        config, origin = read_config(path, shown), shown
    else:
        raise ConfigError(f"No fleet targets: {shown} does not exist. Write it (match = "
                          "\"tenant_%\", or a [databases] table of name = URL), or give "
                          "--match PATTERN.")
    targets: list[Target] = []
    if config.match:
        server = connection.target(env)
        for pattern in config.match:
            check_pattern(pattern, f"{origin} pattern" if origin == "--match"
                          else f"{shown}: match")
            try:
                names = matching(server, pattern)
            except psycopg.Error as exc:
                raise UsageError(f"{origin} {pattern!r}: the server refused the pattern: "
                                 f"{connection.describe_error(exc)}") from None
            if not names:
                raise UsageError(f"{origin} {pattern!r} matches no database on "
                                 f"{server.display('')}; nothing was run.")
            targets += [Target(name, replace(server, params={**server.params, "dbname": name},
                                             embedded=False), f"{origin} {pattern}")
                        for name in names]
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
                              "[databases] key and a matched database, or two patterns); "
                              "each target must be named once.")
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
