"""What a seed file changed, table by table, and the sequences its explicit ids left behind.

Rows: PostgreSQL counts every insert, update and delete of the current transaction per
table (`pg_stat_xact_user_tables`, updated as statements run, triggers' rows included). The
counters also hold earlier transactions of this session that are not yet flushed to the
statistics system, so a file's changes are the counters after it minus the counters before
it, both read inside its transaction. A partition's rows count for its partitioned table.
Limits: TRUNCATE counts nothing, and rows written then rolled back to a savepoint count.

Sequences: after a file that wrote rows with explicit ids, each sequence owned by a
written-to column (serial or identity, on the table, its partitions or its ancestors) that
would hand out an id already taken is moved past the largest (smallest, for a descending
sequence) value; it never moves back.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from nself.pg import catalog

SETVAL_SQL = "SELECT setval(%s::oid::regclass, %s)"


@dataclass
class TableChange:
    """Rows one file inserted, updated and deleted in one table."""

    inserted: int = 0
    updated: int = 0
    deleted: int = 0

    def __str__(self) -> str:
        parts = [f"{n} {what}" for n, what in ((self.inserted, "inserted"),
                                               (self.updated, "updated"),
                                               (self.deleted, "deleted")) if n]
        return ", ".join(parts) or "no rows"

    def as_dict(self) -> dict:
        return {"inserted": self.inserted, "updated": self.updated, "deleted": self.deleted}


@dataclass(frozen=True)
class Counter:
    relid: int
    table: str   # as shown: `users`, or `schema.table` outside public
    values: tuple[int, int, int]


def counters(conn: psycopg.Connection) -> dict[int, Counter]:
    """This transaction's row counters per user table (see the module's note)."""
    rows = conn.execute(catalog.TABLE_CHANGES_SQL).fetchall()
    return {relid: Counter(relid, name if schema == "public" else f"{schema}.{name}",
                           (ins, upd, dele))
            for relid, schema, name, ins, upd, dele in rows}


def difference(before: dict[int, Counter], after: dict[int, Counter]
               ) -> tuple[dict[str, TableChange], list[int]]:
    """(changes per table name, sorted; the relids that got rows inserted or updated)."""
    changes: dict[str, TableChange] = {}
    written = []
    for relid, now in after.items():
        was = before.get(relid)
        base = was.values if was else (0, 0, 0)
        ins, upd, dele = (a - b for a, b in zip(now.values, base, strict=True))
        if not (ins or upd or dele):
            continue
        change = changes.setdefault(now.table, TableChange())
        change.inserted += ins
        change.updated += upd
        change.deleted += dele
        if ins or upd:
            written.append(relid)
    return dict(sorted(changes.items())), sorted(written)


@dataclass(frozen=True)
class SequenceMove:
    sequence: str  # schema.name
    column: str    # table.column
    value: int     # the value it was set to (the next id is the one after)
    problem: str = ""  # why it could not be moved (e.g. no UPDATE privilege on it)

    def __str__(self) -> str:
        if self.problem:
            return f"! sequence {self.sequence} ({self.column}) not moved: {self.problem}"
        return f"sequence {self.sequence} ({self.column}) moved to {self.value}"


def catch_up_sequences(conn: psycopg.Connection, relids: list[int]) -> list[SequenceMove]:
    """Move every sequence owned by a column of `relids` (or their ancestors) past the ids
    already in that column, when the next value it would hand out is taken.

    Runs inside the file's transaction; each sequence in a savepoint, so that one the role
    may not read or set is reported, not a reason to roll the file's rows back.
    """
    if not relids:
        return []
    moves = []
    for (oid, seq_schema, seq_name, schema, table, column, increment, low,
         high) in conn.execute(catalog.OWNED_SEQUENCES_SQL, {"relids": relids}).fetchall():
        shown_table = table if schema == "public" else f"{schema}.{table}"
        shown = (f"{seq_schema}.{seq_name}", f"{shown_table}.{column}")
        extreme = sql.SQL("max" if increment > 0 else "min")
        try:
            with conn.transaction():
                used, last, called = conn.execute(sql.SQL(
                    "SELECT (SELECT {}({}) FROM {}), last_value, is_called FROM {}").format(
                        extreme, sql.Identifier(column), sql.Identifier(schema, table),
                        sql.Identifier(seq_schema, seq_name))).fetchone()
                if used is None or not low <= used <= high:
                    continue  # empty column, or ids the sequence could never hand out
                upcoming = last + increment if called else last
                if (increment > 0 and upcoming > used) or (increment < 0 and upcoming < used):
                    continue
                conn.execute(SETVAL_SQL, (oid, used))
        except psycopg.errors.InsufficientPrivilege as exc:
            moves.append(SequenceMove(*shown, 0, exc.diag.message_primary or str(exc)))
            continue
        moves.append(SequenceMove(*shown, used))
    return moves
