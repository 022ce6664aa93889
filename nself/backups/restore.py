"""Restoring a backup: check it, read its table of contents, clear the target if asked, load it."""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from nself.pg import connection as database
from nself.pg import tools as pgtools
from nself.backups.store import CHUNK, GZIP_MAGIC, Backup, list_backups
from nself.backups.verify import VerificationFailed, check
from nself.config import Database
from nself.errors import OperationFailed, UsageError

EXISTING_TABLES_SQL = r"""
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'
"""


@dataclass
class Entry:
    """One line of an archive's table of contents."""

    kind: str  # TABLE, TABLE DATA, INDEX, ...
    schema: str
    name: str


@dataclass
class Contents:
    """What a backup holds: entries, and the versions that made it."""

    entries: list[Entry]
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
        entries.append(Entry(kind, schema, name))
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
            entries.append(Entry(kind, "" if schema == "-" else schema, name))
    return Contents(entries, server, dumper)


def _sql_lines(path: Path):
    import gzip

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
    safety_backup: str | None = None  # what --clean saved first (staging, production)

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


def resolve_file(env, file: str | None) -> Backup:
    """The backup a restore means: FILE, or the newest in the backups folder."""
    if file:
        path = Path(file).expanduser()
        if not path.exists():
            candidate = env.backups_dir / file
            path = candidate if candidate.exists() else path
        if not path.exists():
            raise UsageError(f"No backup file {file}: see `nself db backup list`.")
        return Backup.at(path)
    backups = list_backups(env)
    if not backups:
        raise UsageError(f"No backups in {env.relative(env.backups_dir)}/: create one with "
                         "`nself db backup`, or name a file.")
    return backups[0]


def default_jobs() -> int:
    return max(1, min(os.cpu_count() or 1, 4))


def restore(env, file: str | None = None, *, dry_run: bool = False, clean: bool = False,
            yes: bool = False, confirm: str | None = None, jobs: int | None = None,
            say: Callable[[str], None] | None = None,
            safety_backup: bool = True) -> RestoreReport:
    """Restore a backup into the configured database (checks it first; asks where the policy
    says so). With `dry_run`, only report what would happen.

    `--clean` outside local first backs up what it is about to drop (`safety_backup`): a
    restore that fails after the drop must not have lost the data it replaced.
    """
    from nself import safety

    say = say or (lambda text: None)
    backup = resolve_file(env, file)
    shown = env.relative(backup.path)
    checked_by = check(env, backup)
    toc = contents(env, backup)
    db = database.target(env)
    with database.connect(db) as conn:
        major = database.server_major(conn)
        existing = {f"{s}.{n}" for s, n in conn.execute(EXISTING_TABLES_SQL).fetchall()}
    dumped_from = Contents.major(toc.server_version)
    if dumped_from and dumped_from > major:
        raise UsageError(
            f"{shown} was dumped from PostgreSQL {toc.server_version}; the target runs "
            f"PostgreSQL {major}. A dump restores only into the same or a newer major version: "
            f"restore it into PostgreSQL {dumped_from} or newer (e.g. the embedded server), or "
            "upgrade the target.")
    partial = backup.partial or not backup.meta
    mode = None
    if clean:
        if not toc.has_schema:
            mode = "truncate"
        elif partial:
            mode = "drop-listed"
        else:
            mode = "drop-all"
    conflicts = sorted(set(toc.tables) & existing) if toc.has_schema and not clean else []
    n_jobs = 1
    if backup.format == "custom" and toc.has_schema:
        # Data-only archives load in dump order (foreign keys first): one job keeps that order.
        n_jobs = max(1, jobs or default_jobs())
    report = RestoreReport(
        file=shown, target=db.display(), format=backup.format, checked_by=checked_by,
        tables=toc.tables or toc.data_tables, counts=toc.counts(), dry_run=dry_run, clean=mode,
        jobs=n_jobs, conflicts=conflicts, server_version=toc.server_version,
        pg_dump_version=toc.pg_dump_version)
    if dry_run:
        return report
    if conflicts:
        listed = ", ".join(conflicts[:5]) + (" …" if len(conflicts) > 5 else "")
        raise UsageError(f"{db.display()} already has {len(conflicts)} of the backup's tables "
                         f"({listed}): pass --clean to replace them. Nothing was changed.")
    safety.enforce("restore", env.name, target=db.display(), yes=yes, confirm=confirm)
    started = time.monotonic()
    if mode and safety_backup and env.name != "local":
        from nself.backups.dump import BackupOptions, create

        say("Backing up the current database before --clean drops it...")
        stamp = time.strftime("%Y-%m-%d_%H%M%S")
        kept = create(env, BackupOptions(name=f"{stamp}_{db.name}_before_restore"))
        report.safety_backup = env.relative(kept.path)
        say(f"Backup created: {report.safety_backup}")
    if mode == "drop-all":
        say("Dropping the existing schemas...")
        _drop_all(db)
    elif mode == "truncate":
        say("Emptying the backup's tables...")
        _truncate(db, toc, existing)
    elif mode == "drop-listed":
        say("Dropping the backup's own objects...")
        _drop_listed(db, toc)
    dump_major = Contents.major(toc.pg_dump_version) or 0
    say(f"Restoring {shown} into {db.display()}...")
    if backup.format == "custom":
        stderr = _pg_restore(env, db, backup, major, dump_major, n_jobs)
    else:
        stderr = _psql_restore(env, db, backup, major, dump_major)
    noise, real = classify_errors(stderr)
    report.ignored = noise
    report.seconds = time.monotonic() - started
    if real:
        shown_errors = "; ".join(real[:3]) + (f"; and {len(real) - 3} more" if len(real) > 3
                                               else "")
        raise OperationFailed(f"Restore of {shown} finished with {len(real)} error(s): "
                              f"{shown_errors}")
    return report


