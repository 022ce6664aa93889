"""golang-migrate: `<version>_title.up.sql` and `<version>_title.down.sql` (version a whole
number). Its PostgreSQL tracking table, `schema_migrations (version bigint NOT NULL PRIMARY
KEY, dirty boolean NOT NULL)`, holds a single row: the current version, every lower one
applied; `dirty` true means that version failed part-way."""

from __future__ import annotations

from pathlib import Path

from nself.adopt import source
from nself.adopt.source import AdoptError, Applied, Problem, SourceMigration

NAME = "golang-migrate"
TRACKING_TABLES = ("schema_migrations",)  # left out of the schema once adopted
FILE = r"^(?P<version>\d+)_(?P<name>.*)\.(?P<direction>up|down)\.sql$"


def holds_migrations(folder: Path) -> bool:
    """Whether `folder` holds golang-migrate migrations (`nself init` and `detect` ask)."""
    return source.holds(folder, FILE)


def read(folder: Path) -> tuple[list[SourceMigration], list[Problem]]:
    problems: list[Problem] = []
    return source.numbered_pairs(folder, FILE, "up", problems), problems


def applied(conn, folder: Path | None = None) -> Applied | None:
    if not source.table_exists(conn, "schema_migrations"):
        return None
    if not source.has_column(conn, "schema_migrations", "dirty"):
        return None  # dbmate's table of the same name
    rows = conn.execute("SELECT version, dirty FROM schema_migrations").fetchall()
    if not rows:
        return Applied([])
    version, dirty = max(rows)
    if dirty:
        raise AdoptError(f"golang-migrate's schema_migrations says version {version} is dirty "
                         "(it failed part-way): fix the database and run `migrate force "
                         "VERSION` with golang-migrate first; nothing was adopted.")
    return Applied([str(version)], up_to=(version,))
