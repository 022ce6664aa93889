"""`db migrate import`: another tool's migrations as nself files, and what it had applied.

Each format is a module of this package (`source.py` says what one provides); this core
orders what a format read by the tool's own key, numbers it, checks every file, renders
nself files (`-- UP` / `-- DOWN`, the no-transaction directive, a header naming the source)
and writes them all or none. `adopt_applied` records what the source tool's tracking table
says is applied in nself's tracking table, with the written files' checksums.

Versions: when every source version is a whole number (dbmate, golang-migrate, goose,
node-pg-migrate, postgrator, Prisma/Hasura timestamps, Flyway `V7`), it stays the nself
version (its digits as written: `00010_x` stays `00010`, version 10). Otherwise (Flyway
`1.2.3`, Alembic revision ids, Sqitch change names, Django's per-app numbers) the
migrations are numbered 001, 002, ... in the tool's order; each file's header keeps the
tool's version. Repeatable migrations (Flyway `R__`) come after the versioned ones.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from nself import sql
from nself.adopt import source
from nself.adopt.source import AdoptError, Applied, Problem, SourceMigration
from nself.errors import UsageError
from nself.guard import Plan
from nself.migrations import files as nself_files
from nself.migrations import history
from nself.migrations.engine import applied_by
from nself.pg import layout, meta

__all__ = ["AdoptError", "Applied", "Problem", "SourceMigration"]

# --from word -> module of this package (each imported when used)
FORMATS = {
    "dbmate": "dbmate",
    "golang-migrate": "golang_migrate",
    "goose": "goose",
    "flyway": "flyway",
    "sqitch": "sqitch",
    "alembic": "alembic",
    "django": "django",
    "prisma": "prisma",
    "hasura": "hasura",
    "node-pg-migrate": "node_pg_migrate",
    "postgrator": "postgrator",
    "graphile-migrate": "graphile_migrate",
}
NAME_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")


def available() -> list[str]:
    """The formats this installation can read."""
    return [name for name in FORMATS if _load(name) is not None]


def _load(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(f"nself.adopt.{FORMATS[name]}")
    except ModuleNotFoundError as exc:
        if exc.name == f"nself.adopt.{FORMATS[name]}":
            return None
        raise


def module(name: str) -> ModuleType:
    """The format module for the `--from` word `name`; a usage error naming the formats."""
    found = _load(name) if name in FORMATS else None
    if found is None:
        raise UsageError(f"Unknown format {name!r} for --from: use one of "
                         f"{', '.join(available())}.")
    return found


def detect(root: Path) -> list[tuple[str, Path]]:
    """(format, folder) for every folder under `root` that holds another tool's migrations."""
    found = []
    every = source.folders(Path(root))  # one walk for every format
    for name in available():
        folders = [f for f in every if module(name).holds_migrations(f)]
        # a folder inside another of the same format is part of it (Flyway reads subfolders)
        found.extend((name, folder) for folder in folders
                     if not any(other in folder.parents for other in folders))
    return sorted(found, key=lambda pair: (str(pair[1]), pair[0]))


# Converting --------------------------------------------------------------------------------


@dataclass
class Converted:
    """One nself file made from one source migration."""

    source: SourceMigration
    version: int
    label: str
    name: str
    text: str

    @property
    def filename(self) -> str:
        return f"{self.label}_{self.name}.sql"


@dataclass
class Conversion:
    """What `convert` made of a folder: the files in order, and what could not be made
    (listed with file and line; their places stay free in the numbering)."""

    format: str
    folder: Path
    converted: list[Converted]
    problems: list[Problem]
    renumbered: bool
    sources: list[SourceMigration]  # every migration read, those with problems too
    options: dict = field(default_factory=dict)  # the format's own (Sqitch's plan_file)


# the options a format's reader takes (`--plan-file`), by --from word
OPTIONS = {"sqitch": ("plan_file",)}


