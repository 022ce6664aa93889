#!/usr/bin/env python3
"""`nself db status` and `migrate status` vs `python -c "import invoke, psycopg"`, in one run.

Target (issues 3 and 16): each status command adds at most 30% over those imports. Runs
in a temporary project (20 applied migrations by default) against its embedded server
(started once before timing), or against DATABASE_URL when set. The commands run in turn
(imports, db status, migrate status, imports, ...) so a machine whose speed drifts during
the run moves all of them alike; prints medians of wall and CPU time (the process's own
user + system: on a loaded machine wall time is mostly waiting for a core) and each
command's ratio to the imports.

`--old REF` also times the same two commands from the nself package of git REF (exported
to a temporary folder and put first on PYTHONPATH), in the same rounds: before/after in
one run.

    python bench/bench_status.py [--runs 31] [--old HEAD]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET = 1.30


def timed(argv: list[str], cwd: str, env: dict) -> tuple[float, float]:
    """Wall seconds of one run, and the CPU seconds (user + system) the process used: on a
    loaded machine the wall time mostly measures waiting for a core."""
    start = time.perf_counter()
    child = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise subprocess.CalledProcessError(child.returncode, argv)
    return wall, usage.ru_utime + usage.ru_stime


def export(ref: str, into: Path) -> Path:
    """The nself package of git REF, byte-compiled, in INTO (for PYTHONPATH)."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", ref, "nself"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=31, help="rounds (each runs every command)")
    parser.add_argument("--old", metavar="REF", help="also time the nself of this git ref")
    parser.add_argument("--migrations", type=int, default=20,
                        help="applied migration files in the project (status reads each)")
    args = parser.parse_args()
    nself = str(Path(sys.executable).with_name("nself"))
    # An installed nself has its bytecode; PYTHONDONTWRITEBYTECODE (set in some shells)
    # would make every start recompile nself's modules while the baseline's are cached.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with tempfile.TemporaryDirectory(prefix="nself-bench-") as root, \
            tempfile.TemporaryDirectory(prefix="nself-old-") as old_root:
        (Path(root) / "nself.toml").write_text("")  # what `nself init` marks a project with
        folder = Path(root) / "migrations"
        folder.mkdir()
        for n in range(1, args.migrations + 1):
            (folder / f"{n:03d}_table_{n}.sql").write_text(
                f"-- UP\nCREATE TABLE t{n} (id int PRIMARY KEY, note text);\n"
                f"-- DOWN\nDROP TABLE t{n};\n")
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "nself")],
                       check=True, env=env)
        commands = {
            "python -c 'import invoke, psycopg'": (
                [sys.executable, "-c", "import invoke, psycopg"], env),
            "nself db status": ([nself, "db", "status"], env),
            "nself db migrate status": ([nself, "db", "migrate", "status"], env),
            # a reference, not the target: the same imports without garbage collection,
            # as nself loads its modules (nself/__main__.py)
            "(the imports with gc disabled)": (
                [sys.executable, "-c", "import gc; gc.disable(); import invoke, psycopg"], env),
        }
        if args.old:
            old_env = dict(env, PYTHONPATH=str(export(args.old, Path(old_root))))
            subprocess.run([sys.executable, "-m", "compileall", "-q", old_root], check=True,
                           env=old_env)
            commands[f"nself db status ({args.old})"] = ([nself, "db", "status"], old_env)
            commands[f"nself db migrate status ({args.old})"] = (
                [nself, "db", "migrate", "status"], old_env)
        subprocess.run([nself, "db", "start"], cwd=root, env=env, check=True,
                       stdout=subprocess.DEVNULL)
        subprocess.run([nself, "db", "migrate", "up"], cwd=root, env=env, check=True,
                       stdout=subprocess.DEVNULL)
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        try:
            for _ in range(2):  # warm the page cache for every command before timing
                for argv, run_env in commands.values():
                    timed(argv, root, run_env)
            for _ in range(args.runs):
                for name, (argv, run_env) in commands.items():
                    times[name].append(timed(argv, root, run_env))
        finally:
            subprocess.run([nself, "db", "stop"], cwd=root, env=env, stdout=subprocess.DEVNULL)
    base_name = next(iter(commands))
    width = max(map(len, commands))
    print(f"medians of {args.runs} rounds, load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores; ratios to the imports (target <= {TARGET:.2f}x): "
          "of the medians, and the median of each round's own ratio (paired)")
    print(f"{'':<{width}}  {'wall':>8}  {'ratio':>6}  {'paired':>6}  {'cpu':>8}  {'ratio':>6}  "
          f"{'paired':>6}")
    for name, values in times.items():
        line = f"{name:<{width}}"
        for kind in (0, 1):  # wall, cpu
            mine = [value[kind] for value in values]
            base = [value[kind] for value in times[base_name]]
            median = statistics.median(mine)
            line += f"  {median * 1000:6.1f}ms"
            if name != base_name:
                paired = statistics.median(a / b for a, b in zip(mine, base, strict=True))
                line += f"  {median / statistics.median(base):5.2f}x  {paired:5.2f}x"
            else:
                line += f"  {'':6}  {'':6}"
        print(line)

if __name__ == "__main__":
    main()
