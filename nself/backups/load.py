"""Loading a backup into an existing database in one transaction: the clean step and the
whole load commit together, or nothing happens.

psql runs every statement: a SQL dump's, or a custom archive's as `pg_restore -f -` writes
them. nself writes psql's input itself: `BEGIN`, the clean step (run with ON_ERROR_STOP, so
a clean that fails stops everything), the backup's statements, then a marker statement.
psql's ON_ERROR_ROLLBACK keeps a tolerated error (ownership and extension bookkeeping) from
aborting the transaction. Once the server has run the marker, every statement has run:
nself sends `COMMIT` when no error but tolerated ones was reported, else `ROLLBACK`. A kill
of nself, psql or pg_restore at any moment before that COMMIT closes the connection, and the
server rolls the whole transaction back: the database holds all of its old data or all of
the backup's.

A backup's own transaction control would break that: pg_dump's plain format wraps large
objects in `BEGIN`/`COMMIT`, which is dropped; any other top-level `COMMIT`, `ROLLBACK` or
`\\connect` line stops the restore (rolled back) with its line number.
"""

from __future__ import annotations

import os
import queue
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar

import psycopg

from nself.config import Database
from nself.errors import Interrupted, OperationFailed
from nself.pg import tools as pgtools

PSQL_ARGS = ["-X", "-q", "-o", os.devnull, "-v", "ON_ERROR_ROLLBACK=on", "-v",
             "ON_ERROR_STOP=1", "-f", "-"]
# Written ahead of the backup's statements: the transaction, a token only this transaction
# sees (a COMMIT inside the file would reset it), psql's backend pid for the stall check,
# and at least 256 MB for the index builds, which one transaction runs one after the other
# (PostgreSQL's "Populating a Database" advice; the bench measured 20% off a restore).
HEAD = """BEGIN;
SELECT pg_catalog.set_config('nself.restore', '{token}', true);
SET LOCAL client_min_messages = warning;
SELECT pg_catalog.set_config('maintenance_work_mem', '256MB', true) FROM pg_catalog.pg_settings
 WHERE name = 'maintenance_work_mem' AND setting::bigint < 262144;
DO $nself$ BEGIN RAISE WARNING 'nself-restore-started %', pg_catalog.pg_backend_pid(); END $nself$;
"""
LOAD_STARTS = "\\set ON_ERROR_STOP 0\n"
# The `;` ends a last statement the file left open; an empty statement is nothing to psql.
# The \warn line says psql got past the marker even when the marker itself failed (a full
# lock table fails every statement).
MARKER = """
;
DO $nself$ BEGIN
PERFORM pg_catalog.set_config('client_min_messages', 'warning', true);
RAISE WARNING 'nself-restore-loaded %', pg_catalog.current_setting('nself.restore', true);
END $nself$;
\\warn nself-restore-passed
"""
STARTED = re.compile(r"nself-restore-started (\d+)")
LOADED = re.compile(r"nself-restore-loaded (\S*)")
PASSED = "nself-restore-passed"
# Set once a load committed: an interrupt after it must not claim that nothing changed.
COMMITTED: ContextVar[bool] = ContextVar("nself_restore_committed", default=False)
STALL_SECONDS = 2.0  # psql idle in the transaction this long after the marker: it never ran

# A line (from its first column, outside COPY rows and dollar quotes) that would end nself's
# transaction or leave its session: refused. (`END;` is not one: it closes plpgsql blocks.)
ENDS_TRANSACTION = re.compile(
    rb"^(COMMIT|ROLLBACK|ABORT|PREPARE\s+TRANSACTION\b.*)(\s+(WORK|TRANSACTION))?"
    rb"(\s+AND\s+(NO\s+)?CHAIN)?\s*;?\s*$|^\\(c|connect)(\s|$)", re.IGNORECASE)
DOLLAR_QUOTE = re.compile(rb"\$(?:[A-Za-z_][A-Za-z_0-9]*)?\$")
COPY_FROM_STDIN = re.compile(rb"^COPY\s.*\sFROM\s+stdin\b.*;\s*$", re.IGNORECASE)
LARGE_OBJECT_CLOSE = b"SELECT pg_catalog.lo_close("
COPY_END = b"\\."
COPY_END_LINE = b"\n" + COPY_END  # ends COPY rows when the line ends there


