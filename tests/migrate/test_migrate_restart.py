"""`migrate up` while the PostgreSQL server restarts under it (`pg_ctl stop -m immediate`, as
a crash would, then started again): the interrupted run ends with one line and exit 4, and
the next `up` completes with the schema and data of a clean run.

The server is the test's own: a throwaway embedded PostgreSQL 18 in a temp folder (the
session's server and the machine's are never stopped). Where a run is stopped is waited for,
not guessed: a statement waits on a lock or a snapshot the test holds, and the restart ends
the test's sessions too, so the next run does not wait."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import psycopg
import pytest
from conftest import Project, TestDatabase, _create, kill_when, migrated, start_nself

from nself import errors
from nself.pg import tools
from nself.pg.embedded import EmbeddedServer

pytestmark = pytest.mark.db  # a server of its own (no session fixture marks it)

ROWS = 20000
TX_WAIT = 4242   # advisory lock the transactional migration waits on, inside its transaction
NT_WAIT = 4343   # the same for a statement of the no-transaction migration
MIGRATIONS = {
    "001_table.sql": (f"CREATE TABLE big (id int, v text);\n"
                      f"INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, {ROWS}) g;",
                      ""),
    "002_reshape.sql": ("UPDATE big SET v = upper(v);\n"
                        f"SELECT pg_advisory_xact_lock({TX_WAIT});\n"
                        "ALTER TABLE big ADD COLUMN w int;\nUPDATE big SET w = id % 7;", ""),
    "003_indexes.sql": ("CREATE TABLE small (id int PRIMARY KEY);\n"
                        "CREATE INDEX CONCURRENTLY big_v ON big (v);\n"
                        f"INSERT INTO small SELECT generate_series(1, {ROWS});\n"
                        f"SELECT pg_advisory_lock({NT_WAIT}), pg_advisory_unlock({NT_WAIT});\n"
                        "CREATE UNIQUE INDEX CONCURRENTLY big_id ON big (id);\n",
                        "-- nself:no-transaction\n"),
    "004_tail.sql": ("CREATE TABLE tail AS SELECT w, count(*) AS n FROM big GROUP BY w;", ""),
}
# where each interrupted run is when the server stops, in the order `up` reaches them: 002
# inside its transaction (after an UPDATE of every row), 003's first index built and waiting
# for the test's snapshot (INVALID), 003 after its first three statements committed
# for a third time, with what the interrupted run must say
WAITS = [("lock", TX_WAIT, f"query LIKE '%pg_advisory_xact_lock({TX_WAIT})%' "
          "AND wait_event_type = 'Lock'",
          "002_reshape was not committed, so the server rolled it back. The migration applied "
          "before it in this run stays applied."),
         ("snapshot", None, "query LIKE '%INDEX CONCURRENTLY big_v %' "
          "AND wait_event = 'virtualxid'",
          "003_indexes stopped at statement 2 of 5; statements 1-1 ran and stay"),
         ("lock", NT_WAIT, f"query LIKE '%pg_advisory_lock({NT_WAIT})%' "
          "AND wait_event_type = 'Lock'",
          "003_indexes stopped at statement 4 of 5; statements 1-3 ran and stay")]
UP = ("db", "migrate", "up", "--no-backup")


def snapshot(db: TestDatabase) -> dict:
    """The schema and data facts two runs must agree on."""
    return migrated(db, data=db.query(
        "SELECT (SELECT count(*) FROM big), (SELECT sum(id) FROM big), "
        "(SELECT count(*) FROM big WHERE v = upper(v)), (SELECT sum(w) FROM big), "
        "(SELECT count(*) FROM small), (SELECT sum(n) FROM tail)"))


@pytest.fixture
def server():
    """A PostgreSQL 18 of this test's own, stopped and thrown away afterwards (outside
    pytest's temp folders: another pytest session starting may make those 0700 again, out of
    reach of the server's user when nself runs as root)."""
    state = Path(tempfile.mkdtemp(prefix="nself-restart-"))
    own = EmbeddedServer(state, throwaway=True)
    try:
        own.ensure_running()
        yield own
    finally:
        if own.running():
            stop_at_once(own)  # a checkpoint first would only cost time
        shutil.rmtree(state, ignore_errors=True)


def stop_at_once(server: EmbeddedServer) -> None:
    """Stop the server as a crash would: every session ended at once, no checkpoint (the
    next start recovers from the WAL)."""
    uid = os.stat(server.pgdata).st_uid if os.geteuid() == 0 else None  # its own user, as root
    tools.execute([str(server.bin_dir / "pg_ctl"), "-D", str(server.pgdata), "-w",
                   "-m", "immediate", "stop"], run_as=uid, cwd="/", timeout=60)


def restart(server: EmbeddedServer) -> None:
    stop_at_once(server)
    server.ensure_running()


def test_server_restart_during_up_then_up_completes_like_a_clean_run(server, tmp_path,
                                                                      monkeypatch, capsys):
    """The server stops (immediate mode) while `up` is inside a transactional migration,
    while a CREATE INDEX CONCURRENTLY is half built, and after statements of a no-transaction
    migration committed: each interrupted run says what it left in one line (exit 4, no
    traceback), and the next `up` ends where a clean run does (schema, index validity, rows,
    tracking)."""
    admin = server.connection_params("postgres")
    for name in ("restarted", "clean"):
        _create(admin, name)
    db = TestDatabase("own", {**admin, "dbname": "restarted"}, admin)
    clean = TestDatabase("own", {**admin, "dbname": "clean"}, admin)
    project = Project(tmp_path / "proj", db, capsys)
    for name, (up, header) in MIGRATIONS.items():
        project.migration(name, up, None, header=header)
    monkeypatch.chdir(project.root)
    monkeypatch.setenv("DATABASE_URL", clean.url)
    done = project.run(*UP)
    assert done.code == 0, done
    expected = snapshot(clean)
    monkeypatch.setenv("DATABASE_URL", db.url)

    for kind, key, condition, said in WAITS:
        holder = psycopg.connect(db.database.conninfo(), autocommit=kind == "lock")
        if kind == "lock":
            holder.execute("SELECT pg_advisory_lock(%s)", (key,))
        else:  # the index build waits for this snapshot to end: built, still INVALID
            holder.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            holder.execute("SELECT 1")
        proc = start_nself(project.root, *UP)
        out, err = kill_when(proc, db, condition, stop=lambda proc: restart(server))
        holder.close()
        where = f"server restarted at {condition}: exit {proc.returncode}, {out}{err}"
        assert proc.returncode == errors.UNREACHABLE, where
        assert "Traceback" not in err and err.count("\n") == 1, where
        assert err.startswith("Error: Lost the connection to ") and said in err, where

    final = project.run(*UP)
    assert final.code == 0, final
    assert "Traceback" not in final.err
    assert snapshot(db) == expected
