"""kill -9 of `nself db migrate down` in a transactional DOWN and in a no-transaction one:
each run takes over from the killed one, the last completes with the state of an
uninterrupted `down`, and `up` then brings back the state of an uninterrupted `up`. By
default one kill at each point (the state is waited for); --slow adds 50 trials at random
moments (conftest's kill_anywhere)."""

from __future__ import annotations

from conftest import Held, TestDatabase, applied, kill_anywhere, migrated, table_fingerprint

ROWS = 20000
# (UP, DOWN, header) of each migration
MIGRATIONS = {
    "001_tables.sql": (
        "CREATE TABLE big (id int, v text);\nCREATE TABLE small (id int, v text);\n"
        f"INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, {ROWS}) g;\n"
        "INSERT INTO small SELECT id, v FROM big;",
        "DROP TABLE small;\nDROP TABLE big;", ""),
    "002_index.sql": (
        "ALTER TABLE small ADD COLUMN w int;\nUPDATE small SET w = id % 7;\n"
        "CREATE INDEX CONCURRENTLY big_v ON big (v);",
        "DROP INDEX CONCURRENTLY big_v;\nUPDATE small SET v = v || ':' || w;\n"
        "ALTER TABLE small DROP COLUMN w;",
        "-- nself:no-transaction\n"),
    "003_upper.sql": (
        "UPDATE big SET v = upper(v);\n"
        "CREATE TABLE tail AS SELECT w, count(*) AS n FROM small GROUP BY w;",
        "UPDATE big SET v = lower(v);\nDROP TABLE tail;", ""),
}
DOWN = ("db", "migrate", "down", "--to", "1", "--no-backup")
UP = ("db", "migrate", "up", "--no-backup")
MIDDLE = f"SELECT id FROM small WHERE id = {ROWS // 2} FOR UPDATE"  # the UPDATE waits there

# in the order `down` reaches them: 003's DOWN inside its transaction (every row updated,
# DROP TABLE waiting for the test's lock), 002's DOWN with DROP INDEX CONCURRENTLY part-way
# (the index marked INVALID, waiting for the test's transaction on the table), 002's DOWN
# half-way through its UPDATE (after both indexes went; waiting for the test's row lock)
KILL_POINTS = [
    Held("LOCK TABLE tail IN ACCESS SHARE MODE",
         "query LIKE '%DROP TABLE tail%' AND wait_event_type = 'Lock'",
         "003's DOWN waiting inside its transaction"),
    Held("SELECT count(*) FROM big",
         "query LIKE 'DROP INDEX CONCURRENTLY big_v%' AND wait_event_type = 'Lock'",
         "DROP INDEX CONCURRENTLY big_v part-way",
         left="SELECT NOT indisvalid FROM pg_index WHERE indexrelid = to_regclass('big_v')"),
    Held(MIDDLE, "query LIKE '%UPDATE small SET v%' AND wait_event_type = 'Lock'",
         "002's DOWN updating half of its rows",
         left="SELECT NOT EXISTS (SELECT FROM small WHERE v LIKE '%:%')"),
]


def snapshot(db) -> dict:
    """The schema and data facts two runs must agree on."""
    return migrated(db, data=[table_fingerprint(db, table) for table in ("big", "small")])


def test_kill_9_during_down_then_down_and_up_end_like_clean_runs(project, request,
                                                                 monkeypatch):
    """kill -9 of `down --to 1` inside a transactional DOWN (rolled back: the migration stays
    applied), during a DROP INDEX CONCURRENTLY of a no-transaction DOWN (the index left
    INVALID) and half-way through its UPDATE: the next `down` resumes (nothing done twice,
    nothing skipped: every row as an uninterrupted `down` leaves it) and ends as that `down`
    does; `up` then ends as an uninterrupted `up`."""
    for name, (up, down, header) in MIGRATIONS.items():
        project.migration(name, up, down, header=header)

    def prepare(env: dict[str, str]) -> None:
        """Every migration applied (in this process: only the `down`s are killed)."""
        with monkeypatch.context() as settings:
            for name, value in env.items():
                settings.setenv(name, value)
            done = project.run(*UP)
        assert done.code == 0, done

    kill_anywhere(project, DOWN, snapshot, KILL_POINTS, request, prepare)
    db = project.db
    clean = TestDatabase(db.backend, {**db.params, "dbname": f"{db.name}_b"}, db.admin)
    # kill_anywhere's clean run went there: compared already, compared again after `up`
    assert applied(db) == ["001"]
    prepare({})
    prepare({"DATABASE_URL": clean.url})
    assert snapshot(db) == snapshot(clean)
