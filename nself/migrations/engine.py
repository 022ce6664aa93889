"""Sending migrations to the server: the transactional executor, the no-transaction executor,
lock_timeout retries, the blocker, and what a failure message says.

A transactional migration runs as one simple-protocol message, `BEGIN; SET LOCAL
lock_timeout; <its SQL>; <its tracking row> RETURNING <token>`, then `COMMIT` in a second one:
atomic with its tracking row whatever happens to this process (a client killed before
COMMIT leaves an open transaction the server rolls back). COMMIT is sent only when the
token came back, i.e. the tracking row was written by the last statement of the message;
otherwise the SQL did not reach the server whole and the transaction is rolled back. When a
statement fails, the number of results before the error says which; pglast maps that to a
line only then. With NSELF_MIGRATE_SYNC_COMMIT=false every migration of a run but the last
commits asynchronously; the last (or `Engine.flushing`) makes them durable.

A `-- nself:no-transaction` migration runs statement by statement. A statement that can run
in a transaction runs in one together with the advance of its progress row
(`nself.migration_progress`). One that cannot (CREATE INDEX CONCURRENTLY, VACUUM, ...) is
recorded as started first, runs in autocommit, and is then recorded as done; a run resumed
after a kill or a lost connection asks the catalog whether a started statement took effect
(`settle`). A DO block whose PL/pgSQL COMMITs or ROLLBACKs inside (seen in its parse), and a
CALL of a procedure that may (its body looked up in the catalog just before it runs, through
the procedures it calls in turn), is one of those: it ends transactions itself, so a resumed
run cannot know how far it got and runs it again, saying so (the author makes it re-runnable).
"""

from __future__ import annotations

import hashlib
import random
import secrets
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg import generators, pq, sql
from psycopg.pq import ExecStatus

from nself.config import Database, Environment
from nself.errors import (
    DatabaseUnreachable,
    DifferencesFound,
    Interrupted,
    NselfError,
    OperationFailed,
)
from nself.migrations import files, history
from nself.migrations.files import Migration, Section, Statement
from nself.migrations.plan import Prepared, needs_autocommit
from nself.pg import catalog
from nself.pg import connection as database
from nself.pg.scope import Scoped
from nself.sql import SqlSyntaxError, commits_inside, routine_tree, slices

COMMIT_FAILED = 10**9  # "statement index" of a failure at COMMIT (deferred constraints)
# Makes the asynchronous commits before it durable: a write, committed synchronously.
FLUSH_SQL = Scoped("UPDATE nself.meta SET value = value WHERE key = 'layout_version'")
RETRYABLE = ("55P03", "40P01")  # lock_not_available, deadlock_detected
# `db update` sends a transaction's migrations several per message (Engine.batches).
BATCH_MIGRATIONS = 200
BATCH_BYTES = 1 << 20
ACTIVE_SQL_TRANSACTION = "25001"  # "... cannot run inside a transaction block"
INVALID_TRANSACTION_TERMINATION = "2D000"  # COMMIT inside a procedure in a transaction block
# how many procedures `commits` reads through nested CALLs before it assumes one may COMMIT
PROCEDURES_READ = 50
FATAL_ERROR = ExecStatus.FATAL_ERROR
TUPLES_OK = ExecStatus.TUPLES_OK


class MigrationError(OperationFailed):
    """A migration's SQL failed; the message names file, line and PostgreSQL's error."""


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


def quote(text: str | None) -> str:
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


def digest(statements: list[Statement]) -> str:
    """Identifies the statements a part-way no-transaction migration has run."""
    h = hashlib.sha256()
    for st in statements:
        h.update(st.text.encode())
        h.update(b"\0")
    return h.hexdigest()


