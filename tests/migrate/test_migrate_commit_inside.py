"""Migrations whose DO block or CALLed procedure commits inside (a batched backfill): they run
on their own, outside nself's transaction, in a `-- nself:no-transaction` migration; a run
killed in the middle of one runs it again on resume and says so; a transactional migration
holding one is refused before anything runs."""

from __future__ import annotations

import time

from conftest import applied, kill_when, start_nself

from nself import sql

ROWS = 2000
BATCH = 100
TABLE = ("CREATE TABLE items (id int PRIMARY KEY, v int NOT NULL, v2 int);\n"
         f"INSERT INTO items SELECT g, g FROM generate_series(1, {ROWS}) g;")
# re-runnable: a batch only touches rows not done yet; `pause` slows each batch down
BACKFILL = """DO $$
DECLARE
  first int := 1;
BEGIN
  WHILE first <= {rows} LOOP
    UPDATE items SET v2 = v * 2 WHERE id BETWEEN first AND first + {batch} - 1 AND v2 IS NULL;
    PERFORM pg_sleep({pause});
    COMMIT;
    first := first + {batch};
  END LOOP;
END
$$;"""
DIRECTIVE = "-- nself:no-transaction\n"


def backfill(pause: float = 0) -> str:
    return BACKFILL.format(rows=ROWS, batch=BATCH, pause=pause)


def test_parse_tells_a_do_block_that_commits_and_the_procedures_called():
    """The parsed PL/pgSQL says a DO block COMMITs (nested blocks and loops included, not a
    word in a string or comment) and which procedures a CALL or a DO block calls."""
    do, call, nested, quiet = sql.split(
        backfill() + "\nCALL ops.backfill(10);\n"
        "DO $a$ BEGIN IF true THEN DO $b$ BEGIN ROLLBACK; END $b$; END IF; CALL q(); END $a$;\n"
        "DO $$ BEGIN RAISE NOTICE 'COMMIT;'; -- COMMIT;\nEND $$;")
    assert (do.no_transaction, do.procedures) == ("DO block with COMMIT", ())
    assert (call.kind, call.no_transaction, call.procedures) == ("CallStmt", "", ("ops.backfill",))
    assert (nested.no_transaction, nested.procedures) == ("DO block with ROLLBACK", ("q",))
    assert (quiet.no_transaction, quiet.procedures) == ("", ())


def test_no_transaction_do_block_that_commits_is_applied(project):
    """A no-transaction migration's DO block that COMMITs per batch runs outside nself's
    transaction (was: "invalid transaction termination"); the statements around it run once."""
    project.migration("001_items.sql", TABLE, "DROP TABLE items;")
    project.migration("002_backfill.sql",
                      "CREATE TABLE log (what text);\nINSERT INTO log VALUES ('before');\n"
                      + backfill() + "\nALTER TABLE items ALTER v2 SET NOT NULL;",
                      "DROP TABLE log;", header=DIRECTIVE)
    r = project.run("db", "migrate", "up")
    assert r.code == 0, r
    assert applied(project.db) == ["001", "002"]
    assert project.db.scalar("SELECT count(*) FROM items WHERE v2 = v * 2") == ROWS
    assert project.db.scalar("SELECT count(*) FROM log") == 1
    assert project.db.scalar("SELECT count(*) FROM nself.migration_progress") == 0


def test_failure_inside_a_committing_do_block_says_its_commits_stay(project):
    """A DO block that fails after some of its COMMITs: the error says those stay and that
    the next run runs it again from its start; fixed, the next `up` finishes."""
    project.migration("001_items.sql", TABLE, "DROP TABLE items;")
    failing = backfill().replace("COMMIT;", "COMMIT;\n    PERFORM 1 / (1001 - first);")
    project.migration("002_backfill.sql", failing, "", header=DIRECTIVE)
    r = project.run("db", "migrate", "up")
    assert r.code == 1, r
    assert "division by zero" in r.err
    assert "what it committed before the error stays" in r.err
    assert project.db.scalar("SELECT count(v2) FROM items") == 1100  # batches to 1001-1100
    project.migration("002_backfill.sql", backfill(), "", header=DIRECTIVE)
    r = project.run("db", "migrate", "up")
    assert r.code == 0, r
    assert "running it again from its start" in r.out
    assert project.db.scalar("SELECT count(*) FROM items WHERE v2 = v * 2") == ROWS


def test_transactional_migration_with_a_committing_do_block_is_refused_before_running(project):
    """Without the directive a DO block that COMMITs cannot work: exit 2 before anything runs,
    naming file and line and the directive."""
    project.migration("001_items.sql", TABLE, "DROP TABLE items;")
    project.migration("002_backfill.sql", "SELECT 1;\n" + backfill(), "")
    r = project.run("db", "migrate", "up")
    assert r.code == 2, r
    assert "migrations/002_backfill.sql:4:" in r.err
    assert "DO block with COMMIT cannot run inside a transaction" in r.err
    assert "-- nself:no-transaction" in r.err
    assert len(r.err.strip().splitlines()) == 1
    assert project.db.tables() == []  # not even 001 ran


