"""The one session (nself.pg.session): server notices as they arrive, and advisory locks with
a deadline whose timeout names the holder, for every command that takes one (migrate, seed,
mock, the shadow databases)."""

from __future__ import annotations

import os

import pytest

from nself.config import Environment
from nself.errors import LockTimeout
from nself.pg import session
from nself.schema import shadow


def assert_names_holder(message: str, pid: int, application: str) -> None:
    assert f"pid {pid}" in message, message
    assert f"({application})" in message and " since " in message, message


# the locks' users, through the command line ------------------------------------------------


@pytest.mark.parametrize("words", [("db", "migrate", "up"), ("db", "seed")])
def test_migrate_and_seed_wait_at_most_their_deadline_for_the_migrate_lock(project, words):
    """Seeds take the migrate lock through the same session as migrate: another session
    holding it makes either give up after --lock-timeout, exit 5, naming the holder."""
    project.migration("001_t.sql", "CREATE TABLE t (id int);", "DROP TABLE t;")
    project.write("seeds/common/01_t.sql", "INSERT INTO t VALUES (1);")
    assert project.run("db", "migrate", "up").code == 0
    project.migration("002_u.sql", "CREATE TABLE u (id int);", "DROP TABLE u;")
    with project.db.connect(application_name="other-deploy") as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (session.MIGRATE_KEY,))
        pid = holder.info.backend_pid
        result = project.run(*words, "--lock-timeout", "0.2")
    assert result.code == 5, result
    assert "Could not take the migrate lock within 0.2 s" in result.err
    assert_names_holder(result.err, pid, "other-deploy")
    assert project.db.tables() == ["t"]
    assert project.db.scalar("SELECT count(*) FROM t") == 0


def test_mock_waits_at_most_its_deadline_for_another_mock(project):
    """A mock run waits for another one (it counts on from that run's counters), but no
    longer than --lock-timeout: then exit 5 naming the run that holds it, nothing inserted.
    The lock is the one earlier versions took, so they and this one still exclude each
    other."""
    project.migration("001_t.sql", "CREATE TABLE t (id int PRIMARY KEY, name text);", "")
    assert project.run("db", "migrate", "up").code == 0
    with project.db.connect(application_name="other-mock") as holder, holder.transaction():
        holder.execute("SELECT pg_advisory_xact_lock(hashtext('nself db mock'))")
        pid = holder.info.backend_pid
        result = project.run("db", "mock", "--count", "5", "--lock-timeout", "0.2")
    assert result.code == 5, result
    assert "Could not take the mock lock within 0.2 s" in result.err
    assert_names_holder(result.err, pid, "other-mock")
    assert project.db.scalar("SELECT count(*) FROM t") == 0
    done = project.run("db", "mock", "--count", "5", "--lock-timeout", "0.2")
    assert done.code == 0, done
    assert project.db.scalar("SELECT count(*) FROM t") == 5


def test_mock_lock_timeout_is_a_flag_with_help(project):
    helped = project.run("db", "mock", "--help")
    assert helped.code == 0, helped
    assert "--lock-timeout" in helped.out and "another mock run" in helped.out
    bad = project.run("db", "mock", "--lock-timeout", "soon")
    assert bad.code == 2 and "--lock-timeout" in bad.err, bad


def test_shadow_waits_at_most_its_deadline_for_its_lock(project, monkeypatch):
    """A new shadow's lock (two keys: class, key) is taken with a short deadline: a session
    holding it (a run whose shadow's name has the same key) is named, and nothing is
    created; leftovers of killed runs are still dropped."""
    monkeypatch.setattr(shadow, "LOCK_TIMEOUT", 0.2)
    monkeypatch.setattr(shadow.secrets, "token_hex", lambda n: "cafe0001")
    env = Environment.load()
    oid = project.db.scalar("SELECT oid FROM pg_database WHERE datname = current_database()")
    name = f"{shadow.PREFIX}{oid}_{os.getpid()}_cafe0001"
    lock = shadow._lock(name)
    with project.db.connect(application_name="other-import") as holder:
        holder.execute("SELECT pg_advisory_lock(%s, %s)", lock.keys)
        pid = holder.info.backend_pid
        with shadow.shadows(env, print) as manager, pytest.raises(LockTimeout) as raised:
            manager.create()
    assert "Could not take the shadow database lock within 0.2 s" in str(raised.value)
    assert_names_holder(str(raised.value), pid, "other-import")
    assert project.db.scalar("SELECT count(*) FROM pg_database WHERE datname = %s",
                             (name,)) == 0
    with shadow.shadows(env, print) as manager:  # the lock is free again: it works
        assert manager.create().name == name