class CleanFailed(OperationFailed):
    """The clean step failed: nothing was changed (`reason` is PostgreSQL's message)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class RolledBack(OperationFailed):
    """The load reported errors that are not tolerated, so it was rolled back."""

    def __init__(self, real: list[str], stderr: str):
        super().__init__("; ".join(real))
        self.real, self.stderr = real, stderr


class Script:
    """The backup's statements on their way to psql, line by line outside COPY data (whose
    rows pass through in bulk): drops the COMMIT that closes a plain dump's large-object
    block, and refuses any other line that would end the transaction."""

    def __init__(self, shown: str):
        self.shown = shown
        self.pending = b""
        self.in_copy = False
        self.line = 0  # lines passed so far
        self.previous = b""  # the last non-blank line outside COPY data
        self.quote: bytes | None = None  # the open dollar quote (a function body), if any
        self.context = b""  # in COPY rows: the last bytes passed (a marker may straddle)

    def feed(self, chunk: bytes) -> bytes:
        """What to send psql of `chunk` (a partial SQL line waits for the rest)."""
        if self.pending and not self.in_copy:
            chunk, self.pending = self.pending + chunk, b""
        out, pos = [], 0
        while pos < len(chunk):
            if self.in_copy:
                end = self._copy_end(chunk, pos)
                stop = len(chunk) if end < 0 else end
                self.line += chunk.count(b"\n", pos, stop)
                self.context = (self.context + chunk[max(pos, stop - 4):stop])[-4:]
                out.append(chunk if pos == 0 and stop == len(chunk) else chunk[pos:stop])
                pos, self.in_copy = stop, end < 0
                continue
            newline = chunk.find(b"\n", pos)
            if newline < 0:
                self.pending = chunk[pos:]
                break
            out.append(self._line(chunk[pos:newline + 1]))
            pos = newline + 1
        return out[0] if len(out) == 1 else b"".join(out)

    def finish(self) -> bytes:
        """The rest (a last line without a newline); refuses a file that ends in COPY data."""
        if self.in_copy and self.context.endswith(COPY_END_LINE):
            self.in_copy = False
            return b"\n"
        rest = self.feed(b"\n") if self.pending else b""
        if self.in_copy:
            raise OperationFailed(f"{self.shown} ends inside the rows of a COPY (no `\\.` "
                                  "line): the file is cut short. Nothing was changed.")
        return rest

    def _copy_end(self, chunk: bytes, pos: int) -> int:
        """The offset in `chunk` just past the `\\.` line that ends the COPY rows (searched
        from `pos`; `context` holds the bytes before it), or -1. The rows pass in bulk."""
        head = self.context + chunk[pos:pos + 4]
        end = _marker_end(head, 0)
        if end > len(self.context):  # the marker straddles the chunks
            return pos + end - len(self.context)
        return _marker_end(chunk, pos)

    def _line(self, line: bytes) -> bytes:
        self.line += 1
        text = line.rstrip()
        if not text:
            return line
        quoted = self.quote is not None
        self._track_quotes(text)
        if quoted or self.quote is not None:
            pass  # a function body's lines are its own
        elif COPY_FROM_STDIN.match(text):
            self.in_copy, self.context = True, b"\n"
        elif ENDS_TRANSACTION.match(text):
            if text.upper().rstrip(b";").strip() == b"COMMIT" and self.previous.startswith(
                    LARGE_OBJECT_CLOSE):
                return b"\n"  # pg_dump's own, after a large object: the one COMMIT is nself's
            shown = text.decode("utf-8", "replace")[:60]
            raise OperationFailed(
                f"{self.shown} line {self.line}: `{shown}` would end the restore's one "
                "transaction (nself restores a backup all or nothing). Nothing was changed: "
                "remove that line, or load the file with psql by hand.")
        if not text.startswith(b"--"):
            self.previous = text
        return line

    def _track_quotes(self, text: bytes) -> None:
        """Open or close dollar quotes on this line (`$$`, `$_$`, `$body$`)."""
        if b"$" not in text or text.startswith(b"--"):
            return
        for match in DOLLAR_QUOTE.finditer(text):
            if self.quote is None:
                self.quote = match.group(0)
            elif match.group(0) == self.quote:
                self.quote = None


def _marker_end(data: bytes, start: int) -> int:
    """The offset just past the first `\\.` line in `data` (after a newline, from `start`)
    whose line end has arrived, or -1."""
    at = data.find(COPY_END_LINE, start)
    while at >= 0:
        after = at + len(COPY_END_LINE)
        if data[after:after + 1] == b"\n":
            return after + 1
        if data[after:after + 2] == b"\r\n":
            return after + 2
        at = data.find(COPY_END_LINE, at + 1)
    return -1


def _read_lines(fd: int, lines: list[str]) -> None:
    """Collect psql's stderr (a pipe) line by line."""
    with os.fdopen(fd, "rb") as stream:
        for raw in stream:
            lines.append(raw.decode("utf-8", "replace"))


