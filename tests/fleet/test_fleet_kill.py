"""kill -9 of `nself db fleet migrate up` at any moment, then the same command again: every
target ends as an uninterrupted run leaves it (no target half-applied, nothing applied
twice), for databases and for tenant schemas. 5 trials by default, each killing at a chosen
statement of a chosen target; with --slow, 50 trials at random moments."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from dataclasses import replace

import pytest
from conftest import Held, half_built, kill_when, random_seed, start_nself
from test_fleet import Fleet

ROWS = 20000
MIGRATIONS = {
    "001_big.sql": ("CREATE TABLE big (id int, v text);", "DROP TABLE big;", ""),
    "002_fill.sql": (f"INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, {ROWS}) g;",
                     "DELETE FROM big;", ""),
    "003_index.sql": ("CREATE INDEX CONCURRENTLY big_v ON big (v);\n"
                      "CREATE TABLE small (id int PRIMARY KEY);\n",
                      "", "-- nself:no-transaction\n"),
    "004_column.sql": ("ALTER TABLE big ADD COLUMN w int;\nUPDATE big SET w = id % 7;",
                       "ALTER TABLE big DROP COLUMN w;", ""),
    "005_more.sql": (f"INSERT INTO small SELECT generate_series(1, {ROWS});",
                     "DELETE FROM small;", ""),
}
TARGETS = 4
TRIALS, SLOW_TRIALS = 5, 50
# (target, moment): the statements of each phase, on different targets in turn
POINTS = [(0, "query LIKE '%generate_series(1, 20000) g%'"),
          (1, half_built("big_v")),
          (2, "query LIKE '%UPDATE big SET w%'"),
          (3, "query LIKE '%INSERT INTO small%'"),
          (1, "query LIKE '%UPDATE big SET w%'")]


class Place:
    """Where one target's work lands: a database (its public schema, tracked in nself) or a
    tenant schema of the test's database (tracked in its own nself_<schema>)."""

    def __init__(self, db, schema: str = "public"):
        from nself.pg.scope import own_schema

        self.db, self.schema = db, schema
        self.own = "nself" if schema == "public" else own_schema(schema)

    def facts(self) -> dict:
        """The schema, data and tracking facts every run must end with."""
        db, schema, own = self.db, self.schema, self.own
        if db.scalar("SELECT to_regclass(%s) IS NULL", (f"{own}.migrations",)):
            return {}
        return {
            "columns": db.query("SELECT table_name, column_name, data_type FROM "
                                "information_schema.columns WHERE table_schema = %s "
                                "ORDER BY 1, 2", (schema,)),
            "indexes": db.query("SELECT c.relname, i.indisvalid FROM pg_index i "
                                "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n "
                                "ON n.oid = c.relnamespace WHERE n.nspname = %s ORDER BY 1",
                                (schema,)),
            "data": db.query(f"SELECT (SELECT count(*) FROM {schema}.big), "
                             f"(SELECT sum(id) FROM {schema}.big), "
                             f"(SELECT sum(w) FROM {schema}.big), "
                             f"(SELECT count(*) FROM {schema}.small)"),
            "applied": db.query(f"SELECT label FROM {own}.migrations ORDER BY 1"),
            "progress": db.query(f"SELECT count(*) FROM {own}.migration_progress"),
        }

    def prefix_applied(self) -> bool:
        """What a killed run left: the applied migrations are the first ones, each whole."""
        labels = [] if self.db.scalar("SELECT to_regclass(%s) IS NULL", (
            f"{self.own}.migrations",)) else [r[0] for r in self.db.query(
                f"SELECT label FROM {self.own}.migrations ORDER BY 1")]
        return labels == [name[:3] for name in sorted(MIGRATIONS)][:len(labels)] and (
            "002" not in labels or self.db.scalar(f"SELECT count(*) FROM {self.schema}.big")
            == ROWS)

    def empty(self) -> None:
        """Back to before the first run."""
        if self.schema == "public":
            from nself.pg.wipe import wipe

            with self.db.connect() as conn:
                wipe(conn)
        else:
            self.db.query(f"DROP SCHEMA IF EXISTS {self.schema}, {self.own} CASCADE; "
                          f"CREATE SCHEMA {self.schema}")


@pytest.mark.parametrize("kind", ["databases", "schemas"])
def test_kill_9_anywhere_in_a_fleet_run_then_it_completes(project, request, kind):
    """kill -9 of `fleet migrate up --parallel 2` on 4 databases (or 4 tenant schemas), at a
    statement of one target (5 trials; 50 at random moments with --slow); the next run exits
    0 and every target equals a clean single-database run: applied once, nothing half done."""
    for name, (up, down, header) in MIGRATIONS.items():
        project.migration(name, up, down, header=header)
    fleet = Fleet(project.db)
    try:
        if kind == "databases":
            places = [Place(fleet.at(name)) for name in fleet.create(TARGETS)]
            argv = ("--match", fleet.pattern)
        else:
            places = [Place(project.db, f"tenant_{i}") for i in range(TARGETS)]
            argv = ("--schemas", "tenant\\_%")
        clean = project.db.create_sibling()
        began = time.monotonic()
        run = subprocess.run([sys.executable, "-m", "nself", "db", "migrate", "up"],
                             cwd=project.root, env={**os.environ, "DATABASE_URL": clean.url},
                             capture_output=True, text=True, timeout=300)
        span = time.monotonic() - began
        assert run.returncode == 0, run.stderr
        expected = Place(clean).facts()
        argv = ("db", "fleet", "migrate", "up", *argv, "--parallel", "2")
        slow = request.config.getoption("--slow")
        seed = random_seed()
        rng = random.Random(seed)
        for trial in range(SLOW_TRIALS if slow else TRIALS):
            for place in places:
                place.empty()
            proc = start_nself(project.root, *argv)
            if slow:
                time.sleep(rng.uniform(0.05, span * 2))  # the random moment is the point
                proc.kill()
                proc.communicate(timeout=60)
            else:
                index, point = POINTS[trial % len(POINTS)]
                if isinstance(point, Held) and kind == "schemas":
                    # the tenants' statements read alike: whichever tenant it caught has
                    # its index half built
                    point = replace(point, left="SELECT EXISTS (SELECT FROM pg_index i JOIN "
                                    "pg_class c ON c.oid = i.indexrelid WHERE c.relname = "
                                    "'big_v' AND NOT i.indisvalid)")
                kill_when(proc, places[index].db, point)
            label = f"{kind}, trial {trial} (replay: NSELF_TEST_SEED={seed})"
            assert all(place.prefix_applied() for place in places), label
            final = start_nself(project.root, *argv)
            out, err = final.communicate(timeout=300)
            assert final.returncode == 0, f"{label}: {out}{err}"
            assert "Traceback" not in err, label
            for place in places:
                assert place.facts() == expected, f"{label}: {place.db.name} {place.schema}"
    finally:
        fleet.drop()
