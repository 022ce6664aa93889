"""Creating a backup: pg_dump into a hidden partial file, check it, then publish it whole.

pg_dump writes into `.<name>.<pid>.partial` in the backups folder; the checksum and
metadata are written beside it under hidden partial names too. Only once all three
are complete (and the dump was read back in full) are they published: metadata and
checksum first, the dump last, each by a link that never replaces a file. So a
dump is never visible without its checksum and metadata, a half-written `.json`
never exists, and a failure (a full disk, a killed pg_dump, Ctrl-C) leaves nothing
that looks like a backup. A killed nself leaves only hidden partial files, which
the next backup removes.
"""

from __future__ import annotations

import errno
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nself.backups.store import (
    CUSTOM_EXT,
    MANUAL,
    SAFETY,
    Backup,
    checksum_path,
    clean_partials,
    meta_path,
    now,
    partial_name,
    publish,
    size_of,
    source_here,
    sync_folder,
    unlink,
)
from nself.backups.verify import VerificationFailed, start_follower, verify_file
from nself.errors import NselfError, OperationFailed, ToolFailed, UsageError
from nself.pg import catalog
from nself.pg import connection as database
from nself.pg import tools as pgtools

# gzip level inside the default (custom) archive: level 1 is gzip's fastest, and the embedded
# tools have no zstd/lz4. pg_dump compresses on its own core while the server produces rows;
# measured against -Z2/-Z3/-Z6 in bench/README.md.
CUSTOM_LEVEL = 1
SQL_LEVEL = 6  # the guides' `.sql.gz`: gzip's default level
TABLE_KINDS = "rpvmfS"  # relations a table option may name (tables, views, sequences, ...)
# Errors of the disk rather than of the folder's settings: the backup failed (exit 1).
DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG}
FULL_DISK_BYTES = 64 * 1024  # less room than this after a failed dump: the disk filled up


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
    # appended to the timestamped name (`before_down`): a safety backup's reason
    suffix: str | None = None


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
        if "/" in options.name or options.name.startswith("."):
            # a leading dot makes a hidden file, which listing, restore and prune skip
            raise UsageError(f"--name {options.name!r} must be a plain file name, not starting "
                             "with a dot; use --output for a path.")
        base = options.name if options.name.endswith(ext) else options.name + ext
        path = folder / base
        if path.exists():
            raise UsageError(f"A backup named {env.relative(path)} already exists: choose "
                             "another --name.")
        return path
    stamp = now().strftime("%Y-%m-%d_%H%M%S")
    stem = f"{stamp}_{_safe_filename(dbname)}" + (f"_{options.suffix}" if options.suffix else "")
    # two backups within one second (a script's `down; down`, or two of the fleet's targets
    # in one database) get _2, _3, ...; a name another thread is writing is taken too
    path, n = folder / f"{stem}{ext}", 1
    while path.exists() or partial_name(path).exists():
        n += 1
        path = folder / f"{stem}_{n}{ext}"
    return path


def _check_relations(conn, names: tuple[str, ...], flag: str, db) -> list[str]:
    """Each name as a qualified, quoted pg_dump pattern; UsageError for a name that is no table."""
    resolved = []
    for name in names:
        found = catalog.relation(conn, name)
        if found is None:
            raise UsageError(f"{flag}: table {name!r} does not exist in {db.display()}. "
                             "Nothing was written.")
        if found[1] not in TABLE_KINDS:
            raise UsageError(f"{flag}: {name!r} is not a table. Nothing was written.")
        resolved.append(found[0])
    return resolved


def _file_error(exc: OSError, where: Path, env, output: bool) -> NselfError:
    """An OSError while writing a backup as one line: a full disk is a failed backup (exit 1);
    a folder that cannot be made or written is a settings problem (exit 2)."""
    shown = env.relative(where)
    reason = exc.strerror or str(exc)
    if exc.errno in DISK_ERRNOS:
        return OperationFailed(f"Cannot write the backup in {shown}: {reason}. Nothing was kept.")
    fix = "choose another --output" if output else (
        "make it writable, or set NSELF_BACKUPS_DIR to a writable folder, or use --output")
    return UsageError(f"Cannot write backups in {shown}: {reason}. Nothing was kept: {fix}.")


