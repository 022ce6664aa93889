"""Throwaway shadow databases: where the schema the migration files produce is found.

A shadow is `CREATE DATABASE nself_shadow_<home oid>_<pid>_<random> TEMPLATE template0` on the
configured server (same encoding and locale as the configured database), and it is always
dropped: on success, on error, on Ctrl-C or SIGTERM. A run killed with SIGKILL cannot drop
it, so every run first drops the leftovers of dead runs: while a shadow is in use its
creator holds a session advisory lock named after it (in the configured database), so a
shadow whose lock can be taken belongs to nobody.

When the role may not create databases (common on managed clouds), the shadow goes to the
embedded PostgreSQL if its major version is the server's, and that is said once; otherwise
the command fails with the way out (a role with CREATEDB).

`replay(env, shadow)` applies every migration file's UP into a shadow through the
migrations runner itself (same statement splitting, no-transaction handling and errors as
`migrate up`), so "the schema the migrations produce" is what `migrate up` would produce.

The kept replay (`Shadows.replayed`, used by `schema import`, issue 17): building the
migrations' schema and dropping it again was most of an import (a DROP DATABASE makes the
server checkpoint: seconds on a busy server), while a designer's next import replays the
same migrations. So the replayed shadow is kept between runs as `nself_kept_<home
oid>_<key>`, KEY a digest of everything the replay depends on (every migration file's name
and text, nself's replay code, the server's version and extensions, the search path, the
home's encoding and locale). It is only used under its lock, inside one transaction that
is rolled back (`Shadow.unchanged`), so it holds the replay and nothing else, also after a
kill (the server rolls back a dead session's transaction); its schema's digest is in its
comment and checked on every use (anything else is dropped and replayed again). At most one
is kept per home database: another key's, and those of home databases that are gone, are
dropped by the next run; `DROP DATABASE` of one is always safe (the next import replays).
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus

import nself
from nself.config import Database, Environment
from nself.errors import Interrupted, NselfError, OperationFailed
from nself.guard import Guard
from nself.migrations import engine, files, plan, runner
from nself.migrations.runner import Runner
from nself.pg import connection, layout
from nself.pg import session as pg_session
from nself.pg.embedded import EmbeddedServer
from nself.schema.introspect import introspect

PREFIX = "nself_shadow_"
KEPT = "nself_kept_"   # a replay kept between runs (see the module text)
# first key of the two-int advisory lock a shadow's creator holds ("ns")
LOCK_CLASS = 0x6E73
# seconds to wait for a new shadow's lock: its name is new, so only a run whose shadow's name
# has the same key holds it, and that run's shadow is not this one's to wait for
LOCK_TIMEOUT = 5.0


@dataclass
class Shadow:
    """One shadow database: where it is, and a connection to it (autocommit)."""

    db: Database
    conn: psycopg.Connection
    kept: bool = False   # a kept replay: changed only inside `unchanged`

    @property
    def name(self) -> str:
        return self.db.name

    @property
    def rolling_back(self) -> bool:
        """Inside the transaction of `unchanged` (a kept replay): what runs is undone."""
        return self.kept and self.conn.info.transaction_status != TransactionStatus.IDLE

    @contextmanager
    def unchanged(self) -> Iterator[None]:
        """A kept replay changes in the block only inside one transaction, rolled back at
        its end (the server rolls it back if this process dies); its connection's own
        transactions in the block are savepoints of it. `leave` ends it early."""
        if not self.kept:
            yield
            return
        self.conn.execute("BEGIN")
        try:
            yield
        finally:
            if not self.conn.closed and self.rolling_back:
                self.conn.execute("ROLLBACK")

    def leave(self) -> None:
        """Out of `unchanged` for good, back to the replay: the caller commits changes to
        it from now on, so it is dropped at the end like any shadow (and no longer the
        replay of its key)."""
        if self.kept:
            if self.rolling_back:
                self.conn.execute("ROLLBACK")
            self.kept = False
            self.conn.execute(sql.SQL("COMMENT ON DATABASE {} IS NULL").format(
                sql.Identifier(self.name)))


class Shadows:
    """Creates shadow databases on one server and drops them all when closed."""

    def __init__(self, env: Environment, say: Callable[[str], None]):
        self.env = env
        self.say = say
        self.stack = ExitStack()
        self.home_db: Database | None = None
        self.home: psycopg.Connection | None = None
        self.oid = 0
        self.made: list[Shadow] = []
        self.dropping: list[threading.Thread] = []   # released shadows being dropped

    def __enter__(self) -> Shadows:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def release(self, shadow: Shadow) -> None:
        """SHADOW is no longer needed: it is dropped in the background (a thread, on the home
        session), while the caller goes on; `close` waits for it, so nothing outlives the
        block. A run killed before the drop ends leaves a shadow whose lock is free: the next
        run drops it. (Each DROP DATABASE makes the server checkpoint: seconds on a busy
        server, issue 17.)"""
        shadow.conn.close()
        self.made.remove(shadow)
        thread = threading.Thread(target=self._drop_or_say, args=(shadow.name,),
                                  name=f"drop {shadow.name}", daemon=True)
        self.dropping.append(thread)
        thread.start()

    @contextmanager
    def scratch(self) -> Iterator[None]:
        """The shadows created in the block are released at its end (see `release`)."""
        first = len(self.made)
        try:
            yield
        finally:
            for shadow in self.made[first:]:
                self.release(shadow)

    def _drop_or_say(self, name: str) -> None:
        try:
            self._drop(name)
        except psycopg.Error as exc:
            self.say(f"! Could not drop the shadow database {name} "
                     f"({connection.describe_error(exc)}); the next run drops it.")

    def close(self) -> None:
        try:
            for thread in self.dropping:
                thread.join()
            self.dropping.clear()
            for shadow in reversed(self.made):
                shadow.conn.close()
                if shadow.kept:  # holds the replay and nothing else: the next run's
                    _lock(shadow.name).release(self.home)
                else:
                    self._drop_or_say(shadow.name)
        finally:
            self.made.clear()
            self.stack.close()

    def _open_home(self) -> None:
        """The connection that creates, locks and drops shadows: the configured database,
        or the embedded server's when the configured role may not create databases."""
        if self.home is not None:
            return
        db, home, _ = self.stack.enter_context(pg_session.connect(self.env))
        allowed = home.execute("SELECT rolcreatedb OR rolsuper FROM pg_roles "
                               "WHERE rolname = current_user").fetchone()
        if not (allowed and allowed[0]):
            major = connection.server_major(home)
            db, home = self._embedded_home(db, major)
        self.home_db, self.home = db, home
        self.oid = home.execute("SELECT oid FROM pg_database "
                                "WHERE datname = current_database()").fetchone()[0]
        self._clean_leftovers()

    def _embedded_home(self, db: Database, major: int) -> tuple[Database, psycopg.Connection]:
        server = EmbeddedServer.for_environment(self.env)
        try:
            embedded_major = server.major
        except NselfError:
            embedded_major = None
        if embedded_major != major:
            raise OperationFailed(
                f"The role of {db.display()} may not create databases, so there is no shadow "
                "database to replay the migrations into, and no embedded PostgreSQL "
                f"{major} to use instead: grant it CREATEDB (ALTER ROLE … CREATEDB).")
        server.ensure_running()
        self.say(f"Note: the role of {db.display()} may not create databases; using the "
                 f"embedded PostgreSQL {major} for the shadow database.")
        embedded = Database(params=server.connection_params("postgres"), embedded=True
                            ).with_search_path(self.env.search_path)
        home = self.stack.enter_context(connection.connect(embedded, create=False))
        return embedded, home

    def _clean_leftovers(self) -> None:
        """Drop the shadows of this database whose creator is gone (its lock is free)."""
        pattern = f"{PREFIX}{self.oid}\\_%"
        names = [r[0] for r in self.home.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", (pattern,))]
        for name in names:
            if _lock(name).try_take(self.home):  # else another run's, in use
                self._drop(name)

    # ------------------------------------------------------------------ the kept replay

    def replayed(self, key_of: Callable[[psycopg.Connection], str],
                 replay_into: Callable[[Shadow], None],
                 read: Callable[[Shadow], object]) -> tuple[Shadow, object]:
        """A shadow holding every migration's UP, and READ of it (its schema): the kept
        replay of KEY_OF(home) when there is one, unused and intact (its schema's digest
        is its comment); else a new shadow that REPLAY_INTO fills, kept for the next run
        when nobody else keeps this key. Use it inside its `unchanged`."""
        self._open_home()
        # README: kept replay; only local keeps one unless asked (a database left on a
        # shared staging or production server is not the designer's loop)
        if not self.env.get_bool("NSELF_KEEP_REPLAY", self.env.name == "local"):
            shadow = self.create()
            replay_into(shadow)
            return shadow, read(shadow)
        key = key_of(self.home)
        name = f"{KEPT}{self.oid}_{key}"
        self._drop_kept(keep=name)
        shadow = self._kept(name)
        if shadow is not None:
            found = read(shadow)
            comment = self.home.execute(
                "SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                "WHERE datname = %s", (name,)).fetchone()
            if comment and comment[0] == _digest(found):
                return shadow, found
            # changed since it was kept (or never finished): not the replay any more
            self.made.remove(shadow)
            shadow.conn.close()
            self._drop_or_say(name)
        shadow = self.create()
        replay_into(shadow)
        found = read(shadow)
        return self._keep(shadow, name, found), found

    def _kept(self, name: str) -> Shadow | None:
        """The kept replay NAME, locked and connected; None when there is none, another
        run uses it, or it is gone meanwhile (someone dropped it)."""
        if not self._exists(name) or not _lock(name).try_take(self.home):
            return None
        try:
            return self._connect(name, kept=True)
        except NselfError:
            _lock(name).release(self.home)
            return None

    def _keep(self, shadow: Shadow, name: str, found: object) -> Shadow:
        """SHADOW (just replayed) renamed NAME and kept, its schema's digest its comment;
        SHADOW itself when NAME is taken (another run keeps the same replay)."""
        lock = _lock(name)
        if self._exists(name) or not lock.try_take(self.home):
            return shadow
        shadow.conn.close()
        self.made.remove(shadow)
        try:
            self.home.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                sql.Identifier(shadow.name), sql.Identifier(name)))
        except psycopg.Error:  # e.g. a role that owns no database it creates: not kept
            lock.release(self.home)
            return self._connect(shadow.name)
        _lock(shadow.name).release(self.home)
        self.home.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(
            sql.Identifier(name), sql.Literal(_digest(found))))
        return self._connect(name, kept=True)

    def _exists(self, name: str) -> bool:
        return self.home.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                 (name,)).fetchone() is not None

    def _connect(self, name: str, kept: bool = False) -> Shadow:
        db = replace(self.home_db, params={**self.home_db.params, "dbname": name})
        shadow = Shadow(db, connection.connect(db, create=False), kept)
        self.made.append(shadow)
        return shadow

    def _drop_kept(self, keep: str) -> None:
        """Drop, in the background, this home's kept replays of other keys and the kept
        replays of home databases that are gone (nobody can use those); never one in use
        (its lock), never while anyone is connected (no FORCE)."""
        rows = self.home.execute(
            "SELECT d.datname FROM pg_database d WHERE d.datname LIKE %s AND d.datname <> %s "
            "AND (d.datname LIKE %s OR NOT EXISTS (SELECT 1 FROM pg_database h "
            "WHERE %s || h.oid || '_' = substring(d.datname from '^nself_kept_[0-9]+_')))",
            (f"{KEPT}%", keep, f"{KEPT}{self.oid}\\_%", KEPT)).fetchall()
        for (name,) in rows:
            if name.startswith(f"{KEPT}{self.oid}_") and not _lock(name).try_take(self.home):
                continue  # in use by another run
            thread = threading.Thread(target=self._drop_unused, args=(name,),
                                      name=f"drop {name}", daemon=True)
            self.dropping.append(thread)
            thread.start()

    def _drop_unused(self, name: str) -> None:
        try:
            with connection.connect(self.home_db, create=False) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(
                    sql.Identifier(name)))
        except (psycopg.Error, NselfError):
            pass  # someone is connected to it: a later run drops it
        finally:
            if name.startswith(f"{KEPT}{self.oid}_"):
                _lock(name).release(self.home)

    def create(self) -> Shadow:
        """A new empty shadow database, with an autocommit connection to it."""
        self._open_home()
        name = f"{PREFIX}{self.oid}_{os.getpid()}_{secrets.token_hex(4)}"
        lock = _lock(name)
        lock.take(self.home, LOCK_TIMEOUT)
        try:
            self._create(name)
        except BaseException:
            lock.release(self.home)
            raise
        try:
            return self._connect(name)
        except BaseException:
            self._drop(name)
            raise

    def _create(self, name: str) -> None:
        encoding, collate, ctype = self.home.execute(
            "SELECT pg_encoding_to_char(encoding), datcollate, datctype FROM pg_database "
            "WHERE datname = current_database()").fetchone()
        statement = sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING {} "
                            "LC_COLLATE {} LC_CTYPE {}").format(
            sql.Identifier(name), sql.Literal(encoding), sql.Literal(collate),
            sql.Literal(ctype))
        try:
            self.home.execute(statement)
        except psycopg.errors.InvalidParameterValue:
            # a locale template0 cannot take (ICU set-ups): the server's defaults will do
            self.home.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(
                sql.Identifier(name)))

    def _drop(self, name: str) -> None:
        """DROP the shadow (forcing its connections off where the server can), then free
        its lock (held by this session)."""
        force = " WITH (FORCE)" if self.home.info.server_version >= 130000 else ""
        try:
            self.home.execute(sql.SQL("DROP DATABASE IF EXISTS {}" + force).format(
                sql.Identifier(name)))
        finally:
            _lock(name).release(self.home)