def convert(fmt: str, folder: Path, partial: bool = False, **options) -> Conversion:
    """Read `folder` as format `fmt` and convert every migration; a problem anywhere raises
    `UsageError` (after which nothing may be written) unless `partial`. `options`: the
    format's own (None values are left out)."""
    reader = module(fmt)
    folder = Path(folder)
    options = {k: v for k, v in options.items() if v not in (None, "")}
    for key in options:
        if key not in OPTIONS.get(fmt, ()):
            users = [name for name, keys in OPTIONS.items() if key in keys]
            raise UsageError(f"--{key.replace('_', '-')} is for --from {' or '.join(users)} "
                             f"only.")
    if not (folder.is_dir() or (folder.is_file() and getattr(reader, "ACCEPTS_FILE", False))):
        what = "a file, not a folder" if folder.is_file() else "no such folder"
        hint = (f" (or that file as --plan-file {folder})" if fmt == "sqitch"
                and folder.suffix == ".plan" else "")
        raise UsageError(f"{folder}: {what}: give the folder that holds the {fmt} "
                         f"migrations{hint}.")
    if options.get("plan_file") and not Path(options["plan_file"]).is_file():
        raise UsageError(f"--plan-file {options['plan_file']}: no such file.")
    migrations, problems = reader.read(folder, **options)
    problems = list(problems)
    migrations = order(migrations, problems)
    if not migrations and not problems:
        raise UsageError(f"{folder}: no {fmt} migrations found there.")
    numbers, renumbered = number(migrations)
    converted = []
    bad = {problem.file for problem in problems}  # a file with a problem is never written
    for m, (version, label) in zip(migrations, numbers, strict=True):
        if bad.intersection(m.files):
            continue
        found = check(m)
        if found:
            problems.extend(found)
            continue
        name = file_name(m)
        converted.append(Converted(m, version, label, name, render(fmt, m)))
    if problems and not partial:
        raise ConversionFailed(problems)
    return Conversion(fmt, folder, converted, problems, renumbered, migrations, options)


