"""Migrations under pressure: no-transaction files, locks, notices, signals, kill -9, races."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import applied

from nself.pg.session import MIGRATE_KEY as LOCK_KEY

FAST_LOCKS = {"NSELF_LOCK_TIMEOUT_MS": "100", "NSELF_LOCK_RETRIES": "1",
              "NSELF_LOCK_RETRY_BACKOFF_MS": "10"}
# A migration the test blocks on a lock it holds waits until the test acts (signal, kill,
# unlock), however long a loaded machine takes to get there: under the default 5 s
# lock_timeout the wait could run out first and turn into a retry (a flaky test).
UNTIL_RELEASED = {"NSELF_LOCK_TIMEOUT_MS": "0"}


def spawn(project, *argv: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "nself", *argv], cwd=project.root,
                            env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(predicate, what: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def waiting_backend(db) -> int | None:
    return db.scalar("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                     "AND application_name = 'nself' AND wait_event_type = 'Lock'")


def no_nself_backend(db) -> bool:
    return not db.scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                         "current_database() AND application_name = 'nself'")


# no-transaction ---------------------------------------------------------------------------


def test_no_transaction_directive_runs_create_index_concurrently(project):
    """`-- nself:no-transaction` runs CREATE INDEX CONCURRENTLY, and DROP … CONCURRENTLY down."""
    project.migration("001_t.sql", "CREATE TABLE t (id int);", "DROP TABLE t;")
    project.migration("002_idx.sql", "CREATE INDEX CONCURRENTLY idx_t_id ON t (id);",
                      "DROP INDEX CONCURRENTLY idx_t_id;", header="-- nself:no-transaction\n")
    result = project.run("db", "migrate", "up")
    assert result.code == 0, result
    assert project.db.scalar("SELECT indisvalid FROM pg_index WHERE indexrelid = "
                             "'idx_t_id'::regclass") is True
    assert project.db.scalar("SELECT no_transaction FROM nself.migrations WHERE version = 2")
    assert project.run("db", "migrate", "down", "--no-backup").code == 0
    assert project.db.scalar("SELECT to_regclass('idx_t_id')") is None


def test_non_transactional_statement_without_directive_is_refused_first(project):
    """A file mixing CREATE INDEX CONCURRENTLY with other statements, without the directive, is
    refused before anything runs (even earlier pending files), naming the line and the directive."""
    project.migration("001_t.sql", "CREATE TABLE t (id int);", "DROP TABLE t;")
    project.migration("002_mix.sql", "ALTER TABLE t ADD COLUMN x int;\n"
                      "CREATE INDEX CONCURRENTLY idx_x ON t (x);", "")
    result = project.run("db", "migrate", "up")
    assert result.code == 2, result
    assert "002_mix.sql:4: CREATE INDEX CONCURRENTLY cannot run inside a transaction" in result.err
    assert "-- nself:no-transaction" in result.err
    assert project.db.tables() == []


def test_failed_concurrent_index_reports_progress_and_invalid_index(project):
    """A no-transaction file failing part-way says which statements ran, names the INVALID index
    left by CREATE UNIQUE INDEX CONCURRENTLY and how to drop it; after a fix `up` resumes there."""
    project.migration("001_dupes.sql", """
        CREATE TABLE t (id int);
        INSERT INTO t VALUES (1), (1);
        CREATE UNIQUE INDEX CONCURRENTLY idx_t_unique ON t (id);
        CREATE INDEX CONCURRENTLY idx_t_other ON t (id);
    """, "DROP TABLE t;", header="-- nself:no-transaction\n")
    result = project.run("db", "migrate", "up")
    assert result.code == 1, result
    err = result.err
    assert "001_dupes.sql line 6 (statement 3 of 4" in err
    assert "Statements 1-2 of 4 ran and stay applied (lines 4, 5)" in err
    assert 'INVALID index "public"."idx_t_unique"' in err
    assert 'DROP INDEX CONCURRENTLY IF EXISTS "public"."idx_t_unique"' in err
    assert project.db.query("SELECT statements_done, failed_line FROM "
                            "nself.migration_progress") == [(2, 6)]
    project.db.query('DROP INDEX CONCURRENTLY "public"."idx_t_unique"')
    project.db.query("DELETE FROM t WHERE ctid <> (SELECT min(ctid) FROM t)")
    again = project.run("db", "migrate", "up")
    assert again.code == 0, again
    assert "resuming at statement 3 of 4" in again.out
    assert project.db.scalar("SELECT count(*) FROM t") == 1
    assert project.db.scalar("SELECT count(*) FROM nself.migration_progress") == 0


def test_resume_refused_when_ran_statements_changed(project):
    """If statements that already ran were edited since, `up` refuses to guess and names repair."""
    path = project.migration("001_nt.sql", "CREATE TABLE t (id int);\nSELECT 1/0;", "",
                             header="-- nself:no-transaction\n")
    assert project.run("db", "migrate", "up").code == 1
    path.write_text(path.read_text().replace("CREATE TABLE t (id int);",
                                             "CREATE TABLE t (id bigint);"))
    result = project.run("db", "migrate", "up")
    assert result.code == 6 and "--mark-pending 001" in result.err


# locks ------------------------------------------------------------------------------------


def test_advisory_lock_timeout_names_holder(project):
    """While another session holds the migrate lock, `up --lock-timeout` gives up with exit 5,
    naming the holder's pid and application name."""
    project.migration("001_a.sql", "CREATE TABLE a (id int);", "")
    with project.db.connect(application_name="other-deploy") as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        pid = holder.info.backend_pid
        result = project.run("db", "migrate", "up", "--lock-timeout", "0.3")
    assert result.code == 5, result
    assert f"pid {pid}" in result.err and "other-deploy" in result.err
    assert project.db.tables() == []


