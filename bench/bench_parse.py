#!/usr/bin/env python3
"""Splitting and locating a large migration's statements vs psql running the same file.

Issue 15: a migration of `BEGIN;` + 20,000 INSERTs + `COMMIT;` took 48.8 s in nself
before the server saw it (finding each statement's line was quadratic in the file size).
Times, in one run, on two files:

- 100,000 INSERT statements (`-- UP` + the statements),
- `BEGIN;` + 20,000 INSERT statements + `COMMIT;`,

what nself does with the file before sending it (decode, sections, `plan.prepare`:
split, lines, classification, BEGIN/COMMIT blanked), a raw `pglast.parser.split` of the
same text (the floor: one parse in C, no lines), and psql running the file against a
scratch database (`--url`, default DATABASE_URL or the machine's PostgreSQL; `-1` for the
file without BEGIN/COMMIT). `--old` also times the line search nself did before (each
statement's line counted from the start of the file). Prints medians and the ratios.

    python bench/bench_parse.py [--runs 3] [--old] [--url postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
from pglast import parser

from nself import sql
from nself.migrations import files, plan

SCRATCH = "nself_bench_parse"
TABLE = "CREATE TABLE t (id int, name text, note text)"


def inserts(count: int) -> str:
    return "".join(f"INSERT INTO t (id, name, note) VALUES ({i}, 'name {i}', 'x;y');\n"
                   for i in range(count))


def median(runs: int, work) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def nself_prepare(raw: bytes) -> None:
    """What `migrate up` does with a file before the server sees it."""
    m = files.Migration(1, "001", "big", "001_big.sql", files.normalise(raw), "001_big.sql",
                        raw)
    prepared = plan.prepare(m, m.up, m.no_transaction, strict=True)
    assert prepared.statements and prepared.body


def raw_split(raw: bytes) -> None:
    list(parser.split(raw.decode(), with_parser=True, only_slices=True))


def psql_run(psql: str, url: str, path: Path, one_transaction: bool) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS t")
        conn.execute(TABLE)
    single = ["-1"] if one_transaction else []
    subprocess.run([psql, "-X", "-q", *single, "-v", "ON_ERROR_STOP=1", "-d", url, "-f",
                    str(path)], check=True, stdout=subprocess.DEVNULL)


def old_locate(raw: bytes) -> None:
    """The lines as nself found them before issue 15: each counted from the file's start."""
    text = raw.decode()
    for start, _ in sql.slices(text):
        len(files.LINE_BREAK.findall(text, 0, start))


def main() -> None:
    parser_ = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser_.add_argument("--runs", type=int, default=3)
    parser_.add_argument("--old", action="store_true",
                         help="also time the old, quadratic line search (minutes at 100k)")
    parser_.add_argument("--url", default=os.environ.get(
        "DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = parser_.parse_args()
    psql = shutil.which("psql") or "psql"
    with psycopg.connect(args.url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {SCRATCH}")
        conn.execute(f"CREATE DATABASE {SCRATCH}")
    scratch = psycopg.conninfo.make_conninfo(args.url, dbname=SCRATCH)
    # (text, psql -1: the file has no BEGIN/COMMIT of its own, so psql runs it as one
    # transaction, as nself does; 100,000 commits would time the disk, not the server);
    # --old only on the file (at 100,000 the old search takes about 20 minutes)
    cases = {"100,000 INSERTs": ("-- UP\n" + inserts(100_000), True, False),
             "BEGIN + 20,000 INSERTs + COMMIT": ("-- UP\nBEGIN;\n" + inserts(20_000)
                                                 + "COMMIT;\n", False, True)}
    try:
        with tempfile.TemporaryDirectory(prefix="nself-bench-parse-") as folder:
            for title, (text, one_transaction, old_too) in cases.items():
                raw = text.encode()
                path = Path(folder) / "001_big.sql"
                path.write_bytes(raw)
                ours = median(args.runs, lambda raw=raw: nself_prepare(raw))
                floor = median(args.runs, lambda raw=raw: raw_split(raw))
                server = median(args.runs, lambda path=path, one=one_transaction: psql_run(
                    psql, scratch, path, one))
                print(f"{title} ({len(raw) / 1e6:.1f} MB), median of {args.runs}:")
                print(f"  nself split + lines + classify  {ours:7.3f} s")
                print(f"  pglast.parser.split (no lines)  {floor:7.3f} s   "
                      f"nself / split {ours / floor:5.2f}x")
                how = "psql -1 -f" if one_transaction else "psql -f   "
                print(f"  {how} (the server runs it) {server:7.3f} s   "
                      f"nself / psql  {ours / server:5.2f}x")
                if args.old and old_too:
                    old = median(1, lambda raw=raw: old_locate(raw))
                    print(f"  before issue 15: lines alone    {old:7.3f} s   "
                          f"old / nself   {old / ours:5.0f}x")
    finally:
        with psycopg.connect(args.url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {SCRATCH}")


if __name__ == "__main__":
    main()
