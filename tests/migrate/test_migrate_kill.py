"""Randomized kill -9 of `nself db migrate up` over no-transaction migrations (CREATE INDEX
CONCURRENTLY, large INSERTs, VACUUM, DROP INDEX CONCURRENTLY): after every kill the next `up`
completes, and the schema and data equal a clean run's. By default one kill in each long
statement, in turn (the state is waited for); --slow adds 50 trials at random moments."""

from __future__ import annotations

from conftest import half_built, kill_anywhere, migrated

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
    return migrated(db, data=db.query(
        "SELECT (SELECT count(*) FROM big), (SELECT sum(id) FROM big), "
        "(SELECT sum(w) FROM big), (SELECT count(*) FROM small)"))


# in the order `up` runs them: an index half built (INVALID) in the middle of 002, rows after
# it, a unique index half built, the transactional 003, rows after a dropped index (and a
# VACUUM), the last index of 004 half built
SECOND_FILL = f"query LIKE '%generate_series({ROWS + 1},%'"
SMALL_FILL = "query LIKE '%INSERT INTO small%'"
KILL_POINTS = [half_built("big_v"),
               SECOND_FILL,
               half_built("big_id", after=SECOND_FILL),
               "query LIKE '%UPDATE big SET w%'",
               SMALL_FILL,
               half_built("big_v_w", after=SMALL_FILL)]


def test_kill_9_anywhere_then_up_completes_like_a_clean_run(project, request):
    """kill -9 of `up` in each of its statements in turn (at random moments with --slow);
    the next `up` always completes (no "already exists", no duplicate key) and ends with the
    schema and data of an uninterrupted run."""
    for name, (up, down, header) in MIGRATIONS.items():
        project.migration(name, up, down, header=header)
    kill_anywhere(project, ("db", "migrate", "up"), snapshot, KILL_POINTS, request)
