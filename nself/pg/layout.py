"""nself's own schema, `nself`: every table nself keeps, one layout version for all of them,
and the upgrades from every earlier layout.

The layout version is the `layout_version` row of `nself.meta`. `ensure` brings any database
to this layout: it creates what is missing and runs each upgrade in one transaction with its
version bump, under a transaction advisory lock (two processes using a database for the
first time at once: the second finds the work done). A database of a newer layout is
refused. Read-only commands never call it: they read what is there (a database nself never
wrote to has no `nself` schema, and keeps none).

Layouts:
  1. `meta`, `migrations`, `migration_progress`;
  2. `migration_progress.started` and `.direction` (resuming no-transaction migrations);
  3. `migrations.schema_fingerprint` (drift);
  4. `seeds` and the mock tables (`mock_runs`, `mock_rows`, `mock_counters`), created by
     their own modules outside any version before, join the version; a `mock_rows` of the
     first mock code (keys in a `keys text[]` column) moves its keys into a table per row,
     as mock records them now.
A database without a `layout_version` row holds layout 1 when `nself.migrations` is there,
and otherwise only tables that were outside any version (meta, seeds, mock): the missing
tables are created as this layout has them and the upgrades from layout 3 on run.

To change a table: change its CREATE in TABLES, add the upgrade from the current layout to
UPGRADES (written for that layout's shape, and harmless on the new one), bump VERSION, and
add the old shape to tests/pg/test_own_layout.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import psycopg
from psycopg import sql

from nself.errors import OperationFailed
from nself.pg.scope import Scoped

VERSION = 4
SCHEMA = "nself"

SCHEMA_SQL = """
CREATE SCHEMA nself;
COMMENT ON SCHEMA nself IS 'nself''s own bookkeeping (migration history); not for application data'
"""
# the tracking table, also for `repair` to rebuild a damaged one
MIGRATIONS_SQL = """
CREATE TABLE nself.migrations (
    version bigint PRIMARY KEY,
    label text NOT NULL,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    execution_ms double precision NOT NULL DEFAULT 0,
    applied_by text NOT NULL DEFAULT current_user,
    no_transaction boolean NOT NULL DEFAULT false,
    down_sql text,
    source text,
    schema_fingerprint text
)"""
# Every table of this layout, a table after the ones it references.
TABLES: dict[str, str] = {
    "meta": """
CREATE TABLE nself.meta (
    key text PRIMARY KEY,
    value text NOT NULL
)""",
    "migrations": MIGRATIONS_SQL,
    "migration_progress": """
CREATE TABLE nself.migration_progress (
    version bigint PRIMARY KEY,
    name text NOT NULL,
    statements_done integer NOT NULL,
    statements_total integer NOT NULL,
    done_digest text NOT NULL,
    failed_line integer,
    error text,
    updated_at timestamptz NOT NULL DEFAULT now(),
    started integer,
    direction text NOT NULL DEFAULT 'up'
)""",
    "seeds": """
CREATE TABLE nself.seeds (
    path text PRIMARY KEY,
    checksum text NOT NULL,
    ran_at timestamptz NOT NULL DEFAULT now(),
    execution_ms double precision NOT NULL DEFAULT 0,
    ran_by text NOT NULL DEFAULT current_user,
    environment text NOT NULL,
    runs integer NOT NULL DEFAULT 1
)""",
    "mock_runs": """
CREATE TABLE nself.mock_runs (
    id bigserial PRIMARY KEY,
    seed bigint NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    row_count bigint NOT NULL DEFAULT 0
)""",
    "mock_rows": """
CREATE TABLE nself.mock_rows (
    run_id bigint NOT NULL REFERENCES nself.mock_runs (id) ON DELETE CASCADE,
    position int NOT NULL,
    table_name text NOT NULL,
    key_columns text[],
    null_first text[] NOT NULL DEFAULT '{}',
    keys_table text NOT NULL,
    row_count bigint NOT NULL,
    PRIMARY KEY (run_id, position)
)""",
    "mock_counters": """