def _digest(schema: object) -> str:
    """What a kept replay's comment holds: the digest of its schema as introspected."""
    return "nself replay " + hashlib.sha256(repr(schema).encode()).hexdigest()


# a no-transaction statement whose catalog result is the same inside a transaction without
# the word CONCURRENTLY (what it changes is how long it locks, not what it makes)
_CONCURRENTLY = re.compile(r"^((?:\s|--[^\n]*\n|/\*.*?\*/)*(?:CREATE\s+(?:UNIQUE\s+)?INDEX|"
                           r"DROP\s+INDEX)\s+)CONCURRENTLY\b", re.I | re.S)


def in_transaction(statement: str) -> str:
    """STATEMENT of a no-transaction part as it can be checked inside the transaction of a
    kept replay (`Shadow.unchanged`): CREATE/DROP INDEX CONCURRENTLY without CONCURRENTLY
    (the same index, or none, as the catalog shows); any other as written (ALTER TYPE ...
    ADD VALUE runs in a transaction; where what follows cannot, the check fails there and
    the caller checks again after `Shadow.leave`)."""
    return _CONCURRENTLY.sub(r"\1", statement, count=1)


def replay_key(env: Environment, home: psycopg.Connection) -> str:
    """The digest of everything a replay of ENV's migrations on HOME's server depends on:
    every migration file's name and text, nself's replay code, the server's version and
    available extensions, the search path, and the home database's encoding and locale."""
    digest = hashlib.sha256()
    for part in (nself.__version__, env.search_path or ""):
        digest.update(part.encode() + b"\0")
    for module in (engine, runner, plan, layout, files):
        digest.update(Path(module.__file__).read_bytes())
    digest.update(Path(__file__).read_bytes())
    row = home.execute(
        "SELECT current_setting('server_version_num'), pg_encoding_to_char(d.encoding), "
        "d.datcollate, d.datctype, (SELECT string_agg(name || ' ' || coalesce("
        "default_version, ''), ',' ORDER BY name) FROM pg_available_extensions) "
        "FROM pg_database d WHERE d.datname = current_database()").fetchone()
    digest.update(repr(row).encode())
    for migration in files.read_folder(env.migrations_dir, env.root):
        digest.update(f"{migration.filename}\0".encode())
        digest.update(migration.text.encode() + b"\0")
    return digest.hexdigest()[:16]


