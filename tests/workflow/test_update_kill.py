"""Randomized kill -9 of `nself db update` (backup, transactional and no-transaction parts,
verification): after every kill, running `db update` again finishes the job and ends with the
schema and data of an uninterrupted run. By default one kill in each phase, in turn (the
state is waited for); --slow adds 50 trials at random moments."""

from __future__ import annotations

from conftest import half_built, kill_anywhere, runs_child, start_nself

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


def first_applied(project, env) -> None:
    """001 applied by a migrate run, so a fingerprint is recorded (drift is checked)."""
    proc = start_nself(project.root, "db", "migrate", "up", "--to", "1", env=env)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err


# every phase of an update, in its order: the safety backup, 002 (no transaction) with an
# index half built (INVALID) and nothing done, then with statements done and the second index
# half built, the verification inside 003's transaction (a shadow database of this one holds
# what the files produce: 003 is applied but not committed)
KILL_POINTS = [runs_child("pg_dump"),
               half_built("t_v"),
               half_built("t_id", after="query LIKE '%pg_sleep(0.8)%'"),
               "EXISTS (SELECT FROM pg_database WHERE datname LIKE 'nself\\_shadow\\_' || "
               "(SELECT oid FROM pg_database WHERE datname = current_database()) || '\\_%')"]


def test_kill_9_anywhere_then_update_completes_like_a_clean_run(project, request):
    """kill -9 of `db update` in each of its phases (at random moments with --slow); the
    next `db update` always completes and ends with the schema and data of an uninterrupted
    update."""
    for name, (up, down, header) in MIGRATIONS.items():
        project.migration(name, up, down, header=header)
    kill_anywhere(project, ("db", "update"), snapshot, KILL_POINTS, request,
                  prepare=lambda env: first_applied(project, env))
