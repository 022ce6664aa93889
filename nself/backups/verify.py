"""Reading a backup back in full: the check before a backup gets its name, and before a restore."""

from __future__ import annotations

import hashlib
import os
import threading
import time
import zlib
from pathlib import Path

from nself.backups.store import CHUNK, SQL_TRAILER, Backup, sha256_of
from nself.config import Database
from nself.errors import OperationFailed
from nself.pg import tools as pgtools


class VerificationFailed(OperationFailed):
    """A backup file is damaged: truncated, altered, or not a dump at all."""


def verify_file(path: Path, fmt: str, compressed: bool, env, min_major: int = 0) -> str:
    """Read all of `path` as a dump; return its sha256, or raise VerificationFailed.

    Custom archives are read by `pg_restore -f /dev/null` while we hash the file on
    the other core; SQL dumps are decompressed here and must end with pg_dump's trailer.
    """
    if fmt == "custom":
        tool = pgtools.find("pg_restore", min_major, pgtools.extra_dirs(env)) if min_major \
            else pgtools.newest("pg_restore", pgtools.extra_dirs(env))
        running = pgtools.start(tool, ["-f", os.devnull, str(path)], Database({}))
        try:
            digest = sha256_of(path)
            running.wait()
        except pgtools.ToolFailed as exc:
            raise VerificationFailed(
                f"Backup verification failed: {path.name} cannot be read back ({exc})."
            ) from None
        finally:
            running.stop()
        return digest
    digest = hashlib.sha256()
    inflate = zlib.decompressobj(wbits=31) if compressed else None
    tail = b""
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
                text = inflate.decompress(chunk) if inflate else chunk
                tail = (tail + text)[-8192:]
                while inflate and inflate.unused_data:
                    # pg_dump may write several gzip members; keep reading them
                    rest = inflate.unused_data
                    inflate = zlib.decompressobj(wbits=31)
                    tail = (tail + inflate.decompress(rest))[-8192:]
    except zlib.error as exc:
        raise VerificationFailed(
            f"Backup verification failed: {path.name} is not valid gzip ({exc}).") from None
    if inflate is not None and not inflate.eof:
        raise VerificationFailed(
            f"Backup verification failed: {path.name} is truncated (the gzip stream ends early).")
    if SQL_TRAILER not in tail:
        raise VerificationFailed(
            f"Backup verification failed: {path.name} lacks pg_dump's closing line "
            f"({SQL_TRAILER.decode()}): it is truncated or not a pg_dump file.")
    return digest.hexdigest()


class Follower:
    """Reads a custom archive while pg_dump still writes it, into `pg_restore -f /dev/null`.

    pg_dump appends data blocks and at the end rewrites only the table of contents at the
    start of the file (the same length, with the blocks' offsets filled in). Reading
    sequentially as the file grows checks every data block while the dump runs, on the other
    core; `finish` then reads the final table of contents (`pg_restore -l`) and hashes the
    final file. Together that is the full read, without a second pass over the data.
    """

    def __init__(self, path: Path, tool: pgtools.Tool):
        self.path, self.tool = path, tool
        self.writer_done = threading.Event()
        self.abandoned = False
        self.checker = pgtools.start(tool, ["-f", os.devnull], Database({}),
                                     stdin=self._chunks())
        try:
            # pg_dump's compression is the critical path: the check catches up at the end.
            os.setpriority(os.PRIO_PROCESS, self.checker.pid, 10)
        except OSError:
            pass

    def _chunks(self):
        with open(self.path, "rb") as handle:
            while not self.abandoned:
                chunk = handle.read(CHUNK)
                if chunk:
                    yield chunk
                elif self.writer_done.is_set():
                    rest = handle.read()
                    if not rest:
                        return
                    yield rest
                else:
                    time.sleep(0.01)

    def abandon(self) -> None:
        self.abandoned = True
        self.writer_done.set()
        self.checker.stop()

    def finish(self) -> str:
        """After pg_dump succeeded: wait for the read, check the final TOC, return the sha256."""
        self.writer_done.set()
        toc = pgtools.start(self.tool, ["-l", "-f", os.devnull, str(self.path)], Database({}))
        try:
            digest = sha256_of(self.path)
            self.checker.wait()
            toc.wait()
        except pgtools.ToolFailed as exc:
            raise VerificationFailed(
                f"Backup verification failed: {self.path.name} cannot be read back ({exc})."
            ) from None
        finally:
            self.checker.stop()
            toc.stop()
        return digest


def start_follower(path: Path, env, min_major: int) -> Follower:
    """Start checking `path` while pg_dump writes it (custom archives)."""
    return Follower(path, pgtools.find("pg_restore", min_major, pgtools.extra_dirs(env)))


def check(env, backup: Backup) -> str:
    """Refuse a damaged backup before anything touches a database; return how it was checked."""
    if backup.sha256:
        actual = sha256_of(backup.path)
        if actual != backup.sha256:
            raise VerificationFailed(
                f"Checksum mismatch for {env.relative(backup.path)}: the file changed after it "
                f"was written (sha256 {actual[:12]}…, recorded {backup.sha256[:12]}…). "
                "Nothing was restored.")
        return "checksum"
    verify_file(backup.path, backup.format, backup.compressed, env)
    return "full read"