def _write_private(path: Path, text: str) -> None:
    """Write `path` (new, 0600) and flush it to disk; a failure leaves no file behind."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            data = text.encode()
            while data:
                data = data[os.write(fd, data):]
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        unlink(path)
        raise




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


def create_backup(env, options: BackupOptions, progress: Callable[[int], None] | None = None,
                  reason: str | None = None, origin: str | None = None) -> Backup:
    """Dump the configured database into a new, verified backup with its checksum and
    metadata, and return it; nothing that looks like a backup is left when it fails.

    `progress` gets the bytes written so far (the task layer gives a bar on a terminal).
    `reason` marks a safety backup
    taken before a destructive step; `origin` says what made it (store.MANUAL, SCHEDULED;
    a `reason` makes it SAFETY). Both are kept in its metadata, with whose it is
    (project, environment, database, server)."""
    if options.schema_only and options.data_only:
        raise UsageError("--schema-only and --data-only exclude each other: pick one.")
    fmt, compress = _resolve_format(options, env)
    db = database.target(env)
    with database.connect(db) as conn:
        major = database.server_major(conn)
        version = database.server_version(conn)
        source = source_here(env, conn)
        tables = _check_relations(conn, options.tables, "--tables", db)
        exclude = _check_relations(conn, options.exclude, "--exclude", db)
    pg_dump = pgtools.find("pg_dump", major, pgtools.extra_dirs(env))
    while True:
        final = _destination(env, options, fmt, compress, db.name)
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            clean_partials(final.parent)
            partial = partial_name(final)
            os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            break
        except OSError as exc:
            if isinstance(exc, FileExistsError) and not (options.name or options.output):
                continue  # another thread of this process took the name a moment ago
            raise _file_error(exc, final.parent, env, bool(options.output)) from None
    sidecars = [(partial_name(meta_path(final)), meta_path(final)),
                (partial_name(checksum_path(final)), checksum_path(final))]
    published: list[Path] = []
    try:
        digest = _dump(env, pg_dump, db, partial, fmt, compress, tables, exclude, options,
                       progress)
        meta = {
            "format": fmt, "compressed": compress, "database": db.name,
            "environment": env.name, "project": source.project, "server_id": source.server_id,
            "kind": _kind(options), "reason": reason,
            "origin": SAFETY if reason else (origin or MANUAL),
            "server_version": version, "pg_dump_version": pg_dump.major,
            "created": now().isoformat(timespec="microseconds"), "sha256": digest,
            "options": {"tables": list(options.tables), "exclude": list(options.exclude),
                        "schema_only": options.schema_only, "data_only": options.data_only},
        }
        _write_private(sidecars[0][0], json.dumps(meta, indent=2) + "\n")
        _write_private(sidecars[1][0], f"{digest}  {final.name}\n")
        for hidden, shown in sidecars:
            publish(hidden, shown, final)
            published.append(shown)
        publish(partial, final, final)
        sync_folder(final.parent)
    except OSError as exc:
        _discard(partial, sidecars, published)
        raise _file_error(exc, final.parent, env, bool(options.output)) from None
    except (ToolFailed, VerificationFailed) as exc:
        # pg_dump -Fc can exit 0 on a full disk with its archive cut short: the read-back
        # catches that, and the free space says why.
        full = _disk_full(final.parent)
        _discard(partial, sidecars, published)
        if full:
            raise OperationFailed(f"Cannot write the backup in {env.relative(final.parent)}: "
                                  "No space left on device (the dump was cut short). Nothing "
                                  "was kept.") from None
        if isinstance(exc, VerificationFailed):
            raise
        raise ToolFailed(f"Backup failed: {exc} Nothing was kept.", exc.returncode) from None
    except BaseException:
        _discard(partial, sidecars, published)
        raise
    return Backup.at(final)


def _dump(env, pg_dump, db, partial: Path, fmt: str, compress: bool, tables, exclude,
          options: BackupOptions, progress) -> str:
    """Run pg_dump into `partial` and read the result back in full; return its sha256."""
    args = dump_args(fmt, compress, partial, tables, exclude, options.schema_only,
                     options.data_only)
    running = pgtools.start(pg_dump, args, db, db.name)
    follower = start_follower(partial, env, pg_dump.major) if fmt == "custom" else None
    try:
        while not running.finished_within(0.2):
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
        return follower.finish()
    return verify_file(partial, fmt, compress, env, pg_dump.major)


def _disk_full(folder: Path) -> bool:
    """True when the file system of `folder` has (next to) no room left."""
    try:
        st = os.statvfs(folder)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < FULL_DISK_BYTES


def _discard(partial: Path, sidecars, published: list[Path]) -> None:
    """Remove what a failed backup wrote: its hidden files and the sidecars it published."""
    for path in [partial, *(hidden for hidden, _ in sidecars), *published]:
        try:
            unlink(path)
        except OSError:
            pass


def _kind(options: BackupOptions) -> str:
    """full, schema-only, data-only or tables (a --tables/--exclude subset)."""
    if options.tables or options.exclude:
        return "tables"
    if options.schema_only:
        return "schema-only"
    if options.data_only:
        return "data-only"
    return "full"






def safety_backup(env, reason: str, say: Callable[[str], None] | None,
                  undo: Callable[[str], str],
                  progress: Callable[[int], None] | None = None) -> Backup:
    """A full backup taken before a destructive step (`<stamp>_<database>_before_<reason>`),
    announced (when `say` is given) with `undo(shown)`, the line that restores it
    (`nself.guard.undo_command`); `progress` as `create_backup`'s."""
    if say is not None:
        say(f"Safety backup before {reason}...")
    made = create_backup(env, BackupOptions(suffix=f"before_{reason}"), progress,
                         reason=reason)
    if say is not None:
        say(f"Backup created: {env.relative(made.path)} (undo with: "
            f"{undo(env.relative(made.path))})")
    return made