class Engine:
    """Runs prepared sections on one connection (which holds the migrate lock)."""

    def __init__(self, db: Database, conn: psycopg.Connection, settings: Settings,
                 say: Callable[[str], None], warn: Callable[[str], None]):
        self.db = db
        self.conn = conn
        self.settings = settings
        self.say = say
        self.warn = warn
        self.encoding = conn.info.encoding
        self.server_version = conn.info.server_version
        # returned by every tracking statement: seeing it proves that statement ran
        self.token = secrets.token_hex(8)
        self.token_sql = f"'{self.token}'"
        self.finished = 0  # migrations applied or rolled back in this run
        self.unflushed = False  # an asynchronous commit awaits a synchronous one

    # low level ------------------------------------------------------------------------------

    def send(self, query: str) -> tuple[list[pq.abc.PGresult], psycopg.Error | None]:
        """Send `query` (one or more statements) as one message: (the results before any
        error, the error or None)."""
        conn = self.conn
        pgconn = conn.pgconn
        with conn.lock:
            pgconn.send_query(query.encode(self.encoding))
            results = conn.wait(generators.execute(pgconn))
        for i, res in enumerate(results):
            if res.status == FATAL_ERROR:
                return results[:i], psycopg.errors.error_from_result(res, encoding=self.encoding)
        return results, None

    def recorded(self, results: list) -> bool:
        """Whether the last result is the token of a tracking statement (it ran, on one row)."""
        if not results:
            return False
        last = results[-1]
        return (last.status == TUPLES_OK and last.ntuples == 1
                and last.get_value(0, 0) == self.token.encode())

    def rollback(self, lost: str, error: psycopg.Error | None = None) -> None:
        """End the open transaction, if any; `lost` says what a lost connection left."""
        status = self.conn.pgconn.transaction_status
        if status == pq.TransactionStatus.UNKNOWN or self.conn.closed:
            raise DatabaseUnreachable(
                f"Lost the connection to {self.db.display()} while migrating"
                + (f": {self.describe(error)}" if error else "") + f". {lost}")
        if status in (pq.TransactionStatus.INTRANS, pq.TransactionStatus.INERROR):
            self.conn.execute("ROLLBACK")

    def cut(self, exc: psycopg.OperationalError, known: str) -> NselfError:
        """A driver error as ours; a lost connection (a server restart or crash, a network
        cut) also says what it left: `known`."""
        error = database.translate_error(exc, self.db)
        if isinstance(error, DatabaseUnreachable):
            return DatabaseUnreachable(f"{str(error).rstrip('.')}. {known}")
        return error

    def in_flight(self, what: str, verb: str) -> str:
        """What a connection lost while `what`'s COMMIT was on its way leaves: unknown."""
        return (f"The connection was lost while the COMMIT of {what} was on its way: "
                f"`nself db migrate status` shows whether it is {verb} (a migration and its "
                f"tracking row commit together).{self.earlier(verb)} Then run the command "
                "again.")

    def lock_failure(self, error: psycopg.Error) -> bool:
        return error.sqlstate in RETRYABLE

    def retrying(self, error: psycopg.Error, attempt: int, attempts: int, where: str,
                 what: str) -> bool:
        """After a lock timeout or deadlock with attempts left: say so, back off (exponential,
        jittered so that competing runs spread out), and return True."""
        if not (self.lock_failure(error) and attempt < attempts):
            return False
        # doubling, capped at a minute: NSELF_LOCK_RETRIES may be up to 100 (config.py)
        delay = min(self.settings.backoff_ms / 1000 * (2 ** (attempt - 1)), 60.0) * \
            random.uniform(0.5, 1.5)
        self.warn(f"{where}: {self.describe(error)}; retrying {what} in {delay:.1f} s "
                  f"(attempt {attempt + 1} of {attempts})")
        time.sleep(delay)
        return True

    def blocker(self) -> str:
        row = catalog.blocker(self.conn)
        if not row:
            return "the blocking session has finished since"
        pid, started, state, app, query = row
        since = f"query started {started:%Y-%m-%d %H:%M:%S}" if started else "no query start"
        return (f"blocked by pid {pid} ({app}, state {state or 'unknown'}, {since}: {query!r}); "
                f"wait for it or end it with SELECT pg_terminate_backend({pid})")

    @staticmethod
    def untouched(verb: str) -> str:
        """What a failed migration left, in one sense: an UP's transaction discarded means it
        is not applied; a DOWN's means the migration stays applied."""
        if verb == "applied":
            return " It was rolled back: nothing of it is applied."
        return " Its DOWN's changes were discarded: the migration stays applied."

    def earlier(self, verb: str) -> str:
        n = self.finished
        if not n:
            return ""
        if n == 1:
            return f" The migration {verb} before it in this run stays {verb}."
        return f" The {n} migrations {verb} before it in this run stay {verb}."

    def describe(self, error: psycopg.Error) -> str:
        return self.db.redact(database.describe_error(error)).rstrip(".")

    def gave_up(self, attempts: int) -> str:
        return (f" Gave up after {attempts} attempts with lock_timeout "
                f"{self.settings.lock_timeout_ms} ms: {self.blocker()}.")

    @contextmanager
    def flushing(self):
        """Make sure no asynchronous commit is left waiting, however the run ends."""
        try:
            yield
        finally:
            if self.unflushed and not self.conn.closed:
                try:
                    self.send(f"BEGIN; {FLUSH_SQL}; COMMIT")
                    self.unflushed = False
                except (psycopg.Error, KeyboardInterrupt):
                    pass  # the server flushes its WAL by itself within moments

    # one transactional section ------------------------------------------------------------

    def run_transaction(self, prep: Prepared, record: str, verb: str,
                        durable: bool = True) -> float:
        """Run `prep` and `record` (a tracking statement ending `RETURNING <token>`) in one
        transaction, retrying lock timeouts; seconds taken.

        `durable=False` commits without waiting for the WAL flush: a later synchronous commit
        (the run's last migration, or `flushing`) makes it durable, and a server crash before
        that loses the migration together with its tracking row.
        """
        m = prep.migration
        prefix = ["BEGIN;\n", f"SET LOCAL lock_timeout = {self.settings.lock_timeout_ms};\n"]
        if not durable:
            prefix.append("SET LOCAL synchronous_commit = off;\n")
        # COMMIT goes in a message of its own: a client killed while the body runs then
        # leaves an open transaction, which the server rolls back when it sees the socket close.
        query = f"{''.join(prefix)}{prep.body}\n;\n{record}"
        lost = (f"{m.id} was not committed, so the server rolled it back"
                + ("" if verb == "applied" else " (it stays applied)")
                + f".{self.earlier(verb)} Run `nself db migrate status`, then the command again.")
        attempts = 1 + self.settings.retries
        for attempt in range(1, attempts + 1):
            started = time.perf_counter()
            known = lost
            try:
                results, error = self.send(query)
                done = len(results)
                if error is None and not self.recorded(results):
                    self.rollback(lost)
                    raise MigrationError(
                        f"{m.id}: the server did not run its tracking statement (the SQL did "
                        f"not reach it whole).{self.untouched(verb)}" + self.earlier(verb))
                if error is None:
                    # RESET ALL: a migration's own SET (search_path, role, ...) must not
                    # leak into the next one, as it would not with one psql per file.
                    known = self.in_flight(m.id, verb)
                    _, error = self.send("COMMIT; RESET ALL")
                    if error is not None:  # deferred constraints fail at COMMIT
                        done = COMMIT_FAILED + len(prefix)
            except KeyboardInterrupt:
                self.rollback(lost)
                raise self.interrupted(m, verb) from None
            except psycopg.OperationalError as exc:
                raise self.cut(exc, known) from None
            if error is None:
                self.unflushed = not durable
                return time.perf_counter() - started
            self.rollback(lost, error)
            if self.retrying(error, attempt, attempts, m.id, "the whole migration"):
                continue
            raise self.failure(prep, done - len(prefix), error, verb,
                               attempts if self.lock_failure(error) else 0,
                               len("".join(prefix)))
        raise AssertionError("unreachable")

    def run_part(self, part: list[Prepared], row: Callable[[Prepared, float], str],
                 done: Callable[[Prepared, float], None],
                 before_commit: Callable[[], None] | None = None) -> float:
        """Apply several transactional migrations in ONE transaction, with their tracking
        rows (`row(prep, ms)` gives one, as `history.ROW_TEMPLATE`), then `before_commit`
        (checks that raise to roll everything back), then COMMIT; seconds taken. `done` is
        told of each migration once its statements ran (not yet committed). A lock timeout
        or deadlock retries the whole transaction.

        Migrations travel in batches (`batches`), several per message: a round trip per
        migration would cost more than the statements themselves. After each migration a
        marker statement returns the run's token and the milliseconds since the message
        began, so the results say which migrations of a batch ran (on an error, which one
        failed and at which statement) and how long each took; the batch's tracking rows
        follow in one INSERT. A migration whose text may change a setting (`SET`,
        `set_config`) is followed by `RESET ALL`, so that its SETs do not reach the next
        one, as with a transaction per migration.
        """
        lost = ("The transaction was not committed, so the server rolled it back: none of "
                f"its {len(part)} migrations is applied; run `nself db migrate status`, then "
                "the command again.")
        attempts = 1 + self.settings.retries
        for attempt in range(1, attempts + 1):
            started = time.perf_counter()
            error = None
            known = lost + self.earlier("applied")
            try:
                for batch in self.batches(part):
                    error = self.send_batch(batch, row, done, lost, part, attempt, attempts)
                    if error is not None:
                        break
                if error is not None:
                    continue  # retrying
                if before_commit is not None:
                    before_commit()
                known = self.in_flight(f"the transaction of {len(part)} migrations", "applied")
                _, error = self.send("COMMIT; RESET ALL")
            except KeyboardInterrupt:
                self.rollback(lost)
                raise Interrupted(f"Interrupted: the transaction was rolled back, none of its "
                                  f"{len(part)} migrations is applied.{self.earlier('applied')}"
                                  " Run the command again to continue.") from None
            except psycopg.OperationalError as exc:
                raise self.cut(exc, known) from None
            except (MigrationError, DatabaseUnreachable):
                raise  # rolled back already
            except Exception:
                # a check of before_commit, or output that could not be written: roll back
                if not self.conn.closed:
                    self.rollback(lost)
                raise
            if error is not None:  # deferred constraints fail at COMMIT
                self.rollback(lost, error)
                raise self.in_part(MigrationError(
                    f"The transaction failed at COMMIT: {self.describe(error)}."), part)
            self.finished += len(part)
            return time.perf_counter() - started
        raise AssertionError("unreachable")

    def batches(self, part: list[Prepared]) -> list[list[tuple[Prepared, str]]]:
        """`part` cut into messages of at most BATCH_MIGRATIONS migrations / BATCH_BYTES
        characters, each migration with the statements sent before it (its prefix)."""
        timeout = f"SET LOCAL lock_timeout = {self.settings.lock_timeout_ms};\n"
        batches: list[list[tuple[Prepared, str]]] = []
        size = 0
        previous = None
        for prep in part:
            if previous is None:
                prefix = "BEGIN;\n" + timeout
            elif previous.sets_session:  # its SET must not reach the next migration
                prefix = "RESET ALL;\n" + timeout
            else:
                prefix = ""
            previous = prep
            length = 2 * len(prep.body)  # the body, and the file again in its tracking row
            if not batches or len(batches[-1]) >= BATCH_MIGRATIONS or size + length > BATCH_BYTES:
                batches.append([])
                size = 0
            batches[-1].append((prep, prefix))
            size += length
        return batches

    def send_batch(self, batch: list[tuple[Prepared, str]], row: Callable[[Prepared, float], str],
                   done: Callable[[Prepared, float], None], lost: str, part: list,
                   attempt: int, attempts: int) -> psycopg.Error | None:
        """Send one batch, then its tracking rows; tell `done` of each migration; return the
        error to retry on, or None. Any other failure is raised as a MigrationError naming
        the migration and line."""
        marker = (f"SELECT {self.token_sql}, "
                  "extract(epoch FROM clock_timestamp() - statement_timestamp()) * 1000")
        pieces, starts, counts = [], [], []
        offset = 0
        for prep, prefix in batch:
            starts.append(offset + len(prefix))
            counts.append(prefix.count(";"))
            piece = f"{prefix}{prep.body}\n;\n{marker};\n"
            pieces.append(piece)
            offset += len(piece)
        results, error = self.send("".join(pieces))
        tokens = [i for i, res in enumerate(results) if self.is_token(res)]
        if error is None and len(tokens) != len(batch):
            self.rollback(lost)
            prep = batch[min(len(tokens), len(batch) - 1)][0]
            raise self.in_part(MigrationError(
                f"{prep.migration.id}: the server did not run all of it (the SQL did not reach "
                "it whole)."), part)
        if error is not None:
            self.rollback(lost, error)
            n = len(tokens)
            prep = batch[n][0]
            if self.retrying(error, attempt, attempts, prep.migration.id,
                             "the whole transaction"):
                return error
            index = len(results) - (tokens[-1] + 1 if tokens else 0) - counts[n]
            raise self.in_part(self.failure(
                prep, index, error, "applied", attempts if self.lock_failure(error) else 0,
                starts[n], alone=False), part)
        elapsed = [float(results[i].get_value(0, 1)) for i in tokens]
        spent = [elapsed[0]] + [b - a for a, b in zip(elapsed, elapsed[1:], strict=False)]
        rows = ", ".join(row(prep, ms) for (prep, _), ms in zip(batch, spent, strict=True))
        results, error = self.send(
            f"{history.INSERT_ROWS_TEMPLATE.format(rows=rows)};\nSELECT {self.token_sql}")
        if error is not None or not self.recorded(results):
            self.rollback(lost, error)
            raise self.in_part(MigrationError(
                f"Recording {batch[0][0].migration.id} .. {batch[-1][0].migration.id} in "
                f"{history.TABLE} failed: "
                + (self.describe(error) if error else "no result") + ". Run `nself db migrate "
                "repair` if the tracking table is damaged."), part)
        for (prep, _), ms in zip(batch, spent, strict=True):
            done(prep, ms / 1000)
        return None

    def is_token(self, res) -> bool:
        """Whether `res` is a batch marker: the run's token and a number."""
        return (res.status == TUPLES_OK and res.ntuples == 1 and res.nfields == 2
                and res.get_value(0, 0) == self.token.encode())

    def in_part(self, error: MigrationError, part: list) -> MigrationError:
        """`error` of a migration run together with others: say that all of them went."""
        n = len(part)
        whole = (f" The whole transaction was rolled back: none of its {n} migrations is "
                 "applied." if n > 1 else " It was rolled back: nothing of it is applied.")
        return MigrationError(str(error) + whole + self.earlier("applied"))

    def interrupted(self, m: Migration, verb: str) -> Interrupted:
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
        return Interrupted(f"Interrupted: {m.id}.{self.untouched(verb)}"
                           f"{self.earlier(verb)} Run `nself db migrate {command}` to continue.")

    def failure(self, prep: Prepared, index: int, error: psycopg.Error, verb: str,
                attempts: int, prefix: int, alone: bool = True) -> MigrationError:
        """What a failed transactional migration says (file, line, error); `alone=False`
        (one of several in a transaction) leaves what was rolled back to the caller."""
        m = prep.migration
        # the body as sent: stripped BEGIN/COMMIT are blanks there, so they count for nothing
        section = Section(prep.body, prep.section.line)
        try:
            count = len(slices(section.text))
        except SqlSyntaxError:
            count = None
        if index >= COMMIT_FAILED:
            return MigrationError(f"{m.id} failed at COMMIT: {self.describe(error)}."
                                  f"{self.untouched(verb)}{self.earlier(verb)}")
        if count is not None and index >= count:
            return MigrationError(f"{m.id}: recording it in {history.TABLE} failed: "
                                  f"{self.describe(error)}.{self.untouched(verb)} Run `nself db "
                                  "migrate repair` to fix the tracking table." + self.earlier(verb))
        position = error.diag.statement_position
        offset = None
        if position and index < 0:
            offset = int(position) - 1 - prefix
        line = files.locate(section, index if count is not None else -1, offset)
        message = (f"{m.id} failed at {m.relpath or m.filename} line {line}: "
                   f"{self.describe(error)}.")
        if attempts:
            message += self.gave_up(attempts)
        if error.sqlstate == INVALID_TRANSACTION_TERMINATION:
            message += (" A procedure or DO block that COMMITs or ROLLBACKs inside cannot run in "
                        f"a migration's transaction: put `{files.DIRECTIVE}` on a line of its "
                        "own above `-- UP` (and make it safe to run again).")
        if alone:
            message += self.untouched(verb) + self.earlier(verb)
        return MigrationError(message)

    # no-transaction sections ------------------------------------------------------------------

    def run_statements(self, prep: Prepared, direction: str, record: str, verb: str) -> float:
        """Run a no-transaction section from where an earlier attempt stopped, then `record`
        (its tracking change, `RETURNING <token>`) together with clearing its progress."""
        statements = prep.statements
        began = time.perf_counter()
        start = self.resume_point(prep, direction)
        self.conn.execute(f"SET lock_timeout = {self.settings.lock_timeout_ms}")
        i = start
        try:
            for i in range(start, len(statements)):
                self.run_statement(prep, i, direction, verb)
            i = len(statements)
            self.finish(prep, record, verb)
        except psycopg.OperationalError as exc:
            raise self.cut(exc, self.lost(prep, i, verb)) from None
        finally:
            if not self.conn.closed:
                try:
                    self.conn.execute("RESET ALL")  # lock_timeout, and the file's own SETs
                except psycopg.Error:
                    pass
        return time.perf_counter() - began

    def progress(self, prep: Prepared, direction: str, done: int, started: int | None) -> str:
        m = prep.migration
        return history.PROGRESS_TEMPLATE.format(
            version=m.version, name=quote(m.name), direction=direction, done=done,
            total=len(prep.statements), digest=digest(prep.statements[:done]),
            started="NULL" if started is None else started, token=self.token_sql)

    def lost(self, prep: Prepared, i: int, verb: str) -> str:
        command = "up" if verb == "applied" else "down"
        if i >= len(prep.statements):
            return (f"All {len(prep.statements)} statements of {prep.migration.id} ran; whether "
                    f"it was recorded as {verb} shows in `nself db migrate status` (if not, "
                    f"`nself db migrate {command}` records it).")
        return (f"{prep.migration.id} stopped at statement {i + 1} of {len(prep.statements)}; "
                f"statements 1-{i} ran and stay. Run `nself db migrate {command}` again: it "
                "continues from there (checking whether a statement in flight took effect).")

    def run_statement(self, prep: Prepared, i: int, direction: str, verb: str) -> None:
        """Statement `i` with its progress: in a transaction when it can run in one."""
        st = prep.statements[i]
        outside = needs_autocommit(st, self.server_version) or bool(self.commits(st))
        attempts = 1 + self.settings.retries
        attempt = 1
        while True:
            try:
                if outside:
                    error = self.run_outside(prep, i, direction, verb)
                else:
                    error = self.run_inside(prep, i, direction, verb)
                    if error is not None and error.sqlstate in (ACTIVE_SQL_TRANSACTION,
                                                                INVALID_TRANSACTION_TERMINATION):
                        outside = True  # a kind the parse did not know: it rolled back, rerun
                        continue
            except KeyboardInterrupt:
                self.rollback(self.lost(prep, i, verb))
                where = (f"statement {i + 1} of {len(prep.statements)} of {prep.migration.id} "
                         f"(line {st.line})")
                if outside:
                    raise Interrupted(
                        f"Interrupted during {where}, which runs outside a transaction; "
                        f"statements 1-{i} ran and stay. Run `nself db migrate "
                        f"{'up' if verb == 'applied' else 'down'}`: it checks whether that "
                        "statement took effect and continues.") from None
                raise Interrupted(
                    f"Interrupted during {where}; that statement was rolled back, statements "
                    f"1-{i} ran and stay. Run `nself db migrate "
                    f"{'up' if verb == 'applied' else 'down'}` to continue from there.") from None
            if error is None:
                return
            if self.retrying(error, attempt, attempts, f"{prep.migration.id} line {st.line}",
                             "the statement"):
                attempt += 1
                if outside and not self.settle(prep, i, direction):
                    return  # it took effect after all (recorded as done by settle)
                continue
            # outside a transaction it may have left something (an INVALID index): keep it
            # marked as started, so that the next run settles it first
            self.conn.execute(self.progress(prep, direction, i, i if outside else None))
            self.conn.execute(history.FAILED_PROGRESS_SQL,
                              (st.line, self.describe(error), prep.migration.version))
            raise self.statement_failure(prep, i, error, verb, outside,
                                         attempts if self.lock_failure(error) else 0)

    def run_inside(self, prep: Prepared, i: int, direction: str, verb: str
                   ) -> psycopg.Error | None:
        st = prep.statements[i]
        results, error = self.send(f"BEGIN;\n{st.text}\n;\n"
                                   f"{self.progress(prep, direction, i + 1, None)}")
        if error is None and not self.recorded(results):
            self.rollback(self.lost(prep, i, verb))
            raise MigrationError(
                f"{prep.migration.id}: statement {i + 1} (line {st.line}) did not reach the "
                "server whole, or its progress was not recorded; it was rolled back. Nothing "
                f"of it ran; statements 1-{i} ran and stay.")
        if error is None:
            _, error = self.send("COMMIT")
        if error is not None:
            self.rollback(self.lost(prep, i, verb), error)
        return error

    def run_outside(self, prep: Prepared, i: int, direction: str, verb: str
                    ) -> psycopg.Error | None:
        """Record statement `i` as started, run it in autocommit, record it as done."""
        st = prep.statements[i]
        results, error = self.send(self.progress(prep, direction, i, i))
        if error is not None or not self.recorded(results):
            raise MigrationError(
                f"{prep.migration.id}: could not record that statement {i + 1} (line "
                f"{st.line}) starts: " + (self.describe(error) if error else "no result")
                + f". It did not run; statements 1-{i} ran and stay.")
        results, error = self.send(st.text)
        if error is not None:
            return error
        results, error = self.send(self.progress(prep, direction, i + 1, None))
        if error is not None or not self.recorded(results):
            raise MigrationError(
                f"{prep.migration.id}: statement {i + 1} (line {st.line}) ran, but recording "
                "that failed: " + (self.describe(error) if error else "no result")
                + ". The next run checks whether it took effect and continues.")
        return None

    def finish(self, prep: Prepared, record: str, verb: str) -> None:
        m = prep.migration
        n = len(prep.statements)
        query = (f"BEGIN;\n{history.CLEAR_PROGRESS_TEMPLATE.format(version=m.version)};\n"
                 f"{record}")
        results, error = self.send(query)
        if error is None and not self.recorded(results):
            self.rollback(self.lost(prep, n, verb))
            raise MigrationError(f"{m.id}: all {n} statements ran, but the server did not run "
                                 f"its tracking statement; nothing was recorded.")
        if error is None:
            _, error = self.send("COMMIT")
        if error is not None:
            self.rollback(self.lost(prep, n, verb), error)
            command = "up" if verb == "applied" else "down"
            raise MigrationError(
                f"{m.id}: all {n} statements ran, but recording that in {history.TABLE} "
                f"failed: {self.describe(error)}. Its progress is kept: fix the tracking table "
                f"(`nself db migrate repair`), then run `nself db migrate {command}` to record "
                "it.")

    def statement_failure(self, prep: Prepared, i: int, error: psycopg.Error, verb: str,
                          outside: bool, attempts: int) -> MigrationError:
        m, statements = prep.migration, prep.statements
        st = statements[i]
        ran = (f"Statements 1-{i} of {len(statements)} ran and stay {verb} (lines "
               f"{', '.join(str(s.line) for s in statements[:i])})" if i
               else f"None of its {len(statements)} statements ran")
        this = ("it ran outside a transaction" if outside
                else "it was rolled back")
        if outside and (st.no_transaction.startswith("DO block") or st.procedures):
            this += (" (what it committed before the error stays: the next run runs it again "
                     "from its start)")
        message = (f"{m.id} failed at {m.relpath or m.filename} line {st.line} (statement "
                   f"{i + 1} of {len(statements)}, no-transaction migration): "
                   f"{self.describe(error)}. {ran}; {this}, and {m.id} is not recorded as "
                   f"{verb}.")
        if attempts:
            message += self.gave_up(attempts)
        if st.no_transaction == "CREATE INDEX CONCURRENTLY" and st.target:
            for schema, name in catalog.invalid_indexes(self.conn, st.relation):
                if name != st.target:
                    continue
                ident = self.ident(schema, name)
                message += (f" It left the INVALID index {ident} behind; the next run drops it "
                            f"and builds it again (or drop it yourself: `nself db shell -c "
                            f"'DROP INDEX CONCURRENTLY IF EXISTS {ident}'`).")
        command = "up" if verb == "applied" else "down"
        message += (f" Fix the cause and run `nself db migrate {command}`: it continues at "
                    f"statement {i + 1}.")
        return MigrationError(message + self.earlier(verb))

    def ident(self, schema: str, name: str) -> str:
        parts = (schema, name) if schema else (name,)
        return sql.Identifier(*parts).as_string(self.conn)

    # resuming ---------------------------------------------------------------------------------

    def resume_point(self, prep: Prepared, direction: str) -> int:
        """The first statement still to run, after settling one left in flight."""
        m = prep.migration
        row = self.conn.execute(history.PROGRESS_SQL, (m.version,)).fetchone()
        if row is None:
            return 0
        done, total, stored_digest, started, stored_direction = row
        command = "up" if direction == "up" else "down"
        if stored_direction != direction:
            raise OperationFailed(
                f"{m.id} stopped part-way while being "
                f"{'applied' if stored_direction == 'up' else 'rolled back'}, and this run "
                f"would {'apply' if direction == 'up' else 'roll back'} it. Run `nself db "
                f"migrate {'up' if stored_direction == 'up' else 'down'}` to finish that first, "
                f"or settle it with `nself db migrate repair --mark-pending {m.label}` / "
                f"`--mark-applied {m.label}` after checking the database by hand.")
        if done > len(prep.statements) or (done and digest(prep.statements[:done])
                                           != stored_digest):
            raise DifferencesFound(
                f"{m.id} stopped part-way earlier after {done} of {total} statements, and those "
                "statements have changed since. Undo what they did by hand, then run "
                f"`nself db migrate repair --mark-pending {m.label}`; or, if the database already "
                f"has everything, `nself db migrate repair --mark-applied {m.label}`."
            )
        if started is not None and started == done and done < len(prep.statements):
            if not self.settle(prep, done, direction):
                done += 1
        if done:
            self.say(f"! {m.id}: resuming at statement {done + 1} of {len(prep.statements)} "
                     f"(statements 1-{done} ran in an earlier `{command}`)")
        return done

    def commits(self, st: Statement) -> str:
        """Which procedure that statement `st` CALLs may COMMIT or ROLLBACK inside ("" when
        none can), read from the catalog: PL/pgSQL bodies are parsed, SQL ones cannot, any
        other language may."""
        queue, seen = list(st.procedures), set()
        while queue:
            name = queue.pop(0)
            if name in seen:
                continue
            seen.add(name)
            if len(seen) > PROCEDURES_READ:
                return f"{name} (more than {PROCEDURES_READ} procedures deep)"
            for language, definition in catalog.procedures(self.conn, name):
                if language == "plpgsql":
                    tree = routine_tree(definition)
                    if tree is None:
                        return f"{name} (its body could not be read)"
                    ends, called = commits_inside(tree)
                    if ends:
                        return f"{name} ({ends} inside)"
                    queue += called
                elif language not in ("sql", "internal"):
                    return f"{name} (language {language})"
        return ""

    def settle(self, prep: Prepared, i: int, direction: str) -> bool:
        """Statement `i` may have run outside a transaction before this run lost track of it:
        record it as done when the catalog shows it took effect (False), or clean up what a
        half-done one left and return True (run it)."""
        st = prep.statements[i]
        m = prep.migration
        what = st.no_transaction or ("CALL" if st.kind == "CallStmt" else st.kind)
        where = f"{m.id}: statement {i + 1} (line {st.line}, {what})"
        took_effect = False
        if st.no_transaction == "CREATE INDEX CONCURRENTLY" and st.target:
            state = catalog.index_state(self.conn, st.target, st.schema)
            if state == "valid":
                took_effect = True
            elif state == "invalid":
                ident = self.ident(st.schema, st.target)
                self.say(f"! {where} was interrupted and left the INVALID index {ident}: "
                         "dropping it and building it again")
                self.conn.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {ident}")
        elif st.no_transaction == "DROP INDEX CONCURRENTLY" and st.target:
            took_effect = catalog.index_state(self.conn, st.target, st.schema) is None
        elif st.no_transaction == "REINDEX CONCURRENTLY":
            for schema, name in catalog.reindex_leftovers(self.conn):
                ident = self.ident(schema, name)
                self.say(f"! {where} was interrupted and left the INVALID index {ident}: "
                         "dropping it before running the statement again")
                self.conn.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {ident}")
        elif st.no_transaction in ("CREATE DATABASE", "DROP DATABASE") and st.target:
            exists = catalog.database_exists(self.conn, st.target)
            took_effect = exists if st.no_transaction == "CREATE DATABASE" else not exists
        elif st.kind == "AlterEnumStmt":
            took_effect = catalog.enum_has_value(self.conn, st.target, st.value)
        elif st.no_transaction.startswith("DO block") or st.procedures:
            self.say(f"! {where} was interrupted part-way: running it again from its start. It "
                     "commits as it goes, so what it committed before stays: it must be safe "
                     "to run again (skip the rows it already did)")
        if took_effect:
            results, error = self.send(self.progress(prep, direction, i + 1, None))
            if error is not None or not self.recorded(results):
                raise MigrationError(f"{where}: could not record it as done: "
                                     + (self.describe(error) if error else "no result") + ".")
            self.say(f"! {where} had finished before the earlier run lost track of it; "
                     "recorded it as done")
            return False
        return True
