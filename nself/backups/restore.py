"""Restoring a backup: pick the file a restore means, check it, read its table of contents,
ask what the policy asks, clear the target if told to, load it.

The default file is the newest complete (full) backup of this project, environment,
database and server (`store.Source`), by the time in its metadata, made by `nself db
backup` or the schedule: a safety backup (taken before `migrate down`, `restore --clean`,
...) is the default only with `--latest`, which picks the newest of any kind. A partial
backup with `--clean`, or a backup of another source (a file without metadata, or one
written before backups recorded their project and server, counts as another source),
needs its flag (`--allow-partial`, `--allow-other-source`) and a confirmation; into an
empty database (no rows in any table) another source needs no flag: nothing can be lost.
Everything that changes the target goes through `nself.guard.Guard` (recorded environment,
the safety table, and a safety backup before --clean).
"""

from __future__ import annotations

import functools
import gzip
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from nself import safety
from nself.backups import load, remote
from nself.backups.store import (
    CHUNK,
    GZIP_MAGIC,
    Backup,
    Source,
    describe,
    list_backups,
    newest_first,
    source_here,
    this_source,
)
from nself.backups.verify import VerificationFailed, check
from nself.config import Database
from nself.errors import Interrupted, OperationFailed, Refused, UsageError
from nself.guard import Guard, Plan
from nself.pg import catalog
from nself.pg import connection as database
from nself.pg import tools as pgtools
from nself.pg.wipe import wipe_statements

ALLOW_PARTIAL = "--allow-partial"
ALLOW_OTHER_SOURCE = "--allow-other-source"


@dataclass
class TocEntry:
    """One line of an archive's table of contents."""

    kind: str  # TABLE, TABLE DATA, INDEX, ...
    schema: str
    name: str


@dataclass
class Contents:
    """What a backup holds: entries, and the versions that made it."""

    entries: list[TocEntry]
    server_version: str | None = None
    pg_dump_version: str | None = None

    @property
    def tables(self) -> list[str]:
        return [f"{e.schema}.{e.name}" for e in self.entries if e.kind == "TABLE"]

    @property
    def data_tables(self) -> list[str]:
        return [f"{e.schema}.{e.name}" for e in self.entries if e.kind == "TABLE DATA"]

    @property
    def has_schema(self) -> bool:
        return any(e.kind not in ("TABLE DATA", "SEQUENCE SET", "BLOBS", "BLOB DATA",
                                  "LARGE OBJECTS", "ENCODING", "STDSTRINGS", "SEARCHPATH")
                   for e in self.entries)

    def counts(self) -> dict[str, int]:
        return dict(Counter(e.kind for e in self.entries))

    @staticmethod
    def major(version: str | None) -> int | None:
        match = re.match(r"(\d+)", version or "")
        return int(match.group(1)) if match else None


# pg_restore -l writes "id; catalog oid DESC schema name owner"; DESC may hold spaces.
MULTIWORD_KINDS = sorted([
    "TABLE DATA", "SEQUENCE SET", "SEQUENCE OWNED BY", "FK CONSTRAINT", "DEFAULT ACL",
    "MATERIALIZED VIEW DATA", "MATERIALIZED VIEW", "FOREIGN TABLE", "EVENT TRIGGER",
    "USER MAPPING", "FOREIGN DATA WRAPPER", "PUBLICATION TABLE", "PUBLICATION TABLES IN SCHEMA",
    "ROW SECURITY", "TEXT SEARCH CONFIGURATION", "TEXT SEARCH DICTIONARY", "TEXT SEARCH PARSER",
    "TEXT SEARCH TEMPLATE", "OPERATOR CLASS", "OPERATOR FAMILY", "BLOB DATA", "LARGE OBJECTS",
    "SHELL TYPE", "CHECK CONSTRAINT", "INDEX ATTACH", "TABLE ATTACH", "STATISTICS DATA",
    "DEFAULT", "PROCEDURAL LANGUAGE",
], key=len, reverse=True)
TOC_LINE = re.compile(r"^(\d+);\s+\d+\s+\d+\s+(.*)$")