def test_statement_lock_timeout_retries_then_names_blocker(project, monkeypatch):
    """A migration blocked by a long transaction fails fast (lock_timeout), is retried, and the
    final error names the blocking session (pid, state, query start); nothing is applied."""
    project.migration("001_t.sql", "CREATE TABLE t (id int);", "DROP TABLE t;")
    assert project.run("db", "migrate", "up").code == 0
    project.migration("002_alter.sql", "ALTER TABLE t ADD COLUMN x int;", "")
    for key, value in FAST_LOCKS.items():
        monkeypatch.setenv(key, value)
    with project.db.connect(application_name="long-report") as blocker:
        blocker.execute("BEGIN")
        blocker.execute("SELECT * FROM t")
        pid = blocker.info.backend_pid
        result = project.run("db", "migrate", "up")
        blocker.execute("ROLLBACK")
    assert result.code == 1, result
    assert "retrying the whole migration" in result.err
    assert "Gave up after 2 attempts" in result.err and f"pid {pid}" in result.err
    assert "long-report" in result.err and "idle in transaction" in result.err
    assert "query started" in result.err
    assert applied(project.db) == ["001"]
    assert project.run("db", "migrate", "up").code == 0


def test_lock_retry_succeeds_when_blocker_leaves(project, monkeypatch):
    """A lock timeout followed by the blocker finishing is retried to success."""
    project.migration("001_t.sql", "CREATE TABLE t (id int);", "DROP TABLE t;")
    assert project.run("db", "migrate", "up").code == 0
    project.migration("002_alter.sql", "ALTER TABLE t ADD COLUMN x int;", "")
    env = {"NSELF_LOCK_TIMEOUT_MS": "200", "NSELF_LOCK_RETRIES": "20",
           "NSELF_LOCK_RETRY_BACKOFF_MS": "50"}
    with project.db.connect() as blocker:
        blocker.execute("BEGIN")
        blocker.execute("SELECT * FROM t")
        child = spawn(project, "db", "migrate", "up", env=env)
        wait_for(lambda: waiting_backend(project.db), "the migration to wait on its lock")
        blocker.execute("ROLLBACK")
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    assert applied(project.db) == ["001", "002"]


# notices, signals, kill -9 -----------------------------------------------------------------


