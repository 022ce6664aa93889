"""dbmate: `<version>_name.sql` files with `-- migrate:up` / `-- migrate:down` sections;
`-- migrate:up transaction:false` runs the file outside a transaction. dbmate applies the
files in file-name order (`10_b.sql` before `9_a.sql`): when that is also the numbers'
order the versions stay nself's, else the files are numbered in dbmate's order. Its
tracking table (`CREATE TABLE schema_migrations (version varchar PRIMARY KEY)`) holds one
row per applied version, the digits of the file name as written (`00010`). golang-migrate
uses the same table name with `version bigint, dirty boolean`: `dirty` tells them apart."""

from __future__ import annotations

import re
from pathlib import Path

from nself.adopt import source, transaction
from nself.adopt.source import Applied, Problem, SourceMigration

NAME = "dbmate"
TRACKING_TABLES = ("schema_migrations",)  # left out of the schema once adopted
FILE = r"^(\d+)_?(.*)\.sql$"
UP = r"(?i)^--\s*migrate:up(\s|$)"
DOWN = r"(?i)^--\s*migrate:down(\s|$)"
NO_TRANSACTION = r"(?i)(^|\s)transaction:false(\s|$)"


def holds_migrations(folder: Path) -> bool:
    """Whether `folder` holds dbmate migrations (`nself init` and `detect` ask)."""
    return source.marked(folder, FILE, UP)


def read(folder: Path) -> tuple[list[SourceMigration], list[Problem]]:
    migrations, problems = [], []
    for match, shown, text in source.matching(folder, FILE, problems):
        sections = source.split_marked(text, UP, DOWN, shown, problems)
        if sections is None:
            continue
        up, up_line, down, down_line, marker = sections
        down_marker = next((line for line in text.split("\n") if re.match(DOWN, line.strip())),
                           "")
        migrations.append(SourceMigration(
            key=(int(match.group(1)),), version_text=match.group(1),
            name=match.group(2) or "migration", up=up, down=down,
            no_transaction=bool(re.search(NO_TRANSACTION, marker)
                                or re.search(NO_TRANSACTION, down_marker)),
            files=[shown], up_line=up_line, down_line=down_line))
    keys = transaction.ordered_keys([m.files[0] for m in migrations],
                                    [int(m.version_text) for m in migrations])
    for m, key in zip(migrations, keys, strict=True):
        m.key = key
    return migrations, problems


def applied(conn, folder: Path | None = None) -> Applied | None:
    if not source.table_exists(conn, "schema_migrations"):
        return None
    if source.has_column(conn, "schema_migrations", "dirty"):
        return None  # golang-migrate's table of the same name
    rows = conn.execute("SELECT version::text FROM schema_migrations ORDER BY version")
    return Applied([row[0] for row in rows])
