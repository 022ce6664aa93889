"""Randomized kill -9 of `nself db update` (backup, transactional and no-transaction parts,
verification): after every kill, running `db update` again finishes the job and ends with the
schema and data of an uninterrupted run. 3 trials by default (the deterministic kill is in
test_update.py), 50 with --slow."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

from nself.pg.wipe import wipe

MIGRATIONS = {
    "001_table.sql": ("CREATE TABLE t (id int, v text);\n"
                      "INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 5000) g;",
                      "DROP TABLE t;", ""),
    "002_reindex.sql": ("CREATE INDEX CONCURRENTLY t_v ON t (v);\n"
                        "SELECT pg_sleep(0.8);\n"
                        "CREATE TABLE u (id int PRIMARY KEY);\n"
                        "INSERT INTO u SELECT generate_series(1, 1000);\n"
                        "CREATE UNIQUE INDEX CONCURRENTLY t_id ON t (id);\n",
                        "", "-- nself:no-transaction\n"),
    "003_column.sql": ("ALTER TABLE t ADD COLUMN w int;\nUPDATE t SET w = id % 7;\n"
                       "SELECT pg_sleep(0.2);", "ALTER TABLE t DROP COLUMN w;", ""),
}


def snapshot(db) -> dict:
    return {
        "columns": db.query("SELECT table_name, column_name, data_type FROM "
                            "information_schema.columns WHERE table_schema = 'public' "
                            "ORDER BY 1, 2"),
        "indexes": db.query("SELECT c.relname, i.indisvalid FROM pg_index i "
                            "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n "
                            "ON n.oid = c.relnamespace WHERE n.nspname = 'public' ORDER BY 1"),
        "data": db.query("SELECT (SELECT count(*) FROM t), (SELECT sum(w) FROM t), "
                         "(SELECT count(*) FROM u)"),
        "applied": db.query("SELECT label FROM nself.migrations ORDER BY 1"),
        "progress": db.query("SELECT count(*) FROM nself.migration_progress"),
    }


def run(project, *argv, env=None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "nself", "db", *argv], cwd=project.root,
                            env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def first_applied(project, env=None) -> None:
    """001 applied by a migrate run, so a fingerprint is recorded (drift is checked)."""
    proc = run(project, "migrate", "up", "--to", "1", env=env)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err


def test_kill_9_anywhere_then_update_completes_like_a_clean_run(project, request):
    """kill -9 at random moments of `db update`; the next `db update` always completes and
    ends with the schema and data of an uninterrupted update."""
    for name, (up, down, header) in MIGRATIONS.items():
        project.migration(name, up, down, header=header)
    clean_db = project.db.create_sibling()
    other = {"DATABASE_URL": clean_db.url}
    first_applied(project, other)
    began = time.monotonic()
    clean = run(project, "update", env=other)
    _, err = clean.communicate(timeout=300)
    assert clean.returncode == 0, err
    span = time.monotonic() - began
    expected = snapshot(clean_db)
    rng = random.Random(int(os.environ.get("NSELF_TEST_SEED", time.time())))
    trials = 50 if request.config.getoption("--slow") else 3
    for trial in range(trials):
        with project.db.connect() as conn:
            wipe(conn)
        first_applied(project)
        for _ in range(rng.randint(1, 2)):
            proc = run(project, "update")
            time.sleep(rng.uniform(0.1, span))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=300)
        final = run(project, "update")
        out, err = final.communicate(timeout=300)
        assert final.returncode == 0, f"trial {trial}: {out}{err}"
        assert "Traceback" not in err
        assert snapshot(project.db) == expected, f"trial {trial}"
