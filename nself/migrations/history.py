"""The tracking table: what has been applied, in schema `nself`.

All SQL lives here as module constants; the tables' layout, its version and its upgrades
are `nself.pg.layout`'s (`layout.ensure` creates or upgrades them before a run writes).

`nself.migration_progress` holds, for a `-- nself:no-transaction` migration that is part-way,
how many statements are done (each transactional statement commits together with that
count) and, while a statement that cannot run in a transaction is on the server, its index
(`started`): a resumed run asks the catalog whether that statement took effect.

`schema_fingerprint` (layout 3) is the md5 of the user schema as a migrate run left it
(`nself.pg.catalog.fingerprint`), written into the newest row at the end of every run that
applied or rolled back something: the live schema no longer matching the newest row's
fingerprint is *drift* (someone changed the schema outside migrations). Rows written before
layout 3, or by a run that stopped on a failure, hold NULL: drift is then unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg

from nself.errors import OperationFailed
from nself.migrations.files import checksum
from nself.pg import catalog, layout
from nself.pg.scope import Scoped

TABLE = "nself.migrations"

# (column, type and default) of the tracking table, for `repair` to rebuild a damaged one.
# schema_fingerprint is left out: a table without it is an older layout (`layout.ensure`
# adds it), and a rebuilt table starts without fingerprints (drift unknown until the next run).
COLUMNS = {
    "version": "bigint",
    "label": "text",
    "name": "text",
    "checksum": "text",
    "applied_at": "timestamp with time zone",
    "execution_ms": "double precision",
    "applied_by": "text",
    "no_transaction": "boolean",
    "down_sql": "text",
    "source": "text",
}
EXISTS_SQL = "SELECT to_regclass('nself.migrations') IS NOT NULL"
ROWS_SQL = ("SELECT version, label, name, checksum, applied_at FROM nself.migrations "
            "ORDER BY version")
RECORDED_SQL = "SELECT EXISTS (SELECT 1 FROM nself.migrations WHERE version = %s)"
DOWN_SQL = "SELECT down_sql, no_transaction FROM nself.migrations WHERE version = %s"
SOURCE_SQL = "SELECT source FROM nself.migrations WHERE version = %s"
INSERT_TEMPLATE = (
    "INSERT INTO nself.migrations (version, label, name, checksum, execution_ms, applied_by, "
    "no_transaction, down_sql, source) VALUES ({version}, {label}, {name}, '{checksum}', "
    "extract(epoch FROM clock_timestamp() - statement_timestamp()) * 1000, {applied_by}, "
    "{no_tx}, {down}, {source}) RETURNING {token}"
)
# `db update`'s batches: the tracking rows of up to a batch of migrations in one statement;
# ROW_TEMPLATE is one row, its execution time measured by the batch's markers.
INSERT_ROWS_TEMPLATE = (
    "INSERT INTO nself.migrations (version, label, name, checksum, execution_ms, applied_by, "
    "no_transaction, down_sql, source) VALUES {rows}"
)
ROW_TEMPLATE = ("({version}, {label}, {name}, '{checksum}', {ms}, {applied_by}, {no_tx}, "
                "{down}, {source})")
INSERT_SQL = (
    "INSERT INTO nself.migrations (version, label, name, checksum, execution_ms, applied_by, "
    "no_transaction, down_sql, source) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
DELETE_TEMPLATE = "DELETE FROM nself.migrations WHERE version = {version} RETURNING {token}"
DELETE_SQL = "DELETE FROM nself.migrations WHERE version = %s"
RECORD_FILE_SQL = (
    "UPDATE nself.migrations SET checksum = %s, down_sql = %s, source = %s, label = %s, name = %s "
    "WHERE version = %s"
)
PROGRESS_SQL = (
    "SELECT statements_done, statements_total, done_digest, started, direction "
    "FROM nself.migration_progress WHERE version = %s"
)
# The progress of a no-transaction migration: `done` statements ran, `started` (or NULL) is
# on the server outside a transaction. RETURNING {token}: the executor checks that it ran.
PROGRESS_TEMPLATE = """
INSERT INTO nself.migration_progress AS p (version, name, direction, statements_done,
                                           statements_total, done_digest, started)
