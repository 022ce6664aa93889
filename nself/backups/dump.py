"""Creating a backup: pg_dump into a hidden partial file, check it, then give it its name.

pg_dump writes into `.<name>.<pid>.partial` in the same folder; the file gets
its real name only after pg_dump finished and a full read of it succeeded, so
a file that looks complete never is partial.
"""

from __future__ import annotations

import json
import os
import re
import signal
import threading
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from nself.pg import connection as database
from nself.pg import tools as pgtools
from nself.backups.store import (
    CUSTOM_EXT,
    PARTIAL_SUFFIX,
    Backup,
    checksum_path,
    clean_partials,
    meta_path,
    size_of,
    unlink,
    write_private,
)
from nself.backups.verify import start_follower, verify_file
from nself.errors import UsageError

# gzip level inside the default (custom) archive: level 1 is gzip's fastest, and the embedded
# tools have no zstd/lz4. pg_dump compresses on its own core while the server produces rows;
# measured against -Z2/-Z3/-Z6 in bench/README.md.
CUSTOM_LEVEL = 1
SQL_LEVEL = 6  # the guides' `.sql.gz`: gzip's default level


# Relations a table option may name (tables, partitioned, views, matviews, foreign, sequences).
RELATION_SQL = """
SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname), c.relkind
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = to_regclass(%s)
"""
TABLE_KINDS = "rpvmfS"


@dataclass
class BackupOptions:
    """What to dump and where: the `db backup` flags."""

    name: str | None = None
    output: str | None = None
    format: str | None = None  # custom | sql; None: from --output's extension, else custom
    compress: bool | None = None  # None: BACKUP_COMPRESSION (default true)
    tables: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    schema_only: bool = False
    data_only: bool = False


def split_names(value: str | None) -> tuple[str, ...]:
    """`a, b,c` -> ("a", "b", "c")."""
    if not value:
        return ()
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _resolve_format(options: BackupOptions, env) -> tuple[str, bool]:
    fmt = (options.format or "").lower() or None
    if fmt not in (None, "custom", "sql"):
        raise UsageError(f"Unknown --format {options.format!r}: use custom or sql.")
    compress = options.compress
    if options.output:
        lowered = options.output.lower()
        implied = ("sql", True) if lowered.endswith(".sql.gz") else (
            ("sql", False) if lowered.endswith(".sql") else None)
        if implied:
            if fmt == "custom":
                raise UsageError(f"--output {options.output} names a SQL file but --format is "
                                 "custom: use a .dump name, or --format sql.")
            fmt = "sql"
            if compress is None:
                compress = implied[1]
            elif compress != implied[1]:
                raise UsageError(f"--output {options.output} does not match --no-compress: "
                                 "name it .sql for an uncompressed SQL file.")
    if compress is None:
        compress = env.get_bool("BACKUP_COMPRESSION", True)
    return fmt or "custom", compress


def _extension(fmt: str, compress: bool) -> str:
    if fmt == "custom":
        return CUSTOM_EXT
    return ".sql.gz" if compress else ".sql"


