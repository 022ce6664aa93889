"""Benchmark `nself db fleet migrate up` over many databases against a shell loop of
`nself db migrate up` per database, in the same run.

    python bench/bench_fleet.py                   # 100 databases, 20 migrations each
    python bench/bench_fleet.py --databases 10    # a quick check
    python bench/bench_fleet.py --url postgresql://postgres@127.0.0.1:5432/postgres

Without --url everything runs on an embedded PostgreSQL 18 kept in /tmp/nself-bench-migrate
(shared with bench_migrate.py). The databases are cloned from a template holding a table of
10,000 rows (CREATE DATABASE ... TEMPLATE, not timed) before each measurement, so that every
measurement starts from the same state. The 20 migrations are DDL (tables, columns,
indexes, a view, a function), a 10,000-row backfill of a new column, and a
`-- nself:no-transaction` migration with a CREATE INDEX CONCURRENTLY. Measured:

- a shell loop: `for url in ...; do DATABASE_URL=$url nself db migrate up; done` (bash);
- `nself db fleet migrate up --match ... --parallel 1`;
- `nself db fleet migrate up --match ... --parallel 8` (or --parallel).

Target: --parallel 8 at least 3x faster than the shell loop. The core count is printed:
the server and nself share the machine's cores.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_migrate import CHILD_ENV, admin_params, url_of  # noqa: E402

from nself.config import Database  # noqa: E402

TEMPLATE = "bench_fleetbase"
PREFIX = "bench_fleet_t"
PATTERN = "bench\\_fleet\\_t%"
ROWS = 10000


def migrations() -> dict[str, str]:
    """The 20 migration files, by name."""
    files = {}
    for i in range(1, 21):
        if i == 7:
            up = "ALTER TABLE accounts ADD COLUMN score int;"
            down = "ALTER TABLE accounts DROP COLUMN score;"
        elif i == 8:
            up = "UPDATE accounts SET score = id % 97 WHERE score IS NULL;"  # the backfill
            down = "UPDATE accounts SET score = NULL;"
        elif i == 12:
            files[f"{i:03d}_accounts_score_index.sql"] = (
                "-- nself:no-transaction\n-- UP\n"
                "CREATE INDEX CONCURRENTLY accounts_score ON accounts (score);\n"
                "-- DOWN\nDROP INDEX CONCURRENTLY accounts_score;\n")
            continue
        elif i == 15:
            up = ("CREATE VIEW account_scores AS SELECT id, name, score FROM accounts;")
            down = "DROP VIEW account_scores;"
        elif i == 18:
            up = ("CREATE FUNCTION account_count() RETURNS bigint LANGUAGE sql STABLE "
                  "AS $$ SELECT count(*) FROM accounts $$;")
            down = "DROP FUNCTION account_count();"
        else:
            up = (f"CREATE TABLE t_{i} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
                  f"account_id int NOT NULL REFERENCES accounts (id), note text, "
                  f"created_at timestamptz NOT NULL DEFAULT now());\n"
                  f"CREATE INDEX t_{i}_account ON t_{i} (account_id);")
            down = f"DROP TABLE t_{i};"
        files[f"{i:03d}_step_{i}.sql"] = f"-- UP\n{up}\n-- DOWN\n{down}\n"
    return files


def admin(params: dict[str, str]) -> psycopg.Connection:
    return psycopg.connect(Database(params).conninfo(), autocommit=True)


def make_template(params: dict[str, str]) -> None:
    with admin(params) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(TEMPLATE)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(TEMPLATE)))
    with psycopg.connect(Database({**params, "dbname": TEMPLATE}).conninfo(),
                         autocommit=True) as conn:
        conn.execute("CREATE TABLE accounts (id int PRIMARY KEY, name text NOT NULL)")
        conn.execute(f"INSERT INTO accounts SELECT g, 'account ' || g "
                     f"FROM generate_series(1, {ROWS}) g")
        conn.execute("VACUUM ANALYZE accounts")


def names(count: int) -> list[str]:
    return [f"{PREFIX}{i:03d}" for i in range(count)]


def drop_clones(params: dict[str, str], count: int) -> None:
    with admin(params) as conn:
        for name in names(count):
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


def clone(params: dict[str, str], count: int) -> None:
    """COUNT fresh databases, each a copy of the template (not timed)."""
    drop_clones(params, count)
    with admin(params) as conn:
        for name in names(count):
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(TEMPLATE)))
        conn.execute("CHECKPOINT")


def check(params: dict[str, str], count: int) -> None:
    """Every database got all 20 migrations and the backfill."""
    for name in names(count):
        with psycopg.connect(Database({**params, "dbname": name}).conninfo()) as conn:
            applied, filled = conn.execute(
                "SELECT (SELECT count(*) FROM nself.migrations), "
                "(SELECT count(*) FROM accounts WHERE score IS NOT NULL)").fetchone()
        if (applied, filled) != (20, ROWS):
            raise SystemExit(f"{name}: {applied} migrations applied, {filled} rows filled")


def run(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env={**CHILD_ENV, **env}, capture_output=True,
                          text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:6])} failed ({proc.returncode}): "
                         f"{proc.stdout[-1500:]}{proc.stderr[-1500:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--databases", type=int, default=100, help="how many databases")
    parser.add_argument("--parallel", type=int, default=8, help="the fleet's --parallel")
    parser.add_argument("--url", help="admin URL of the server to use (default: embedded 18)")
    args = parser.parse_args()
    params, _ = admin_params(args.url)
    nself = shutil.which("nself", path=str(Path(sys.executable).parent)) or "nself"
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(HERE.parent / "nself")],
                   env=CHILD_ENV, check=True)
    work = Path(tempfile.mkdtemp(prefix="nself-bench-fleet-"))
    (work / "nself.toml").write_text("")
    (work / "migrations").mkdir()
    for name, text in migrations().items():
        (work / "migrations" / name).write_text(text)
    server = {"DATABASE_URL": url_of(params, params.get("dbname", "postgres")),
              "NSELF_PROJECT_DIR": str(work)}
    loop = ("set -e; for url in " + " ".join(
        f"'{url_of(params, name)}'" for name in names(args.databases))
        + f"; do DATABASE_URL=\"$url\" {nself} db migrate up > /dev/null; done")
    fleet = [nself, "db", "fleet", "migrate", "up", "--match", PATTERN]
    results: dict[str, float] = {}
    try:
        make_template(params)
        for label, argv in (
                ("shell loop of `nself db migrate up`", ["bash", "-c", loop]),
                ("fleet --parallel 1", [*fleet, "--parallel", "1"]),
                (f"fleet --parallel {args.parallel}", [*fleet, "--parallel",
                                                      str(args.parallel)])):
            clone(params, args.databases)
            results[label] = run(argv, work, server)
            check(params, args.databases)
            print(f"{label:40} {results[label]:8.2f} s", flush=True)
    finally:
        drop_clones(params, args.databases)
        with admin(params) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(TEMPLATE)))
        shutil.rmtree(work, ignore_errors=True)
    loop_s, one, many = results.values()
    print(f"\n{args.databases} databases x 20 migrations, {os.cpu_count()} cores")
    print(f"fleet --parallel {args.parallel} vs the shell loop: {loop_s / many:.2f}x faster")
    print(f"fleet --parallel {args.parallel} vs --parallel 1:  {one / many:.2f}x faster")
    print(f"fleet --parallel 1 vs the shell loop: {loop_s / one:.2f}x faster")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
