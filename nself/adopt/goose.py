"""goose: `<version>_name.sql` files with `-- +goose Up` / `-- +goose Down` sections,
`-- +goose StatementBegin` / `StatementEnd` around statements holding semicolons (nself's
parser needs no help: the lines are blanked) and `-- +goose NO TRANSACTION`. Go migrations
(`.go`) are code: listed, not converted. Its tracking table, `goose_db_version (id serial
PRIMARY KEY, version_id bigint NOT NULL, is_applied boolean NOT NULL, tstamp timestamp
DEFAULT now())`, starts with a row for version 0; each up adds a row, each down deletes it
(older goose releases added a row with is_applied false): a version's newest row says."""

from __future__ import annotations

import re
from pathlib import Path

from nself.adopt import source
from nself.adopt.source import Applied, Problem, SourceMigration

NAME = "goose"
TRACKING_TABLES = ("goose_db_version",)  # left out of the schema once adopted
FILE = r"^(\d+)_(.*)\.sql$"
GO_FILE = r"^(\d+)_(.*)\.go$"
GO_REGISTERED = r"\bgoose\.Add\w*Migration\w*\("  # where a Go migration registers itself
UP = r"(?i)^--\s*\+goose\s+up\b"
DOWN = r"(?i)^--\s*\+goose\s+down\b"
NO_TRANSACTION = r"(?i)^--\s*\+goose\s+no\s+transaction\b"
STATEMENT = r"(?i)^--\s*\+goose\s+statement(begin|end)\b"
ENVSUB = r"(?i)^--\s*\+goose\s+envsub\s+on\b"


def holds_migrations(folder: Path) -> bool:
    """Whether `folder` holds goose migrations (`nself init` and `detect` ask)."""
    return source.marked(folder, FILE, UP)


def read(folder: Path) -> tuple[list[SourceMigration], list[Problem]]:
    migrations, problems = [], []
    source.code_files(folder, GO_FILE, NAME, problems, GO_REGISTERED)
    for match, shown, text in source.matching(folder, FILE, problems):
        lines = text.split("\n")
        no_tx = False
        bad = False
        for number, line in enumerate(lines, 1):
            stripped = line.strip()
            if re.match(NO_TRANSACTION, stripped):
                no_tx = True
                lines[number - 1] = ""
            elif re.match(STATEMENT, stripped):
                lines[number - 1] = ""
            elif re.match(ENVSUB, stripped):
                problems.append(Problem(shown, number, "`+goose ENVSUB ON` substitutes "
                                        "environment variables into the SQL: nself runs the "
                                        "SQL as written; put the values in the file"))
                bad = True
        if bad:
            continue
        sections = source.split_marked("\n".join(lines), UP, DOWN, shown, problems)
        if sections is None:
            continue
        up, up_line, down, down_line, _ = sections
        migrations.append(SourceMigration(
            key=(int(match.group(1)),), version_text=str(int(match.group(1))),
            name=match.group(2), up=up, down=down, no_transaction=no_tx, files=[shown],
            up_line=up_line, down_line=down_line, label=match.group(1)))
    return migrations, problems


def applied(conn, folder: Path | None = None) -> Applied | None:
    if not source.table_exists(conn, "goose_db_version"):
        return None
    seen, versions = set(), []
    for version, is_applied in conn.execute(
            "SELECT version_id, is_applied FROM goose_db_version ORDER BY id DESC"):
        if version in seen:
            continue
        seen.add(version)
        if is_applied and version != 0:
            versions.append(str(version))
    return Applied(sorted(versions, key=int))