CREATE TABLE nself.mock_counters (
    table_name text PRIMARY KEY,
    next bigint NOT NULL
)""",
}

# Whether the schema is there, and its tables. Read from the catalog tables with the
# statement's snapshot, not with to_regclass: after waiting for LOCK_SQL, the name caches
# of this session may not yet know what the lock's holder committed.
STATE_SQL = """
SELECT n.oid IS NOT NULL,
       ARRAY(SELECT relname::text FROM pg_class WHERE relnamespace = n.oid AND relkind = 'r')
FROM (VALUES (1)) one LEFT JOIN pg_namespace n ON n.nspname = 'nself'
"""
LAYOUT_SQL = "SELECT value FROM nself.meta WHERE key = 'layout_version'"
WRITE_LAYOUT_SQL = """
INSERT INTO nself.meta (key, value) VALUES ('layout_version', %s)
ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value
"""
# each names nself's schema or tables as `nself`: rendered for the run's scope (the whole
# database, or a tenant's own bookkeeping schema: nself.pg.scope) when it runs
SCHEMA_SQL, MIGRATIONS_SQL, STATE_SQL, LAYOUT_SQL, WRITE_LAYOUT_SQL = (Scoped(text) for text in (
    SCHEMA_SQL, MIGRATIONS_SQL, STATE_SQL, LAYOUT_SQL, WRITE_LAYOUT_SQL))
TABLES = {table: Scoped(create) for table, create in TABLES.items()}
# held by the transaction that creates or upgrades: "nselfLa" as a bigint
LOCK_SQL = "SELECT pg_advisory_xact_lock(31089126885706849)"
OLD_MOCK_ROWS_SQL = Scoped("""
SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'nself.mock_rows'::regclass
               AND attname = 'keys' AND NOT attisdropped)
