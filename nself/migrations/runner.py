"""Applying and rolling back migrations: status, up, down, fresh, repair.

A migration runs as one simple-protocol message, `BEGIN; SET LOCAL lock_timeout;
<its SQL>; <its tracking row>`, then `COMMIT` in a second one: atomic with its
tracking row whatever happens to this process (a client killed before COMMIT
leaves an open transaction the server rolls back). When it fails, the number of
results before the error says which statement failed; pglast maps that to a
line only then. With NSELF_MIGRATE_SYNC_COMMIT=false, every migration of a run but
the last commits asynchronously; the last (or `Runner.flushing`) makes them durable. Files marked
`-- nself:no-transaction` run statement by statement in autocommit, recording
their progress in `nself.migration_progress`.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg
from psycopg.pq import ExecStatus

from nself.pg import connection as database
from nself.config import Environment
from nself.errors import (
    INTERRUPTED,
    DatabaseUnreachable,
    DifferencesFound,
    NselfError,
    OperationFailed,
    Refused,
    UsageError,
)
from nself.migrations import files, history
from nself.migrations.files import DIRECTIVE, Migration, MigrationFileError, Section, Statement
from nself.migrations.status import (
    APPLIED,
    CHANGED,
    MISSING,
    PENDING,
    Entry,
    counts,
    merge,
    read_status,
)

# Session-level advisory lock for up/down/fresh/repair: "nself" as a bigint.
LOCK_KEY = 0x6E73656C66
COMMIT_FAILED = 10**9  # "statement index" of a failure at COMMIT (deferred constraints)
# Makes the asynchronous commits before it durable: a write, committed synchronously.
FLUSH_SQL = "UPDATE nself.meta SET value = value WHERE key = 'layout_version'"
RETRYABLE = ("55P03", "40P01")  # lock_not_available, deadlock_detected
FATAL_ERROR = ExecStatus.FATAL_ERROR
STRIPPED_TRANSACTION = {"TransactionStmt:TRANS_STMT_BEGIN", "TransactionStmt:TRANS_STMT_START",
                        "TransactionStmt:TRANS_STMT_COMMIT"}
ALLOWED_TRANSACTION = {"TransactionStmt:TRANS_STMT_SAVEPOINT", "TransactionStmt:TRANS_STMT_RELEASE",
                       "TransactionStmt:TRANS_STMT_ROLLBACK_TO"}

BLOCKER_SQL = r"""
SELECT a.pid, a.query_start, a.state,
       coalesce(nullif(a.application_name, ''), 'no application name'),
       left(regexp_replace(coalesce(a.query, ''), '\s+', ' ', 'g'), 80)
FROM pg_stat_activity a
WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
  AND EXISTS (SELECT 1 FROM pg_locks l
              WHERE l.pid = a.pid AND l.granted AND l.locktype = 'relation'
                AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()))
ORDER BY a.xact_start NULLS LAST
LIMIT 1
"""
INVALID_INDEX_SQL = """
SELECT n.nspname, c.relname
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
     JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE NOT i.indisvalid
  AND (c.relname = %(name)s OR (%(name)s = '' AND i.indrelid = to_regclass(%(table)s)))
