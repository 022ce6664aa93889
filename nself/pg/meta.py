"""nself's `meta` table (created with the rest of nself's schema by `nself.pg.layout`): the
layout version of nself's tables and the environment the database belongs to.

The environment is recorded the first time an environment migrates or restores the
database, and raised when a stricter one does (local < staging < production): a database
once touched as production stays production. A command run under another environment
against a database recorded as staging or production is refused before anything changes
(`nself.safety.check_recorded_environment`).

It also names the tracking tables (and schemas) of the tools whose history `db migrate import
--adopt-applied` adopted (`other_tools_tracking`): they stay in the database, the old tool's
own, and are no user object of it (`nself.schema.introspect` leaves them out).
"""

from __future__ import annotations

import json

import psycopg

from nself.pg import layout
from nself.pg.scope import Scoped

ENVIRONMENT_KEY = "environment"
OTHER_TRACKING_KEY = "other_tools_tracking"
STRICTNESS = {"local": 0, "staging": 1, "production": 2}

READ_SQL = Scoped("SELECT value FROM nself.meta WHERE key = %s")
WRITE_SQL = Scoped("""
INSERT INTO nself.meta (key, value) VALUES (%s, %s)
ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value
""")
MISSING_SQL = Scoped("SELECT to_regclass('nself.meta') IS NULL")
# whether this role may read the meta table (a read-only role without USAGE on nself's
# schema: to_regclass would raise "permission denied for schema")
READABLE_SQL = Scoped("""
SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = 'nself' AND c.relname = 'meta'
                 AND has_schema_privilege(n.oid, 'USAGE')
                 AND has_table_privilege(c.oid, 'SELECT'))""")


def ensure(conn: psycopg.Connection) -> None:
    """nself's schema (`layout.ensure`) when the meta table is missing. A meta table of any
    layout takes the record as it is (its shape never changed): recording the environment
    of a restored or older database neither upgrades nor refuses it; the command's own
    writes do."""
    if conn.execute(MISSING_SQL).fetchone()[0]:
        layout.ensure(conn)


def read(conn: psycopg.Connection, key: str) -> str | None:
    """The meta value of `key`, or None (also when nself's schema does not exist)."""
    if conn.execute(MISSING_SQL).fetchone()[0]:
        return None
    row = conn.execute(READ_SQL, (key,)).fetchone()
    return row[0] if row else None


def recorded_environment(conn: psycopg.Connection) -> str | None:
    """The environment the database was recorded as, or None."""
    return read(conn, ENVIRONMENT_KEY)


def stricter(*names: str | None) -> str | None:
    """The strictest of the environment names given (None ignored; None when all are)."""
    known = [name for name in names if name is not None]
    return max(known, key=lambda name: STRICTNESS.get(name, 2)) if known else None


def record_environment(conn: psycopg.Connection, env_name: str) -> None:
    """Record `env_name` unless a stricter environment is recorded already."""
    current = recorded_environment(conn)
    if current is not None and STRICTNESS.get(current, 2) >= STRICTNESS[env_name]:
        return
    ensure(conn)
    conn.execute(WRITE_SQL, (ENVIRONMENT_KEY, env_name))


def set_environment(conn: psycopg.Connection, env_name: str) -> None:
    """Record `env_name` whatever is recorded now (after a wipe or a restore, which may have
    removed the record or brought a dump's: write what the target was, via
    `nself.guard.Guard.record`, never a lower environment)."""
    ensure(conn)
    conn.execute(WRITE_SQL, (ENVIRONMENT_KEY, env_name))


def other_tracking(conn: psycopg.Connection) -> tuple[set[str], set[str]]:
    """(qualified tables, schemas) other tools keep their history in, as adopted here (none
    when this role cannot read nself's meta table)."""
    if not conn.execute(READABLE_SQL).fetchone()[0]:
        return set(), set()
    value = read(conn, OTHER_TRACKING_KEY)
    found = json.loads(value) if value else {}
    return set(found.get("tables", [])), set(found.get("schemas", []))


def record_other_tracking(conn: psycopg.Connection, tables: list[str],
                          schemas: list[str]) -> None:
    """Add `tables` (qualified) and `schemas` to the other tools' tracking recorded here."""
    known_tables, known_schemas = other_tracking(conn)
    ensure(conn)
    conn.execute(WRITE_SQL, (OTHER_TRACKING_KEY, json.dumps({
        "tables": sorted(known_tables | set(tables)),
        "schemas": sorted(known_schemas | set(schemas))})))