def _safe_filename(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._") or "database"


def _destination(env, options: BackupOptions, fmt: str, compress: bool, dbname: str) -> Path:
    ext = _extension(fmt, compress)
    if options.output:
        path = Path(options.output).expanduser()
        path = path if path.is_absolute() else Path.cwd() / path
        if path.exists() or path.is_symlink():
            raise UsageError(f"{options.output} already exists: choose another --output, "
                             "nself never overwrites a backup.")
        return path
    folder = env.backups_dir
    if options.name:
        if "/" in options.name or options.name in (".", ".."):
            raise UsageError(f"--name {options.name!r} must be a plain file name; use --output "
                             "for a path.")
        base = options.name if options.name.endswith(ext) else options.name + ext
        path = folder / base
        if path.exists():
            raise UsageError(f"A backup named {env.relative(path)} already exists: choose "
                             "another --name.")
        return path
    stamp = datetime.now().strftime("%Y-%m-%d_%H%M%S")
    stem = f"{stamp}_{_safe_filename(dbname)}"
    path, n = folder / f"{stem}{ext}", 1
    while path.exists():
        n += 1
        path = folder / f"{stem}_{n}{ext}"
    return path


def _check_relations(conn, names: tuple[str, ...], flag: str, db) -> list[str]:
    """Each name as a qualified, quoted pg_dump pattern; UsageError for a name that is no table."""
    import psycopg

    resolved = []
    for name in names:
        try:
            row = conn.execute(RELATION_SQL, (name,)).fetchone()
        except psycopg.errors.InvalidName:
            row = None
        if row is None:
            raise UsageError(f"{flag}: table {name!r} does not exist in {db.display()}. "
                             "Nothing was written.")
        if row[1] not in TABLE_KINDS:
            raise UsageError(f"{flag}: {name!r} is not a table. Nothing was written.")
        resolved.append(row[0])
    return resolved


def _partial_name(final: Path) -> Path:
    return final.with_name(f".{final.name}.{os.getpid()}{PARTIAL_SUFFIX}")


@contextmanager
def _sigterm_interrupts():
    """SIGTERM becomes KeyboardInterrupt while a dump runs, so its partial file is removed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def dump_args(fmt: str, compress: bool, path: Path, tables=(), exclude=(),
              schema_only=False, data_only=False) -> list[str]:
    """pg_dump's arguments for a backup (the connection travels in the environment)."""
    level = (CUSTOM_LEVEL if fmt == "custom" else SQL_LEVEL) if compress else 0
    args = ["-F", "c" if fmt == "custom" else "p", f"-Z{level}", "-f", str(path)]
    for name in tables:
        args += ["-t", name]
    for name in exclude:
        args += ["-T", name]
    if schema_only:
        args.append("--schema-only")
    if data_only:
        args.append("--data-only")
    return args


def create(env, options: BackupOptions, progress: Callable[[int], None] | None = None,
           reason: str | None = None) -> Backup:
    """Dump the configured database into a new, verified backup file and return it.

    `reason` marks a safety backup taken before a destructive step (kept in its metadata)."""
    if options.schema_only and options.data_only:
        raise UsageError("--schema-only and --data-only exclude each other: pick one.")
    fmt, compress = _resolve_format(options, env)
    db = database.target(env)
    with database.connect(db) as conn:
        major = database.server_major(conn)
        version = database.server_version(conn)
        tables = _check_relations(conn, options.tables, "--tables", db)
        exclude = _check_relations(conn, options.exclude, "--exclude", db)
    extra = pgtools.extra_dirs(env)
    pg_dump = pgtools.find("pg_dump", major, extra)
    final = _destination(env, options, fmt, compress, db.name)
    final.parent.mkdir(parents=True, exist_ok=True)
    clean_partials(final.parent)
    partial = _partial_name(final)
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        with _sigterm_interrupts():
            args = dump_args(fmt, compress, partial, tables, exclude, options.schema_only,
                             options.data_only)
            running = pgtools.start(pg_dump, args, db, db.name)
            follower = start_follower(partial, env, pg_dump.major) if fmt == "custom" else None
            try:
                while not running.finished_within(0.25):
                    if progress:
                        progress(size_of(partial))
            except BaseException:
                running.stop()
                if follower:
                    follower.abandon()
                raise
            if progress:
                progress(size_of(partial))
            if follower:
                digest = follower.finish()
            else:
                digest = verify_file(partial, fmt, compress, env, pg_dump.major)
        meta = {
            "format": fmt, "compressed": compress, "database": db.name,
            "environment": env.name, "kind": _kind(options), "reason": reason,
            "server_version": version, "pg_dump_version": pg_dump.major,
            "created": datetime.now().isoformat(timespec="seconds"), "sha256": digest,
            "options": {"tables": list(options.tables), "exclude": list(options.exclude),
                        "schema_only": options.schema_only, "data_only": options.data_only},
        }
        write_private(checksum_path(final), f"{digest}  {final.name}\n")
        write_private(meta_path(final), json.dumps(meta, indent=2) + "\n")
        _publish(partial, final)
    except BaseException:
        unlink(partial)
        if not final.exists():
            unlink(checksum_path(final))
            unlink(meta_path(final))
        raise
    return Backup.at(final)


def _kind(options: BackupOptions) -> str:
    """full, schema-only, data-only or tables (a --tables/--exclude subset)."""
    if options.tables or options.exclude:
        return "tables"
    if options.schema_only:
        return "schema-only"
    if options.data_only:
        return "data-only"
    return "full"


def _publish(partial: Path, final: Path) -> None:
    """Give the verified file its real name, never replacing an existing file."""
    try:
        os.link(partial, final)
    except FileExistsError:
        raise UsageError(f"{final} appeared while the backup ran: kept it, dropped ours.") from None
    except OSError:
        if final.exists():
            raise UsageError(f"{final} already exists.") from None
        os.rename(partial, final)
    else:
        os.unlink(partial)
    try:
        fd = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def safety_backup(env, reason: str, say: Callable[[str], None]) -> Backup:
    """A full backup taken before a destructive step (`<stamp>_<database>_before_<reason>`),
    announced with the command that restores it."""
    import time

    db_name = env.database.name
    say(f"Safety backup before {reason}...")
    stamp = time.strftime("%Y-%m-%d_%H%M%S")
    made = create(env, BackupOptions(name=f"{stamp}_{_safe_filename(db_name)}_before_{reason}"),
                  reason=reason)
    shown = env.relative(made.path)
    say(f"Backup created: {shown} (undo with: nself db restore {shown} --clean)")
    return made