def _drop_all(db) -> None:
    from nself.pg.wipe import wipe

    with database.connect(db) as conn:
        wipe(conn)


# What a partial backup creates, in the order `--clean` drops it: views before their tables,
# then sequences no table owns.
DROP_ORDER = ("MATERIALIZED VIEW", "VIEW", "TABLE", "SEQUENCE")


def _drop_listed(db, toc: Contents) -> None:
    """Drop the archive's own objects, without CASCADE: an object outside the backup that
    depends on them (a view, a foreign key) stops it, with PostgreSQL's message, before
    anything changed."""
    import psycopg
    from psycopg import sql

    with database.connect(db) as conn:
        try:
            with conn.transaction():
                for kind in DROP_ORDER:
                    names = [sql.Identifier(e.schema, e.name) for e in toc.entries
                             if e.kind == kind and e.schema]
                    if names:
                        conn.execute(sql.SQL("DROP {} IF EXISTS {}").format(
                            sql.SQL(kind), sql.SQL(", ").join(names)))
        except psycopg.Error as exc:
            raise OperationFailed(
                f"--clean cannot drop the backup's objects: {database.describe_error(exc)} "
                "Nothing was changed: drop the dependent objects first, or restore a "
                "whole-database backup.") from None


def _truncate(db, toc: Contents, existing: set[str]) -> None:
    """Empty the tables a data-only backup fills, in one statement and without CASCADE: a
    table outside the backup that references them stops it, before anything changed."""
    import psycopg
    from psycopg import sql

    names = [sql.Identifier(e.schema, e.name) for e in toc.entries
             if e.kind == "TABLE DATA" and f"{e.schema}.{e.name}" in existing]
    if not names:
        return
    with database.connect(db) as conn:
        try:
            conn.execute(sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(names)))
        except psycopg.Error as exc:
            raise OperationFailed(
                f"--clean cannot empty the backup's tables: {database.describe_error(exc)} "
                "Nothing was changed.") from None


def _pg_restore(env, db, backup: Backup, major: int, dump_major: int, jobs: int) -> str:
    tool = pgtools.find("pg_restore", major, pgtools.extra_dirs(env), at_least=dump_major)
    args = ["-d", pgtools.dbname_arg(db.name)]
    if jobs > 1:
        args += ["-j", str(jobs)]
    args.append(str(backup.path))
    # Without --exit-on-error pg_restore goes on past each error and exits 1 at the end;
    # the errors are sorted into noise and real ones from its stderr.
    result = pgtools.start(tool, args, db, db.name, ok_codes=(0, 1)).result()
    return _text(result.stderr)


def _psql_restore(env, db, backup: Backup, major: int, dump_major: int) -> str:
    tool = pgtools.find("psql", major, pgtools.extra_dirs(env), at_least=min(dump_major, major))
    args = ["-X", "-q", "-o", os.devnull, "-v", "ON_ERROR_STOP=0"]
    if backup.compressed:
        import gzip

        with gzip.open(backup.path, "rb") as source:
            # sh would read a file object's descriptor (compressed bytes): hand it chunks.
            chunks = iter(lambda: source.read(CHUNK), b"")
            result = pgtools.start(tool, args, db, db.name, stdin=chunks).result()
    else:
        result = pgtools.start(tool, [*args, "-f", str(backup.path)], db, db.name).result()
    return _text(result.stderr)
