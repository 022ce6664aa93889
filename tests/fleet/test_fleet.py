"""`nself db fleet ...`: one command over many databases of one server (--match, the fleet
file's patterns and named URLs), N at a time; failures, --continue-on-error, production's
one confirmation, bad input refused before anything changes."""

from __future__ import annotations

import json

import pytest
from conftest import _create, _drop, answer_on_terminal

DATABASES = 50


class Fleet:
    """Databases named <test db>_f00, _f01, ... on the test's server (dropped afterwards)."""

    def __init__(self, db):
        self.db = db
        self.names: list[str] = []

    def create(self, count: int) -> list[str]:
        start = len(self.names)
        for i in range(start, start + count):
            name = f"{self.db.name}_f{i:02d}"
            _create(self.db.admin, name)
            self.names.append(name)
        return self.names[start:]

    @property
    def pattern(self) -> str:
        return f"{self.db.name}_f%"

    def at(self, name: str):
        from conftest import TestDatabase

        return TestDatabase(self.db.backend, {**self.db.params, "dbname": name}, self.db.admin)

    def applied(self, name: str) -> list[str]:
        target = self.at(name)
        if target.scalar("SELECT to_regclass('nself.migrations') IS NULL"):
            return []
        return [r[0] for r in target.query("SELECT label FROM nself.migrations ORDER BY 1")]

    def drop(self) -> None:
        for name in self.names:
            _drop(self.db.admin, name)


@pytest.fixture
def fleet(project):
    made = Fleet(project.db)
    yield made
    made.drop()


ROWS = 100


def small_migrations(project) -> None:
    project.migration("001_items.sql", "CREATE TABLE items (id int PRIMARY KEY, v text);",
                      "DROP TABLE items;")
    project.migration("002_fill.sql", "INSERT INTO items SELECT g, g::text "
                      f"FROM generate_series(1, {ROWS}) g;", "DELETE FROM items;")
    project.migration("003_index.sql", "CREATE INDEX items_v ON items (v);",
                      "DROP INDEX items_v;")


ALL = ["001", "002", "003"]


def test_migrate_up_on_fifty_databases_then_nothing_to_do(project, fleet):
    """`fleet migrate up --match` applies every migration on 50 databases, one line per
    database; the next run finds every one up to date; status and --json say so."""
    small_migrations(project)
    names = fleet.create(DATABASES)
    up = project.run("db", "fleet", "migrate", "up", "--match", fleet.pattern)
    assert up.code == 0, up
    for name in names:
        assert f"✓ {name}: 3 migrations applied" in up.out, name
        assert fleet.applied(name) == ALL, name
    again = project.run("db", "fleet", "migrate", "up", "--match", fleet.pattern, "--json")
    assert again.code == 0, again
    records = json.loads(again.out)
    assert [r["target"] for r in records] == names
    assert {(r["state"], tuple(r["applied"])) for r in records} == {("done", ())}
    status = project.run("db", "fleet", "status", "--match", fleet.pattern, "--json")
    assert status.code == 0, status
    assert {(r["applied"], r["pending"], r["drift"]) for r in json.loads(status.out)} == {
        (3, 0, False)}


def test_fleet_file_names_urls_and_patterns_and_only_picks(project, fleet):
    """config/local.fleet.toml's named URLs and patterns are the targets; --only runs the
    named ones alone (comma-separated or repeated)."""
    small_migrations(project)
    a, b, c = fleet.create(3)
    project.write("config/local.fleet.toml", f"""
        match = ["{a}", "{b}"]
        [databases]
        third = "{fleet.at(c).url}"
        """)
    only = project.run("db", "fleet", "migrate", "up", "--only", f"{a},third")
    assert only.code == 0, only
    assert (fleet.applied(a), fleet.applied(b), fleet.applied(c)) == (ALL, [], ALL)
    rest = project.run("db", "fleet", "migrate", "up")
    assert rest.code == 0, rest
    assert f"✓ {b}: 3 migrations applied" in rest.out and "✓ third: up to date" in rest.out
    backed = project.run("db", "fleet", "backup", "--only", "third", "--json")
    assert backed.code == 0, backed
    [record] = json.loads(backed.out)
    assert (project.root / record["backup"]).is_file(), record


def _one_broken(project, fleet, broken: int) -> list[str]:
    """Five databases; migration 002 fails on the BROKEN-th (a row with its first key is
    already there)."""
    small_migrations(project)
    names = fleet.create(5)
    project.migration("001_items.sql", "CREATE TABLE IF NOT EXISTS items "
                      "(id int PRIMARY KEY, v text);", "DROP TABLE items;")
    fleet.at(names[broken]).query("CREATE TABLE items (id int PRIMARY KEY, v text); "
                                  "INSERT INTO items VALUES (1, 'x')")
    return names


def test_a_failure_stops_new_targets_and_names_the_failed_one(project, fleet):
    """With --parallel 1 a failed target stops the run: the ones before it are applied, the
    ones after it are not started, the exit code is non-zero and the error names it."""
    names = _one_broken(project, fleet, 2)
    run = project.run("db", "fleet", "migrate", "up", "--match", fleet.pattern,
                      "--parallel", "1", "--json")
    assert run.code == 1, run
    assert f"Failed on 1 of 5 targets: {names[2]}; 2 not started" in run.err, run
    states = [r["state"] for r in json.loads(run.out)]
    assert states == ["done", "done", "failed", "not started", "not started"], run
    assert [fleet.applied(n) for n in names] == [ALL, ALL, ["001"], [], []]
    assert "duplicate key" in json.loads(run.out)[2]["error"]


