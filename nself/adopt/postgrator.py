"""postgrator: `<version>.do.<name>.sql` and `<version>.undo.<name>.sql` (the name
optional: `001.do.sql`), ordered by the version's number; JavaScript migrations are code:
listed, not converted. Its tracking table, `schemaversion (version bigint PRIMARY KEY, name
text, md5 text, run_at timestamptz)`, starts with a row for version 0 and gets one row per
applied version; migrating down deletes them."""

from __future__ import annotations

from pathlib import Path

from nself.adopt import source
from nself.adopt.source import Applied, Part, Problem, SourceMigration

NAME = "postgrator"
FILE = r"^(\d+)\.(do|undo)(?:\.(.*))?\.sql$"
CODE = r"^\d+\.(do|undo)(\..*)?\.(js|cjs|mjs)$"


def detect(root: Path) -> list[Path]:
    return source.folders(root, lambda f: source.holds(f, FILE))


def read(folder: Path) -> tuple[list[SourceMigration], list[Problem]]:
    problems: list[Problem] = []
    source.code_files(folder, CODE, NAME, problems)
    parts = [Part((int(m.group(1)),), m.group(2) == "do", shown, text,
                  (m.group(3) or "migration", m.group(1)))
             for m, shown, text in source.matching(folder, FILE, problems)]
    migrations = [source.joined(do, undo, str(do.key[0]), do.info[0], label=do.info[1])
                  for do, undo in source.paired(parts, problems, "do")]
    return migrations, problems


def applied(conn, folder: Path | None = None) -> Applied | None:
    if not source.table_exists(conn, "schemaversion"):
        return None
    return Applied([str(row[0]) for row in conn.execute(
        "SELECT version FROM schemaversion WHERE version <> 0 ORDER BY version")])
