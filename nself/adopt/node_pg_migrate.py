"""node-pg-migrate, SQL migrations: `<prefix>_name.sql` (the prefix a millisecond or
YYYYMMDDHHmmssSSS timestamp: its number orders them), `-- Up Migration` and `-- Down
Migration` sections (a file without them is all UP). JavaScript/TypeScript migrations are
code: listed, not converted. Its tracking table, `pgmigrations (id serial PRIMARY KEY, name
varchar(255) NOT NULL, run_on timestamp NOT NULL)`, holds one row per applied migration,
named by its file name without the extension; a rollback deletes the row. Order: the
prefix's number (a 17-digit `utc` prefix as its time), then the name for equal ones; the
prefixes stay nself's versions unless two are equal or both kinds are mixed."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

from nself.adopt import source
from nself.adopt.source import Applied, Problem, SourceMigration

NAME = "node-pg-migrate"
TRACKING_TABLES = ("pgmigrations",)  # left out of the schema once adopted
FILE = r"^(\d+)_(.*)\.sql$"
CODE = r"^\d+_.*\.(js|cjs|mjs|ts)$"
CODE_UP = r"\b(exports\.up|export\s+(async\s+)?(const|function|let)\s+up)\b"  # its up
UP = r"(?i)^--[\s-]*up\s+migration\b"
DOWN = r"(?i)^--[\s-]*down\s+migration\b"
UTC_DIGITS = 17  # the `utc` file name format: YYYYMMDDHHmmssSSS


def holds_migrations(folder: Path) -> bool:
    """Whether `folder` holds node-pg-migrate migrations (`nself init` and `detect` ask)."""
    return source.marked(folder, FILE, UP)


def read(folder: Path) -> tuple[list[SourceMigration], list[Problem]]:
    migrations, problems = [], []
    source.code_files(folder, CODE, NAME, problems, CODE_UP)
    for match, shown, text in source.matching(folder, FILE, problems):
        if not any(re.match(UP, line.strip()) for line in text.split("\n")):
            up, up_line, down, down_line = text, 1, None, None
        else:
            sections = source.split_marked(text, UP, DOWN, shown, problems)
            if sections is None:
                continue
            up, up_line, down, down_line, _ = sections
        migrations.append(SourceMigration(
            key=(int(match.group(1)),), version_text=shown.removesuffix(".sql"),
            name=match.group(2), up=up, down=down, no_transaction=False, files=[shown],
            up_line=up_line, down_line=down_line, label=match.group(1)))
    prefixes = [m.label or "" for m in migrations]
    instants = [_instant(p) for p in prefixes]
    if len(set(instants)) < len(instants) or len({len(p) == UTC_DIGITS for p in prefixes}) > 1:
        # a shared prefix, or both kinds of prefix: its order is the instant, then the name
        for m, instant in zip(migrations, instants, strict=True):
            m.key = (instant, m.version_text)
    return migrations, problems


def _instant(prefix: str) -> int:
    """node-pg-migrate's number for a prefix: a 17-digit one is a UTC YYYYMMDDHHmmssSSS
    time, as milliseconds since 1970; any other is the number itself."""
    if len(prefix) != UTC_DIGITS:
        return int(prefix)
    moment = datetime.strptime(prefix, "%Y%m%d%H%M%S%f").replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


def applied(conn, folder: Path | None = None) -> Applied | None:
    if not source.table_exists(conn, "pgmigrations"):
        return None
    return Applied([row[0] for row in conn.execute("SELECT name FROM pgmigrations ORDER BY id")])