class Load:
    """One load: psql started, its input written by a thread, its stderr read by another."""

    def __init__(self, psql: pgtools.Tool, db: Database, head: str, chunks: Iterator[bytes],
                 script: Script):
        self.token = secrets.token_hex(8)
        self.lines: list[str] = []
        self.tail: queue.Queue[str | None] = queue.Queue()
        self.sent = threading.Event()  # the whole script was written
        self.failure: BaseException | None = None  # from the writer: refused, or EPIPE
        self.commit_sent = False
        self.killed = ""  # psql's end by a signal, when it ended so
        read_in, self._write_in = os.pipe()
        read_err, write_err = os.pipe()
        try:
            self.running = pgtools.start(psql, PSQL_ARGS, db, db.name, stdin=read_in,
                                         err=write_err, ok_codes=tuple(range(256)))
        finally:
            os.close(read_in)
            os.close(write_err)
        self.reader = threading.Thread(target=_read_lines, args=(read_err, self.lines),
                                       daemon=True)
        self.reader.start()
        self.writer = threading.Thread(target=self._write, daemon=True,
                                       args=(HEAD.format(token=self.token) + head, chunks,
                                             script))
        self.writer.start()

    def _write(self, head: str, chunks: Iterator[bytes], script: Script) -> None:
        try:
            with os.fdopen(self._write_in, "wb", buffering=0) as pipe:
                try:
                    pipe.write(head.encode())
                    for chunk in chunks:
                        pipe.write(script.feed(chunk))
                    pipe.write(script.finish())
                except BaseException as exc:  # refused, cut short, or psql gone
                    self.failure = exc
                finally:
                    self.sent.set()
                while (text := self.tail.get()) is not None:
                    pipe.write(text.encode())
        except OSError as exc:  # psql gone: its connection, and the transaction, went too
            self.failure = self.failure or exc

    @property
    def stderr(self) -> str:
        return "".join(self.lines)

    def backend_pid(self) -> int | None:
        match = STARTED.search(self.stderr)
        return int(match.group(1)) if match else None

    def loaded(self) -> str | None:
        """The token the marker printed once the server ran it (None before)."""
        match = LOADED.search(self.stderr)
        return match.group(1) if match else None

    def finish(self, text: str | None) -> None:
        """Write `text` (COMMIT or ROLLBACK) and close psql's input."""
        if text is not None:
            self.commit_sent = text.startswith("COMMIT")
            self.tail.put(text)
        self.tail.put(None)

    def stop(self) -> None:
        """psql stops; its connection closes and the server rolls the transaction back."""
        self.finish(None)
        self.running.stop()


def run(psql: pgtools.Tool, db: Database, conn: psycopg.Connection, *, clean: list[str],
        chunks: Iterator[bytes], script: Script, producer: pgtools.Running | None,
        real_errors: Callable[[str], list[str]], progress, measure: Callable[[], int],
        total: int, on_commit: Callable[[], None]) -> str:
    """Run the `clean` statements, then the script of `chunks`, in one transaction, and
    commit when no error but tolerated ones (`real_errors` finds none) was reported; return
    psql's stderr (and pg_restore's). CleanFailed, RolledBack, OperationFailed or
    Interrupted otherwise, all after the transaction was rolled back. `conn` (autocommit,
    idle) watches psql's session; `on_commit` runs once the COMMIT succeeded."""
    head = "".join(statement.rstrip().rstrip(";") + ";\n" for statement in clean)
    load = Load(psql, db, head + LOAD_STARTS, chunks, script)
    try:
        return _drive(load, conn, producer, real_errors, progress, measure, total, on_commit)
    except KeyboardInterrupt:
        if producer is not None:
            producer.stop()
        if load.commit_sent and _committed(load, wait=True):
            COMMITTED.set(True)
            on_commit()
            raise Interrupted("Interrupted after the restore had committed: the database "
                              "holds the backup.") from None
        load.stop()
        raise Interrupted("Interrupted: the restore was rolled back; nothing was changed."
                          ) from None
    except BaseException:
        if producer is not None:
            producer.stop()
        load.stop()
        raise


def _drive(load: Load, conn, producer, real_errors, progress, measure, total,
           on_commit) -> str:
    marker_sent = False
    idle_since: float | None = None
    while not _ended(load):
        if progress is not None:
            progress(min(measure(), total), total)
        if load.sent.is_set() and not marker_sent:
            if isinstance(load.failure, OSError):  # psql has gone: why, it says itself
                deadline = time.monotonic() + 10
                while not _ended(load) and time.monotonic() < deadline:
                    pass
                break
            if load.failure is not None:
                raise load.failure
            if producer is not None:
                _check_producer(producer)
            load.tail.put(MARKER)
            marker_sent = True
        if marker_sent and not load.commit_sent:
            token = load.loaded()
            if token is not None:
                return _decide(load, token, real_errors, producer, progress, total, on_commit)
            if PASSED in load.stderr:  # the marker failed: so did the load
                load.finish("ROLLBACK;\n")
                load.running.wait()
                raise RolledBack(real_errors(load.stderr) or [_first_error(load.stderr)],
                                 load.stderr)
            idle_since = _stalled(conn, load, idle_since)
    return _ended_early(load)


