"""`restore --clean` into an existing database is all or nothing: killed in any phase
(SIGTERM, SIGINT or SIGKILL of nself, or SIGKILL of its psql/pg_restore child), the database
holds all of its old data or all of the backup's, never a mix; the same restore run again
finishes the job. A kill in each phase by default, 50 more at random moments with --slow.
Plus the cases around it: a failing statement, a file that commits by itself, large
objects, --jobs."""

from __future__ import annotations

import gzip
import os
import random
import signal
import subprocess
import sys
import time

import pytest
from conftest import kill_when, random_seed, runs_child
from test_backup import _children, make_backup

from nself.pg.wipe import wipe

# Two versions of one database: some tables in both (different rows), some in one only.
# `slow` loads at ~2 ms a row when the database's nself.slow is on, so the load is a large
# part of a restore's run time and kills land in it.
COMMON = """
CREATE FUNCTION slow_ok(n int) RETURNS boolean LANGUAGE sql AS $$
  SELECT CASE WHEN current_setting('nself.slow', true) = 'on'
              THEN pg_sleep(0.002) IS NOT NULL ELSE true END $$;
CREATE TABLE accounts (id int PRIMARY KEY, email text UNIQUE NOT NULL);
CREATE TABLE orders (id int PRIMARY KEY, account_id int REFERENCES accounts, amount int);
CREATE TABLE slow (id int CHECK (slow_ok(id)), v text);
CREATE INDEX orders_account ON orders (account_id);
"""
FILL = """
INSERT INTO accounts SELECT g, '{tag}-' || g || '@example.com' FROM generate_series(1, {n}) g;
INSERT INTO orders SELECT g, 1 + g % {n}, g * {k} FROM generate_series(1, 3 * {n}) g;
INSERT INTO slow SELECT g, md5('{tag}' || g) FROM generate_series(1, 400) g;
"""
NEW = (COMMON + FILL.format(tag="new", n=2000, k=7)
       + "CREATE TABLE new_only (id int, v text);\n"
         "INSERT INTO new_only SELECT g, 'n' || g FROM generate_series(1, 1500) g;\n")
OLD = (COMMON + FILL.format(tag="old", n=2500, k=3)
       + "CREATE TABLE old_only (id serial PRIMARY KEY, v text);\n"
         "INSERT INTO old_only (v) SELECT 'o' || g FROM generate_series(1, 1200) g;\n")
STATE_SQL = """SELECT count(*), coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '')
FROM {table} t"""
SIGNALS = ["SIGTERM", "SIGINT", "SIGKILL", "child"]
UNKNOWN = ("--allow-partial", "--allow-other-source", "--yes")  # a file without metadata


def state(db) -> dict[str, tuple[int, str]]:
    """Every user table (nself's own aside) with its row count and a checksum of its rows."""
    tables = [row[0] for row in db.query(
        "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables WHERE schemaname NOT IN "
        "('pg_catalog', 'information_schema', 'nself') ORDER BY 1")]
    return {table: tuple(db.query(STATE_SQL.format(table=table))[0]) for table in tables}


def build(db, script: str) -> None:
    """The database holds exactly `script`'s objects and rows (loaded at full speed)."""
    with db.connect() as conn:
        wipe(conn)
        conn.execute("SET nself.slow = off")
        conn.execute(script)


def start(project, *argv: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "nself", *argv], cwd=project.root,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.fixture
def versions(project):
    """(old state, new state, {format: backup of the new data}); the database holds the old
    data and loads slowly."""
    build(project.db, NEW)
    new = state(project.db)
    files = {"custom": make_backup(project, "--name", "new"),
             "sql": make_backup(project, "--name", "new_sql", "--format", "sql")}
    build(project.db, OLD)
    old = state(project.db)
    project.db.query(f'ALTER DATABASE "{project.db.name}" SET nself.slow = \'on\'')
    assert old != new and set(old) != set(new)
    return old, new, files


def send(proc: subprocess.Popen, how: str) -> str:
    """Send `how` to nself (or SIGKILL to its psql/pg_restore child when one runs); return
    what was done."""
    if how == "child":
        tools = [pid for pid, name in _children(proc.pid).items()
                 if name in ("psql", "pg_restore")]
        if tools:
            os.kill(random.choice(tools), signal.SIGKILL)
            return "child"
        how = "SIGKILL"
    if how != "SIGKILL":
        # before nself runs the command (interpreter start-up) a signal is not yet ours:
        # wait for its first child (the checksum's, the safety backup's or the load's)
        deadline = time.monotonic() + 30
        while proc.poll() is None and not _children(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.01)
    if proc.poll() is None:
        proc.send_signal(getattr(signal, how))
    return how