def parse_toc(text: str) -> Contents:
    """`pg_restore -l` output as Contents."""
    entries = []
    server = dumper = None
    for line in text.splitlines():
        if line.startswith(";"):
            match = re.search(r"Dumped from database version:\s*(\S+)", line)
            if match:
                server = match.group(1)
            match = re.search(r"Dumped by pg_dump version:\s*(\S+)", line)
            if match:
                dumper = match.group(1)
            continue
        match = TOC_LINE.match(line)
        if not match:
            continue
        rest = match.group(2)
        kind = next((k for k in MULTIWORD_KINDS if rest.startswith(k + " ")), rest.split(" ")[0])
        words = rest[len(kind):].strip().split(" ")
        schema = words[0] if len(words) >= 3 else ""
        name = " ".join(words[1:-1]) if len(words) >= 3 else " ".join(words)
        entries.append(TocEntry(kind, schema, name))
    return Contents(entries, server, dumper)


SQL_ENTRY = re.compile(r"^-- (?:Data for )?Name: (.*?); Type: (.*?); Schema: (.*?); Owner:")


def contents(env, backup: Backup, full: bool = True) -> Contents:
    """The table of contents of `backup` (for SQL dumps, from pg_dump's comments)."""
    if backup.format == "custom":
        tool = pgtools.newest("pg_restore", pgtools.extra_dirs(env))
        try:
            result = pgtools.start(tool, ["-l", str(backup.path)], Database({})).result()
        except pgtools.ToolFailed as exc:
            raise VerificationFailed(f"Cannot read {backup.name} as an archive: {exc}") from None
        return parse_toc(_text(result.stdout))
    entries, server, dumper = [], None, None
    for n, line in enumerate(_sql_lines(backup.path)):
        if n < 40:
            match = re.match(r"-- Dumped from database version (\S+)", line)
            server = match.group(1) if match else server
            match = re.match(r"-- Dumped by pg_dump version (\S+)", line)
            dumper = match.group(1) if match else dumper
        elif not full:
            break
        match = SQL_ENTRY.match(line)
        if match:
            name, kind, schema = match.groups()
            kind = "TABLE DATA" if line.startswith("-- Data for") else kind
            entries.append(TocEntry(kind, "" if schema == "-" else schema, name))
    return Contents(entries, server, dumper)


def _sql_lines(path: Path):
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == GZIP_MAGIC
    opener = gzip.open if gzipped else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
        yield from handle


def _text(data) -> str:
    return data.decode("utf-8", errors="replace") if isinstance(data, bytes) else (data or "")


# Messages pg_restore / psql print that come from ownership and extension bookkeeping, not from
# the data: restoring as another user, or over a database that has the extension already.
NOISE = [
    re.compile(p) for p in (
        r"must be owner of (extension|schema|database)",
        r"role \"[^\"]+\" does not exist",
        r"must be (a )?member of role",
        r"permission denied to (change owner|set role)",
        r"extension \"[^\"]+\" already exists",
        r"schema \"public\" already exists",
        r"cannot drop .* because (extension|other objects) .* (requires|depend)",
        r"unrecognized configuration parameter \"(transaction_timeout|"
        r"default_table_access_method|idle_in_transaction_session_timeout)\"",
    )
]


@dataclass
class RestoreReport:
    """What a restore did: where from and to, how long, and which errors it tolerated."""

    file: str
    target: str
    format: str
    checked_by: str
    tables: list[str]
    counts: dict[str, int]
    dry_run: bool = False
    clean: str | None = None  # how --clean cleared the target
    jobs: int = 1
    ignored: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    seconds: float = 0.0
    server_version: str | None = None
    pg_dump_version: str | None = None
    safety_backup: str | None = None  # what --clean saved first
    kind: str = "unknown"  # the backup's: full, schema-only, data-only, tables
    source_environment: str | None = None  # from the backup's metadata
    source_database: str | None = None
    created: str | None = None  # from the backup's metadata (ISO), None when unknown
    dropped: dict[str, int | None] = field(default_factory=dict)  # relation -> rows (tables)
    dropped_action: str = ""  # "dropped" or "emptied"
    needs: list[str] = field(default_factory=list)  # flags this restore requires
    description: str = ""  # what the backup is: "a safety backup taken before `migrate down` …"
    whose: str = ""  # its source: project, environment, database, server
    source_project: str | None = None
    source_server: str | None = None
    other_source: bool = False  # not this database's (allowed by flag, or into an empty one)

    def to_dict(self) -> dict:
        return asdict(self)


