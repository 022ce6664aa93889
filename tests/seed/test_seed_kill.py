"""kill -9 of `nself db seed`: every seed file is all or nothing (its rows with its tracking
row, or neither), and the next `db seed` completes with the data of an uninterrupted run.
By default the kill lands inside each file's transaction in turn (the state is waited for);
--slow adds 50 kills at random moments."""

from __future__ import annotations

import random
import time

from conftest import Held, kill_when, random_seed, start_nself

ROWS = 5000
FILES = ["common/01_roles.sql", "local/02_users.sql", "local/03_posts.sql"]
SCHEMA = f"""
CREATE TABLE items (file text, n int, PRIMARY KEY (file, n));
CREATE TABLE gate (file text PRIMARY KEY, passed bool NOT NULL DEFAULT false);
INSERT INTO gate (file) VALUES {", ".join(f"('{path}')" for path in FILES)};
"""


def seed_text(path: str) -> str:
    """A seed that may run again (as the README asks): ROWS rows, then a statement a test can
    make wait inside the file's transaction (a row lock on its gate)."""
    return (f"INSERT INTO items SELECT '{path}', g FROM generate_series(1, {ROWS}) g "
            "ON CONFLICT DO NOTHING;\n"
            f"UPDATE gate SET passed = true WHERE file = '{path}';\n")


def waits_in(path: str) -> Held:
    """The kill point inside PATH's transaction, after its rows went in."""
    return Held(f"SELECT FROM gate WHERE file = '{path}' FOR UPDATE",
                "query LIKE '%UPDATE gate SET passed%' AND wait_event_type = 'Lock'",
                f"inside {path}")


def state(db) -> dict:
    """Per seed file: how many of its rows are there, and whether it is recorded as run."""
    tracked = (dict(db.query("SELECT path, checksum FROM nself.seeds"))
               if db.scalar("SELECT to_regclass('nself.seeds')") else {})
    rows = dict(db.query("SELECT file, count(*) FROM items GROUP BY file"))
    return {path: (rows.get(path, 0), tracked.get(path)) for path in FILES}


def assert_all_or_nothing(db, where: str) -> None:
    for path, (rows, checksum) in state(db).items():
        assert (rows, checksum is None) in ((0, True), (ROWS, False)), f"{where}: {path}"


def test_kill_9_leaves_each_seed_file_all_or_nothing(project, request):
    """kill -9 inside a file's transaction (its rows written, not committed): that file has
    no row and no tracking row, the files before it have all of theirs; the next `db seed`
    ends as an uninterrupted one (every file's rows once, every file recorded)."""
    project.db.query(SCHEMA)
    clean = project.db.create_sibling()
    clean.query(SCHEMA)
    for path in FILES:
        project.write(f"seeds/{path}", seed_text(path))
    began = time.monotonic()
    done = start_nself(project.root, "db", "seed", env={"DATABASE_URL": clean.url})
    out, err = done.communicate(timeout=120)
    span = time.monotonic() - began
    assert done.returncode == 0, out + err
    expected = state(clean)
    assert all(rows == ROWS and checksum for rows, checksum in expected.values())

    for path in FILES[1:]:  # 02 never ran, then 03 after 01 and 02 ran again
        proc = start_nself(project.root, "db", "seed")
        kill_when(proc, project.db, waits_in(path))
        assert_all_or_nothing(project.db, f"killed {waits_in(path)}")
        assert state(project.db)[path] == (0, None), path
    assert state(project.db)["local/02_users.sql"] == expected["local/02_users.sql"]
    trials = 50 if request.config.getoption("--slow") else 0
    seed = random_seed()
    rng = random.Random(seed)
    for trial in range(trials):
        if trial % 10 == 0:  # now and then from an empty database again
            project.db.query("DROP SCHEMA IF EXISTS nself CASCADE; TRUNCATE items")
        proc = start_nself(project.root, "db", "seed")
        time.sleep(rng.uniform(0.1, span))  # the random moment is the point here
        proc.kill()
        proc.communicate(timeout=60)
        assert_all_or_nothing(project.db, f"trial {trial} (replay: NSELF_TEST_SEED={seed} "
                                          f"python -m pytest --slow '{request.node.nodeid}')")

    again = project.run("db", "seed")
    assert again.code == 0, again
    assert state(project.db) == expected
