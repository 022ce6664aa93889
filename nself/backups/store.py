"""Backup files on disk: what one is, the facts beside it, listing, pruning.

A backup is one file in its environment's folder, `backups/<env>/` (or
NSELF_BACKUPS_DIR, or `--output`): a custom-format archive (`pg_dump -Fc`,
`.dump`) by default, or plain SQL (`.sql.gz` / `.sql`). Beside it lie
`<file>.sha256` (sha256sum format: `sha256sum -c` checks it) and `<file>.json`,
its metadata: environment, database, server version, kind (full, schema-only,
data-only, tables), reason (safety backups) and `created`. `created` is THE time
of a backup: a file's modification time never counts (a `cp` of an old dump does
not make it new), and a file without metadata has an unknown time and kind.

Whose a backup is (its `Source`): the project, environment, database and server (the
server's system identifier) it was dumped from. Only a backup whose metadata names all
of them, equal to the restore target's, is "this database's"; a backup written before
nself recorded project and server cannot be told from a teammate's, and counts as
another source.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import struct
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

from nself import userfile
from nself.errors import ConfigError, NselfError, UsageError
from nself.pg import connection as database

CUSTOM_EXT = ".dump"
SQL_EXTS = (".sql.gz", ".sql")
BACKUP_EXTS = (CUSTOM_EXT, *SQL_EXTS)
CHECKSUM_EXT = ".sha256"
META_EXT = ".json"
PARTIAL_SUFFIX = ".partial"
ARCHIVE_MAGIC = b"PGDMP"
GZIP_MAGIC = b"\x1f\x8b"
SQL_TRAILER = b"-- PostgreSQL database dump complete"
CHUNK = 1 << 20
FULL = "full"
UNKNOWN = "unknown"
LEGACY_FOLDER = "backups"  # before per-environment folders, every backup lay here
# What made a backup (`origin` in its metadata): `nself db backup`, the installed schedule,
# or a command about to destroy data (a safety backup, whose `reason` names the command).
MANUAL, SCHEDULED, SAFETY = "backup", "schedule", "safety"
# The cluster's identity: unchanged by restarts, new for every initdb (another machine's
# server, a teammate's embedded one).
SERVER_ID_SQL = "SELECT system_identifier::text FROM pg_control_system()"
# `db backup list` asks an external database for its server id only if it answers this fast.
LIST_CONNECT_TIMEOUT = 2
# The command a safety backup's `reason` stands for, in messages.
REASON_COMMANDS = {"down": "migrate down", "migrate": "migrate up", "fresh": "migrate fresh",
                   "repair": "migrate repair", "restore": "restore --clean",
                   "update": "db update", "reset": "db reset", "seed": "db seed",
                   "mock": "db mock", "import": "schema import --apply"}


@dataclass(frozen=True)
class Source:
    """Whose a backup is: the project, environment, database and server it came from."""

    project: str | None
    environment: str | None
    database: str | None
    server_id: str | None

    def shown(self) -> str:
        """`project shop, environment local, database shop, server …12144760`."""
        server = f"…{self.server_id[-8:]}" if self.server_id else "unknown"
        return (f"project {self.project or 'unknown'}, environment "
                f"{self.environment or 'unknown'}, database {self.database or 'unknown'}, "
                f"server {server}")


def server_id(conn) -> str | None:
    """The server's system identifier (pg_control_system), or None where it cannot be read."""
    import psycopg

    try:
        with conn.transaction():
            return str(conn.execute(SERVER_ID_SQL).fetchone()[0])
    except psycopg.Error:
        return None


def source_here(env, conn) -> Source:
    """The Source a backup of the configured database, taken now, records."""
    return Source(env.project_name, env.name, database_name(env), server_id(conn))


def server_id_at(pgdata: Path) -> str | None:
    """The system identifier a data folder records: global/pg_control's first field (8 bytes,
    the machine's byte order); None when it cannot be read. Needs no running server."""
    try:
        with open(Path(pgdata) / "global" / "pg_control", "rb") as handle:
            head = handle.read(8)
    except OSError:
        return None
    return str(struct.unpack("=Q", head)[0]) if len(head) == 8 else None


def listing_source(env) -> Source:
    """The configured database's Source for `db backup list`, starting nothing: the embedded
    server's id from its data folder, an external one's from the database if it answers
    within LIST_CONNECT_TIMEOUT seconds; server_id None when neither is possible."""
    try:
        db = env.database
    except ConfigError:
        return Source(env.project_name, env.name, None, None)
    found = None
    try:
        if db.embedded:
            # deferred as in pg.connection.target: ~6 ms of `db status`'s start-up
            from nself.pg.embedded import EmbeddedServer

            found = server_id_at(EmbeddedServer.for_environment(env).pgdata)
        else:
            quick = replace(db, params={**db.params,
                                        "connect_timeout": str(LIST_CONNECT_TIMEOUT)})
            with database.connect(quick) as conn:
                found = server_id(conn)
    except NselfError:
        found = None
    return Source(env.project_name, env.name, db.name, found)