def classify_errors(stderr: str) -> tuple[list[str], list[str]]:
    """Split a restore's stderr into (noise, real) error messages, one line each."""
    blocks: list[str] = []
    for line in stderr.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if (stripped.startswith("pg_restore: error:") or re.match(r"psql:.*?:\d+: ERROR:", stripped)
                or (stripped.startswith("ERROR:") and not blocks)):
            blocks.append(stripped)
        elif stripped.startswith("pg_restore: warning: errors ignored on restore"):
            continue
        elif blocks and not stripped.startswith(("pg_restore: ", "psql:")):
            blocks[-1] += " " + stripped
        elif stripped.startswith(("pg_restore: error", "psql:")) and "error" in stripped.lower():
            blocks.append(stripped)
    noise, real = [], []
    for block in blocks:
        (noise if any(p.search(block) for p in NOISE) else real).append(_short(block))
    return noise, real


def _short(block: str) -> str:
    text = re.sub(r"^pg_restore: error: (could not execute query: )?", "", block)
    text = re.sub(r"^psql:.*?:\d+: ", "", text)
    text = re.sub(r"\s+", " ", text)
    return text[:300]


def resolve_file(env, file: str | None, say: Callable[[str], None] | None = None,
                 latest: bool = False, here: Source | None = None) -> Backup:
    """The backup a restore means: FILE, or the newest complete backup of `here` (this
    project, environment, database and server; by the time in its metadata) that
    `nself db backup` or the schedule made (with `latest`: of any kind, safety backups
    too). With BACKUP_STORAGE=s3 the bucket counts too: a backup found only there is
    downloaded into the backups folder and checked."""
    say = say or (lambda text: None)
    bucket = remote.bucket_for(env)
    if file:
        path = Path(file).expanduser()
        if not path.exists():
            candidate = env.backups_dir / file
            path = candidate if candidate.exists() else path
        if not path.exists() and bucket:
            fetched = remote.fetch(env, bucket, path.name, say)
            if fetched:
                return fetched
        if not path.exists():
            where = f" or in {bucket.settings.url(bucket.folder)}" if bucket else ""
            raise UsageError(f"No backup file {file}{where}: see `nself db backup list`.")
        return Backup.at(path)
    backups = list_backups(env)
    found = backups
    if bucket:  # before connecting: bad S3 settings are a settings error (exit 2)
        local_names = {b.name for b in backups}
        found = newest_first([*backups, *(b for b in remote.listed(env, bucket)
                                          if b.name not in local_names)])
    here = here or this_source(env)
    complete = [b for b in found if b.complete and b.created]
    ours = [b for b in complete if b.same_source(here)]
    wanted = ours if latest else [b for b in ours if not b.is_safety]
    if wanted:
        chosen = wanted[0]
        rule = ("--latest: the newest, safety backups included" if latest else
                "the newest made by `nself db backup` or the schedule; `--latest` also "
                "considers safety backups")
        say(f"Picked {_shown(env, chosen)}: {describe(chosen)} ({rule}).")
        if isinstance(chosen, remote.RemoteBackup):
            return Backup.at(bucket.download(chosen, env.backups_dir, say))
        return chosen
    folder = env.relative(env.backups_dir)
    if ours:
        newest = ours[0]
        raise UsageError(
            f"No full backup made by `nself db backup` or the schedule of this database "
            f"({here.shown()}); the newest is {newest.name}, {describe(newest)}: restore it "
            f"with `nself db restore --latest` (or name the file).")
    if complete:
        other = complete[0]
        raise UsageError(
            f"No complete backup of this database ({here.shown()}) in {folder}/"
            f"{' or the bucket' if bucket else ''}. The newest complete one, {other.name}, is "
            f"{describe(other)}, of {_source(other)}: to restore it, name it (`nself db "
            f"restore {_shown(env, other)} --allow-other-source`; into an empty database "
            "without the flag).")
    if not found:
        raise UsageError(f"No backups in {folder}/: create one with `nself db backup`, or "
                         "name a file (`nself db backup list --all` shows other environments').")
    raise UsageError(
        f"No complete backup of {env.name} in {folder}/ ({len(found)} partial or without "
        "metadata): name the file to restore, or create one with `nself db backup`.")


