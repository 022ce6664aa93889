"""Reading the files a user hands nself: DBML, migrations, seeds, settings, backups.

A path can name anything: a FIFO (reading it waits for a writer forever), a device
(`/dev/zero` never ends), a symlink to one of those, or a file far larger than memory.
Every reader goes through here: the path, after following symlinks, must be a regular
file no larger than the limit for its kind, checked before the first byte is read, and
it is read in bounded pieces (a signal is handled between two of them). Anything else
is one line naming the file and what it is, raised as the caller's own UsageError class
(exit 2).
"""

from __future__ import annotations

import errno
import os
import stat

from nself.display import size
from nself.errors import UsageError

MB = 1024 * 1024
# What each kind of file may hold at most (the README's "Files nself reads" lists them).
# A migration or seed file travels to the server as one query text, which PostgreSQL caps
# at 1 GB; a quarter of that leaves room for the copies a parse makes.
SQL_LIMIT = 256 * MB
# A DBML file becomes a parse tree several times its size: 1,000 tables take about 1 MB.
DBML_LIMIT = 64 * MB
# `.env`, `config/<env>.env`, invoke's `-f` config file: a few hundred bytes in practice.
SETTINGS_LIMIT = 1 * MB
# A backup's `.sha256` and `.json` beside it: a line and a small object.
SIDECAR_LIMIT = 1 * MB
CHUNK = 1 * MB
# The most of a log's end `last_lines` reads (its lines may be that long, or have no end).
TAIL_LIMIT = 8 * MB

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def kind_of(mode: int) -> str:
    """What a non-regular file is, in words (`a FIFO (named pipe)`)."""
    for test, words in _KINDS:
        if test(mode):
            return words
    return "not a regular file"


def _refuse(error: type[UsageError], path, shown: str, what: str, mode: int) -> UsageError:
    target = os.path.realpath(path)
    points = f", through a link to {target}" if target != os.path.abspath(path) else ""
    return error(f"{shown} is not a regular file: it is {kind_of(mode)}{points}; {what} must "
                 "be a plain file (a pipe or device could wait or run forever).")


def _too_large(error: type[UsageError], shown: str, what: str, found: int,
               limit: int) -> UsageError:
    said, most = size(found), size(limit)
    if said == most:  # 64.0 MB and one byte
        said, most = f"{found:,} bytes", f"{limit:,} bytes"
    return error(f"Cannot read {shown}: it holds {said}, more than the {most} nself reads as "
                 f"{what}.")


def _cannot(error: type[UsageError], shown: str, exc: OSError) -> UsageError:
    reason = exc.strerror or str(exc)
    if exc.errno == errno.ENOENT:
        reason = "no such file"
    return error(f"Cannot read {shown}: {reason}.")


def check_regular(path: str | os.PathLike, what: str, *, shown: str | None = None,
                  limit: int | None = None,
                  error: type[UsageError] = UsageError) -> os.stat_result:
    """The stat of PATH (symlinks followed) when it is a regular file of at most LIMIT
    bytes (None: any size); otherwise ERROR naming it. WHAT says what it is meant to be
    (`a DBML file`). Nothing is opened: for files another program reads (pg_restore)."""
    shown = str(path) if shown is None else shown
    try:
        info = os.stat(path)
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        if isinstance(exc, ValueError):
            shown = shown.replace("\0", "\\0")
            raise error(f"Cannot read {shown}: the path holds a NUL byte.") from None
        raise _cannot(error, shown, exc) from None
    if not stat.S_ISREG(info.st_mode):
        raise _refuse(error, path, shown, what, info.st_mode)
    if limit is not None and info.st_size > limit:
        raise _too_large(error, shown, what, info.st_size, limit)
    return info


def read_bytes(path: str | os.PathLike, what: str, limit: int, *, shown: str | None = None,
               error: type[UsageError] = UsageError) -> bytes:
    """The bytes of the regular file PATH (symlinks followed), at most LIMIT of them;
    anything else (missing, a folder, a FIFO, a device, too large) is ERROR naming it."""
    shown = str(path) if shown is None else shown
    check_regular(path, what, shown=shown, limit=limit, error=error)
    try:
        # O_NONBLOCK: if the path was swapped for a FIFO since the check, opening it does
        # not wait for a writer (fstat below refuses it)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise _cannot(error, shown, exc) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _refuse(error, path, shown, what, info.st_mode)
        # os.read skips the buffered-file machinery (half the cost per small file, which
        # is most of `status` on a folder of a thousand migrations)
        parts, total = [], 0
        while total <= limit:
            want = min(CHUNK, limit + 1 - total)
            part = os.read(fd, want)
            parts.append(part)
            total += len(part)
            # a short read of a regular file is its end (unless it claims more: /proc)
            if len(part) < want and total >= info.st_size:
                break
        whole = b"".join(parts) if len(parts) > 1 else parts[0]
        if len(whole) > limit:  # it grew since the check, or says size 0 (/proc)
            raise _too_large(error, shown, what, max(len(whole), info.st_size), limit)
        return whole
    except OSError as exc:
        raise _cannot(error, shown, exc) from None
    finally:
        os.close(fd)


def read_text(path: str | os.PathLike, what: str, limit: int, *, shown: str | None = None,
              error: type[UsageError] = UsageError) -> str:
    """`read_bytes` decoded as UTF-8; bytes that are not UTF-8 are ERROR naming the line."""
    shown = str(path) if shown is None else shown
    data = read_bytes(path, what, limit, shown=shown, error=error)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise error(f"{shown}:{line}: the file is not UTF-8 text (byte "
                    f"0x{data[exc.start]:02x}); save it as UTF-8.") from None


def is_pipe(path: str | os.PathLike) -> bool:
    """True for a FIFO or pipe (`<(...)`, `/dev/stdin`): what psql may read as it streams."""
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def last_lines(path: str | os.PathLike, count: int, what: str, *,
               error: type[UsageError] = UsageError) -> list[str]:
    """The last COUNT lines of the regular file PATH (a log), read backwards in pieces:
    a file of gigabytes costs what its tail does (at most TAIL_LIMIT bytes of it, however
    long its lines). A missing file has none."""
    try:
        check_regular(path, what, error=error)
    except error:
        if not os.path.lexists(path):
            return []
        raise
    with open(path, "rb") as handle:
        end = handle.seek(0, os.SEEK_END)
        data, start = b"", end
        while start > 0 and data.count(b"\n") <= count and len(data) < TAIL_LIMIT:
            start = max(0, start - CHUNK)
            handle.seek(start)
            data = handle.read(min(CHUNK, end - start)) + data
            end = start
    lines = data.decode("utf-8", errors="replace").splitlines()
    return lines[-count:] if count > 0 else []


def write_synced(fd: int, text: str | bytes) -> None:
    """Write `text` (UTF-8; bytes as they are) to the open file `fd`, close it, and wait
    until it is on disk (the temporary file of an atomic write, before it is renamed or
    linked into place)."""
    binary = isinstance(text, bytes)
    with os.fdopen(fd, "wb" if binary else "w", encoding=None if binary else "utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