LOADING = "query LIKE 'COPY public.slow % FROM stdin%'"  # the load's COPY (pg_dump's is TO)
# each phase of a restore with each way it can be stopped (SIGKILL of nself during the load:
# test_kill_during_the_load_keeps_every_old_row): the safety backup, the load
PHASES = [("custom", runs_child("pg_dump"), "SIGTERM"), ("sql", LOADING, "child"),
          ("custom", LOADING, "SIGINT")]


def test_kill_in_every_phase_leaves_old_or_new_never_a_mix(project, versions, request):
    """Kills in each phase of `restore --clean` (and, with --slow, 50 at random moments):
    afterwards every table is entirely old or entirely new (the same for all), a
    SIGTERM/SIGINT that left the old data says nothing was changed (exit 130), and running the
    same restore again ends with the new data."""
    old, new, files = versions
    argv = {kind: ("db", "restore", str(path), "--clean", "--yes") for kind, path in
            files.items()}
    trials = list(PHASES)
    span = 0.0
    seed = random_seed()
    rng = random.Random(seed)
    if request.config.getoption("--slow"):
        began = time.monotonic()
        clean = start(project, *argv["custom"])
        out, err = clean.communicate(timeout=300)
        span = time.monotonic() - began
        assert clean.returncode == 0, err
        assert state(project.db) == new
        trials += [(("custom", "sql")[trial % 2], None, rng.choice(SIGNALS))
                   for trial in range(50)]
    seen = []
    for trial, (kind, point, how) in enumerate(trials):
        build(project.db, OLD)
        proc = start(project, *argv[kind])
        done = []
        if point is None:  # --slow: a random moment
            time.sleep(rng.uniform(0, span))
            done.append(send(proc, how))
            out, err = proc.communicate(timeout=300)
        else:
            out, err = kill_when(proc, project.db, point,
                                 stop=lambda proc, how=how, done=done: done.append(send(proc, how)))
        now = state(project.db)
        where = (f"seed {seed}, trial {trial}, {kind}, {point or 'random'}, {done[0]}, "
                 f"exit {proc.returncode}: {err}")
        assert now in (old, new), where
        assert "Traceback" not in err, where
        if now == old and done[0] in ("SIGTERM", "SIGINT") and proc.returncode != 0:
            assert proc.returncode == 130, where
            assert "nothing was changed" in err.lower(), where
        seen.append("old" if now == old else "new")
        again = start(project, *argv[kind])
        out, err = again.communicate(timeout=300)
        assert again.returncode == 0, f"{where}; again: {err}"
        assert state(project.db) == new, where
    print(f"seed {seed}: {seen}")


@pytest.mark.parametrize("kind", ["custom", "sql"])
@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_kill_during_the_load_keeps_every_old_row(project, versions, kind, how):
    """The issue's case: a kill while psql copies rows (after the clean step ran in the same
    transaction) leaves every old table with all its rows; SIGTERM says nothing was changed."""
    old, new, files = versions
    proc = start(project, "db", "restore", str(files[kind]), "--clean", "--yes")
    deadline = time.monotonic() + 60
    # the load's COPY (the safety backup's pg_dump runs `COPY public.slow ... TO stdout`)
    while not project.db.scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                                "current_database() AND query LIKE "
                                "'COPY public.slow %% FROM stdin%%'"):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.02)
    proc.send_signal(getattr(signal, how))
    out, err = proc.communicate(timeout=60)
    assert state(project.db) == old
    if how == "SIGTERM":
        assert proc.returncode == 130, err
        assert "rolled back; nothing was changed" in err


def test_failing_statement_rolls_back_the_clean_too(project, versions):
    """A backup whose SQL fails for a real reason, restored with --clean, exits 1, names the
    error, and leaves the old tables (the ones the clean dropped) as they were."""
    old, new, files = versions
    text = gzip.decompress(files["sql"].read_bytes()).decode()
    text = text.replace("CREATE TABLE public.new_only (",
                        "CREATE TABLE public.new_only (x nope_t, ")
    broken = project.root / "broken.sql"
    broken.write_text(text)
    result = project.run("db", "restore", str(broken), "--clean", *UNKNOWN)
    assert result.code == 1, result
    assert "nope_t" in result.err and "nothing was changed" in result.err
    assert state(project.db) == old


def test_file_that_commits_by_itself_is_refused(project, versions):
    """A SQL file with its own top-level COMMIT would split the restore: it is refused with
    its line number, and the old data stays."""
    old, new, files = versions
    text = gzip.decompress(files["sql"].read_bytes()).decode()
    text = text.replace("CREATE TABLE public.new_only (", "COMMIT;\nCREATE TABLE public.new_only (")
    path = project.root / "commits.sql"
    path.write_text(text)
    result = project.run("db", "restore", str(path), "--clean", *UNKNOWN)
    assert result.code == 1, result
    assert "COMMIT" in result.err and "line" in result.err and "Nothing was changed" in result.err
    assert state(project.db) == old


