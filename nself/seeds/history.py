"""nself.seeds: each seed file's checksum and when it last ran (all its SQL lives here).

A row is written in the file's own transaction, so it exists only if the file committed.
Seeds are meant to be idempotent and all run by default; the rows say which files are new
or changed since they last ran, and `--changed` runs only those. The table is created (and
upgraded) with the rest of nself's schema by `nself.pg.layout.ensure`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg

TABLE = "nself.seeds"
EXISTS_SQL = "SELECT to_regclass('nself.seeds') IS NOT NULL"
ROWS_SQL = "SELECT path, checksum, ran_at FROM nself.seeds"
RECORD_SQL = """
INSERT INTO nself.seeds AS s (path, checksum, ran_at, execution_ms, ran_by, environment)
VALUES (%s, %s, clock_timestamp(), %s, %s, %s)
ON CONFLICT (path) DO UPDATE SET checksum = EXCLUDED.checksum, ran_at = EXCLUDED.ran_at,
    execution_ms = EXCLUDED.execution_ms, ran_by = EXCLUDED.ran_by,
    environment = EXCLUDED.environment, runs = s.runs + 1
"""

NEW, CHANGED, UNCHANGED = "new", "changed", "unchanged"


@dataclass(frozen=True)
class Ran:
    """What nself.seeds says of one file."""

    checksum: str
    ran_at: datetime


def exists(conn: psycopg.Connection) -> bool:
    return bool(conn.execute(EXISTS_SQL).fetchone()[0])


def recorded(conn: psycopg.Connection) -> dict[str, Ran]:
    """path -> its last run; empty when no seed ever ran here."""
    if not exists(conn):
        return {}
    return {path: Ran(checksum, ran_at)
            for path, checksum, ran_at in conn.execute(ROWS_SQL).fetchall()}


def status(checksum: str, ran: Ran | None) -> str:
    if ran is None:
        return NEW
    return UNCHANGED if ran.checksum == checksum else CHANGED


def record(conn: psycopg.Connection, path: str, checksum: str, seconds: float, by: str,
           environment: str) -> None:
    conn.execute(RECORD_SQL, (path, checksum, seconds * 1000, by, environment))
