"""Prisma Migrate: `migrations/<timestamp>_<name>/migration.sql`, applied in the order of the
folder names (as strings; a `down.sql` beside it, as Prisma's guide to rollbacks writes
one, is the DOWN section). Prisma has no no-transaction marker.

Its tracking table `_prisma_migrations(id, checksum, finished_at, migration_name, logs,
rolled_back_at, started_at, applied_steps_count)` has a row per attempt: applied when
`finished_at` is set and `rolled_back_at` is not; failed (Prisma itself stops, P3009) when
neither is set; a row marked rolled back (`migrate resolve --rolled-back`) is not applied.
"""

from __future__ import annotations

import re
from pathlib import Path

from nself.adopt import source, transaction
from nself.adopt.source import AdoptError, Applied, Problem, SourceMigration

NAME = "prisma"
FOLDER = re.compile(r"^(\d+)(?:_(.*))?$")
TABLE = "_prisma_migrations"
TRACKING_TABLES = (TABLE,)  # left out of the schema once adopted


def _is_prisma(folder: Path) -> bool:
    return (folder / "migration_lock.toml").is_file() or any(
        (p / "migration.sql").is_file() for p in folder.iterdir()
        if p.is_dir() and FOLDER.match(p.name))


def holds_migrations(folder: Path) -> bool:
    """Whether `folder` holds prisma migrations (`nself init` and `detect` ask)."""
    return _is_prisma(folder)


def read(folder: Path) -> tuple[list[SourceMigration], list[Problem]]:
    problems: list[Problem] = []
    found = []
    for path in sorted((p for p in folder.iterdir() if p.is_dir()), key=lambda p: p.name):
        script = path / "migration.sql"
        if not script.is_file():
            problems.append(Problem(source.relative(folder, path), None,
                                    "a migration folder without migration.sql: Prisma refuses "
                                    "it too"))
            continue
        up = source.read_text(folder, script, problems)
        if up is None:
            continue
        files, down = source.with_down(folder, script, problems)
        found.append((path.name, up, down, files))
    numbers = [int(m.group(1)) if (m := FOLDER.match(name)) else None for name, *_ in found]
    keys = transaction.ordered_keys([name for name, *_ in found], numbers)
    migrations = []
    for key, (name, up, down, files) in zip(keys, found, strict=True):
        match = FOLDER.match(name)
        migrations.append(SourceMigration(
            key=key, version_text=name, name=(match.group(2) if match else name) or name,
            up=up, down=down, no_transaction=False, files=files))
    return migrations, problems


def applied(conn, folder: Path | None = None) -> Applied | None:
    if not source.table_exists(conn, TABLE):
        return None
    rows = conn.execute(f"SELECT migration_name, finished_at IS NOT NULL, "
                        f"rolled_back_at IS NOT NULL FROM {TABLE} "
                        "ORDER BY started_at, migration_name").fetchall()
    done = {name for name, finished, rolled_back in rows if finished and not rolled_back}
    for name, finished, rolled_back in rows:
        if not finished and not rolled_back and name not in done:
            raise AdoptError(f"Prisma records migration {name} as failed (_prisma_migrations: "
                             "started, never finished): settle it first with `prisma migrate "
                             f"resolve --rolled-back {name}` (after undoing what it did) or "
                             f"`--applied {name}`, then adopt.")
    return Applied([name for name, finished, rolled_back in rows
                    if finished and not rolled_back])