""")
# The layout from which a database that never had a layout row is upgraded, once its
# missing tables are created: the first upgrade that concerns tables kept outside the version.
UNVERSIONED_FROM = 3


def _mock_keys_into_tables(conn: psycopg.Connection) -> None:
    """Layout 4 for a `mock_rows` of the first mock code: each row's `keys text[]` becomes a
    table nself.mock_keys_<run>_<position> of the rows' keys as mock writes them now (one
    key column: its text; several: the ROW's text; none: the whole row's text). The keys
    were first written as ROW(column)::text for one key column too: both forms are matched,
    in the table itself (a table gone since gets an empty list: nothing is left to clear)."""
    if not conn.execute(OLD_MOCK_ROWS_SQL).fetchone()[0]:
        return
    conn.execute("ALTER TABLE nself.mock_rows ADD COLUMN keys_table text, "
                 "ADD COLUMN row_count bigint")
    rows = conn.execute("SELECT run_id, position, table_name, key_columns "
                        "FROM nself.mock_rows").fetchall()
    for run_id, position, table, key_columns in rows:
        name = f"mock_keys_{run_id}_{position}"
        keys_table = sql.Identifier(SCHEMA, name)
        target = sql.Identifier(*table.split(".", 1))
        if conn.execute("SELECT to_regclass(%s) IS NULL",
                        (target.as_string(conn),)).fetchone()[0]:
            conn.execute(sql.SQL("CREATE TABLE {} (key text)").format(keys_table))
        else:
            columns = [sql.SQL("t.{}").format(sql.Identifier(c)) for c in key_columns or []]
            as_row = (sql.SQL("ROW({})::text").format(sql.SQL(", ").join(columns)) if columns
                      else sql.SQL("ROW(t.*)::text"))
            key = sql.SQL("{}::text").format(columns[0]) if len(columns) == 1 else as_row
            keys = sql.SQL("(SELECT unnest(keys) FROM nself.mock_rows "
                           "WHERE run_id = %(run)s AND position = %(position)s)")
            conn.execute(sql.SQL(
                "CREATE TABLE {} AS SELECT {} AS key FROM {} t WHERE {} IN {} OR {} IN {}").format(
                keys_table, key, target, key, keys, as_row, keys),
                {"run": run_id, "position": position})
        conn.execute(sql.SQL(
            "UPDATE nself.mock_rows SET keys_table = %s, row_count = (SELECT count(*) FROM {}) "
            "WHERE run_id = %s AND position = %s").format(keys_table), (name, run_id, position))
    conn.execute("ALTER TABLE nself.mock_rows DROP COLUMN keys, "
                 "ALTER COLUMN keys_table SET NOT NULL, ALTER COLUMN row_count SET NOT NULL")


# layout N -> what brings layout N to N + 1 (SQL, or a function of the connection). The
# missing tables are created first, as this layout has them (`_step`), so each upgrade also
# accepts a table already in a later shape (ADD COLUMN IF NOT EXISTS, a check first); 3 -> 4
# adds seeds and the mock tables that way, and converts an old mock_rows.
UPGRADES: dict[int, Scoped | Callable[[psycopg.Connection], None]] = {
    1: Scoped("ALTER TABLE nself.migration_progress ADD COLUMN IF NOT EXISTS started integer, "
              "ADD COLUMN IF NOT EXISTS direction text NOT NULL DEFAULT 'up'"),
    2: Scoped("ALTER TABLE nself.migrations ADD COLUMN IF NOT EXISTS schema_fingerprint text"),
    3: _mock_keys_into_tables,
}


class State(NamedTuple):
    """What `ensure` finds: the schema, each table of this layout, the layout."""

    schema: bool
    tables: dict[str, bool]
    layout: int

    @property
    def complete(self) -> bool:
        return self.layout == VERSION and all(self.tables.values())


def state(conn: psycopg.Connection) -> State:
    """What is there; the layout is the layout row's, else 1 when nself.migrations is there
    (the first layout), else 0 (nothing versioned)."""
    schema, tables = conn.execute(STATE_SQL).fetchone()
    present = {table: table in tables for table in TABLES}
    row = conn.execute(LAYOUT_SQL).fetchone() if present["meta"] else None
    layout = int(row[0]) if row is not None else 1 if present["migrations"] else 0
    return State(schema, present, layout)


def refuse_newer(layout: int) -> None:
    if layout > VERSION:
        raise OperationFailed(
            f"nself's tables (schema {SCHEMA}) have layout {layout}, written by a newer "
            f"nself; this nself knows layout {VERSION}. Upgrade nself (pip install -U nself).")


def ensure(conn: psycopg.Connection) -> None:
    """Bring nself's schema to this layout: create what is missing, upgrade an older layout
    (each upgrade committed with its version), refuse a newer one. Works in autocommit and
    inside a transaction (then what it does commits with that transaction)."""
    while not (found := state(conn)).complete:
        refuse_newer(found.layout)
        with conn.transaction():
            conn.execute(LOCK_SQL)
            # another process may have done it while this one waited for the lock
            found = state(conn)
            refuse_newer(found.layout)
            _step(conn, found)


def _step(conn: psycopg.Connection, found: State) -> None:
    """One step towards this layout: the missing tables (then, for a database without a
    layout, the upgrades of the tables that were kept outside it), or the next upgrade."""
    layout = found.layout
    if not all(found.tables.values()):
        if not found.schema:
            conn.execute(SCHEMA_SQL)
        for table, create in TABLES.items():
            if not found.tables[table]:
                conn.execute(create)
        if layout == 0:
            for older in range(UNVERSIONED_FROM, VERSION):
                _upgrade(conn, older)
            layout = VERSION
    elif layout < VERSION:
        _upgrade(conn, layout)
        layout += 1
    conn.execute(WRITE_LAYOUT_SQL, (str(layout),))


def _upgrade(conn: psycopg.Connection, layout: int) -> None:
    step = UPGRADES[layout]
    if isinstance(step, Scoped):
        conn.execute(step)
    else:
        step(conn)