# the primitive ------------------------------------------------------------------------------


def test_two_key_and_transaction_locks_name_their_holder(project):
    """Both key forms and both scopes: taken when free, refused while another session holds
    them, with the holder named; a session lock is free again once released, a
    transaction's once the transaction ends."""
    env = Environment.load()
    two = session.Lock("test", 7, -8)
    one = session.Lock("test", -2**40 - 5, transaction=True)
    with session.connect(env) as (_, conn, notices), \
            project.db.connect(application_name="holder-app") as holder:
        assert notices is None
        holder.execute("SELECT pg_advisory_lock(7, -8)")
        pid = holder.info.backend_pid
        with pytest.raises(LockTimeout) as raised:
            two.take(conn, 0)
        assert_names_holder(str(raised.value), pid, "holder-app")
        assert "raise --lock-timeout" in str(raised.value)
        holder.execute("SELECT pg_advisory_unlock(7, -8)")
        with two.held(conn, 0):
            assert not holder.execute("SELECT pg_try_advisory_lock(7, -8)").fetchone()[0]
        assert holder.execute("SELECT pg_try_advisory_lock(7, -8)").fetchone()[0]

        with holder.transaction():
            holder.execute("SELECT pg_advisory_xact_lock(%s)", one.keys)
            with conn.transaction(), pytest.raises(LockTimeout) as raised:
                one.take(conn, 0)
            assert_names_holder(str(raised.value), pid, "holder-app")
        with conn.transaction():
            one.take(conn, 0)
            assert not holder.execute("SELECT pg_try_advisory_lock(%s)",
                                      one.keys).fetchone()[0]
        assert holder.execute("SELECT pg_try_advisory_lock(%s)", one.keys).fetchone()[0]


def test_session_lock_is_held_for_the_block_and_freed_after(project):
    env = Environment.load()
    with project.db.connect() as other:
        with session.connect(env, lock=session.MIGRATE, timeout=0):
            assert not other.execute("SELECT pg_try_advisory_lock(%s)",
                                     (session.MIGRATE_KEY,)).fetchone()[0]
        assert other.execute("SELECT pg_try_advisory_lock(%s)",
                             (session.MIGRATE_KEY,)).fetchone()[0]


# notices ------------------------------------------------------------------------------------

# waits on an advisory lock the test holds: it ends only if the notice before it reached the
# test (which then frees the lock) while the statement still ran
WAITS_FOR_ITS_NOTICE = """
DO $$ BEGIN
  RAISE NOTICE 'waiting for key 4343';
  PERFORM pg_advisory_lock(4343);
  RAISE NOTICE 'got it';
  PERFORM pg_advisory_unlock(4343);
END $$
"""


def test_notices_arrive_while_the_statement_runs(project):
    env = Environment.load()
    seen: list[str] = []
    with project.db.connect() as holder:
        holder.execute("SELECT pg_advisory_lock(4343)")

        def show(text: str) -> None:
            seen.append(text)
            if text.endswith("waiting for key 4343"):
                holder.execute("SELECT pg_advisory_unlock(4343)")

        with session.connect(env, show) as held:
            held.conn.execute("SET lock_timeout = '60s'")  # a broken delivery fails, no hang
            held.conn.execute(WAITS_FOR_ITS_NOTICE)
    assert seen == ["NOTICE: waiting for key 4343", "NOTICE: got it"]


def test_a_failure_to_show_a_notice_is_raised_after_the_work(project):
    """psycopg swallows what a notice handler raises: the session keeps it and raises it
    once the block's work is done (a closed pipe stops the run between steps)."""
    env = Environment.load()

    def broken(text: str) -> None:
        raise BrokenPipeError("output gone")

    finished = []
    with pytest.raises(BrokenPipeError), session.connect(env, broken) as held:
        held.conn.execute("DO $$ BEGIN RAISE NOTICE 'one'; END $$")
        finished.append(True)
    assert finished == [True]
