#!/usr/bin/env python3
"""`nself db schema diagram` on a large live database (issue 20): 300 tables with about
600 foreign keys (the generator of tests/diagram/test_diagram_layout.py: three schemas,
references mostly to earlier tables, some back (cycles), some to themselves, 20 tables
with none), read from PostgreSQL and drawn as SVG.

Times (medians of --runs):
- introspection (the catalog read `schema export` also does),
- graph + layout + SVG text (what nself adds to the read: the target is under 1 s), with
  its CPU time beside the wall time (the machine may be shared),
- PNG (the same layout drawn by Pillow),
- the whole command as a process (`python -m nself db schema diagram --output x.svg`,
  start-up included),
- Graphviz's `dot -Tsvg` on the DOT text nself writes (`--format dot`) for the same
  schema, when `dot` is on PATH (the script says so when it is not).

Needs a PostgreSQL reachable over a URL (default: the machine's); creates and drops the
database nself_bench_diagram.

    python bench/bench_diagram.py [--runs 5] [--tables 300] [--fks 600] [--url URL]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "diagram"))

from test_diagram_layout import generated  # noqa: E402  (the tests' generator)

from nself.diagram import dot, layout, png, svg  # noqa: E402
from nself.diagram.graph import from_schema  # noqa: E402
from nself.schema.introspect import introspect  # noqa: E402

SCRATCH = "nself_bench_diagram"


def median(runs: int, work) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tables", type=int, default=300)
    parser.add_argument("--fks", type=int, default=600)
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    schema = generated(args.tables, args.fks).schema
    with psycopg.connect(args.url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {SCRATCH}")
        admin.execute(f"CREATE DATABASE {SCRATCH}")
        version = admin.execute("SHOW server_version").fetchone()[0]
    url = psycopg.conninfo.make_conninfo(args.url, dbname=SCRATCH)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(generated(args.tables, args.fks).sql)
            read, model = median(args.runs, lambda: introspect(conn))
        graph = from_schema(model)
        print(f"PostgreSQL {version}: {len(graph.nodes)} tables, {len(graph.edges)} foreign "
              f"keys, {sum(len(n.columns) for n in graph.nodes.values())} columns "
              f"(generated schema: {len(schema.tables)} tables); median of {args.runs}")
        drawn, text = median(args.runs, lambda: svg.render(layout.layout(from_schema(model))))
        cpu = statistics.median(_cpu(lambda: svg.render(layout.layout(from_schema(model))))
                                for _ in range(args.runs))
        placed = layout.layout(graph)
        laid, _ = median(args.runs, lambda: layout.layout(graph))
        picture, data = median(args.runs, lambda: png.render(placed))
        print(f"  introspection                      {read * 1000:7.0f} ms")
        print(f"  graph + layout + SVG text          {drawn * 1000:7.0f} ms  "
              f"(CPU {cpu:.0f} ms; layout alone {laid * 1000:.0f} ms; SVG "
              f"{len(text) / 1e6:.2f} MB, {placed.width:.0f} x {placed.height:.0f})")
        print(f"  PNG (Pillow, from the layout)      {picture * 1000:7.0f} ms  "
              f"({len(data) / 1e6:.2f} MB)")
        with tempfile.TemporaryDirectory() as folder:
            env = {**os.environ, "DATABASE_URL": _url(args.url, SCRATCH)}
            (Path(folder) / "migrations").mkdir()
            whole, _ = median(args.runs, lambda: subprocess.run(
                [sys.executable, "-m", "nself", "db", "schema", "diagram", "--output", "x.svg"],
                cwd=folder, env=env, check=True, capture_output=True))
        print(f"  whole command (process, to x.svg)  {whole * 1000:7.0f} ms")
        program = shutil.which("dot")
        if program is None:
            print("  dot -Tsvg: Graphviz's dot is not on PATH here; not measured")
            return
        dot_text = dot.render(graph)
        graphviz, _ = median(args.runs, lambda: subprocess.run(
            [program, "-Tsvg"], input=dot_text.encode(), check=True, capture_output=True))
        print(f"  dot -Tsvg on the same DOT text     {graphviz * 1000:7.0f} ms")
    finally:
        with psycopg.connect(args.url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {SCRATCH} WITH (FORCE)")


def _cpu(work) -> float:
    """The process CPU milliseconds WORK takes (steadier than wall time on a busy machine)."""
    started = time.process_time()
    work()
    return (time.process_time() - started) * 1000


def _url(base: str, dbname: str) -> str:
    """BASE (a postgresql:// URL) with its database replaced by DBNAME."""
    head, _, tail = base.rpartition("/")
    query = tail.partition("?")[2]
    return f"{head}/{dbname}" + (f"?{query}" if query else "")


if __name__ == "__main__":
    main()
