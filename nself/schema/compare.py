"""The current environment's database against another environment's: `schema diff ENV`.

The other environment's database is read from ITS settings (`config/<other>.env`, then
`.env`, which applies to every environment), never from the current process's
`DATABASE_URL`/`PG*` variables, which belong to the current environment; the current
environment is not switched. Both sides are only read: one connection each, one
read-only introspection snapshot, closed."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import psycopg

from nself.config import Database, Environment, canonical_env_name
from nself.errors import NselfError, UsageError
from nself.pg import connection
from nself.schema.diff import Plan, diff
from nself.schema.introspect import introspect
from nself.schema.model import Schema
from nself.schema.shadow import migrations_schema

# What belongs to the running environment and must not leak into the other one's settings.
_CURRENT_ONLY = ("ENV", "NSELF_ENV", "DATABASE_URL", "NSELF_DATABASE_URL", "NSELF_ENV_FILE")


@dataclass
class Comparison:
    """LEFT (the current environment) against RIGHT (the other); `plan` turns LEFT's
    schema into RIGHT's."""

    left: str
    right: str
    plan: Plan = field(default_factory=Plan)
    left_schema: Schema | None = None
    right_schema: Schema | None = None
    renames: dict[str, str] = field(default_factory=dict)   # diff()'s hints (--rename)

    @property
    def equal(self) -> bool:
        return not self.plan.differences and not self.plan.changes

    @property
    def differences(self) -> list[str]:
        """The guides' lines: '+ Table: t (missing in RIGHT)' for what only LEFT has,
        '- Index: i (missing in LEFT)' for what only RIGHT has, '~ …' for what differs."""
        return self.plan.summary(self.left, self.right)

    @property
    def unsupported(self) -> list[str]:
        return list(self.plan.unsupported)

    def as_dict(self) -> dict:
        return {"left": self.left, "right": self.right, "equal": self.equal,
                "differences": self.differences, "unsupported": self.unsupported}


def other_environment(env: Environment, other_name: str) -> Environment:
    """The environment OTHER_NAME of ENV's project, with its own settings: config/<other>.env,
    then .env, then the process environment without the current environment's name and
    database (ENV, NSELF_ENV, DATABASE_URL, PG*). Exit 2 for an unknown name or ENV's own."""
    name = canonical_env_name(other_name)
    if name == env.name:
        raise UsageError(f"{name} is the current environment: compare with another "
                         "environment (local, staging, production).")
    environ = {k: v for k, v in os.environ.items()
               if k not in _CURRENT_ONLY and not k.startswith("PG")}
    return Environment.load(env.root, environ | {"ENV": name})


def compare(env: Environment, other_name: str,
            hide: Callable[[str], None] | None = None,
            renames: list[str] | None = None) -> Comparison:
    """ENV's database against OTHER_NAME's. HIDE (if given) receives each of the other
    environment's passwords before anything can print them. RENAMES: --rename OLD:NEW
    values (a table or column of ENV's schema that OTHER_NAME's calls NEW: a rename, not a
    drop and an add). Never reports "equal" after a failure: every failure raises
    (unreachable: exit 4; same database, a rename naming nothing: exit 2)."""
    pairs = _rename_pairs(renames)
    other = other_environment(env, other_name)
    if hide is not None:
        for secret in other.secrets():
            hide(secret)
    left_db = connection.target(env)
    right_db = connection.target(other)
    if left_db.display() == right_db.display():
        raise UsageError(f"{env.name} and {other.name} use the same database "
                         f"({left_db.display()}): nothing to compare.")
    # the two servers work at once: introspection is mostly waiting for them
    with ThreadPoolExecutor(max_workers=2) as pool:
        left_job = pool.submit(_read, left_db, env.name)
        right_job = pool.submit(_read, right_db, other.name)
        left, right = left_job.result(), right_job.result()
    hints = _hints(pairs, left, right, env.name, other.name)
    return Comparison(env.name, other.name, diff(left, right, hints), left, right, hints)


def _rename_pairs(renames: list[str] | None) -> list[tuple[str, str]]:
    if not renames:
        return []
    # deferred: the importer pulls in the DBML reader (pydbml), needed only with --rename
    from nself.schema.importer import parse_renames

    return parse_renames(renames)


def _hints(pairs: list[tuple[str, str]], left: Schema, right: Schema, left_name: str,
           right_name: str) -> dict[str, str]:
    if not pairs:
        return {}
    # deferred: the importer pulls in the DBML reader (pydbml), needed only with --rename
    from nself.schema.importer import flag_hints

    return flag_hints(pairs, left, right, f"{right_name}'s schema", f"{left_name}'s schema")


def compare_migrations(env: Environment, say: Callable[[str], None],
                       renames: list[str] | None = None) -> Comparison:
    """ENV's database against the schema its migration files produce (replayed into a
    shadow database): drift, whatever caused it. RENAMES as in `compare`."""
    pairs = _rename_pairs(renames)
    env.require_project()
    live = _read(connection.target(env), env.name)
    produced = migrations_schema(env, say)
    hints = _hints(pairs, live, produced, env.name, "migrations")
    return Comparison(env.name, "migrations", diff(live, produced, hints), live, produced,
                      hints)


def _read(db: Database, side: str) -> Schema:
    """One side's schema, read-only; an error names the side."""
    try:
        with connection.connect(db) as conn:
            return introspect(conn)
    except psycopg.Error as exc:
        error = connection.translate_error(exc, db)
        error.args = (f"{side}: {error}",)
        raise error from None
    except NselfError as exc:
        exc.args = (f"{side}: {exc}",)
        raise
