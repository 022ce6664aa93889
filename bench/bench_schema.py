#!/usr/bin/env python3
"""Schema tools (issue 9): DBML parse, introspection, and introspection + diff of two
databases, side by side with migra on the same pair, in one run.

Generated schemas: N tables of 10 columns, 3 indexes and 2 foreign keys each (N = 50, 200,
1,000); database B is A with a few dozen differences. Needs a PostgreSQL reachable over a
URL (default: the machine's, postgresql://postgres@127.0.0.1:5432/postgres); creates and
drops databases named nself_bench_schema_*. migra runs from its own virtualenv (it needs
SQLAlchemy < 2 and psycopg2): pass its binary with --migra, e.g.

    python3 -m venv /tmp/bv && /tmp/bv/bin/pip install migra psycopg2-binary 'sqlalchemy<2'
    python bench/bench_schema.py --migra /tmp/bv/bin/migra [--runs 3] [--sizes 50,200,1000]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nself.schema.dbml import parse_dbml  # noqa: E402
from nself.schema.diff import diff  # noqa: E402
from nself.schema.introspect import introspect  # noqa: E402
from nself.schema.render import to_dbml  # noqa: E402


def schema_sql(n: int, variant: int = 0) -> str:
    """N tables, 10 columns, 3 indexes, 2 FKs each (to earlier tables); variant 1 changes
    every 40th table (a column type, a new column, a dropped index) and adds two tables."""
    out = []
    for i in range(n):
        changed = variant and i % 40 == 7
        cols = ["id bigint PRIMARY KEY", "name text NOT NULL", "email varchar(255)",
                f"score {'numeric(12,2)' if changed else 'integer'} DEFAULT 0",
                "created_at timestamptz DEFAULT now()", "flag boolean", "body text",
                "amount numeric(10,2)", f"ref_a bigint{f' REFERENCES t{i - 1}' if i else ''}",
                f"ref_b bigint{f' REFERENCES t{i - 2}' if i > 1 else ''}"]
        if changed:
            cols.append("extra jsonb")
        out.append(f"CREATE TABLE t{i} ({', '.join(cols)});")
        out.append(f"CREATE INDEX t{i}_name ON t{i} (name);")
        out.append(f"CREATE INDEX t{i}_created ON t{i} (created_at);")
        if not changed:
            out.append(f"CREATE UNIQUE INDEX t{i}_email ON t{i} (email);")
    if variant:
        out += [f"CREATE TABLE extra{k} (id int PRIMARY KEY, v text);" for k in range(2)]
    return "\n".join(out)


def median(fn, runs: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def url_for(admin: str, name: str) -> str:
    base, _, _ = admin.rpartition("/")
    return f"{base}/{name}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sizes", default="50,200,1000")
    parser.add_argument("--migra", help="path of the migra binary (skipped when absent)")
    args = parser.parse_args()
    admin = psycopg.connect(args.url, autocommit=True)
    for n in [int(x) for x in args.sizes.split(",")]:
        names = [f"nself_bench_schema_a_{n}", f"nself_bench_schema_b_{n}"]
        for name, variant in zip(names, (0, 1), strict=True):
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            with psycopg.connect(url_for(args.url, name), autocommit=True) as conn:
                conn.execute(schema_sql(n, variant))
        try:
            a_url, b_url = (url_for(args.url, name) for name in names)
            with psycopg.connect(a_url, autocommit=True) as a, \
                    psycopg.connect(b_url, autocommit=True) as b:
                model = introspect(a)
                text = to_dbml(model)
                t_parse, _ = median(lambda: parse_dbml(text), args.runs)  # noqa: B023
                t_intro, _ = median(lambda: introspect(a), args.runs)  # noqa: B023
                t_both, plan = median(lambda: diff(introspect(a), introspect(b)),  # noqa: B023
                                      args.runs)
            print(f"\n{n} tables (medians of {args.runs})")
            print(f"  DBML parse (pydbml + ours)           {t_parse:7.3f} s")
            print(f"  introspection of one database         {t_intro:7.3f} s")
            print(f"  nself introspect both + diff          {t_both:7.3f} s "
                  f"({len(plan.differences)} differences)")
            if args.migra:
                def run_migra():
                    done = subprocess.run([args.migra, "--unsafe", a_url, b_url],  # noqa: B023
                                          capture_output=True, text=True)
                    if done.returncode not in (0, 2):
                        raise SystemExit(f"migra failed: {done.stderr.strip()[-300:]}")
                    return done.stdout
                t_migra, out = median(run_migra, args.runs)
                statements = sum(1 for line in out.splitlines() if line.strip().endswith(";"))
                print(f"  migra (whole process)                 {t_migra:7.3f} s "
                      f"({statements} statements)")
                print(f"  ratio nself / migra                   {t_both / t_migra:7.2f}x")
        finally:
            for name in names:
                admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)))


if __name__ == "__main__":
    main()