def _lock(name: str) -> pg_session.Lock:
    """The lock the creator of shadow NAME holds while it is in use (class, key)."""
    return pg_session.Lock("shadow database", LOCK_CLASS, zlib.crc32(name.encode()) & 0x7FFFFFFF,
                           advice="Another run's shadow database has the same key: run again.")


def shadows(env: Environment, say: Callable[[str], None]) -> Shadows:
    """Shadow databases for a `with` block; every one is dropped at its end (Ctrl-C and
    SIGTERM included: the task boundary turns SIGTERM into KeyboardInterrupt)."""
    return Shadows(env, say)


def replay(env: Environment, shadow: Shadow, versions: set[int] | None = None) -> int:
    """Apply every migration file's UP to SHADOW as `db update` would (the runner's own
    splitting, no-transaction handling and errors; consecutive transactional migrations in
    one transaction, commits not waiting for the disk: it is thrown away); returns how
    many. A migration that fails is an OperationFailed naming it. VERSIONS: only those
    (the ones a database has applied); a later call applies the rest, as `db update`'s
    pre-check and final check do on one shadow."""
    quiet = _discard
    # the shadow is a local scratch database whatever the current environment is: no
    # confirmation, no backup, nothing recorded about the real database
    local = replace(env, name="local")
    guard = Guard(local, yes=True, backup=False, say=quiet)
    shadow.conn.execute("SET synchronous_commit = off")
    runner = Runner(local, shadow.db, shadow.conn, guard, quiet, quiet)
    # a migration file nself cannot read or use fails here with its own exit code (2), as
    # it does in every command; only what the server refuses is the replay's failure
    pending = _pending(runner, versions)
    prepared = plan.prepare_up(pending)
    try:
        layout.ensure(shadow.conn)
        try:
            done = runner.apply_in_parts(pending, prepared, lambda state, seconds: None,
                                         lambda: None)
        except NselfError as exc:
            if "max_locks_per_transaction" not in str(exc):
                raise
            # too many objects for one transaction's locks (rolled back): one transaction
            # per migration, as `migrate up` does
            again = _pending(runner, versions)
            done = runner.apply(again, plan.prepare_up(again), None)
    except NselfError as exc:
        raise OperationFailed(f"Replaying the migrations into a shadow database failed: "
                              f"{exc}") from None
    except KeyboardInterrupt:  # the runner's message would speak of the real database
        raise Interrupted("Interrupted while replaying the migrations into a shadow "
                          "database (it is dropped).") from None
    return len(done)


def _pending(runner: Runner, versions: set[int] | None) -> list:
    pending = plan.plan_up(runner.states(), None, None)
    return pending if versions is None else [e for e in pending if e.version in versions]


def _discard(text: str) -> None:
    pass


def migrations_schema(env: Environment, say: Callable[[str], None] = _discard):
    """The schema every migration file produces, replayed into a shadow database."""
    with shadows(env, say) as manager:
        shadow = manager.create()
        replay(env, shadow)
        return introspect(shadow.conn)
