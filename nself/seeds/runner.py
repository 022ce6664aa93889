"""Running seed files: plan (which files, new or changed), the guard's checks, and each file
in a transaction of its own with its row counts, its sequences and its tracking row.

A file is sent as one simple-protocol message, as a migration is (its SQL byte for byte,
top-level BEGIN/COMMIT blanked), followed by a statement returning a per-run token: COMMIT
is sent only when the token came back, i.e. the whole file ran. A failing file is rolled
back alone and stops the run; the files before it stay committed. `say` is called only
between files, so lost output stops a run after the file in progress.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import datetime

import psycopg
from psycopg import pq

from nself.config import Database, Environment, canonical_env_name
from nself.errors import DatabaseUnreachable, Interrupted, OperationFailed, UsageError
from nself.guard import Change, Guard, Plan
from nself.migrations import files as migration_files
from nself.migrations.engine import COMMIT_FAILED, Engine, Settings, applied_by, duration
from nself.pg import connection as database
from nself.pg import layout, meta
from nself.pg import session as pg_session
from nself.seeds import changes, history
from nself.seeds import files as seed_files
from nself.seeds.changes import SequenceMove, TableChange
from nself.seeds.files import SeedFile

COMMAND = "seed"
DETAIL_LIMIT = 20  # files listed in a confirmation prompt
# after a file's SQL: ends an unterminated last statement; the token proves the file ran whole
TAIL = "\n;\nSELECT {token}"


class SeedError(OperationFailed):
    """A seed file failed; the message names file, line and PostgreSQL's error."""


@dataclass
class Planned:
    """A file a run takes, and what nself.seeds says of it."""

    seed: SeedFile
    status: str                 # new, changed, unchanged
    ran_at: datetime | None = None

    def as_dict(self) -> dict:
        return {"file": self.seed.key, "path": self.seed.shown, "status": self.status,
                "last_ran": self.ran_at}


@dataclass
class FileRun:
    """One file that ran and committed."""

    planned: Planned
    seconds: float
    changes: dict[str, TableChange]
    sequences: list[SequenceMove]


@dataclass
class SeedRun:
    """What a run planned and did. `environment` is the environment whose folder ran."""

    environment: str
    planned: list[Planned]
    skipped: list[Planned] = field(default_factory=list)  # unchanged files --changed left out
    done: list[FileRun] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return sum(r.seconds for r in self.done)


# Planning ------------------------------------------------------------------------------------


def select(env: Environment, for_env: str | None = None, file: str | None = None
           ) -> tuple[str, list[SeedFile]]:
    """(the data environment, the files to consider, in order, every one checked)."""
    wanted = canonical_env_name(for_env) if for_env else None
    if file is not None:
        if not str(file).strip():
            raise UsageError("Name the seed file: `nself db seed 01_test_users.sql`.")
        seed = seed_files.find(env, str(file), wanted)
        folder_env = seed.folder if seed.folder not in ("", seed_files.COMMON) else None
        if wanted and folder_env and folder_env != wanted:
            raise UsageError(f"{seed.shown} is a {folder_env} seed, but --env says {wanted}: "
                             f"drop --env, or pass --env {folder_env}.")
        chosen = [seed]
        data_env = wanted or folder_env or env.name
    else:
        data_env = wanted or env.name
        chosen = seed_files.all_files(env, data_env)
    for seed in chosen:
        seed.body  # noqa: B018 - reading it is the check: every file before anything runs
    return data_env, chosen


def plan(env: Environment, conn: psycopg.Connection, for_env: str | None = None,
         file: str | None = None, changed_only: bool = False) -> SeedRun:
    """The files a run would take and their state; changes nothing."""
    data_env, chosen = select(env, for_env, file)
    ran = history.recorded(conn)
    planned = [Planned(seed, history.status(seed.checksum, ran.get(seed.key)),
                       ran[seed.key].ran_at if seed.key in ran else None) for seed in chosen]
    run = SeedRun(data_env, planned)
    if changed_only:
        run.planned = [p for p in planned if p.status != history.UNCHANGED]
        run.skipped = [p for p in planned if p.status == history.UNCHANGED]
    return run


def policy_environment(env: Environment, data_env: str) -> str:
    """The stricter of the current environment and the one whose seeds run: seeding a
    production database with local's files, or local's with production's, both obey
    production's rule."""
    return max((env.name, data_env), key=lambda name: meta.STRICTNESS[name])


def allow(guard: Guard, conn: psycopg.Connection, run: SeedRun, target: str,
          apply: Callable[[Change], list[str]]) -> None:
    """The pipeline (`Guard.run`) with `apply`: the database's recorded environment against
    the seeds' environment, then the safety table for the stricter environment, showing
    the files."""
    env = guard.env
    as_seeds = replace(guard, env=replace(env, name=run.environment))
    as_seeds.check_environment(conn, COMMAND)
    if not run.planned:
        return
    strict = replace(guard, env=replace(env, name=policy_environment(env, run.environment)))
    listed = [f"  {p.seed.shown} ({p.status})" for p in run.planned[:DETAIL_LIMIT]]
    if len(run.planned) > DETAIL_LIMIT:
        listed.append(f"  ... and {len(run.planned) - DETAIL_LIMIT} more")
    count = len(run.planned)
    strict.run(conn, Plan(COMMAND, target=target, record=False,
                          detail=f"`seed` will run {count} {run.environment} seed file"
                                 f"{'s' if count != 1 else ''}:\n" + "\n".join(listed)),
               apply)


# Running -------------------------------------------------------------------------------------


