"""postgrator: `<version>.do.<name>.sql` and `<version>.undo.<name>.sql` (the name
optional: `001.do.sql`), ordered by the version's number; JavaScript migrations are code:
listed, not converted. Its tracking table, `schemaversion (version bigint PRIMARY KEY, name
text, md5 text, run_at timestamptz)`, starts with a row for version 0 and gets one row per
applied version; migrating down deletes them."""

from __future__ import annotations

from pathlib import Path

from nself.adopt import source
from nself.adopt.source import Applied, Problem, SourceMigration

NAME = "postgrator"
TRACKING_TABLES = ("schemaversion",)  # left out of the schema once adopted
FILE = r"^(?P<version>\d+)\.(?P<direction>do|undo)(?:\.(?P<name>.*))?\.sql$"
CODE = r"^\d+\.(do|undo)(\..*)?\.(js|cjs|mjs)$"


def holds_migrations(folder: Path) -> bool:
    """Whether `folder` holds postgrator migrations (`nself init` and `detect` ask)."""
    return source.holds(folder, FILE)


def read(folder: Path) -> tuple[list[SourceMigration], list[Problem]]:
    problems: list[Problem] = []
    source.code_files(folder, CODE, NAME, problems, r"\bmodule\.exports\b|\bexport\b")
    return source.numbered_pairs(folder, FILE, "do", problems), problems


def applied(conn, folder: Path | None = None) -> Applied | None:
    if not source.table_exists(conn, "schemaversion"):
        return None
    return Applied([str(row[0]) for row in conn.execute(
        "SELECT version FROM schemaversion WHERE version <> 0 ORDER BY version")])
