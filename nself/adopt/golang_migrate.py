"""golang-migrate: `<version>_title.up.sql` and `<version>_title.down.sql` (version a whole
number). Its PostgreSQL tracking table, `schema_migrations (version bigint NOT NULL PRIMARY
KEY, dirty boolean NOT NULL)`, holds a single row: the current version, every lower one
applied; `dirty` true means that version failed part-way."""

from __future__ import annotations

from pathlib import Path

from nself.adopt import source
from nself.adopt.source import AdoptError, Applied, Problem, SourceMigration

NAME = "golang-migrate"
FILE = r"^(\d+)_(.*)\.(up|down)\.sql$"


def detect(root: Path) -> list[Path]:
    return source.folders(root, lambda f: source.holds(f, FILE))


def read(folder: Path) -> tuple[list[SourceMigration], list[Problem]]:
    ups: dict[int, tuple[str, str, str]] = {}   # version -> (name, file, text)
    downs: dict[int, tuple[str, str]] = {}      # version -> (file, text)
    problems: list[Problem] = []
    for match, shown, text in source.matching(folder, FILE, problems):
        version = int(match.group(1))
        found = ups if match.group(3) == "up" else downs
        if version in found:
            problems.append(Problem(shown, None, f"version {version} is also the version of "
                                                 f"{found[version][-2]}"))
            continue
        if found is ups:
            ups[version] = (match.group(2), shown, text)
        else:
            downs[version] = (shown, text)
    migrations = []
    for version, (name, shown, text) in ups.items():
        down = downs.pop(version, None)
        migrations.append(SourceMigration(
            key=(version,), version_text=str(version), name=name, up=text,
            down=down[1] if down else None, no_transaction=False,
            files=[shown] + ([down[0]] if down else [])))
    for version, (shown, _) in downs.items():
        problems.append(Problem(shown, None, f"a down file without the up file of version "
                                             f"{version}"))
    return migrations, problems


def applied(conn) -> Applied | None:
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