def _ended(load: Load) -> bool:
    """psql has exited (waits up to 0.1 s); killed by a signal counts as exited."""
    try:
        return load.running.finished_within(0.1)
    except pgtools.ToolFailed as exc:
        load.killed = str(exc)
        return True


def _check_producer(producer: pgtools.Running) -> None:
    """pg_restore wrote the whole script (a failed or killed one: the script is cut)."""
    try:
        producer.wait()
    except pgtools.ToolFailed as exc:
        raise OperationFailed(f"{exc}. Nothing was changed.") from None


def _stalled(conn, load: Load, idle_since: float | None) -> float | None:
    """Raise when psql waits in the transaction after the marker was sent: the file left a
    quote or statement open that swallowed it. Returns when psql was first seen idle."""
    pid = load.backend_pid()
    if pid is None:
        return idle_since
    try:
        state = conn.execute("SELECT state FROM pg_catalog.pg_stat_activity WHERE pid = %s",
                             (pid,)).fetchone()
    except psycopg.Error:  # e.g. the load filled the server's lock table: ask again later
        return None
    if not state or state[0] != "idle in transaction" or load.loaded() is not None:
        return None
    now = time.monotonic()
    if idle_since is None:
        return now
    if now - idle_since >= STALL_SECONDS:
        raise OperationFailed("The backup's SQL ends inside a quoted string or an unfinished "
                              "statement (the file is cut short?). Nothing was changed.")
    return idle_since


def _decide(load: Load, token: str, real_errors, producer, progress, total,
            on_commit) -> str:
    """The server ran every statement: COMMIT, or ROLLBACK when an error is not tolerated."""
    stderr = load.stderr
    if producer is not None:
        stderr += pgtools_stderr(producer)
    if token != load.token:
        load.finish("ROLLBACK;\n")
        load.running.wait()
        raise OperationFailed("The backup ended nself's transaction by itself (a COMMIT "
                              "nself did not recognise): the restore was not all or nothing; "
                              "check the database, or restore again with --clean.")
    real = real_errors(stderr)
    if real:
        load.finish("ROLLBACK;\n")
        load.running.wait()
        raise RolledBack(real, stderr)
    load.finish("COMMIT;\n")
    if not _committed(load):
        reason = _after_marker(load) or "psql stopped"
        raise OperationFailed(f"The restore's COMMIT failed ({reason}). Nothing was changed.")
    COMMITTED.set(True)
    on_commit()
    if progress is not None:
        progress(total, total)
    return stderr


def _committed(load: Load, wait: bool = True) -> bool:
    """psql ended after COMMIT with no error after the marker (waits for it)."""
    try:
        result = load.running.wait(timeout=600 if wait else 0)
    except pgtools.ToolFailed:
        return False
    except Exception:
        return False
    load.reader.join(timeout=5)
    return result.exit_code == 0 and not _after_marker(load)


def _after_marker(load: Load) -> str:
    """The first ERROR psql reported after the marker (the COMMIT's), or ''."""
    text = load.stderr
    at = text.find("nself-restore-loaded")
    errors = [line.strip() for line in text[at:].splitlines() if "ERROR" in line]
    return errors[0] if at >= 0 and errors else ""


def _ended_early(load: Load) -> str:
    """psql ended before the marker: the clean failed, or psql or its connection died."""
    load.reader.join(timeout=5)
    if load.killed:
        raise OperationFailed(f"{load.killed} before the restore finished. Nothing was "
                              "changed.")
    code = load.running.wait().exit_code
    reason = _first_error(load.stderr)
    if code == 3:
        raise CleanFailed(reason)
    raise OperationFailed(f"psql stopped before the restore finished (exit code {code}"
                          + (f": {reason}" if reason else "") + "). Nothing was changed.")


def _first_error(stderr: str) -> str:
    """psql's first error with its DETAIL and HINT lines, as one line ('' when none)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for n, line in enumerate(lines):
        if "ERROR" in line or "FATAL" in line or "server closed" in line:
            parts = [re.sub(r"^psql:<stdin>:\d+: (ERROR|FATAL): +", "", line)]
            for more in lines[n + 1:]:
                if more.startswith(("psql:", "CONTEXT:")):
                    break
                parts.append(more)
            return " ".join(parts).rstrip(".") + "."
    return ""


def pgtools_stderr(running: pgtools.Running) -> str:
    """A finished tool's stderr, as text."""
    data = running.wait().stderr
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else (data or "")