def _shown(env, backup: Backup) -> str:
    """How to name `backup` on the command line (a bucket copy by its name)."""
    return backup.name if isinstance(backup, remote.RemoteBackup) else env.relative(backup.path)


MAX_JOBS = 64  # each job is a connection of its own


def _source(backup: Backup) -> str:
    """`project shop, environment staging, database app, server …12144760` for messages."""
    if not backup.meta:
        return "an unknown source (no metadata)"
    if not backup.source.project:
        return (f"{backup.source.shown()} (made before backups recorded their project and "
                "server: it cannot be told from a teammate's)")
    return backup.source.shown()


def _is_empty(conn) -> bool:
    """No rows in any user table (nself's own bookkeeping aside): a restore loses nothing.
    One `EXISTS` per table: it stops at the first row, however big the table."""
    tables = [r for r in catalog.user_relations(conn) if r.is_table]
    if not tables:
        return True
    probes = [sql.SQL("EXISTS (SELECT FROM {})").format(sql.Identifier(r.schema, r.name))
              for r in tables]
    return not conn.execute(sql.SQL("SELECT {}").format(sql.SQL(" OR ").join(probes))
                            ).fetchone()[0]


def _needs(backup: Backup, here: Source, clean: bool, empty: bool = False) -> list[str]:
    """The flags this restore needs, with why. Another source needs no flag into an empty
    database: nothing there can be lost."""
    needs = []
    if not backup.same_source(here) and not empty:
        needs.append(ALLOW_OTHER_SOURCE)
    if clean and not backup.complete:
        needs.append(ALLOW_PARTIAL)
    return needs


def _allow_source(report: RestoreReport, backup: Backup, here: Source,
                  allowed: dict[str, bool], yes: bool) -> None:
    """Refuse (exit 3) unless every flag the restore needs was given and confirmed."""
    if not report.needs:
        return
    reasons = []
    if ALLOW_OTHER_SOURCE in report.needs:
        reasons.append(f"{report.file} is {report.description}, of {_source(backup)}; not "
                       f"of this database ({here.shown()})")
    if ALLOW_PARTIAL in report.needs:
        article = "an" if backup.kind[:1] in "aeiou" else "a"
        reasons.append(f"{report.file} is {article} {backup.kind} backup (not full) and "
                       "--clean replaces what it holds")
    why = "; ".join(reasons)
    missing = [flag for flag in report.needs if not allowed[flag]]
    if missing:
        raise Refused(f"Restore refused: {why}. Pass {' and '.join(missing)} if you mean it "
                      f"(`--dry-run` shows what it would change). Nothing was changed.")
    if not safety.ask_yes_no(f"Restore: {why}. Restore it anyway?", yes=yes):
        raise Refused("Restore cancelled. Nothing was changed.")


def _clean_mode(clean: bool, toc: Contents, backup: Backup) -> str | None:
    if not clean:
        return None
    if not toc.has_schema:
        return "truncate"
    if not backup.complete:
        return "drop-listed"
    return "drop-all"


def _doomed(conn, mode: str | None, toc: Contents) -> dict[str, int | None]:
    """What --clean will drop (or empty): relation -> exact row count (None for views)."""
    if mode is None:
        return {}
    relations = catalog.user_relations(conn)
    if mode == "truncate":
        wanted = set(toc.data_tables)
        relations = [r for r in relations if r.qualified in wanted]
    elif mode == "drop-listed":
        wanted = {f"{e.schema}.{e.name}" for e in toc.entries if e.kind in DROP_ORDER}
        relations = [r for r in relations if r.qualified in wanted]
    counts = catalog.row_counts(conn, relations)
    return {r.qualified: counts.get(r.qualified) for r in relations}