"""


class MigrationError(OperationFailed):
    """A migration's SQL failed; the message names file, line and PostgreSQL's error."""


class Interrupted(NselfError):
    """SIGINT or SIGTERM stopped a run; the migration in progress was rolled back."""

    exit_code = INTERRUPTED


# Settings ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """Per-statement lock wait and retries (NSELF_LOCK_TIMEOUT_MS, NSELF_LOCK_RETRIES,
    NSELF_LOCK_RETRY_BACKOFF_MS), and NSELF_MIGRATE_SYNC_COMMIT."""

    lock_timeout_ms: int = 5000
    retries: int = 3
    backoff_ms: int = 500
    # NSELF_MIGRATE_SYNC_COMMIT: every commit waits for its WAL flush (durable as printed);
    # false trades that for speed on long runs (see the README).
    sync_commit: bool = True

    @classmethod
    def from_env(cls, env: Environment) -> Settings:
        return cls(max(env.get_int("NSELF_LOCK_TIMEOUT_MS", cls.lock_timeout_ms), 0),
                   max(env.get_int("NSELF_LOCK_RETRIES", cls.retries), 0),
                   max(env.get_int("NSELF_LOCK_RETRY_BACKOFF_MS", cls.backoff_ms), 0),
                   env.get_bool("NSELF_MIGRATE_SYNC_COMMIT", cls.sync_commit))


def _quote(text: str | None) -> str:
    """`text` as a dollar-quoted SQL literal (safe whatever standard_conforming_strings says)."""
    if text is None:
        return "NULL"
    tag, n = "$nself$", 0
    while (text + tag).find(tag) != len(text):
        n += 1
        tag = f"$nself{n}$"
    return f"{tag}{text}{tag}"


def applied_by() -> str:
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except Exception:  # no user name in containers without passwd entries
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def duration(seconds: float) -> str:
    ms = seconds * 1000
    if ms < 10:
        return f"{ms:.1f} ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    return f"{seconds:.1f} s"


# Running ---------------------------------------------------------------------------------


@dataclass
class Prepared:
    """A section ready to run: the SQL to send, or its statements for no-transaction mode."""

    migration: Migration
    section: Section
    body: str = ""
    statements: list[Statement] = field(default_factory=list)
    no_transaction: bool = False


def prepare(migration: Migration, section: Section, no_transaction: bool) -> Prepared:
    """Check a section before anything runs and turn it into what will be sent.

    Top-level BEGIN/COMMIT are blanked out (keeping every line in place) so the
    migration runs inside nself's own transaction, atomic with its tracking row.
    """
    if no_transaction:
        statements = files.split(section, migration)
        for st in statements:
            if st.kind.startswith("TransactionStmt"):
                raise migration.error(st.line, f"{st.text.split()[0].upper()} in a "
                                      f"no-transaction migration: its statements run one by one "
                                      f"in autocommit; remove the transaction control lines")
        return Prepared(migration, section, statements=statements, no_transaction=True)
    text = section.text
    if not files.needs_parsing(text):
        return Prepared(migration, section, body=text)
    statements = files.split(section, migration)
    chars = list(text)
    for st in statements:
        if st.no_transaction:
            raise migration.error(
                st.line, f"{st.no_transaction} cannot run inside a transaction. Put "
                f"`{DIRECTIVE}` on a line of its own above `-- UP` to run this migration "
                "statement by statement outside a transaction (move the other statements to a "
                "migration of their own if they must stay atomic)")
        if st.kind in STRIPPED_TRANSACTION:
            for i in range(st.start, st.end):
                if chars[i] != "\n":
                    chars[i] = " "
        elif st.kind.startswith("TransactionStmt") and st.kind not in ALLOWED_TRANSACTION:
            raise migration.error(st.line, f"{st.text.split()[0].upper()} at the top level of a "
                                  "migration: nself runs each migration in its own transaction; "
                                  "remove it")
    return Prepared(migration, section, body="".join(chars))


class Runner:
    """One connection holding the migrate lock, and the operations that need it."""

    def __init__(self, env: Environment, db, conn: psycopg.Connection,
                 say: Callable[[str], None], notice: Callable[[str], None],
                 warn: Callable[[str], None]):
        self.env = env
        self.db = db
        self.conn = conn
        self.say = say
        self.warn = warn
        self.notice = notice
        self.settings = Settings.from_env(env)
        self.by = _quote(applied_by())
        self.applied_in_run = 0
        self.unflushed = False  # an asynchronous commit awaits a synchronous one
        self.encoding = conn.info.encoding

    # status ------------------------------------------------------------------------------

    def entries(self) -> list[Entry]:
        return read_status(self.env, self.conn)

    # low level ----------------------------------------------------------------------------

    def _send(self, query: str) -> tuple[int, psycopg.Error | None]:
        """Send `query` (one or more statements) as one message: (results before any error,
        the error or None)."""
        from psycopg import generators

        conn = self.conn
        pgconn = conn.pgconn
        with conn.lock:
            pgconn.send_query(query.encode(self.encoding))
            results = conn.wait(generators.execute(pgconn))
        for i, res in enumerate(results):
            if res.status == FATAL_ERROR:
                return i, psycopg.errors.error_from_result(res, encoding=self.encoding)
        return len(results), None

    def _rollback(self, error: psycopg.Error | None = None) -> None:
        from psycopg import pq

        status = self.conn.pgconn.transaction_status
        if status == pq.TransactionStatus.UNKNOWN or self.conn.closed:
            raise DatabaseUnreachable(
                f"Lost the connection to {self.db.display()} while migrating"
                + (f": {error}" if error else "") + ". The migration in progress was rolled "
                "back by the server; run `nself db migrate status`, then `up` again.")
        if status in (pq.TransactionStatus.INTRANS, pq.TransactionStatus.INERROR):
            self.conn.execute("ROLLBACK")

    def _lock_failure(self, error: psycopg.Error) -> bool:
        return error.sqlstate in RETRYABLE

    def _retrying(self, error: psycopg.Error, attempt: int, attempts: int, where: str,
                  what: str) -> bool:
        """After a lock timeout or deadlock with attempts left: say so, back off (exponential,
        jittered so that competing runs spread out), and return True."""
        if not (self._lock_failure(error) and attempt < attempts):
            return False
        import random

        delay = self.settings.backoff_ms / 1000 * (2 ** (attempt - 1)) * random.uniform(0.5, 1.5)
        self.warn(f"{where}: {self._describe(error)}; retrying {what} in {delay:.1f} s "
                  f"(attempt {attempt + 1} of {attempts})")
        time.sleep(delay)
        return True

    def _blocker(self) -> str:
        row = self.conn.execute(BLOCKER_SQL).fetchone()
        if not row:
            return "the blocking session has finished since"
        pid, started, state, app, query = row
        since = f"query started {started:%Y-%m-%d %H:%M:%S}" if started else "no query start"
        return (f"blocked by pid {pid} ({app}, state {state or 'unknown'}, {since}: {query!r}); "
                f"wait for it or end it with SELECT pg_terminate_backend({pid})")

    def _earlier(self) -> str:
        n = self.applied_in_run
        if not n:
            return ""
        if n == 1:
            return " The migration applied before it in this run stays applied."
        return f" The {n} migrations applied before it in this run stay applied."

    def _describe(self, error: psycopg.Error) -> str:
        return self.db.redact(database.describe_error(error)).rstrip(".")

    # one transactional section -------------------------------------------------------------

    def _prefix(self, durable: bool) -> list[str]:
        prefix = ["BEGIN;\n", f"SET LOCAL lock_timeout = {self.settings.lock_timeout_ms};\n"]
        if not durable:
            prefix.append("SET LOCAL synchronous_commit = off;\n")
        return prefix

    def _run_in_transaction(self, prep: Prepared, record: str, verb: str,
                            durable: bool = True) -> float:
        """Run `prep` and `record` in one transaction, retrying lock timeouts; seconds taken.

        `durable=False` commits without waiting for the WAL flush: a later synchronous
        commit (the run's last migration, or `flush()`) makes it durable, and a server
        crash before that loses the migration together with its tracking row.
        """
        m = prep.migration
        prefix = self._prefix(durable)
        # COMMIT goes in a message of its own: a client killed while the body runs then
        # leaves an open transaction, which the server rolls back when it sees the socket close.
        query = f"{''.join(prefix)}{prep.body}\n;\n{record}"
        attempts = 1 + self.settings.retries
        for attempt in range(1, attempts + 1):
            started = time.perf_counter()
            try:
                done, error = self._send(query)
                if error is None:
                    # RESET ALL: a migration's own SET (search_path, role, ...) must not
                    # leak into the next one, as it would not with one psql per file.
                    _, error = self._send("COMMIT; RESET ALL")
                    if error is not None:  # deferred constraints fail at COMMIT
                        done = COMMIT_FAILED + len(prefix)
            except KeyboardInterrupt:
                self._rollback()
                raise self._interrupted(m, verb) from None
            except psycopg.OperationalError as exc:
                raise database.wrap_operational(self.db, exc) from None
            if error is None:
                self.unflushed = not durable
                return time.perf_counter() - started
            self._rollback(error)
            if self._retrying(error, attempt, attempts, m.id, "the whole migration"):
                continue
            raise self._failure(prep, done - len(prefix), error, verb,
                                attempts if self._lock_failure(error) else 0,
                                len("".join(prefix)))
        raise AssertionError("unreachable")

    def _interrupted(self, m: Migration, verb: str) -> Interrupted:
        """Say what an interrupt left: normally nothing of `m`; but the signal may have come
        while its COMMIT was already done, so ask the tracking table."""
        try:
            recorded = self.conn.execute(history.RECORDED_SQL, (m.version,)).fetchone()[0]
        except psycopg.Error:
            recorded = None
        finished = recorded if verb == "applied" else recorded is False
        command = "up" if verb == "applied" else "down"
        if finished:
            return Interrupted(f"Interrupted just after {m.id} was {verb}; the run stopped "
                               f"there. Run `nself db migrate {command}` to continue.")
        return Interrupted(f"Interrupted: {m.id} was rolled back, nothing of it is {verb}."
                           f"{self._earlier()} Run `nself db migrate {command}` to continue.")

    def _failure(self, prep: Prepared, index: int, error: psycopg.Error, verb: str,
                 attempts: int, prefix: int) -> MigrationError:
        m = prep.migration
        from pglast import parser

        # the body as sent: stripped BEGIN/COMMIT are blanks there, so they count for nothing
        section = Section(prep.body, prep.section.line)
        try:
            count = len(list(parser.split(section.text, with_parser=True, only_slices=True)))
        except parser.ParseError:
            count = None
        if index >= COMMIT_FAILED:
            return MigrationError(f"{m.id} failed at COMMIT: {self._describe(error)}. It was "
                                  f"rolled back: nothing of it is {verb}.{self._earlier()}")
        if count is not None and index >= count:
            where = f"recording it in {history.TABLE} failed"
            fix = " Run `nself db migrate repair` to fix the tracking table."
            return MigrationError(f"{m.id}: {where}: {self._describe(error)}. It was rolled "
                                  f"back.{fix}")
        position = error.diag.statement_position
        offset = None
        if position and index < 0:
            offset = int(position) - 1 - prefix
        line = files.locate(section, index if count is not None else -1, offset)
        message = (f"{m.id} failed at {m.relpath or m.filename} line {line}: "
                   f"{self._describe(error)}.")
        if attempts:
            message += (f" Gave up after {attempts} attempts with lock_timeout "
                        f"{self.settings.lock_timeout_ms} ms: {self._blocker()}.")
        message += (f" It was rolled back: nothing of it is {verb}." + self._earlier())
        return MigrationError(message)

    # no-transaction sections --------------------------------------------------------------

    @staticmethod
    def _digest(statements: list[Statement]) -> str:
        h = hashlib.sha256()
        for st in statements:
            h.update(st.text.encode())
            h.update(b"\0")
        return h.hexdigest()

    def _run_statements(self, prep: Prepared, start: int, track: bool, finish: str,
                        verb: str) -> float:
        """Run each statement on its own in autocommit, then `finish` (the tracking change)."""
        m, statements = prep.migration, prep.statements
        began = time.perf_counter()
        self.conn.execute(f"SET lock_timeout = {self.settings.lock_timeout_ms}")
        try:
            for i in range(start, len(statements)):
                st = statements[i]
                attempts = 1 + self.settings.retries
                for attempt in range(1, attempts + 1):
                    try:
                        _, error = self._send(st.text)
                    except KeyboardInterrupt:
                        self._rollback()
                        raise Interrupted(
                            f"Interrupted during statement {i + 1} of {len(statements)} of "
                            f"{m.id} (line {st.line}); statements 1-{i} ran and stay. Run "
                            "`nself db migrate up` to continue from there.") from None
                    if error is None:
                        break
                    self._rollback(error)
                    if self._retrying(error, attempt, attempts, f"{m.id} line {st.line}",
                                      "the statement"):
                        continue
                    if track:
                        self.conn.execute(history.SAVE_PROGRESS_SQL, (
                            m.version, m.name, i, len(statements), self._digest(statements[:i]),
                            st.line, self._describe(error)))
                    raise self._statement_failure(prep, i, error, verb,
                                                  attempts if self._lock_failure(error) else 0)
                if track:
                    self.conn.execute(history.SAVE_PROGRESS_SQL, (
                        m.version, m.name, i + 1, len(statements),
                        self._digest(statements[:i + 1]), None, None))
            _, error = self._send(f"BEGIN;\n{finish};\n"
                                  f"{history.CLEAR_PROGRESS_TEMPLATE.format(version=m.version)};\n"
                                  "COMMIT")
            if error is not None:
                self._rollback(error)
                raise MigrationError(f"{m.id}: all its statements ran, but recording it in "
                                     f"{history.TABLE} failed: {self._describe(error)}. Run "
                                     f"`nself db migrate repair --mark-applied {m.label}`.")
        finally:
            if not self.conn.closed:
                self.conn.execute("RESET ALL")  # lock_timeout, and the file's own SETs
        return time.perf_counter() - began

    def _statement_failure(self, prep: Prepared, i: int, error: psycopg.Error, verb: str,
                           attempts: int) -> MigrationError:
        m, statements = prep.migration, prep.statements
        st = statements[i]
        ran = (f"statements 1-{i} of {len(statements)} ran and stay {verb} (lines "
               f"{', '.join(str(s.line) for s in statements[:i])})" if i
               else f"none of its {len(statements)} statements ran")
        message = (f"{m.id} failed at {m.relpath or m.filename} line {st.line} (statement "
                   f"{i + 1} of {len(statements)}, no-transaction migration): "
                   f"{self._describe(error)}. {ran[:1].upper()}{ran[1:]}.")
        if attempts:
            message += (f" Gave up after {attempts} attempts with lock_timeout "
                        f"{self.settings.lock_timeout_ms} ms: {self._blocker()}.")
        if st.no_transaction == "CREATE INDEX CONCURRENTLY":
            for schema, name in self.conn.execute(
                    INVALID_INDEX_SQL, {"name": st.index_name, "table": st.relation}).fetchall():
                ident = psycopg.sql.Identifier(schema, name).as_string(self.conn)
                message += (f" It left the INVALID index {ident} behind: drop it with "
                            f"`nself db shell -c 'DROP INDEX CONCURRENTLY IF EXISTS {ident}'`.")
        if verb == "applied":
            message += (f" Fix the statement and run `nself db migrate up`: it resumes at "
                        f"statement {i + 1}.")
        return MigrationError(message + self._earlier())

    # up -----------------------------------------------------------------------------------

    def plan_up(self, entries: list[Entry], steps: int | None, to: str | None) -> list[Entry]:
        """The pending migrations `up` would apply, after refusing Changed/Missing history."""
        broken = [e for e in entries if e.status in (CHANGED, MISSING)]
        if broken:
            listed = ", ".join(f"{e.id} ({e.status.lower()})" for e in broken)
            # exit 6 (differences), not 3: --yes would not help, the files must match
            raise DifferencesFound(
                f"Refusing to migrate: applied migrations no longer match their files: {listed}. "
                "Restore the file(s) as they were applied (git checkout), or run `nself db "
                "migrate repair` to accept the edits and forget missing ones."
            )
        pending = [e for e in entries if e.status == PENDING]
        if to is not None:
            version = _version(to)
            if not any(e.version == version for e in entries):
                raise UsageError(f"--to {to}: no migration has version {to}.")
            pending = [e for e in pending if e.version <= version]
        if steps is not None:
            if steps < 0:
                raise UsageError("--steps must be a positive number.")
            pending = pending[:steps]
        return pending

    def check_files(self, entries: list[Entry]) -> None:
        files.check_dependencies(e.migration for e in entries if e.migration)

    def up(self, steps: int | None = None, to: str | None = None,
           before_apply: Callable[[list[Entry]], None] | None = None
           ) -> list[tuple[Entry, float]]:
        """Apply pending migrations in order, each atomic with its tracking row.

        `before_apply` runs (under the migrate lock) when there is something to apply:
        production's pre-migration backup."""
        history.ensure(self.conn)
        entries = self.entries()
        self.check_files(entries)
        pending = self.plan_up(entries, steps, to)
        if pending and before_apply is not None:
            before_apply(pending)
        return self.apply(pending, entries)

    def apply(self, pending: list[Entry], entries: list[Entry]) -> list[tuple[Entry, float]]:
        prepared = [prepare(e.migration, e.migration.up, e.migration.no_transaction)
                    for e in pending]
        newest = max((e.version for e in entries if e.status == APPLIED), default=None)
        done = []
        with self.flushing():
            for number, (entry, prep) in enumerate(zip(pending, prepared, strict=True), 1):
                self._apply_one(entry, prep, newest, number == len(pending))
                done.append((entry, entry.seconds))
        return done

    @contextmanager
    def flushing(self):
        """Make sure no asynchronous commit is left waiting, however the run ends."""
        try:
            yield
        finally:
            if self.unflushed and not self.conn.closed:
                try:
                    self._send(f"BEGIN; {FLUSH_SQL}; COMMIT")
                    self.unflushed = False
                except (psycopg.Error, KeyboardInterrupt):
                    pass  # the server flushes its WAL by itself within moments

    def _durable(self, last: bool) -> bool:
        return last or self.settings.sync_commit

    def _apply_one(self, entry: Entry, prep: Prepared, newest: int | None, last: bool) -> None:
        m = entry.migration
        if newest is not None and m.version < newest:
            self.say(f"! {m.id} is older than the newest applied migration; applying it "
                     "out of order (merged from another branch?)")
        down = m.down.text if m.down is not None else None
        record = history.INSERT_TEMPLATE.format(
            version=m.version, label=_quote(m.label), name=_quote(m.name),
            checksum=m.checksum, applied_by=self.by,
            no_tx="true" if prep.no_transaction else "false",
            down=_quote(down), source=_quote(m.text))
        if prep.no_transaction:
            start = self._resume_point(prep)
            seconds = self._run_statements(prep, start, True, record, "applied")
            self.unflushed = False  # its tracking row was committed synchronously
        else:
            seconds = self._run_in_transaction(prep, record, "applied", self._durable(last))
        self.applied_in_run += 1
        entry.status = APPLIED
        entry.seconds = seconds
        self.say(f"✓ {m.id} ({duration(seconds)})")

    def _resume_point(self, prep: Prepared) -> int:
        m = prep.migration
        row = self.conn.execute(history.PROGRESS_SQL, (m.version,)).fetchone()
        if row is None:
            return 0
        done, total, digest = row[0], row[1], row[2]
        if done and self._digest(prep.statements[:done]) != digest:
            raise DifferencesFound(
                f"{m.id} stopped part-way earlier after {done} of {total} statements, and those "
                "statements have changed in the file since. Undo what they did by hand, then run "
                f"`nself db migrate repair --mark-pending {m.label}`; or, if the database already "
                f"has everything, `nself db migrate repair --mark-applied {m.label}`."
            )
        if done:
            self.say(f"! {m.id}: resuming at statement {done + 1} of {len(prep.statements)} "
                     f"(statements 1-{done} ran in an earlier attempt)")
        return done

    # down ---------------------------------------------------------------------------------

    def down(self, steps: int | None = None, to: str | None = None) -> list[tuple[Entry, float]]:
        """Roll back the newest applied migrations with the DOWN text stored when applied."""
        if not history.exists(self.conn):
            return []
        history.ensure(self.conn)
        entries = [e for e in self.entries() if e.row is not None]
        entries.sort(key=lambda e: e.version, reverse=True)
        if to is not None:
            version = _version(to)
            if version != 0 and not any(e.version == version for e in entries):
                raise UsageError(f"--to {to}: no applied migration has version {to} "
                                 "(use --to 0 to roll back everything).")
            targets = [e for e in entries if e.version > version]
        else:
            count = 1 if steps is None else steps
            if count < 0:
                raise UsageError("--steps must be a positive number.")
            targets = entries[:count]
        prepared = []
        for e in targets:
            text, no_tx = self.conn.execute(history.DOWN_SQL, (e.version,)).fetchone()
            section = Section(text or "", 1)
            stand_in = Migration(e.version, e.label, e.name, f"{e.id}.sql",
                                 (text or "").encode(),
                                 relpath=f"{e.id} (stored DOWN)")
            if section.empty:
                raise OperationFailed(
                    f"{e.id} has no DOWN SQL, so it cannot be rolled back; nothing was rolled "
                    "back. Undo it by hand, then run `nself db migrate repair --mark-pending "
                    f"{e.label}`.")
            prepared.append((e, prepare(stand_in, section, bool(no_tx))))
        done = []
        with self.flushing():
            for number, (e, prep) in enumerate(prepared, 1):
                if e.status == MISSING:
                    self.say(f"! {e.id}: its file is gone; using the DOWN stored when it was "
                             "applied")
                record = history.DELETE_TEMPLATE.format(version=e.version)
                if prep.no_transaction:
                    seconds = self._run_statements(prep, 0, False, record, "rolled back")
                else:
                    seconds = self._run_in_transaction(prep, record, "rolled back",
                                                       self._durable(number == len(prepared)))
                self.applied_in_run += 1
                done.append((e, seconds))
                self.say(f"✓ Rolled back {e.id} ({duration(seconds)})")
        return done

    # fresh --------------------------------------------------------------------------------

    def drop_everything(self) -> int:
        """Drop every user object and nself's tracking; returns how many schemas/extensions."""
        from nself.pg.wipe import wipe

        return wipe(self.conn)

    def fresh(self) -> tuple[int, list[tuple[Entry, float]]]:
        dropped = self.drop_everything()
        history.ensure(self.conn)
        entries = self.entries()
        self.check_files(entries)
        return dropped, self.apply([e for e in entries if e.status == PENDING], entries)

    # repair -------------------------------------------------------------------------------

    def repair(self, mark_applied: str | None, mark_pending: str | None,
               confirm: Callable[[str], bool], show: Callable[[str], None]) -> list[str]:
        """Fix the tracking table and reconcile it with the files; returns what was done."""
        done = []
        conn = self.conn
        if not history.exists(conn):
            history.ensure(conn)
            done.append(f"Created the missing tracking table {history.TABLE}; it records no "
                        "migration as applied: mark the ones already in the database with "
                        "--mark-applied VERSION")
        else:
            problems = history.damage(conn)
            if problems:
                kept = history.rebuild(conn)
                done.append(f"Rebuilt the damaged tracking table {history.TABLE} "
                            f"({'; '.join(problems)}), keeping {kept} rows")
            history.ensure(conn)
        entries = self.entries()
        if mark_applied is not None or mark_pending is not None:
            if mark_applied is not None:
                done.append(self._mark_applied(entries, mark_applied))
            if mark_pending is not None:
                done.append(self._mark_pending(entries, mark_pending))
            return done
        changed = [e for e in entries if e.status == CHANGED]
        missing = [e for e in entries if e.status == MISSING]
        if not changed and not missing:
            return done
        import difflib

        for e in changed:
            stored = conn.execute(history.SOURCE_SQL, (e.version,)).fetchone()[0]
            show(f"Changed: {e.migration.relpath} (applied {e.applied_at:%Y-%m-%d %H:%M})")
            if stored is None:
                show("  (no text stored for it: cannot show the edit)")
                continue
            for line in difflib.unified_diff(stored.splitlines(), e.migration.text.splitlines(),
                                             "as applied", "file now", lineterm=""):
                show(line)
        for e in missing:
            show(f"Missing: {e.id} (applied {e.applied_at:%Y-%m-%d %H:%M}, file gone)")
        question = []
        if changed:
            question.append(f"record {len(changed)} edited file{'s' if len(changed) > 1 else ''} "
                            "as applied (the edits are NOT run)")
        if missing:
            question.append(f"forget {len(missing)} missing migration"
                            f"{'s' if len(missing) > 1 else ''}")
        if not confirm(" and ".join(question).capitalize() + "?"):
            raise Refused("Repair cancelled; nothing in the tracking table changed.")
        with conn.transaction():
            for e in changed:
                m = e.migration
                conn.execute(history.RECORD_FILE_SQL, (
                    m.checksum, m.down.text if m.down else None, m.text, m.label, m.name,
                    m.version))
            for e in missing:
                conn.execute(history.DELETE_SQL, (e.version,))
        done += [f"Recorded the edited {e.id} as applied" for e in changed]
        done += [f"Forgot the missing {e.id}" for e in missing]
        return done

    def _find(self, entries: list[Entry], text: str) -> Entry:
        version = _version(text)
        for e in entries:
            if e.version == version:
                return e
        raise UsageError(f"No migration has version {text}.")

    def _mark_applied(self, entries: list[Entry], text: str) -> str:
        e = self._find(entries, text)
        if e.migration is None:
            raise UsageError(f"{e.id} has no file; it cannot be marked applied.")
        m = e.migration
        m.validate()
        with self.conn.transaction():
            self.conn.execute(history.CLEAR_PROGRESS_SQL, (m.version,))
            if e.row is not None:
                self.conn.execute(history.DELETE_SQL, (m.version,))
            self.conn.execute(history.INSERT_SQL, (
                m.version, m.label, m.name, m.checksum, 0, applied_by(), m.no_transaction,
                m.down.text if m.down else None, m.text))
        return f"Marked {m.id} as applied (its SQL was not run)"

    def _mark_pending(self, entries: list[Entry], text: str) -> str:
        e = self._find(entries, text)
        with self.conn.transaction():
            self.conn.execute(history.CLEAR_PROGRESS_SQL, (e.version,))
            self.conn.execute(history.DELETE_SQL, (e.version,))
        return f"Marked {e.id} as pending (its DOWN was not run)"


def _version(text: str) -> int:
    head = str(text).split("_", 1)[0]
    if not head.isdigit():
        raise UsageError(f"{text!r} is not a migration version (e.g. 003 or 20260123101500).")
    return int(head)


# Sessions --------------------------------------------------------------------------------


def _raise_interrupt(signum, frame):  # SIGTERM: cancel and roll back, as Ctrl-C does
    raise KeyboardInterrupt


@contextmanager
def session(env: Environment, lock_timeout: float, say, notice, warn) -> Iterator[Runner]:
    """A Runner on a connection that holds the migrate lock; SIGTERM acts like Ctrl-C."""
    import signal

    db = database.target(env)
    with database.connect(db) as conn:
        if conn.info.server_version >= 140000:
            # Let the server notice a vanished client (kill -9) during a long statement.
            conn.execute("SET client_connection_check_interval = 1000")
        conn.add_notice_handler(lambda diag: _notice(diag, notice))
        previous = None
        try:
            previous = signal.signal(signal.SIGTERM, _raise_interrupt)
        except ValueError:  # not the main thread
            pass
        try:
            with database.advisory_lock(conn, LOCK_KEY, lock_timeout, "migrate"):
                yield Runner(env, db, conn, say, notice, warn)
        except KeyboardInterrupt:
            raise Interrupted("Interrupted; no migration was left half-done.") from None
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)