def this_source(env) -> Source:
    """`source_here` over a connection of its own (to the configured database)."""
    with database.connect(database.target(env)) as conn:
        return source_here(env, conn)


@dataclass
class Backup:
    """One backup file and what its metadata says of it."""

    path: Path
    format: str  # "custom" or "sql"
    compressed: bool
    size_bytes: int
    sha256: str | None = None  # as recorded beside the file
    meta: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def created(self) -> datetime | None:
        """When the backup was made, from its metadata (timezone-aware); None when unknown."""
        return parse_time(self.meta.get("created"))

    @property
    def environment(self) -> str | None:
        return self.meta.get("environment")

    @property
    def database(self) -> str | None:
        return self.meta.get("database")

    @property
    def reason(self) -> str | None:
        return self.meta.get("reason")

    @property
    def origin(self) -> str | None:
        """backup, schedule or safety; None when the metadata does not say."""
        found = self.meta.get("origin")
        return found if found else (SAFETY if self.reason else None)

    @property
    def is_safety(self) -> bool:
        """Taken by a command before it destroyed data (not by `db backup` or the schedule)."""
        return self.origin == SAFETY

    @property
    def source(self) -> Source:
        """Whose it is, as its metadata says."""
        server = self.meta.get("server_id")
        return Source(self.meta.get("project"), self.environment, self.database,
                      str(server) if server else None)

    def same_source(self, here: Source) -> bool:
        """True when the metadata says this backup is of `here`'s project, environment,
        database and server; a backup that does not record its project is never (it
        cannot be told from a teammate's). When neither side knows its server, the
        project, environment and database decide."""
        mine = self.source
        return (bool(self.meta) and mine.project is not None and mine.project == here.project
                and mine.environment == here.environment and mine.database == here.database
                and mine.server_id == here.server_id)

    def not_of(self, here: Source) -> str | None:
        """Why this backup is not `here`'s, for listings (`project p, database d, server
        …12144760`: what differs), or None. The same rule as `same_source` (None exactly
        when it is true), except that an unknown `here` server is not compared."""
        if not self.meta:
            return "no metadata: whose is unknown"
        mine = self.source
        if mine.project is None:
            return "no project recorded: whose is unknown"
        parts = [f"{label} {theirs or 'unknown'}" for label, theirs, ours in (
            ("project", mine.project, here.project),
            ("environment", mine.environment, here.environment),
            ("database", mine.database, here.database)) if theirs != ours]
        if here.server_id is not None and mine.server_id != here.server_id:
            parts.append("server " + (f"…{mine.server_id[-8:]}" if mine.server_id
                                      else "unknown"))
        return ", ".join(parts) or None

    @property
    def kind(self) -> str:
        """full, schema-only, data-only, tables (a subset), or unknown (no metadata)."""
        if not self.meta:
            return UNKNOWN
        if self.meta.get("kind"):
            return str(self.meta["kind"])
        options = self.meta.get("options") or {}  # metadata written before `kind` existed
        if options.get("tables") or options.get("exclude"):
            return "tables"
        if options.get("schema_only"):
            return "schema-only"
        if options.get("data_only"):
            return "data-only"
        return FULL

    @property
    def complete(self) -> bool:
        """Schema and data of every table: what a plain restore means."""
        return self.kind == FULL

    def belongs_to(self, env_name: str, database: str | None) -> bool:
        """True when the metadata says this backup is of `env_name` (and of `database`)."""
        return self.environment == env_name and (database is None or self.database == database)

    @classmethod
    def at(cls, path: Path) -> Backup:
        """The backup in `path` (format from its first bytes, checksum and facts from beside it)."""
        path = Path(path)
        # a FIFO or a link to /dev/zero would make every read below wait or never end
        size = userfile.check_regular(path, "a backup").st_size
        try:
            with open(path, "rb") as handle:
                head = handle.read(5)
        except OSError as exc:
            raise UsageError(f"Cannot read backup {path}: {exc.strerror}.") from None
        if head.startswith(ARCHIVE_MAGIC):
            fmt, compressed = "custom", True
        elif head.startswith(GZIP_MAGIC):
            fmt, compressed = "sql", True
        else:
            fmt, compressed = "sql", False
        return cls(path=path, format=fmt, compressed=compressed, size_bytes=size,
                   sha256=read_checksum(path), meta=_read_meta(path))

    def to_dict(self, env=None) -> dict:
        return {"name": self.name, "file": env.relative(self.path) if env else str(self.path),
                "created": self.created, "size_bytes": self.size_bytes, "format": self.format,
                "compressed": self.compressed, "sha256": self.sha256, "kind": self.kind,
                "complete": self.complete, "environment": self.environment,
                "database": self.database, "server_version": self.meta.get("server_version"),
                "reason": self.reason, "origin": self.origin,
                "project": self.meta.get("project"), "server_id": self.meta.get("server_id"),
                "description": describe(self)}


