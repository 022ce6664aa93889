"""Flyway: `V<version>__<description>.sql` (versions like 1, 1.2, 1_2_3: numbers compared
part by part, trailing zeros ignored), `U<version>__...sql` (the undo of that version: its
DOWN) and `R__<description>.sql` (repeatable), in the folder and its subfolders;
`<script>.conf` with `executeInTransaction=false` runs a script outside a transaction.
Java-based migrations (`V3__Backfill.java`) are code: listed, not converted.

Its tracking table, `flyway_schema_history (installed_rank int PRIMARY KEY, version
varchar(50), description varchar(200), type varchar(20), script varchar(1000), checksum int,
installed_by varchar(100), installed_on timestamp DEFAULT now(), execution_time int,
success boolean)`, gets a row per run script in `installed_rank` order: `SQL` (a versioned
one, or with a NULL version a repeatable one with its CRC32 checksum), `UNDO_SQL` (that
version undone), `BASELINE` (every version up to it counts applied), `SCHEMA` (schemas it
created). `success` false is a failed migration.

nself has no repeatable migrations: an `R__` file becomes an ordinary migration after the
versioned ones, applied once (adopted when Flyway applied the file as it is now).
"""

from __future__ import annotations

import re
import zlib
from pathlib import Path

from nself.adopt import source
from nself.adopt.source import AdoptError, Applied, Part, Problem, SourceMigration

NAME = "flyway"
TRACKING_TABLES = ("flyway_schema_history",)  # left out of the schema once adopted
VERSIONED = r"^([VU])(\d+(?:[._]\d+)*)__(.+)\.sql$"
REPEATABLE = r"^R__(.+)\.sql$"
ANY = r"^(?:[VU]\d+(?:[._]\d+)*|R)__.+\.sql$"
NO_TRANSACTION = r"(?i)^\s*executeInTransaction\s*=\s*false\s*$"
PLACEHOLDER = r"\$\{[^}\n]*\}"
CODE = r"^(?:[VU]\d+(?:[._]\d+)*|R)__.+\.(java|kt|scala|groovy)$"  # Java-based migrations


def key(version: str) -> tuple[int, ...]:
    """Flyway's order of a version: its numbers, trailing zeros dropped (1.0 is 1)."""
    parts = [int(p) for p in re.split(r"[._]", version)]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def text_of(version: str) -> str:
    """A version as one text whatever its spelling (`1_2`, `1.2`, `01.2.0`: `1.2`)."""
    return ".".join(str(p) for p in key(version))


def checksum(text: str) -> str:
    """Flyway's checksum of a script: CRC32 over its lines' UTF-8 bytes without their line
    ends, as a signed 32-bit number."""
    crc = 0
    for line in re.split(r"\r\n|\r|\n", text.removeprefix("\ufeff")):  # Java's readLine
        crc = zlib.crc32(line.encode("utf-8"), crc)
    return str(crc - 2**32 if crc >= 2**31 else crc)


def holds_migrations(folder: Path) -> bool:
    """Whether `folder` holds flyway migrations (`nself init` and `detect` ask)."""
    return source.holds(folder, ANY)


def _no_transaction(folder: Path, shown: str) -> bool:
    conf = folder / f"{shown}.conf"
    if not conf.is_file():
        return False
    return any(re.match(NO_TRANSACTION, line)
               for line in conf.read_text(encoding="utf-8", errors="replace").splitlines())


def read(folder: Path) -> tuple[list[SourceMigration], list[Problem]]:
    problems: list[Problem] = []
    source.code_files(folder, CODE, NAME, problems, r"\bclass\b", recursive=True)
    migrations, parts = [], []
    for _, shown, text in source.matching(folder, ANY, problems, recursive=True):
        name = Path(shown).name
        _placeholders(text, shown, problems)
        if (m := re.match(REPEATABLE, name)) is not None:
            migrations.append(SourceMigration(
                key=(), version_text=shown, name=m.group(1), up=text, down=None,
                no_transaction=_no_transaction(folder, shown), files=[shown],
                repeatable=True, fingerprint=checksum(text)))
        else:
            m = re.match(VERSIONED, name)
            parts.append(Part(key(m.group(2)), m.group(1) == "V", shown, text,
                              (m.group(2), m.group(3))))
    for up, down in source.paired(parts, problems, "versioned (V)"):
        version, desc = up.info
        migrations.append(source.joined(
            up, down, text_of(version), desc, no_transaction=_no_transaction(folder, up.shown),
            label=version if version.isdigit() else None))
    return migrations, problems


def _placeholders(text: str, shown: str, problems: list[Problem]) -> None:
    """A problem for each `${name}` Flyway would replace (its placeholders are on by
    default): nself runs the SQL as written."""
    for number, line in enumerate(text.split("\n"), 1):
        if (m := re.search(PLACEHOLDER, line)) is not None:
            problems.append(Problem(shown, number, f"Flyway placeholder `{m.group(0)}`: nself "
                                    "runs the SQL as written; put the value in the file"))


def applied(conn, folder: Path | None = None) -> Applied | None:
    if not source.table_exists(conn, "flyway_schema_history"):
        return None
    versions: dict[str, None] = {}
    checksums: dict[str, str] = {}
    up_to = None
    for version, kind, script, check, success in conn.execute(
            "SELECT version, type, script, checksum, success FROM flyway_schema_history "
            "ORDER BY installed_rank"):
        if not success:
            what = f"version {version}" if version else script
            raise AdoptError(f"flyway_schema_history records {what} ({script}) as failed: "
                             "fix the database and run `flyway repair` first; nothing was "
                             "adopted.")
        if kind == "SCHEMA":
            continue
        if version is None:
            versions[script] = None
            checksums[script] = str(check)
        elif kind == "BASELINE":
            up_to = key(version)
        elif kind.startswith("UNDO"):
            versions.pop(text_of(version), None)
        else:
            versions[text_of(version)] = None
    return Applied(list(versions), up_to=up_to, checksums=checksums)