def _detail(report: RestoreReport) -> str:
    """What the confirmation prompt shows before asking: which backup (what it is, whose),
    where to, and what it drops."""
    lines = [f"Restore {report.file} into {report.target}: {report.description}, of "
             f"{report.whose}."]
    if report.dropped:
        lines.append(f"It will {'empty' if report.clean == 'truncate' else 'drop'}:")
        lines += [f"  {name}" + (f" ({rows} rows)" if rows is not None else "")
                  for name, rows in report.dropped.items()]
    return "\n".join(lines)


def _nothing_changed_when_interrupted(function):
    """Ctrl-C or SIGTERM before the load commits says so: nothing was changed (the load's
    own Interrupted says what it rolled back, or that it had committed)."""
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        started = load.COMMITTED.set(False)
        try:
            return function(*args, **kwargs)
        except Interrupted:
            raise  # the load's own (an Interrupted is a KeyboardInterrupt)
        except KeyboardInterrupt:
            if load.COMMITTED.get():
                raise Interrupted("Interrupted after the restore had committed: the database "
                                  "holds the backup.") from None
            raise Interrupted("Interrupted before the restore changed anything: nothing was "
                              "changed.") from None
        finally:
            load.COMMITTED.reset(started)

    return wrapper


@_nothing_changed_when_interrupted
def restore(env, file: str | None = None, *, guard: Guard, dry_run: bool = False,
            clean: bool = False, jobs: int | None = None, allow_partial: bool = False,
            allow_other_source: bool = False, say: Callable[[str], None] | None = None,
            progress: Callable[[int, int], None] | None = None,
            latest: bool = False) -> RestoreReport:
    """Restore a backup into the configured database; with `dry_run`, only report what would
    happen (what --clean drops, with row counts, and what the backup holds).

    The file is checked (checksum, or a full read) and its flags confirmed before `guard`
    decides (recorded environment, safety table, a safety backup before --clean); only then
    is anything changed. Afterwards the database is recorded as this environment's.
    `progress` gets (bytes read, file size) while the tool loads the backup; `latest`
    lets the default pick be a safety backup (see `resolve_file`).
    """
    say = say or (lambda text: None)
    if jobs is not None and not 1 <= jobs <= MAX_JOBS:
        raise UsageError(f"--jobs {jobs}: give 1 to {MAX_JOBS} parallel jobs (0, the "
                         "default: one job, in one transaction).")
    backup = resolve_file(env, file, say, latest=latest)
    shown = env.relative(backup.path)
    checked_by = check(env, backup)
    toc = contents(env, backup)
    db = database.target(env)
    with database.connect(db) as conn:
        major = database.server_major(conn)
        existing = catalog.relation_names(conn)
        here = source_here(env, conn)
        # only another source asks (a table locked by someone else then waits here)
        empty = not backup.same_source(here) and _is_empty(conn)
        dumped_from = Contents.major(toc.server_version)
        if dumped_from and dumped_from > major:
            raise UsageError(
                f"{shown} was dumped from PostgreSQL {toc.server_version}; the target runs "
                f"PostgreSQL {major}. A dump restores only into the same or a newer major "
                f"version: restore it into PostgreSQL {dumped_from} or newer (e.g. the embedded "
                "server), or upgrade the target.")
        mode = _clean_mode(clean, toc, backup)
        conflicts = sorted(set(toc.tables) & existing) if toc.has_schema and not clean else []
        n_jobs = _jobs(jobs, backup, toc, mode, existing, db.display())
        report = RestoreReport(
            file=shown, target=db.display(), format=backup.format, checked_by=checked_by,
            tables=toc.tables or toc.data_tables, counts=toc.counts(), dry_run=dry_run,
            clean=mode, jobs=n_jobs, conflicts=conflicts, server_version=toc.server_version,
            pg_dump_version=toc.pg_dump_version, kind=backup.kind,
            source_environment=backup.environment, source_database=backup.database,
            created=backup.created.isoformat(timespec="seconds") if backup.created else None,
            dropped=_doomed(conn, mode, toc),
            dropped_action="emptied" if mode == "truncate" else "dropped",
            needs=_needs(backup, here, clean, empty), description=describe(backup),
            whose=_source(backup), source_project=backup.source.project,
            source_server=backup.source.server_id,
            other_source=not backup.same_source(here))
        if dry_run:
            return report
        if conflicts:
            listed = ", ".join(conflicts[:5]) + (" …" if len(conflicts) > 5 else "")
            raise UsageError(f"{db.display()} already has {len(conflicts)} of the backup's "
                             f"tables ({listed}): pass --clean to replace them. Nothing was "
                             "changed.")
        tool = _loader(env, backup, toc, major)
        _allow_source(report, backup, here,
                      {ALLOW_PARTIAL: allow_partial, ALLOW_OTHER_SOURCE: allow_other_source},
                      guard.yes)
        if report.other_source:
            say(f"Another source: {shown} is {report.description}, of {report.whose}"
                + ("; the target is empty, so nothing is lost." if empty else "."))
        touched: list[bool] = []
        loaded: list[str] = []
        started = 0.0

        def apply(change) -> list[str]:
            nonlocal started
            started = time.monotonic()  # the load, without the safety backup
            # recorded only once the target changed (a full dump brings nself's schema)
            try:
                loaded.append(_load(conn, db, backup, tool, toc, mode, existing, n_jobs, say,
                                    progress, touched, env.relative(backup.path)))
            finally:
                if touched:
                    _record(conn, guard)
            return [f"restored {shown} into {db.display()}"]

        change = guard.run(conn, Plan("restore", target=db.display(), detail=_detail(report),
                                      destroys=bool(mode), reason="restore", wipes=bool(mode),
                                      record=False), apply)
        report.safety_backup = change.shown
        stderr = loaded[0]
    noise, real = classify_errors(stderr)
    report.ignored = noise
    report.seconds = time.monotonic() - started
    if real:
        shown_errors = "; ".join(real[:3]) + (f"; and {len(real) - 3} more" if len(real) > 3
                                               else "")
        raise OperationFailed(f"Restore of {shown} finished with {len(real)} error(s): "
                              f"{shown_errors}")
    return report