def test_notices_reach_the_user_while_the_migration_runs(project):
    """RAISE NOTICE lines are printed as they happen: the first one is on stdout while the
    migration is still blocked (on an advisory lock the test holds)."""
    project.migration("001_batches.sql", """
        DO $$
        BEGIN
          RAISE NOTICE 'Processed % of % rows', 1, 2;
          PERFORM pg_advisory_xact_lock(4242);
          RAISE NOTICE 'Processed % of % rows', 2, 2;
        END $$;
    """, "")
    with project.db.connect() as holder:
        holder.execute("SELECT pg_advisory_lock(4242)")
        child = spawn(project, "db", "migrate", "up", env=UNTIL_RELEASED)
        first = child.stdout.readline()
        assert first.strip() == "NOTICE: Processed 1 of 2 rows"
        # the notice comes before the lock wait: wait for the wait, not for a moment
        wait_for(lambda: waiting_backend(project.db), "the migration to wait on 4242")
        assert child.poll() is None
        holder.execute("SELECT pg_advisory_unlock(4242)")
    rest, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    assert rest.splitlines()[0] == "NOTICE: Processed 2 of 2 rows"


def _blocked_run(project):
    """Start `up` on 001 (quick) and 002 (blocks on advisory lock 4242 held by the caller,
    with no lock_timeout: it stays blocked until the caller acts); returns once it waits."""
    project.migration("001_first.sql", "CREATE TABLE first (id int);", "DROP TABLE first;")
    project.migration("002_blocked.sql", """
        CREATE TABLE second (id int);
        SELECT pg_advisory_xact_lock(4242);
        INSERT INTO second VALUES (1);
    """, "DROP TABLE second;")
    child = spawn(project, "db", "migrate", "up", env=UNTIL_RELEASED)
    wait_for(lambda: waiting_backend(project.db), "002 to block")
    return child


def test_kill_9_mid_migration_then_resume(project):
    """kill -9 during a migration leaves the database as before it; the next `up` continues."""
    with project.db.connect() as holder:
        holder.execute("SELECT pg_advisory_lock(4242)")
        child = _blocked_run(project)
        child.kill()
        child.wait(timeout=30)
        holder.execute("SELECT pg_advisory_unlock(4242)")
    wait_for(lambda: no_nself_backend(project.db), "the killed client's backend to end")
    assert project.db.tables() == ["first"]
    assert applied(project.db) == ["001"]
    result = project.run("db", "migrate", "up")
    assert result.code == 0 and "002_blocked" in result.out
    assert project.db.scalar("SELECT count(*) FROM second") == 1


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_sigint_roll_back_the_running_migration(project, signum):
    """SIGTERM or SIGINT mid-migration cancels it, rolls it back, exits 130; `up` resumes later."""
    with project.db.connect() as holder:
        holder.execute("SELECT pg_advisory_lock(4242)")
        child = _blocked_run(project)
        child.send_signal(signum)
        out, err = child.communicate(timeout=30)
        holder.execute("SELECT pg_advisory_unlock(4242)")
    assert child.returncode == 130, (out, err)
    assert "Interrupted: 002_blocked. It was rolled back: nothing of it is applied." in err
    assert project.db.tables() == ["first"] and applied(project.db) == ["001"]
    assert project.run("db", "migrate", "up").code == 0
    assert applied(project.db) == ["001", "002"]


def test_eight_processes_apply_each_migration_exactly_once(project):
    """8 concurrent `up` runs on 50 migrations: every migration runs exactly once, all exit 0."""
    project.migration("000_log.sql", "CREATE TABLE log (version text);", "DROP TABLE log;")
    for i in range(1, 51):
        project.migration(f"{i:03d}_m.sql", f"INSERT INTO log VALUES ('{i:03d}');",
                          f"DELETE FROM log WHERE version = '{i:03d}';")
    children = [spawn(project, "db", "migrate", "up", "--lock-timeout", "120") for _ in range(8)]
    results = [(c.wait(timeout=180), c.stderr.read()) for c in children]
    for child in children:
        child.stdout.close()
        child.stderr.close()
    assert all(code == 0 for code, _ in results), results
    assert project.db.scalar("SELECT count(*) FROM log") == 50
    assert project.db.scalar("SELECT count(DISTINCT version) FROM log") == 50
    assert len(applied(project.db)) == 51
