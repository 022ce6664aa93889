#!/usr/bin/env python3
"""`nself db status` wall time vs `python -c "import invoke, psycopg"`, in one run.

Target (issue 3): the command adds at most 30% over those imports. Runs in a
temporary project against its embedded server (started once before timing),
or against DATABASE_URL when set. Prints medians and the ratio.

    python bench/bench_status.py [--runs 15]
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


def median_time(argv: list[str], runs: int, cwd: str, env: dict) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    nself = str(Path(sys.executable).with_name("nself"))
    with tempfile.TemporaryDirectory(prefix="nself-bench-") as root:
        (Path(root) / "migrations").mkdir()
        # An installed nself has its bytecode; PYTHONDONTWRITEBYTECODE (set in some shells)
        # would make every start recompile nself's modules while the baseline's are cached.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        repo = Path(__file__).resolve().parent.parent
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(repo / "nself")],
                       check=True, env=env)
        subprocess.run([nself, "db", "start"], cwd=root, env=env, check=True,
                       stdout=subprocess.DEVNULL)
        try:
            # warm the page cache for both before timing
            median_time([nself, "db", "status"], 2, root, env)
            imports = median_time([sys.executable, "-c", "import invoke, psycopg"], args.runs,
                                  root, env)
            status = median_time([nself, "db", "status"], args.runs, root, env)
        finally:
            subprocess.run([nself, "db", "stop"], cwd=root, env=env, stdout=subprocess.DEVNULL)
    print(f"python -c 'import invoke, psycopg'  median {imports * 1000:7.1f} ms")
    print(f"nself db status                     median {status * 1000:7.1f} ms")
    print(f"ratio status / imports              {status / imports:7.2f}x  (target <= 1.30x)")


if __name__ == "__main__":
    main()