def _jobs(jobs: int | None, backup: Backup, toc: Contents, mode: str | None,
          existing: set[str], target: str) -> int:
    """How many pg_restore jobs load the backup: one (in one transaction) unless --jobs asks
    for more, which only a database without relations may take (UsageError otherwise)."""
    if not jobs or jobs == 1:
        return 1
    if mode or existing:
        raise UsageError(
            f"--jobs {jobs} loads through {jobs} connections, which cannot share the one "
            "transaction that makes a restore all or nothing, so it is only for a database "
            f"with no tables yet (and without --clean); {target} "
            f"{'is cleared first' if mode else 'is not empty'}. Leave out --jobs: the "
            "restore then runs in one transaction. Nothing was changed.")
    # Data-only archives load in dump order (foreign keys first): one job keeps that.
    return jobs if backup.format == "custom" and toc.has_schema else 1


@dataclass(frozen=True)
class Loader:
    """The programs that load a backup: psql runs the statements; for a custom archive,
    `archive` (pg_restore) writes them (or, with --jobs, loads them itself)."""

    psql: pgtools.Tool
    archive: pgtools.Tool | None = None


def _loader(env, backup: Backup, toc: Contents, major: int) -> Loader:
    """The tools that load `backup` into a server of `major` (found before anything changes)."""
    dump_major = Contents.major(toc.pg_dump_version) or 0
    dirs = pgtools.extra_dirs(env)
    if backup.format == "custom":
        archive = pgtools.find("pg_restore", major, dirs, at_least=dump_major)
        # psql reads what this pg_restore writes (its \restrict lines, say)
        return Loader(pgtools.find("psql", major, dirs, at_least=archive.major), archive)
    return Loader(pgtools.find("psql", major, dirs, at_least=min(dump_major, major)))