PROCEDURES = """
CREATE PROCEDURE ops.fill(first int, last int) LANGUAGE plpgsql AS $$
BEGIN
  FOR i IN first..last LOOP
    UPDATE items SET v2 = v * 2 WHERE id = i AND v2 IS NULL;
    IF i % 500 = 0 THEN COMMIT; END IF;
  END LOOP;
END $$;
CREATE PROCEDURE ops.fill_all() LANGUAGE plpgsql AS $$ BEGIN CALL ops.fill(1, 2000); END $$;
CREATE PROCEDURE ops.note(what text) LANGUAGE sql AS $$ INSERT INTO log VALUES (what) $$;
"""


def test_call_of_a_procedure_that_commits_is_applied(project):
    """A CALL runs outside nself's transaction when the catalog shows the procedure (or one it
    calls, read through nested CALLs) may COMMIT; a CALL of one that cannot stays with its
    progress row."""
    project.migration("001_items.sql", "CREATE SCHEMA ops;\nCREATE TABLE log (what text);\n"
                      + TABLE + PROCEDURES, "DROP SCHEMA ops CASCADE;")
    project.migration("002_backfill.sql", "CALL ops.note('start');\nCALL ops.fill_all();",
                      "", header=DIRECTIVE)
    r = project.run("db", "migrate", "up")
    assert r.code == 0, r
    assert project.db.scalar("SELECT count(*) FROM items WHERE v2 = v * 2") == ROWS
    assert project.db.scalar("SELECT count(*) FROM log") == 1


def test_transactional_call_of_a_procedure_that_commits_names_the_directive(project):
    """In a transactional migration such a CALL fails at run time (no connection at planning
    time to read the procedure): the error says to use the directive, nothing is applied."""
    project.migration("001_items.sql", "CREATE SCHEMA ops;\nCREATE TABLE log (what text);\n"
                      + TABLE + PROCEDURES, "DROP SCHEMA ops CASCADE;")
    project.migration("002_backfill.sql", "CALL ops.fill_all();", "")
    r = project.run("db", "migrate", "up")
    assert r.code != 0, r
    assert "invalid transaction termination" in r.err
    assert "-- nself:no-transaction" in r.err
    assert applied(project.db) == ["001"]
    assert project.db.scalar("SELECT count(*) FROM items WHERE v2 IS NOT NULL") == 0


def test_killed_during_a_committing_backfill_the_next_up_runs_it_again(project):
    """kill -9 of `up` while the DO block's batches commit (some done, not all): the next
    `up` says the block runs again from its start, finishes it and the rest, and what ran
    before it is not run twice."""
    project.migration("001_items.sql", TABLE, "DROP TABLE items;")
    assert project.run("db", "migrate", "up").code == 0
    project.migration("002_backfill.sql",
                      "CREATE TABLE log (what text);\nINSERT INTO log VALUES ('before');\n"
                      + backfill(pause=0.02) + "\nALTER TABLE items ALTER v2 SET NOT NULL;",
                      "DROP TABLE log;", header=DIRECTIVE)
    proc = start_nself(project.root, "db", "migrate", "up")
    part_way = ("query LIKE 'DO $$%' AND (SELECT count(v2) FROM items) "
                f"BETWEEN {3 * BATCH} AND {ROWS - 5 * BATCH}")
    kill_when(proc, project.db, part_way)
    # the server ends the killed client's session (it would when its DO next writes to it)
    with project.db.connect() as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
                     "current_database() AND pid <> pg_backend_pid()")
        while conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                           "current_database() AND pid <> pg_backend_pid()").fetchone()[0]:
            time.sleep(0.01)
    done = project.db.scalar("SELECT count(v2) FROM items")
    assert 0 < done < ROWS  # batches committed before the kill stay
    assert project.db.query("SELECT statements_done, started "
                            "FROM nself.migration_progress") == [(2, 2)]

    r = project.run("db", "migrate", "up")
    assert r.code == 0, r
    assert "002_backfill: statement 3 (line 6, DO block with COMMIT) was interrupted" in r.out
    assert "running it again from its start" in r.out
    assert "resuming at statement 3 of 4" in r.out
    assert applied(project.db) == ["001", "002"]
    assert project.db.scalar("SELECT count(*) FROM items WHERE v2 = v * 2") == ROWS
    assert project.db.scalar("SELECT count(*) FROM log") == 1
    assert project.db.scalar("SELECT attnotnull FROM pg_attribute WHERE attname = 'v2' "
                             "AND attrelid = 'items'::regclass")