def _notice(diag, notice) -> None:
    message = diag.message_primary or ""
    # nself's own IF NOT EXISTS chatter is not the user's business
    if message.startswith(("schema \"nself\" already exists", "relation \"meta\"",
                           "relation \"migrations\"", "relation \"migration_progress\"")):
        return
    notice(f"{diag.severity}: {message}")


def dry_run(env: Environment, steps: int | None, to: str | None) -> list[tuple[Entry, str]]:
    """The SQL `up` would run, without changing anything (no lock, no tracking table)."""
    db = database.target(env)
    with database.connect(db) as conn:
        runner = Runner(env, db, conn, print, print, print)
        entries = runner.entries()
        runner.check_files(entries)
        pending = runner.plan_up(entries, steps, to)
        out = []
        for e in pending:
            prep = prepare(e.migration, e.migration.up, e.migration.no_transaction)
            text = prep.body if not prep.no_transaction else ";\n".join(
                s.text for s in prep.statements) + ";"
            out.append((e, text.strip("\n")))
        return out


def create(env: Environment, name: str) -> str:
    """Write the next migration file; returns its path relative to the project root."""
    env.require_project()
    folder = env.migrations_dir
    path = files.next_file(folder, name)
    try:
        with open(path, "x", encoding="utf-8") as handle:
            handle.write(files.render_new(path))
    except FileExistsError:
        raise UsageError(f"{env.relative(path)} already exists.") from None
    return env.relative(path)


__all__ = ["MigrationError", "MigrationFileError", "Runner", "session", "read_status", "create",
           "dry_run", "counts", "merge", "Entry", "Settings"]
