"""Hasura: `migrations/<database>/<version>_<name>/up.sql` and `down.sql` (config v3; config
v2 has no `<database>` level), applied in the order of the version number. A migration in
YAML (`up.yaml`: metadata steps of config v1) is not SQL and is not converted.

The CLI records what it applied in the metadata database: since Hasura 1.4, in the JSON
`hdb_catalog.hdb_version.cli_state` (`{"migrations": {"<database>": {"<version>": dirty}}}`),
before that in `hdb_catalog.schema_migrations(version bigint PRIMARY KEY, dirty boolean)`,
one row per applied version. A dirty version failed halfway.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from nself.adopt import source
from nself.adopt.source import AdoptError, Applied, Problem, SourceMigration

NAME = "hasura"
TRACKING_SCHEMAS = ("hdb_catalog",)  # left out of the schema once adopted
VERSION = re.compile(r"^(\d+)_(.*)$")


def _versions(folder: Path) -> list[Path]:
    try:
        found = [p for p in folder.iterdir() if p.is_dir() and VERSION.match(p.name)
                 and any((p / f).is_file() for f in ("up.sql", "down.sql", "up.yaml"))]
    except OSError:
        return []
    # Hasura orders by the version number, not the folder name: 999_x runs before 1700..._y
    return sorted(found, key=lambda p: (int(VERSION.match(p.name).group(1)), p.name))


def _is_hasura(folder: Path) -> bool:
    versions = _versions(folder)
    # Prisma's folders look alike; its migration.sql tells them apart
    return any((p / "up.sql").is_file() or (p / "up.yaml").is_file() for p in versions) and not any(
        (p / "migration.sql").is_file() for p in versions)


def holds_migrations(folder: Path) -> bool:
    """Whether `folder` holds hasura migrations (`nself init` and `detect` ask)."""
    return _is_hasura(folder)


def source_folder(folder: Path, problems: list[Problem]) -> Path | None:
    """The folder of version folders: `folder` itself, or its one database folder."""
    if _versions(folder):
        return folder
    databases = sorted(p for p in folder.iterdir() if p.is_dir() and _versions(p))
    if len(databases) == 1:
        return databases[0]
    if databases:
        problems.append(Problem(".", None, "migrations of several databases ("
                                + ", ".join(p.name for p in databases) + "): import one "
                                f"folder at a time, e.g. {databases[0]}"))
    return None


def read(folder: Path) -> tuple[list[SourceMigration], list[Problem]]:
    problems: list[Problem] = []
    versions_at = source_folder(folder, problems)
    migrations = []
    for path in _versions(versions_at) if versions_at else []:
        match = VERSION.match(path.name)
        yaml = [f for f in ("up.yaml", "down.yaml") if (path / f).is_file()]
        if yaml:
            problems.append(Problem(source.relative(folder, path / yaml[0]), None,
                                    "a Hasura metadata migration (YAML): nself converts SQL; "
                                    "put the SQL of its run_sql steps in up.sql / down.sql"))
            continue
        up_path = path / "up.sql"
        up = source.read_text(folder, up_path, problems) if up_path.is_file() else ""
        if up is None:
            continue
        files, down = source.with_down(folder, up_path, problems)
        migrations.append(SourceMigration(
            key=(int(match.group(1)),), version_text=match.group(1),
            name=match.group(2) or "migration", up=up, down=down, no_transaction=False,
            files=files))
    return migrations, problems


def applied(conn, folder: Path | None = None) -> Applied | None:
    state = None
    if source.table_exists(conn, "hdb_catalog.hdb_version") and source.has_column(
            conn, "hdb_catalog.hdb_version", "cli_state"):
        row = conn.execute("SELECT cli_state::text FROM hdb_catalog.hdb_version "
                           "LIMIT 1").fetchone()
        data = json.loads(row[0]) if row else None
        state = data.get("migrations") if isinstance(data, dict) else None
    if isinstance(state, dict) and state:
        name = None
        if folder is not None:
            versions_at = source_folder(Path(folder), [])
            name = versions_at.name if versions_at is not None else None
        if name not in state:
            if len(state) != 1:
                raise AdoptError("Hasura records migrations of several databases ("
                                 + ", ".join(sorted(state)) + "): import the folder named "
                                 "after the one to adopt (migrations/<database>).")
            name = next(iter(state))
        versions = state[name] if isinstance(state[name], dict) else {}
        dirty = sorted((v for v, d in versions.items() if d is True), key=_number)
        if dirty:
            _dirty(dirty[0])
        return Applied(sorted(versions, key=_number))
    if not source.table_exists(conn, "hdb_catalog.schema_migrations"):
        return None
    rows = conn.execute("SELECT version, dirty FROM hdb_catalog.schema_migrations "
                        "ORDER BY version").fetchall()
    for version, dirty in rows:
        if dirty:
            _dirty(str(version))
    return Applied([str(version) for version, _ in rows])


def _number(version: str) -> tuple:
    return (0, int(version), "") if version.isdigit() else (1, 0, version)


def _dirty(version: str) -> None:
    raise AdoptError(f"Hasura marks version {version} dirty (it failed halfway): repair the "
                     "database by hand, then `hasura migrate apply --skip-execution --version "
                     f"{version}` (or `--type down`), then adopt.")
