"""Randomized runs (slow): whatever statement fails, exactly the migrations before it stay."""

from __future__ import annotations

import shutil

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

STATEMENTS = [
    "CREATE TABLE t{m}_{s} (id int PRIMARY KEY, v text)",
    "CREATE INDEX ON t{m}_0 (id)",
    "INSERT INTO t{m}_0 VALUES ({s}, 'a;b')",
    "DO $$ BEGIN PERFORM 1; END $$",
    "BEGIN",
    "COMMIT",
    "CREATE FUNCTION f{m}_{s}() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$",
]


def test_failure_anywhere_keeps_exactly_the_earlier_migrations(project, request):
    """For random migrations with a division by zero at a random spot, `up` applies exactly the
    migrations before the failing one, reports the failing statement's line, and nothing else.

    A dozen examples by default; `--slow` tries 400."""
    examples = 400 if request.config.getoption("--slow") else 12

    @settings(max_examples=examples, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(plan=st.lists(st.lists(st.integers(0, len(STATEMENTS) - 1), min_size=0, max_size=5),
                         min_size=1, max_size=6),
           failing=st.tuples(st.integers(0, 5), st.integers(0, 5)))
    def check(plan, failing):
        _failure_anywhere(project, plan, failing)

    check()


def _failure_anywhere(project, plan, failing):
    project.db.query("DROP SCHEMA public CASCADE; CREATE SCHEMA public; "
                     "DROP SCHEMA IF EXISTS nself CASCADE")
    shutil.rmtree(project.migrations)
    project.migrations.mkdir()
    bad_m, bad_s = failing[0] % len(plan), failing[1]
    bad_line = None
    for m, kinds in enumerate(plan):
        lines = [f"CREATE TABLE t{m}_0 (id int PRIMARY KEY, v text);"]
        for s, kind in enumerate(kinds, 1):
            lines.append(STATEMENTS[kind].format(m=m, s=s) + ";")
        if m == bad_m:
            at = 1 + min(bad_s, len(lines) - 1)
            lines.insert(at, "SELECT 1/0;")
            bad_line = 3 + at  # "-- Migration", "-- UP", then the section's lines
        project.migration(f"{m + 1:03d}_m.sql", "\n".join(lines), "")
    result = project.run("db", "migrate", "up")
    assert result.code == 1, result
    assert f"{bad_m + 1:03d}_m.sql line {bad_line}:" in result.err, (result.err, bad_line)
    assert project.db.scalar("SELECT count(*) FROM nself.migrations") == bad_m
    tables = {name.split("_")[0] for name in project.db.tables()}
    assert tables == {f"t{m}" for m in range(bad_m)}