VALUES ({version}, {name}, '{direction}', {done}, {total}, '{digest}', {started})
ON CONFLICT (version) DO UPDATE SET direction = EXCLUDED.direction,
    statements_done = EXCLUDED.statements_done, statements_total = EXCLUDED.statements_total,
    done_digest = EXCLUDED.done_digest, started = EXCLUDED.started, failed_line = NULL,
    error = NULL, updated_at = now()
RETURNING {token}"""
FAILED_PROGRESS_SQL = ("UPDATE nself.migration_progress SET failed_line = %s, error = %s, "
                       "updated_at = now() WHERE version = %s")
CLEAR_PROGRESS_SQL = "DELETE FROM nself.migration_progress WHERE version = %s"
CLEAR_PROGRESS_TEMPLATE = "DELETE FROM nself.migration_progress WHERE version = {version}"
# The newest row: the last one a run applied (applied_at is its transaction's start; rows of
# one transaction tie and the highest version was applied last).
NEWEST_ROW = "FROM nself.migrations ORDER BY applied_at DESC, version DESC LIMIT 1"
RECORD_FINGERPRINT_SQL = (f"UPDATE nself.migrations SET schema_fingerprint = %s "
                          f"WHERE version = (SELECT version {NEWEST_ROW})")
NEWEST_FINGERPRINT_SQL = (f"(SELECT version {NEWEST_ROW}), "
                          f"(SELECT schema_fingerprint {NEWEST_ROW})")
# each names the tracking tables as `nself.<table>`: rendered for the run's scope (the whole
# database, or a tenant's own bookkeeping schema: nself.pg.scope) when it runs
(TABLE, EXISTS_SQL, ROWS_SQL, RECORDED_SQL, DOWN_SQL, SOURCE_SQL, INSERT_TEMPLATE,
 INSERT_ROWS_TEMPLATE, INSERT_SQL, DELETE_TEMPLATE, DELETE_SQL, RECORD_FILE_SQL, PROGRESS_SQL,
 PROGRESS_TEMPLATE, FAILED_PROGRESS_SQL, CLEAR_PROGRESS_SQL, CLEAR_PROGRESS_TEMPLATE,
 RECORD_FINGERPRINT_SQL, NEWEST_FINGERPRINT_SQL) = (Scoped(text) for text in (
    TABLE, EXISTS_SQL, ROWS_SQL, RECORDED_SQL, DOWN_SQL, SOURCE_SQL, INSERT_TEMPLATE,
    INSERT_ROWS_TEMPLATE, INSERT_SQL, DELETE_TEMPLATE, DELETE_SQL, RECORD_FILE_SQL,
    PROGRESS_SQL, PROGRESS_TEMPLATE, FAILED_PROGRESS_SQL, CLEAR_PROGRESS_SQL,
    CLEAR_PROGRESS_TEMPLATE, RECORD_FINGERPRINT_SQL, NEWEST_FINGERPRINT_SQL))


@dataclass(frozen=True)
class AppliedRow:
    """One row of the tracking table (without its stored texts)."""

    version: int
    label: str
    name: str
    checksum: str
    applied_at: datetime | None

    @property
    def id(self) -> str:
        return f"{self.label}_{self.name}"


def exists(conn) -> bool:
    """Whether the tracking table is there (it is created on the first `up`)."""
    return bool(conn.execute(EXISTS_SQL).fetchone()[0])


def applied(conn) -> list[AppliedRow]:
    """Every applied migration, by version; empty when the tracking table does not exist.

    One round trip: the query itself tells whether the table is there (`conn` must be in
    autocommit, so that the failed query leaves nothing behind).
    """
    try:
        rows = conn.execute(ROWS_SQL).fetchall()
    except (psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName):
        return []
    except (psycopg.errors.UndefinedColumn, psycopg.errors.DatatypeMismatch) as exc:
        raise OperationFailed(
            f"The tracking table {TABLE} is damaged ({exc.diag.message_primary}). Run "
            "`nself db migrate repair` to rebuild it from the rows it still holds."
        ) from None
    return [AppliedRow(*row) for row in rows]


def damage(conn) -> list[str]:
    """What is wrong with the tracking table's layout (empty when it is sound or absent)."""
    if not exists(conn):
        return []
    have = catalog.columns(conn, str(TABLE))
    problems = [f"column {name} is missing" for name in COLUMNS if name not in have]
    problems += [f"column {name} is {have[name]}, expected {kind}"
                 for name, kind in COLUMNS.items() if name in have and have[name] != kind]
    if not catalog.has_primary_key(conn, str(TABLE)):
        problems.append("the primary key on version is missing")
    return problems