@pytest.mark.parametrize("fmt", [[], ["--format", "sql"]], ids=["custom", "sql"])
def test_large_objects_restore_in_the_one_transaction(project, fmt):
    """A backup with large objects (pg_dump wraps them in BEGIN/COMMIT in SQL form) restores
    over existing data with --clean, large objects included."""
    project.db.query("CREATE TABLE docs (id int, blob oid)")
    project.db.query("INSERT INTO docs SELECT g, lo_from_bytea(0, convert_to('doc ' || g, "
                     "'UTF8')) FROM generate_series(1, 3) g")
    path = make_backup(project, "--name", "lo", *fmt)
    project.db.query("DELETE FROM docs WHERE id = 1")
    project.db.query("SELECT lo_unlink(oid) FROM pg_largeobject_metadata")
    result = project.run("db", "restore", str(path), "--clean", "--yes")
    assert result.code == 0, result
    assert project.db.query("SELECT id, convert_from(lo_get(blob), 'UTF8') FROM docs ORDER BY 1"
                            ) == [(1, "doc 1"), (2, "doc 2"), (3, "doc 3")]


def test_parallel_jobs_only_into_a_database_without_tables(project, versions):
    """--jobs 2 cannot share one transaction: with --clean (or into tables) it is refused
    (exit 2) before anything changes."""
    old, new, files = versions
    result = project.run("db", "restore", str(files["custom"]), "--clean", "--yes", "--jobs",
                         "2")
    assert result.code == 2, result
    assert "one transaction" in result.err and "Nothing was changed" in result.err
    assert state(project.db) == old


# The script filter, without a server ---------------------------------------------------------

PG_DUMP_LIKE = b"""SET client_min_messages = warning;
CREATE PROCEDURE p() LANGUAGE plpgsql AS $$
BEGIN
COMMIT;
END;
$$;
COPY public.t (v) FROM stdin;
COMMIT;
\\\\.
\\.
SELECT pg_catalog.lo_create('1');
BEGIN;

SELECT pg_catalog.lo_open('1', 131072);
SELECT pg_catalog.lo_close(0);

COMMIT;
SELECT 1;
"""


@pytest.mark.parametrize("size", [1, 5, 64, 1 << 20])
def test_script_drops_only_pg_dumps_large_object_commit(size):
    """pg_dump's COMMIT after a large object is left out, whatever the chunking; a COMMIT
    row in COPY data or in a procedure's body passes untouched."""
    from nself.backups.load import Script

    script = Script("x.sql")
    out = b"".join(script.feed(PG_DUMP_LIKE[i:i + size])
                   for i in range(0, len(PG_DUMP_LIKE), size)) + script.finish()
    assert out == PG_DUMP_LIKE.replace(b"lo_close(0);\n\nCOMMIT;\n", b"lo_close(0);\n\n\n")


@pytest.mark.parametrize("line", [b"COMMIT;", b"rollback;", b"ABORT;",
                                  b"COMMIT AND CHAIN;", b"\\connect other"])
def test_script_refuses_a_line_that_ends_the_transaction(line):
    """A top-level COMMIT/ROLLBACK/ABORT or `\\connect` is refused with its line number."""
    from nself.backups.load import Script
    from nself.errors import OperationFailed

    script = Script("x.sql")
    with pytest.raises(OperationFailed, match="x.sql line 2:"):
        script.feed(b"SELECT 1;\n" + line + b"\nSELECT 2;\n")


def test_script_cut_inside_copy_rows_is_refused():
    """A file that ends inside COPY rows (no `\\.`) is refused: it is cut short."""
    from nself.backups.load import Script
    from nself.errors import OperationFailed

    script = Script("x.sql")
    script.feed(b"COPY public.t (v) FROM stdin;\na\nb\n")
    with pytest.raises(OperationFailed, match="cut short"):
        script.finish()


def test_file_cut_inside_a_quoted_string_fails_instead_of_waiting(project, versions):
    """A SQL file (with pg_dump's closing line) that ends inside a quoted string, so psql
    waits for its end, fails within seconds, exit 1, and the old data stays."""
    old, new, files = versions
    path = project.root / "cut.sql"
    path.write_text("CREATE TABLE cut (v text);\nINSERT INTO cut VALUES ('never closed);\n"
                    "--\n-- PostgreSQL database dump complete\n--\n")
    began = time.monotonic()
    result = project.run("db", "restore", str(path), "--clean", *UNKNOWN)
    assert result.code == 1, result
    assert "ends inside a quoted string" in result.err and "Nothing was changed" in result.err
    assert time.monotonic() - began < 30
    assert state(project.db) == old
