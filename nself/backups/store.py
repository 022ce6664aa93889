"""Backup files on disk: what one is, its checksum and facts beside it, listing, pruning.

A backup is one file in `backups/` (or `--output`): a custom-format archive
(`pg_dump -Fc`, `.dump`) by default, or plain SQL (`.sql.gz` / `.sql`).
Beside it lie `<file>.sha256` (sha256sum format: `sha256sum -c` checks it)
and `<file>.json` (what was dumped, from which server, with which options).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from nself.errors import ConfigError, UsageError

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


@dataclass
class Backup:
    """One backup file and what we know of it."""

    path: Path
    format: str  # "custom" or "sql"
    compressed: bool
    created: datetime
    size_bytes: int
    sha256: str | None = None  # as recorded beside the file
    meta: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def partial(self) -> bool:
        """True when the backup holds only some tables, or only data / only schema."""
        options = self.meta.get("options", {})
        return bool(options.get("tables") or options.get("exclude") or options.get("data_only")
                    or options.get("schema_only"))

    @classmethod
    def at(cls, path: Path) -> Backup:
        """The backup in `path` (format from its first bytes, checksum and facts from beside it)."""
        path = Path(path)
        try:
            with open(path, "rb") as handle:
                head = handle.read(5)
            stat = path.stat()
        except OSError as exc:
            raise UsageError(f"Cannot read backup {path}: {exc.strerror}.") from None
        if path.is_dir():
            raise UsageError(f"{path} is a folder, not a backup file.")
        if head.startswith(ARCHIVE_MAGIC):
            fmt, compressed = "custom", True
        elif head.startswith(GZIP_MAGIC):
            fmt, compressed = "sql", True
        else:
            fmt, compressed = "sql", False
        return cls(path=path, format=fmt, compressed=compressed,
                   created=datetime.fromtimestamp(stat.st_mtime), size_bytes=stat.st_size,
                   sha256=read_checksum(path), meta=_read_meta(path))

    def to_dict(self, env=None) -> dict:
        return {"name": self.name, "file": env.relative(self.path) if env else str(self.path),
                "created": self.created, "size_bytes": self.size_bytes, "format": self.format,
                "compressed": self.compressed, "sha256": self.sha256,
                "database": self.meta.get("database"),
                "server_version": self.meta.get("server_version"), "partial": self.partial}


def checksum_path(path: Path) -> Path:
    return path.with_name(path.name + CHECKSUM_EXT)


def meta_path(path: Path) -> Path:
    return path.with_name(path.name + META_EXT)


def read_checksum(path: Path) -> str | None:
    """The sha256 recorded beside `path`, or None when there is none."""
    try:
        text = checksum_path(path).read_text()
    except (OSError, UnicodeDecodeError):
        return None
    match = re.match(r"\s*([0-9a-fA-F]{64})\b", text)
    return match.group(1).lower() if match else None


def _read_meta(path: Path) -> dict:
    try:
        data = json.loads(meta_path(path).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def clean_partials(folder: Path) -> list[Path]:
    """Remove `.*.partial` files left by a killed nself (its pid is gone); return them."""
    removed = []
    if not folder.is_dir():
        return removed
    for path in folder.glob(f".*{PARTIAL_SUFFIX}"):
        match = re.search(r"\.(\d+)\.partial$", path.name)
        if not match or _pid_alive(int(match.group(1))):
            continue  # not ours, or its nself still runs
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


def is_backup_name(name: str) -> bool:
    return not name.startswith(".") and name.endswith(BACKUP_EXTS)


def list_backups(env) -> list[Backup]:
    """The backups in the backups folder, newest first (partial files are never listed)."""
    folder = env.backups_dir
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        if is_backup_name(path.name) and path.is_file():
            try:
                found.append(Backup.at(path))
            except UsageError:
                continue  # vanished or unreadable while we looked
    found.sort(key=lambda b: (b.created, b.name), reverse=True)
    return found


def latest_backup(env) -> dict | None:
    """The newest backup file's name, time and size, or None."""
    backups = list_backups(env)
    if not backups:
        return None
    newest = backups[0]
    return {"file": env.relative(newest.path), "created": newest.created,
            "size_bytes": newest.size_bytes}


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


def prune(env, dry_run: bool = False, now: datetime | None = None) -> list[Backup]:
    """Delete backups older than the retention (never the newest); return those (to be) deleted."""
    days = retention_days(env)
    cutoff = (now or datetime.now()) - timedelta(days=days)
    backups = list_backups(env)
    doomed = [b for b in backups[1:] if b.created < cutoff]
    if not dry_run:
        for backup in doomed:
            for path in (backup.path, checksum_path(backup.path), meta_path(backup.path)):
                unlink(path)
        clean_partials(env.backups_dir)
    return doomed