def run_seeds(env: Environment, conn: psycopg.Connection, *, for_env: str | None = None,
              file: str | None = None, changed_only: bool = False, guard: Guard | None = None,
              db: Database | None = None, say: Callable[[str], None] = print,
              notices=None) -> SeedRun:
    """Run the seed files of `for_env` (default: env's own): `common/` then the environment's
    folder in file-name order, or only `file`; with `changed_only`, only new or changed files.

    `conn` is an autocommit connection with no transaction open. `guard` (None: no checks,
    the caller has made them) checks the recorded environment and the safety table. Each
    file is said as it commits; a failure raises SeedError (files before it stay), a
    malformed file SeedFileError before anything runs.
    """
    db = db or env.database
    run = plan(env, conn, for_env, file, changed_only)

    def apply(change: Change | None) -> list[str]:
        layout.ensure(conn)
        executor = Executor(env, db, conn, run.environment)
        for planned in run.planned:
            done = executor.run(planned, len(run.done))
            run.done.append(done)
            if notices is not None:
                notices.raise_failure()
            say(describe(done))
        return [f"ran {done.planned.seed.shown}" for done in run.done]

    if guard is not None:
        allow(guard, conn, run, db.display(), apply)
    elif run.planned:
        apply(None)
    return run


def describe(done: FileRun) -> str:
    """The lines said for a file that ran: status, duration, rows per table, sequences."""
    head = f"✓ {done.planned.seed.shown} ({done.planned.status}, {duration(done.seconds)})"
    if not done.changes and not done.sequences:
        return f"{head}: no rows changed"
    lines = [head] + [f"    {table}: {change}" for table, change in done.changes.items()]
    lines += [f"    {move}" for move in done.sequences]
    return "\n".join(lines)


class Executor:
    """Runs seed files, each in its own transaction, on one connection."""

    def __init__(self, env: Environment, db: Database, conn: psycopg.Connection, data_env: str):
        self.db = db
        self.conn = conn
        self.data_env = data_env
        self.engine = Engine(db, conn, Settings.from_env(env), lambda text: None,
                             lambda text: None)
        self.by = applied_by()

    def run(self, planned: Planned, earlier: int) -> FileRun:
        """Run one file; raise SeedError (rolled back) or Interrupted when it did not commit."""
        seed = planned.seed
        body = seed.body
        engine = self.engine
        try:
            started = time.perf_counter()
            self.conn.execute("BEGIN")
            before = changes.counters(self.conn)
            results, error = engine.send(body + TAIL.format(token=engine.token_sql))
            seconds = time.perf_counter() - started
            if error is not None:
                self.rollback()
                raise self.failure(seed, body, len(results), error, earlier)
            if not engine.recorded(results):
                self.rollback()
                raise SeedError(f"{seed.shown}: the server did not run it to its end (an "
                                "unterminated comment or string?). It was rolled back."
                                + stays(earlier))
            # the file's SET ROLE must not decide who writes nself's row (RESET ALL keeps it)
            self.conn.execute("RESET ROLE")
            found, written = changes.difference(before, changes.counters(self.conn))
            moved = changes.catch_up_sequences(self.conn, written)
            history.record(self.conn, seed.key, seed.checksum, seconds, self.by,
                           self.data_env)
            _, error = engine.send("COMMIT; RESET ALL")
            if error is not None:  # deferred constraints fail at COMMIT
                self.rollback()
                raise self.failure(seed, body, COMMIT_FAILED, error, earlier)
        except KeyboardInterrupt:
            self.rollback()
            raise Interrupted(f"Interrupted: {seed.shown} was rolled back.{stays(earlier)}"
                              ) from None
        except psycopg.Error as exc:
            self.rollback()
            error = database.translate_error(exc, self.db)
            if isinstance(error, DatabaseUnreachable):
                raise DatabaseUnreachable(f"{error} {seed.shown} was not committed."
                                          + stays(earlier)) from None
            raise SeedError(f"{seed.shown}: after its SQL ran: {str(error).rstrip('.')}. It "
                            "was rolled back."
                            + stays(earlier)) from None
        return FileRun(planned, seconds, found, moved)

    def rollback(self) -> None:
        """End the file's transaction, if the connection still has one."""
        conn = self.conn
        if conn.closed:
            return
        try:
            if conn.pgconn.transaction_status in (pq.TransactionStatus.INTRANS,
                                                  pq.TransactionStatus.INERROR):
                conn.execute("ROLLBACK")
            conn.execute("RESET ALL")
        except psycopg.Error:
            pass  # the connection is gone, and the transaction with it

    def failure(self, seed: SeedFile, body: str, index: int, error: psycopg.Error,
                earlier: int) -> SeedError:
        """The message for a failing statement: file, line, PostgreSQL's words."""
        # an unterminated string or comment quotes the text after it: our token statement
        what = self.engine.describe(error).replace(TAIL.format(token=self.engine.token_sql), "")
        if index >= COMMIT_FAILED:
            return SeedError(f"{seed.shown} failed at COMMIT: {what}. It was rolled back."
                             + stays(earlier))
        section = migration_files.Section(body, 1)
        position = error.diag.statement_position
        if position and 0 < int(position) <= len(body):
            line = migration_files.line_of(body, int(position) - 1)
        else:
            line = migration_files.locate(section, index)
        return SeedError(f"{seed.shown} failed at line {line}: {what}. It was rolled back."
                         + stays(earlier))


def stays(earlier: int) -> str:
    if not earlier:
        return ""
    if earlier == 1:
        return " The seed file that ran before it in this run stays."
    return f" The {earlier} seed files that ran before it in this run stay."


# Sessions ------------------------------------------------------------------------------------


def session(env: Environment, lock_timeout: float, notice: Callable[[str], None]
            ) -> AbstractContextManager[pg_session.Session]:
    """(database, connection, notices) holding the migrate lock: seeds never run while a
    migration (or another seed run) does."""
    return pg_session.connect(env, notice, pg_session.MIGRATE, lock_timeout)