def _load(conn, db, backup: Backup, tool: Loader, toc: Contents, mode: str | None,
          existing: set[str], n_jobs: int, say, progress, touched: list[bool],
          shown: str) -> str:
    """Clear the target as `mode` says and load the backup, in one transaction
    (`nself.backups.load`): a failure or a kill at any moment leaves the database as it was.
    With `n_jobs` > 1 (only into a database without relations) pg_restore -j loads it
    instead, outside any transaction. Returns the tools' stderr; `touched` gets an entry
    once the target changed."""
    if n_jobs > 1:
        touched.append(True)
        say(f"Restoring {shown} into {db.display()} ({n_jobs} parallel jobs)...")
        try:
            return _pg_restore(tool.archive, db, backup, n_jobs, progress)
        except KeyboardInterrupt:
            raise Interrupted(
                f"Interrupted: the parallel restore (--jobs {n_jobs}, outside a transaction) "
                "stopped part way, and the database holds part of the backup. Restore it "
                "again with --clean (one transaction).") from None
    clean = _clean_statements(conn, mode, toc, existing)
    say(f"Restoring {shown} into {db.display()} in one transaction"
        + (f" ({CLEAN_SAYS[mode]} first)" if mode else "") + "...")
    producer = None
    try:
        if backup.format == "custom":
            producer, chunks = _script_of(tool.archive, db, backup)
            measure = lambda: _bytes_read(producer.pid)  # noqa: E731
        else:
            fed = [0]
            chunks = _sql_chunks(backup, fed)
            measure = lambda: fed[0]  # noqa: E731
        return load.run(tool.psql, db, conn, clean=clean, chunks=chunks,
                        script=load.Script(shown), producer=producer,
                        real_errors=lambda text: classify_errors(text)[1], progress=progress,
                        measure=measure, total=backup.size_bytes,
                        on_commit=lambda: touched.append(True))
    except load.CleanFailed as exc:
        raise OperationFailed(CLEAN_FAILED[mode].format(reason=exc.reason)) from None
    except load.RolledBack as exc:
        hint = LOCKS_HINT if "max_locks_per_transaction" in exc.stderr else ""
        raise OperationFailed(f"{_errors(shown, exc.real)} It was rolled back: nothing was "
                              f"changed.{hint}") from None
    except pgtools.ToolFailed as exc:
        raise OperationFailed(f"{exc}. Nothing was changed.") from None


def _errors(shown: str, real: list[str]) -> str:
    """`Restore of FILE finished with N error(s): the first three`."""
    listed = "; ".join(real[:3]) + (f"; and {len(real) - 3} more" if len(real) > 3 else "")
    return f"Restore of {shown} finished with {len(real)} error(s): {listed}."


def _script_of(archive: pgtools.Tool, db, backup: Backup) -> tuple[pgtools.Running, Iterator]:
    """pg_restore writing the archive's statements (`-f -`) into a pipe, and its chunks."""
    read, write = os.pipe()
    try:
        running = pgtools.start(archive, ["-f", "-", str(backup.path)], db, db.name, out=write)
    except BaseException:
        os.close(read)
        raise
    finally:
        os.close(write)

    def chunks():
        with os.fdopen(read, "rb", buffering=0) as pipe:
            while chunk := pipe.read(CHUNK):
                yield chunk

    return running, chunks()


def _sql_chunks(backup: Backup, fed: list[int]):
    """A SQL dump's bytes (decompressed); `fed[0]` is how far the file has been read."""
    with open(backup.path, "rb") as raw:
        source = gzip.GzipFile(fileobj=raw) if backup.compressed else raw
        while chunk := source.read(CHUNK):
            fed[0] = raw.tell()
            yield chunk


def _record(conn, guard: Guard) -> None:
    """The restored database keeps the target's recorded environment, or this one's when
    stricter, never the dump's nor a lower one (`Guard.record`); skipped when the
    connection is gone."""
    try:
        guard.record(conn)
    except psycopg.Error:
        pass


