"""One session: a connection to the configured database with the server's notices delivered
as they arrive, and advisory locks taken with a deadline.

`connect(env, notice, lock, timeout)` is the session of every command that holds a lock
while it works: migrate (and update, reset, repair), seed, mock and the shadow databases.
A `Lock` is one advisory lock, in either of PostgreSQL's key forms (one bigint, or two ints:
class and key) and either scope (the session's, or the transaction's): `take` waits at most
its deadline and then raises LockTimeout naming the session that holds it (pid, application
name, since when), so no command ever waits forever on another.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NamedTuple

import psycopg

from nself.config import Database, Environment
from nself.errors import LockTimeout
from nself.pg import catalog, connection, scope

# The lock of every command that changes a database under the migrations' control (migrate
# up/down/fresh/repair, update, reset, seed): "nself" as a bigint.
MIGRATE_KEY = 0x6E73656C66
DEFAULT_TIMEOUT = 60.0
# nself's own IF NOT EXISTS chatter is not the user's business
OWN_NOTICES = ("schema \"nself\" already exists", "relation \"meta\"", "relation \"migrations\"",
               "relation \"migration_progress\"")


class Lock:
    """One advisory lock: `Lock("migrate", key)` (one bigint) or `Lock("shadow", cls, key)`
    (two ints); `transaction=True` for one the transaction holds (taken inside it, released
    by its end). `what` names it in the timeout message, `advice` ends that message."""

    def __init__(self, what: str, *keys: int, transaction: bool = False,
                 advice: str = "Wait for it to finish, or raise --lock-timeout."):
        if len(keys) not in (1, 2):
            raise ValueError("an advisory lock has one key or two")
        self.what = what
        self.advice = advice
        self.keys = keys
        self.transaction = transaction
        scope = "_xact" if transaction else ""
        args = ", ".join(["%s"] * len(keys))
        self.try_sql = f"SELECT pg_try_advisory{scope}_lock({args})"
        self.unlock_sql = f"SELECT pg_advisory_unlock({args})"

    def try_take(self, conn: psycopg.Connection) -> bool:
        """Take the lock if it is free; never waits."""
        return bool(conn.execute(self.try_sql, self.keys).fetchone()[0])

    def take(self, conn: psycopg.Connection, timeout: float) -> None:
        """Take the lock, waiting at most `timeout` seconds; then LockTimeout naming the
        session that holds it."""
        deadline = time.monotonic() + max(timeout, 0)
        delay = 0.05
        while not self.try_take(conn):
            if time.monotonic() >= deadline:
                raise LockTimeout(f"Could not take the {self.what} lock within {timeout:g} s: "
                                  f"{self.holder(conn)}. {self.advice}")
            time.sleep(min(delay, max(deadline - time.monotonic(), 0.01)))
            delay = min(delay * 2, 0.5)

    def release(self, conn: psycopg.Connection) -> None:
        """Free a session-scope lock this session holds (a transaction's ends with it)."""
        if self.transaction:
            return
        try:
            conn.execute(self.unlock_sql, self.keys)
        except psycopg.Error:
            pass  # the session is gone, and its lock with it

    @contextmanager
    def held(self, conn: psycopg.Connection, timeout: float) -> Iterator[None]:
        """The lock for the block (see `take`)."""
        self.take(conn, timeout)
        try:
            yield
        finally:
            self.release(conn)

    def holder(self, conn: psycopg.Connection) -> str:
        """Who holds the lock, in words."""
        if len(self.keys) == 1:
            key = self.keys[0]
            place = ((key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF, 1)
        else:
            place = (self.keys[0] & 0xFFFFFFFF, self.keys[1] & 0xFFFFFFFF, 2)
        found = catalog.advisory_holder(conn, *place)
        if found is None:
            return "held by another session"
        pid, application, connected, in_transaction = found
        since = in_transaction if self.transaction and in_transaction else connected
        return (f"held by pid {pid} ({application or 'no application name'}) "
                f"since {since:%Y-%m-%d %H:%M:%S}")


MIGRATE = Lock("migrate", MIGRATE_KEY)
# the class of a tenant's migrate lock (the fleet's schema targets): "nsT" as an int
TENANT_CLASS = 0x6E7354


def migrate_lock() -> Lock:
    """The migrate lock of the run's scope (`nself.pg.scope`): the database's, or a tenant
    schema's own, so that the tenants of one database migrate side by side."""
    own = scope.current().own
    if own == scope.OWN:
        return MIGRATE
    return Lock("migrate", TENANT_CLASS, zlib.crc32(own.encode()) & 0x7FFFFFFF)


class Notices:
    """Shows server notices as they arrive; remembers a failure to show them (psycopg
    ignores exceptions raised in notice handlers) so `raise_failure` can raise it at a safe
    point (between migrations, between seed files)."""

    def __init__(self, show: Callable[[str], None]):
        self.show = show
        self.failure: BaseException | None = None

    def __call__(self, diag) -> None:
        message = diag.message_primary or ""
        if message.startswith(OWN_NOTICES) or self.failure is not None:
            return
        try:
            self.show(f"{diag.severity}: {message}")
        except Exception as exc:  # the output is gone; the work in progress must finish
            self.failure = exc

    def raise_failure(self) -> None:
        if self.failure is not None:
            failure, self.failure = self.failure, None
            raise failure


class Session(NamedTuple):
    """What `connect` yields: the database reached, its connection, its notices (None when
    the caller asked for none)."""

    db: Database
    conn: psycopg.Connection
    notices: Notices | None


@contextmanager
def connect(env: Environment, notice: Callable[[str], None] | None = None,
            lock: Lock | None = None, timeout: float = DEFAULT_TIMEOUT) -> Iterator[Session]:
    """An autocommit connection to the configured database for the block; `notice` is given
    each server notice as it arrives (None: they are not shown); `lock`, a session-scope
    lock, is held for the block once taken within `timeout` seconds. Its sessions start
    with the configured DATABASE_SEARCH_PATH (the database's `options`)."""
    db = connection.target(env).with_search_path(env.search_path)
    with connection.connect(db) as conn:
        if conn.info.server_version >= 140000:
            # Let the server notice a vanished client (kill -9) during a long statement.
            conn.execute("SET client_connection_check_interval = 1000")
        notices = None
        if notice is not None:
            notices = Notices(notice)
            conn.add_notice_handler(notices)
        if lock is None:
            yield Session(db, conn, notices)
        else:
            with lock.held(conn, timeout):
                yield Session(db, conn, notices)
        if notices is not None:
            notices.raise_failure()