def parse_time(text) -> datetime | None:
    """An ISO time from metadata as an aware datetime (naive ones are local time), or None."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.astimezone() if moment.tzinfo is None else moment


def ago(moment: datetime | None, at: datetime | None = None) -> str:
    """`3 minutes ago`, `2 days ago`; `at an unknown time` for None."""
    if moment is None:
        return "at an unknown time"
    seconds = int(((at or now()) - moment).total_seconds())
    if seconds < 0:
        return f"at {moment:%Y-%m-%d %H:%M} (in the future)"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        if seconds >= size or unit == "second":
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'} ago"
    return ""  # unreachable


def describe(backup: Backup, at: datetime | None = None) -> str:
    """What a backup is, in words: `a safety backup taken before `migrate down` 3 minutes
    ago`, `a scheduled full backup 2 hours ago`, `a full backup made by `nself db backup`
    ...`."""
    if not backup.meta:
        return "a backup without metadata (its kind, time and source are unknown)"
    when = ago(backup.created, at)
    if backup.is_safety:
        command = REASON_COMMANDS.get(backup.reason or "", backup.reason or "a command")
        return f"a safety backup taken before `{command}` {when}"
    kind = backup.kind
    article = "an" if kind[:1] in "aeiou" else "a"
    if backup.origin == SCHEDULED:
        return f"a scheduled {kind} backup {when}"
    if backup.origin == MANUAL:
        return f"{article} {kind} backup made by `nself db backup` {when}"
    return f"{article} {kind} backup taken {when}"


def now() -> datetime:
    """The current local time, timezone-aware (what metadata records)."""
    return datetime.now().astimezone()


def checksum_path(path: Path) -> Path:
    return path.with_name(path.name + CHECKSUM_EXT)


def meta_path(path: Path) -> Path:
    return path.with_name(path.name + META_EXT)


def read_checksum(path: Path) -> str | None:
    """The sha256 recorded beside `path`, or None when there is none."""
    try:
        text = userfile.read_text(checksum_path(path), "a checksum file", userfile.SIDECAR_LIMIT)
    except UsageError:
        return None
    match = re.match(r"\s*([0-9a-fA-F]{64})\b", text)
    return match.group(1).lower() if match else None


def _read_meta(path: Path) -> dict:
    try:
        data = json.loads(userfile.read_text(meta_path(path), "a metadata file",
                                             userfile.SIDECAR_LIMIT))
    except (UsageError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def clean_partials(folder: Path) -> list[Path]:
    """Remove `.*.<pid>.partial` files left by a killed nself (its pid is gone); return them."""
    removed = []
    if not folder.is_dir():
        return removed
    for path in folder.glob(f".*{PARTIAL_SUFFIX}"):
        match = re.search(r"\.(\d+)\.partial$", path.name)
        if not match or _pid_alive(int(match.group(1))) or path.name in _named_partials:
            continue  # not ours, or its nself still runs, or this process writes it
        try:
            path.unlink()
            removed.append(path)
        except OSError:
            pass
    return removed


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def size_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


# the partial files this process named: the fleet backs up several databases at once, a
# thread each, and one thread's clean-up must not take another's file for a leftover (one of
# our pid that we never named is a killed process's whose pid we got)
_named_partials: set[str] = set()


def partial_name(final: Path) -> Path:
    """The hidden name a file is written under until it is published."""
    path = final.with_name(f".{final.name}.{os.getpid()}{PARTIAL_SUFFIX}")
    _named_partials.add(path.name)
    return path


def publish(hidden: Path, shown: Path, dump: Path) -> None:
    """Give a finished file its real name, never replacing a backup's file. A checksum or
    metadata file whose dump does not exist is a leftover (a killed nself) and is replaced."""
    for attempt in (1, 2):
        try:
            os.link(hidden, shown)
        except FileExistsError:
            if attempt == 1 and shown != dump and not dump.exists():
                unlink(shown)
                continue
            raise UsageError(f"{shown} appeared while the backup ran: kept it, dropped ours.") \
                from None
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP):
                raise
            if shown.exists():  # a file system without hard links
                raise UsageError(f"{shown} already exists.") from None
            os.rename(hidden, shown)
            return
        os.unlink(hidden)
        return


def sync_folder(folder: Path) -> None:
    """Make the new names durable (best effort: not every file system can fsync a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def is_backup_name(name: str) -> bool:
    return not name.startswith(".") and name.endswith(BACKUP_EXTS)


def newest_first(backups: list[Backup]) -> list[Backup]:
    """Known times newest first, then the backups whose time is unknown (by name)."""
    known = sorted((b for b in backups if b.created), key=lambda b: (b.created, b.name),
                   reverse=True)
    return known + sorted((b for b in backups if not b.created), key=lambda b: b.name)


def _in_folder(folder: Path) -> list[Backup]:
    if not folder.is_dir():
        return []
    found = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return []
    for path in entries:
        if is_backup_name(path.name) and path.is_file():
            try:
                found.append(Backup.at(path))
            except UsageError:
                continue  # vanished or unreadable while we looked
    return found


def database_name(env) -> str | None:
    """The configured database's name, or None when none is configured (listing needs none)."""
    try:
        return env.database.name
    except ConfigError:
        return None


def list_backups(env) -> list[Backup]:
    """This environment's backups of its database, newest first (by metadata time).

    From the environment's folder: files whose metadata names another project, environment
    or database are left out (`all_backups` shows them); files without metadata are kept
    (their kind and time are unknown). Partial files are never listed.
    """
    return mine(env, _in_folder(env.backups_dir))


def mine(env, backups: list[Backup]) -> list[Backup]:
    """Of `backups`, those of this project's environment and database (and those that do not
    record their project, or have no metadata: whose they are is unknown), newest first."""
    database = database_name(env)
    return newest_first([b for b in backups if not b.meta or (
        b.belongs_to(env.name, database)
        and b.meta.get("project") in (None, env.project_name))])


def backup_folders(env) -> list[Path]:
    """Every folder that may hold backups: the legacy flat `backups/`, each `backups/*/`,
    and this environment's folder (NSELF_BACKUPS_DIR may put it elsewhere)."""
    base = env.root / LEGACY_FOLDER
    folders = [base]
    if base.is_dir():
        try:
            folders += sorted(p for p in base.iterdir() if p.is_dir())
        except OSError:
            pass
    folders.append(env.backups_dir)
    unique, seen = [], set()
    for folder in folders:
        key = os.path.realpath(folder)
        if key not in seen:
            seen.add(key)
            unique.append(folder)
    return unique


def all_backups(env) -> list[Backup]:
    """Every backup of every environment and database, newest first (`--all`)."""
    return newest_first([b for folder in backup_folders(env) for b in _in_folder(folder)])


def hidden_count(env) -> int:
    """How many backups `list_backups` leaves out (other projects, environments or
    databases)."""
    return len(all_backups(env)) - len(list_backups(env))


def latest_backup(env) -> dict | None:
    """The newest backup of this environment and database (by metadata time), or None."""
    dated = [b for b in list_backups(env) if b.created]
    if not dated:
        return None
    newest = dated[0]
    return {"file": env.relative(newest.path), "created": newest.created,
            "size_bytes": newest.size_bytes, "kind": newest.kind}


def verify_listed(backup: Backup) -> str:
    """`ok`, `MISMATCH`, or `none` (no checksum recorded) for `db backup list --verify`."""
    if not backup.sha256:
        return "none"
    return "ok" if sha256_of(backup.path) == backup.sha256 else "MISMATCH"


def retention_days(env) -> int:
    days = env.get_int("BACKUP_RETENTION_DAYS", 30)
    if days < 1:
        raise ConfigError(f"BACKUP_RETENTION_DAYS={days}: keep backups at least 1 day.")
    return days


def expired(backups: list[Backup], days: int, at: datetime | None = None) -> list[Backup]:
    """Of one place's `backups` (newest first), those past the retention: never the newest,
    never the newest complete one, never one whose time is unknown (no metadata)."""
    cutoff = (at or now()) - timedelta(days=days)
    dated = [b for b in backups if b.created]
    keep = {id(dated[0])} if dated else set()
    complete = [b for b in dated if b.complete]
    if complete:
        keep.add(id(complete[0]))
    return [b for b in dated if id(b) not in keep and b.created < cutoff]


def prune(env, dry_run: bool = False, at: datetime | None = None) -> list[Backup]:
    """Delete this environment's backups older than the retention (`expired`); return those
    (to be) deleted."""
    doomed = expired(list_backups(env), retention_days(env), at)
    if not dry_run:
        for backup in doomed:
            for path in (backup.path, checksum_path(backup.path), meta_path(backup.path)):
                unlink(path)
        clean_partials(env.backups_dir)
    return doomed