def test_continue_on_error_runs_every_other_target(project, fleet):
    """--continue-on-error applies every other target and still fails, naming the one."""
    names = _one_broken(project, fleet, 1)
    run = project.run("db", "fleet", "migrate", "up", "--match", fleet.pattern,
                      "--parallel", "2", "--continue-on-error")
    assert run.code == 1, run
    assert f"Failed on 1 of 5 targets: {names[1]}." in run.err, run
    assert "not started" not in run.err
    assert f"✗ {names[1]}: Error: " in run.out
    assert [fleet.applied(n) for n in names] == [ALL, ["001"], ALL, ALL, ALL]


def test_production_asks_once_for_the_whole_fleet(project, fleet):
    """In production the fleet asks one question naming how many databases (never one per
    database); without a terminal it refuses, names --yes and changes nothing."""
    small_migrations(project)
    names = fleet.create(3)
    argv = ["db", "fleet", "migrate", "up", "--match", fleet.pattern, "--no-backup"]
    refused = project.run_process(*argv, env={"ENV": "production"})
    assert refused.code == 3, refused
    assert "on production (3 databases)? There is no terminal to ask: pass --yes" in \
        refused.err, refused
    assert [fleet.applied(n) for n in names] == [[], [], []]
    asked = answer_on_terminal(project.root, argv, "y", env={"ENV": "production"})
    assert asked.code == 0, asked
    assert asked.out.count("[y/N]") == 1, asked
    assert "Run `migrate up` on production (3 databases)?" in asked.out, asked
    assert [fleet.applied(n) for n in names] == [ALL, ALL, ALL]
    project.migration("004_more.sql", "CREATE TABLE more (id int);", "DROP TABLE more;")
    flagged = project.run_process(*argv, "--yes", env={"ENV": "production"})
    assert flagged.code == 0, flagged
    assert [fleet.applied(n) for n in names] == [ALL + ["004"]] * 3


PATTERN = "{pattern}"  # the test's databases


@pytest.mark.parametrize("argv, fleet_file, message", [
    (["--match", PATTERN, "--only", "nobody"], None,
     "--only: no target named 'nobody'; the targets are"),
    (["--match", "x\\"], None, "ends with the escape character"),
    (["--match", ""], None, "the pattern is empty"),
    (["--match", "no_such_database_%"], None, "matches no database on"),
    ([], None, "No fleet targets: config/local.fleet.toml does not exist"),
    ([], "match = [", "config/local.fleet.toml is not valid TOML"),
    ([], "tenants = 'a'", "unknown key 'tenants'"),
    ([], "[databases]\neu = 'mysql://x/y'", "databases.eu: DATABASE_URL is not a valid"),
    (["--match", PATTERN, "--parallel", "-1"], None, "--parallel expects a number of 1 or more"),
])
def test_bad_input_is_one_line_and_changes_nothing(project, fleet, argv, fleet_file,
                                                   message):
    """An unknown target, a bad pattern, a missing or malformed fleet file: exit 2, one
    line, no database changed."""
    small_migrations(project)
    names = fleet.create(2)
    if fleet_file is not None:
        project.write("config/local.fleet.toml", fleet_file)
    argv = [fleet.pattern if word == PATTERN else word for word in argv]
    run = project.run("db", "fleet", "migrate", "up", *argv)
    assert run.code == 2, run
    assert message in run.err, run
    assert len(run.err.strip().splitlines()) == 1, run
    assert "Traceback" not in run.err
    assert [fleet.applied(n) for n in names] == [[], []]


def test_ctrl_c_lets_running_targets_finish_and_starts_no_other(project, fleet):
    """Ctrl-C while a target migrates: that target finishes all its migrations, no other
    target starts, and the run exits 130 with one line saying so."""
    import signal

    from conftest import kill_when, start_nself

    names = fleet.create(3)
    project.migration("001_slow.sql", "SELECT pg_sleep(1);\nCREATE TABLE a (id int);",
                      "DROP TABLE a;")
    project.migration("002_b.sql", "CREATE TABLE b (id int);", "DROP TABLE b;")
    proc = start_nself(project.root, "db", "fleet", "migrate", "up", "--match", fleet.pattern,
                       "--parallel", "1")
    out, err = kill_when(proc, fleet.at(names[0]), "query LIKE '%pg_sleep%'",
                         stop=lambda p: p.send_signal(signal.SIGINT))
    assert proc.returncode == 130, (out, err)
    assert err.strip() == "Interrupted: 1 target(s) finished, 2 not started; the same " \
        "command again runs what is missing.", err
    assert [fleet.applied(n) for n in names] == [["001", "002"], [], []]


def test_a_bar_over_the_targets_on_a_terminal_only(project, fleet):
    """On a terminal the fleet draws a bar over its targets beside the lines; without one
    (a pipe) only the lines."""
    from conftest import run_on_terminal

    small_migrations(project)
    fleet.create(3)
    argv = ("db", "fleet", "migrate", "up", "--match", fleet.pattern)
    shown = run_on_terminal(project.root, *argv)
    assert shown.code == 0, shown
    assert "Targets" in shown.out and shown.rich_imported, shown
    piped = project.run_process("db", "fleet", "status", "--match", fleet.pattern)
    assert piped.code == 0 and "Targets" not in piped.out, piped