class ConversionFailed(UsageError):
    """Some files cannot be converted; `problems` lists them (file and line)."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        count = len(problems)
        super().__init__(f"{count} problem{'s stop' if count != 1 else ' stops'} the import "
                         "(listed above); nothing was written. Fix them, or give --partial "
                         "to write the migrations that convert.")


def order(migrations: list[SourceMigration], problems: list[Problem]) -> list[SourceMigration]:
    """Versioned migrations by the tool's key (a key used twice is a problem), then the
    repeatable ones by name."""
    versioned = sorted((m for m in migrations if not m.repeatable), key=lambda m: m.key)
    kept = []
    for m in versioned:
        if kept and kept[-1].key == m.key:
            problems.append(Problem(m.files[0], None, f"version {m.version_text} is also the "
                                    f"version of {kept[-1].files[0]}"))
            continue
        kept.append(m)
    return kept + sorted((m for m in migrations if m.repeatable), key=lambda m: m.version_text)


def number(migrations: list[SourceMigration]) -> tuple[list[tuple[int, str]], bool]:
    """(version, label) for each migration, and whether they were renumbered."""
    versioned = [m for m in migrations if not m.repeatable]
    whole = all(len(m.key) == 1 and isinstance(m.key[0], int)
                and 0 < m.key[0] <= nself_files.BIGINT_MAX for m in versioned)
    numbers: list[tuple[int, str]] = []
    if whole:
        for m in versioned:
            text = m.label or m.version_text
            numbers.append((m.key[0], text if text.isdigit() and int(text) == m.key[0]
                            else str(m.key[0])))
        width = max((len(label) for _, label in numbers), default=3)
        last = max((v for v, _ in numbers), default=0)
        for offset, _ in enumerate(migrations[len(versioned):], 1):
            numbers.append((last + offset, str(last + offset).zfill(width)))
        return numbers, False
    width = max(3, len(str(len(migrations))))
    return [(i, str(i).zfill(width)) for i in range(1, len(migrations) + 1)], True


def file_name(m: SourceMigration) -> str:
    name = NAME_CHARS.sub("_", m.name.strip()).strip("_.-")
    return (name or "migration")[:100]


def check(m: SourceMigration) -> list[Problem]:
    """What stops `m` from being an nself migration, with source file and line."""
    found = []
    parts = [(m.up, m.files[0], m.up_line)]
    if m.down is not None:
        parts.append((m.down, m.files[-1], m.down_line or 1))
    for text, where, first in parts:
        for offset, line in enumerate(text.split("\n")):
            stripped = line.strip()
            at = first + offset
            if re.match(nself_files.META_COMMAND, line) and not re.match(
                    nself_files.RESTRICT_MARKER, line):
                found.append(Problem(where, at, f"psql meta-command `{stripped.split()[0]}`: "
                                     "nself sends SQL only; put the SQL itself in the file"))
            elif any(re.match(marker, stripped) for marker in (
                    nself_files.UP_MARKER, nself_files.DOWN_MARKER, nself_files.NO_TRANSACTION)):
                found.append(Problem(where, at, f"the comment `{stripped}` would be read as "
                                     "nself's marker: reword it"))
        if found:
            continue
        try:
            sql.split(text, first, parse=True)
        except sql.SqlSyntaxError as exc:
            found.append(Problem(where, first + sql.line_of(text, exc.offset) - 1,
                                 f"not SQL PostgreSQL can parse ({exc.message})"))
    return found


def render(fmt: str, m: SourceMigration) -> str:
    """The nself file for `m`."""
    head = [f"-- Imported from {fmt}: {m.source} (version {m.version_text})"]
    if m.repeatable:
        head.append("-- A repeatable migration, applied once here: to change what it made, "
                    "write a new migration.")
    if m.no_transaction:
        head.append(nself_files.DIRECTIVE)
    up = m.up.strip("\n")
    if _empty(up):
        up = (up + "\n" if up else "") + "SELECT 1;  -- empty in the source"
    text = "\n".join(head) + "\n\n-- UP\n" + up + "\n"
    if m.down is not None and not _empty(m.down):
        text += "\n-- DOWN\n" + m.down.strip("\n") + "\n"
    return text


def _empty(text: str) -> bool:
    return nself_files.Section(text, 1).empty


def search_path(conversion: Conversion) -> str | None:
    """The search_path the source tool set for its migrations (graphile-migrate's .gmrc),
    None when it sets none."""
    reader = module(conversion.format)
    return reader.search_path(conversion.folder) if hasattr(reader, "search_path") else None


# Writing -----------------------------------------------------------------------------------


def clashes(conversion: Conversion, folder: Path) -> tuple[list[Converted], list[str]]:
    """(files to write, clashes): a file already in nself's folder with the same name and
    bytes is kept as it is (a second import of the same folder); any other file holding one
    of the versions is a clash."""
    existing: dict[int, Path] = {}
    if folder.is_dir():
        for path in folder.iterdir():
            match = nself_files.FILENAME.match(path.name)
            if match:
                existing[int(match.group(1))] = path
    todo, clash = [], []
    for c in conversion.converted:
        path = existing.get(c.version)
        if path is None:
            todo.append(c)
        elif path.name != c.filename or path.read_bytes() != c.text.encode("utf-8"):
            clash.append(f"{path.name} (for {c.source.source})")
    return todo, clash


def write(conversion: Conversion, folder: Path) -> list[Path]:
    """Write the converted files into `folder` (all or none); refuses when the folder holds
    other files with the same versions. Returns the paths written."""
    todo, clash = clashes(conversion, folder)
    if clash:
        raise UsageError(f"{len(clash)} file{'s' if len(clash) != 1 else ''} in "
                         f"{folder} already hold the versions being imported: "
                         f"{', '.join(clash[:5])}{' ...' if len(clash) > 5 else ''}; nothing "
                         "was written (nself never overwrites a migration).")
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    try:
        for c in todo:
            path = folder / c.filename
            with open(path, "x", encoding="utf-8", newline="\n") as handle:
                written.append(path)
                handle.write(c.text)
    except BaseException:
        for path in written:
            with contextlib.suppress(OSError):
                os.unlink(path)
        raise
    return written


# Adopting what the source tool applied -----------------------------------------------------


def applied_source(conversion: Conversion, conn) -> tuple[list[Converted], list[str]]:
    """(converted files the source tool applied, applied versions with no file here).

    Raises `AdoptError` for a failed or dirty row (from the format module) and when the
    tool's tracking table is absent."""
    reader = module(conversion.format)
    found: Applied | None = reader.applied(conn, conversion.folder, **conversion.options)
    if found is None:
        raise AdoptError(f"No {conversion.format} tracking table in this database: nothing "
                         "to adopt (drop --adopt-applied to import the files only).")
    done = [c for c in conversion.converted if found.has(c.source)]
    known = {m.version_text for m in conversion.sources}
    missing = [v for v in found.versions if v not in known and v not in found.replaced]
    return done, missing


TRACKING_TABLE_SQL = """
SELECT n.nspname || '.' || c.relname FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass(%s)"""
SCHEMA_EXISTS_SQL = "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = %s)"


def tracking(conversion: Conversion, conn) -> tuple[list[str], list[str]]:
    """(qualified tables, schemas) where the source tool keeps its history on `conn`."""
    reader = module(conversion.format)
    tables = []
    for name in getattr(reader, "TRACKING_TABLES", ()):
        row = conn.execute(TRACKING_TABLE_SQL, (name,)).fetchone()
        if row is not None:
            tables.append(row[0])
    schemas = (reader.tracking_schemas(conversion.folder, **conversion.options)
               if hasattr(reader, "tracking_schemas")
               else getattr(reader, "TRACKING_SCHEMAS", ()))
    return tables, [s for s in schemas if conn.execute(SCHEMA_EXISTS_SQL, (s,)).fetchone()[0]]


def record(conn, migrations: list[nself_files.Migration],
           other_tracking: tuple[list[str], list[str]] = ([], [])) -> list[str]:
    """Record `migrations` (read back from nself's folder) as applied, and the source tool's
    tracking tables and schemas (`other_tracking`: they stay, the old tool's, left out of
    the schema from now on), in one transaction; a version nself already records with the
    same checksum is left as it is, another checksum refuses. Returns what was recorded."""
    layout.ensure(conn)
    rows = {row.version: row for row in history.applied(conn)}
    for m in migrations:
        row = rows.get(m.version)
        if row is not None and row.checksum != m.checksum:
            raise UsageError(f"nself already records version {m.label} ({row.id}) as applied "
                             f"with another checksum than {m.relpath}: settle it with "
                             "`nself db migrate repair` first; nothing was recorded.")
    recorded = []
    by = applied_by()
    with conn.transaction():
        for m in migrations:
            if m.version in rows:
                continue
            sections = m.sections
            conn.execute(history.INSERT_SQL, (
                m.version, m.label, m.name, m.checksum, 0, by, sections.no_transaction,
                sections.down.text if sections.down else None, m.text))
            recorded.append(m.id)
        if any(other_tracking):
            meta.record_other_tracking(conn, *other_tracking)
        if recorded or any(other_tracking):
            # the schema the adopted migrations made: drift is measured from here on
            history.record_fingerprint(conn)
    return recorded


def adopt(runner, conversion: Conversion, folder: Path
          ) -> tuple[list[Path], list[str], list[str]]:
    """Write the converted files into `folder` and record what the source tool applied, on
    the migrate session `runner` (its guard asks first, as for any change to the configured
    database). Files and rows go together: a refusal or failure leaves neither. Returns
    (files written, versions recorded, the source tool's tracking tables and schemas)."""
    done, missing = applied_source(conversion, runner.conn)
    if missing:
        raise AdoptError(
            f"{conversion.format} records {len(missing)} applied version"
            f"{'s' if len(missing) != 1 else ''} with no file in {conversion.folder}: "
            f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}; nothing was "
            "written (import the folder that holds every migration it applied).")
    shown = "\n".join(f"  {c.filename}" for c in done)
    plan = Plan("migrate import", target=runner.db.display(),
                detail=f"`migrate import --adopt-applied` will record {len(done)} migration"
                       f"{'s' if len(done) != 1 else ''} as applied (not run):\n{shown}")

    made: list[Path] = []
    kept = tracking(conversion, runner.conn)

    def apply(change) -> list[str]:
        written = write(conversion, folder)
        made.extend(written)
        try:
            ours = {m.version: m for m in nself_files.read_folder(folder, runner.env.root)}
            return record(runner.conn, [ours[c.version] for c in done], kept)
        except BaseException:
            for path in written:
                with contextlib.suppress(OSError):
                    os.unlink(path)
            made.clear()
            raise

    change = runner.guard.run(runner.conn, plan, apply)
    return made, change.changed, kept[0] + [f"schema {s}" for s in kept[1]]
