"""Randomized kill -9 of `nself db migrate up` over no-transaction migrations (CREATE INDEX
CONCURRENTLY, large INSERTs, VACUUM, DROP INDEX CONCURRENTLY): after every kill the next `up`
completes, and the schema and data equal a clean run's. 5 trials by default, 50 with --slow."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

from nself.pg.wipe import wipe

ROWS = 60000
MIGRATIONS = {
    "001_table.sql": ("CREATE TABLE big (id int, v text);", "DROP TABLE big;", ""),
    "002_fill_and_index.sql": (
        f"INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, {ROWS}) g;\n"
        "CREATE INDEX CONCURRENTLY big_v ON big (v);\n"
        f"INSERT INTO big SELECT g, md5(g::text) FROM generate_series({ROWS + 1}, {2 * ROWS}) g;\n"
        "CREATE UNIQUE INDEX CONCURRENTLY big_id ON big (id);\n"
        "CREATE TABLE small (id int PRIMARY KEY);\n",
        "", "-- nself:no-transaction\n"),
    "003_column.sql": ("ALTER TABLE big ADD COLUMN w int;\nUPDATE big SET w = id % 7;",
                       "ALTER TABLE big DROP COLUMN w;", ""),
    "004_reshape.sql": (
        "CREATE INDEX CONCURRENTLY big_w ON big (w);\n"
        "VACUUM big;\n"
        "DROP INDEX CONCURRENTLY big_v;\n"
        f"INSERT INTO small SELECT generate_series(1, {ROWS});\n"
        "CREATE INDEX CONCURRENTLY big_v_w ON big (v, w);\n",
        "", "-- nself:no-transaction\n"),
}


def snapshot(db) -> dict:
    """The schema and data facts two runs must agree on."""
    return {
        "columns": db.query("SELECT table_name, column_name, data_type FROM "
                            "information_schema.columns WHERE table_schema = 'public' "
                            "ORDER BY 1, 2"),
        "indexes": db.query("SELECT c.relname, pg_get_indexdef(c.oid), i.indisvalid "
                            "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                            "JOIN pg_namespace n ON n.oid = c.relnamespace "
                            "WHERE n.nspname = 'public' ORDER BY 1"),
        "data": db.query("SELECT (SELECT count(*) FROM big), (SELECT sum(id) FROM big), "
                         "(SELECT sum(w) FROM big), (SELECT count(*) FROM small)"),
        "applied": db.query("SELECT label FROM nself.migrations ORDER BY 1"),
        "progress": db.query("SELECT count(*) FROM nself.migration_progress"),
    }


def start(project, env=None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "nself", "db", "migrate", "up"],
                            cwd=project.root, env={**os.environ, **(env or {})},
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_kill_9_anywhere_then_up_completes_like_a_clean_run(project, request):
    """kill -9 at random moments of `up`; the next `up` always completes (no "already exists",
    no duplicate key) and ends with the schema and data of an uninterrupted run."""
    for name, (up, down, header) in MIGRATIONS.items():
        project.migration(name, up, down, header=header)
    clean_db = project.db.create_sibling()
    began = time.monotonic()
    clean = start(project, {"DATABASE_URL": clean_db.url})
    out, err = clean.communicate(timeout=300)
    assert clean.returncode == 0, err
    span = time.monotonic() - began
    expected = snapshot(clean_db)
    rng = random.Random(int(os.environ.get("NSELF_TEST_SEED", time.time())))
    trials = 50 if request.config.getoption("--slow") else 5
    for trial in range(trials):
        with project.db.connect() as conn:
            wipe(conn)
        kills = rng.randint(1, 3)
        for _ in range(kills):
            proc = start(project)
            time.sleep(rng.uniform(0.1, span))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=300)
        final = start(project)
        out, err = final.communicate(timeout=300)
        assert final.returncode == 0, f"trial {trial}: {err}"
        assert "Traceback" not in err
        assert snapshot(project.db) == expected, f"trial {trial}"