# What a partial backup creates, in the order `--clean` drops it: views before their tables,
# then sequences no table owns.
DROP_ORDER = ("MATERIALIZED VIEW", "VIEW", "TABLE", "SEQUENCE")
LOCKS_HINT = (" The restore runs in one transaction, which holds a lock on every object it "
              "drops and creates: raise the server's max_locks_per_transaction (e.g. ALTER "
              "SYSTEM SET max_locks_per_transaction = 256, then restart it) and run it again.")
CLEAN_SAYS = {"drop-all": "the existing schemas dropped", "truncate": "the backup's tables "
              "emptied", "drop-listed": "the backup's own objects dropped"}
CLEAN_FAILED = {
    "drop-all": "--clean cannot drop the existing schemas: {reason} Nothing was changed.",
    "truncate": "--clean cannot empty the backup's tables: {reason} Nothing was changed.",
    "drop-listed": "--clean cannot drop the backup's objects: {reason} Nothing was changed: "
                   "drop the dependent objects first, or restore a whole-database backup.",
}


def _clean_statements(conn, mode: str | None, toc: Contents, existing: set[str]) -> list[str]:
    """The SQL that clears the target as `mode` says, run in the load's transaction."""
    if mode == "drop-all":
        return wipe_statements(conn)
    if mode == "truncate":
        return _truncate(conn, toc, existing)
    if mode == "drop-listed":
        return _drop_listed(conn, toc)
    return []


def _drop_listed(conn, toc: Contents) -> list[str]:
    """Drop the archive's own objects, without CASCADE: an object outside the backup that
    depends on them (a view, a foreign key) stops the restore, with PostgreSQL's message,
    before anything changed."""
    statements = []
    for kind in DROP_ORDER:
        names = [sql.Identifier(e.schema, e.name) for e in toc.entries
                 if e.kind == kind and e.schema]
        if names:
            statements.append(sql.SQL("DROP {} IF EXISTS {}").format(
                sql.SQL(kind), sql.SQL(", ").join(names)).as_string(conn))
    return statements


def _truncate(conn, toc: Contents, existing: set[str]) -> list[str]:
    """Empty the tables a data-only backup fills, in one statement and without CASCADE: a
    table outside the backup that references them stops it, before anything changed.
    RESTART IDENTITY gives their sequences new storage in the transaction, so the backup's
    setval (which no rollback undoes on its own) is undone with it."""
    names = [sql.Identifier(e.schema, e.name) for e in toc.entries
             if e.kind == "TABLE DATA" and f"{e.schema}.{e.name}" in existing]
    if not names:
        return []
    return [sql.SQL("TRUNCATE {} RESTART IDENTITY").format(
        sql.SQL(", ").join(names)).as_string(conn)]


def _bytes_read(pid: int) -> int:
    """Bytes a process and its children (pg_restore's parallel workers) have read (Linux)."""
    total, todo, seen = 0, [pid], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            with open(f"/proc/{current}/io") as handle:
                for line in handle:
                    if line.startswith("rchar:"):
                        total += int(line.split()[1])
            with open(f"/proc/{current}/task/{current}/children") as handle:
                todo += [int(x) for x in handle.read().split()]
        except (OSError, ValueError):
            continue
    return total


def _wait(running: pgtools.Running, progress, measure: Callable[[], int], total: int):
    """Wait for the tool, reporting (done, total) to `progress` as it goes."""
    if progress is None:
        return running.result()
    try:
        while not running.finished_within(0.2):
            progress(min(measure(), total), total)
    except BaseException:
        running.stop()
        raise
    progress(total, total)
    return running.wait()


def _pg_restore(tool: pgtools.Tool, db, backup: Backup, jobs: int, progress) -> str:
    args = ["-d", pgtools.dbname_arg(db.name)]
    if jobs > 1:
        args += ["-j", str(jobs)]
    args.append(str(backup.path))
    # Without --exit-on-error pg_restore goes on past each error and exits 1 at the end;
    # the errors are sorted into noise and real ones from its stderr.
    running = pgtools.start(tool, args, db, db.name, ok_codes=(0, 1), workers=jobs > 1)
    result = _wait(running, progress, lambda: _bytes_read(running.pid), backup.size_bytes)
    return _text(result.stderr)