def rebuild(conn) -> int:
    """Recreate a damaged tracking table, keeping every row it still holds; returns rows kept."""
    have = catalog.columns(conn, str(TABLE))
    if "version" not in have:
        raise OperationFailed(
            f"{TABLE} has no version column: nothing in it can be trusted. Rename or drop it "
            "(nself db shell -c 'DROP TABLE nself.migrations') and run `nself db migrate repair` "
            "again, then mark applied migrations with --mark-applied VERSION."
        )
    defaults = {"label": "version::text", "name": "''", "checksum": "''",
                "applied_at": "now()", "execution_ms": "0", "applied_by": "current_user",
                "no_transaction": "false", "down_sql": "NULL", "source": "NULL"}
    select = []
    for name, kind in COLUMNS.items():
        if name == "version":
            select.append("version::bigint")
        elif name in have:
            select.append(f"{name}::{kind}")
        else:
            select.append(defaults[name])
    with conn.transaction():
        conn.execute("ALTER TABLE nself.migrations RENAME TO migrations_damaged")
        conn.execute(layout.MIGRATIONS_SQL)
        cur = conn.execute(
            f"INSERT INTO nself.migrations ({', '.join(COLUMNS)}) "
            f"SELECT DISTINCT ON (version::bigint) {', '.join(select)} "
            "FROM nself.migrations_damaged WHERE version IS NOT NULL "
            "ORDER BY version::bigint"
        )
        kept = cur.rowcount
        conn.execute("DROP TABLE nself.migrations_damaged")
        # a lost checksum is the checksum of the stored text, when that survived
        for version, source in conn.execute(
                "SELECT version, source FROM nself.migrations "
                "WHERE checksum = '' AND source IS NOT NULL").fetchall():
            conn.execute("UPDATE nself.migrations SET checksum = %s WHERE version = %s",
                         (checksum(source), version))
    return kept


@dataclass(frozen=True)
class Drift:
    """The live user schema against the fingerprint in the newest tracking row."""

    live: str
    recorded: str | None
    version: int | None  # the newest row's version; None when nothing is applied

    @property
    def drifted(self) -> bool | None:
        """True/False; None when there is nothing to compare with (no row, or a row written
        before fingerprints or by a run that stopped on a failure)."""
        if self.recorded is None:
            return None
        return self.live != self.recorded


def record_fingerprint(conn) -> str:
    """Store the live schema's fingerprint in the newest tracking row; return it."""
    (live,) = catalog.fingerprint(conn)
    conn.execute(RECORD_FINGERPRINT_SQL, (live,))
    return live


def drift(conn) -> Drift | None:
    """The live schema against the newest recorded fingerprint, in one query; None when no
    tracking table (or one of an older layout, not yet upgraded by a run) is there."""
    try:
        live, version, recorded = catalog.fingerprint(conn, NEWEST_FINGERPRINT_SQL)
    except (psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName,
            psycopg.errors.UndefinedColumn):
        return None
    return Drift(live, recorded, version)
