"""Benchmark `nself db backup` / `nself db restore` against the raw tools, in one run.

    python bench/bench_backup.py                 # ~1 GB database (built once, then reused)
    python bench/bench_backup.py --scale 0.1     # ~100 MB, for a quick look
    python bench/bench_backup.py --url postgresql://postgres@127.0.0.1:5432/postgres

Without --url the database lives on an embedded PostgreSQL 18 kept in
/tmp/nself-bench (delete that folder to rebuild). The database `bench_<scale>`
holds users + orders with indexes, made by generate_series; it is reused when
it exists. Every number below is measured in the same run, on the same data:

- `nself db backup` (default format, verification included), as a child process
- `pg_dump -Fc -Z0 -f` (the floor: no compression at all)
- `pg_dump | gzip` (the guides' `.sql.gz`)
- `nself db restore` vs `pg_restore -d` (single job) into empty databases
- `nself db restore --clean` over the restored copy (the atomic case: the wipe and the load
  in one transaction), vs `pg_restore --clean --if-exists --single-transaction -d`

`--restore-only` skips the dump measurements (one `nself db backup` still makes the file).
`--before DIR` also times both nself restores with the `nself` package found in DIR (the
code before a change, e.g. `git archive <commit> nself | tar -x -C DIR`), alternating with
this checkout's in every round.
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
from nself.pg import tools as pgtools  # noqa: E402

USERS_PER_SCALE = 1_500_000
ORDERS_PER_SCALE = 7_000_000

BUILD_SQL = """
CREATE TABLE users (
    id bigserial PRIMARY KEY,
    email text NOT NULL UNIQUE,
    name text NOT NULL,
    country char(2) NOT NULL,
    bio text,
    created_at timestamptz NOT NULL
);
INSERT INTO users (email, name, country, bio, created_at)
SELECT 'user' || i || '@example.com',
       initcap(substr(md5(i::text), 1, 6)) || ' ' || initcap(substr(md5((i * 7)::text), 1, 9)),
       (ARRAY['US','DE','FR','GB','BR','IN','JP','NL'])[1 + i % 8],
       CASE WHEN i % 3 = 0 THEN NULL
            ELSE 'Likes ' || (ARRAY['hiking','chess','jazz','rust','sql','tea'])[1 + i % 6]
                 || ' and ' || md5((i * 13)::text) END,
       timestamptz '2020-01-01' + (i % 100000) * interval '17 minutes'
FROM generate_series(1::bigint, {users}) AS i;

CREATE TABLE orders (
    id bigserial PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id),
    amount numeric(10, 2) NOT NULL,
    status text NOT NULL,
    note text,
    created_at timestamptz NOT NULL
);
INSERT INTO orders (user_id, amount, status, note, created_at)
SELECT 1 + (i * 7919) % {users},
       ((i * 31) % 100000) / 100.0,
       (ARRAY['paid','shipped','delivered','refunded','pending'])[1 + i % 5],
       CASE WHEN i % 4 = 0 THEN 'gift wrap ' || substr(md5(i::text), 1, 12) END,
       timestamptz '2021-01-01' + (i % 500000) * interval '1 minute'
FROM generate_series(1::bigint, {orders}) AS i;
CREATE INDEX orders_user_id ON orders (user_id);
CREATE INDEX orders_created_at ON orders (created_at);
ANALYZE;
"""


def admin_params(url: str | None) -> dict[str, str]:
    if url:
        from psycopg.conninfo import conninfo_to_dict

        return {k: str(v) for k, v in conninfo_to_dict(url).items()}
    from nself.pg.embedded import EmbeddedServer

    server = EmbeddedServer(Path("/tmp/nself-bench"))
    server.ensure_running()
    return server.connection_params("postgres")


def connect(params: dict[str, str], dbname: str) -> psycopg.Connection:
    return psycopg.connect(Database(params).conninfo(dbname), autocommit=True)


def ensure_database(params: dict[str, str], name: str, scale: float) -> None:
    with connect(params, "postgres") as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists:
            with connect(params, name) as db:
                if db.execute("SELECT to_regclass('orders') IS NOT NULL").fetchone()[0]:
                    return
            conn.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    print(f"building {name} (scale {scale}) ...", flush=True)
    started = time.monotonic()
    with connect(params, name) as db:
        db.execute(BUILD_SQL.format(users=int(USERS_PER_SCALE * scale),
                                    orders=int(ORDERS_PER_SCALE * scale)))
    print(f"built in {time.monotonic() - started:.0f} s", flush=True)


def fresh_database(params: dict[str, str], name: str) -> None:
    with connect(params, "postgres") as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def url_of(params: dict[str, str], dbname: str) -> str:
    host = params.get("host", "")
    user = params.get("user", "postgres")
    port = params.get("port", "5432")
    if host.startswith("/"):
        return f"postgresql://{user}@/{dbname}?host={host}&port={port}"
    return f"postgresql://{user}@{host}:{port}/{dbname}"


def timed(argv, **kw) -> float:
    started = time.monotonic()
    subprocess.run(argv, check=True, **kw)
    return time.monotonic() - started


def time_restores(params, name, database, pg_restore, ours, work, nself_env, record,
                  before: str | None = None) -> None:
    """Restores into a fresh, empty database, then over the restored data (--clean); with
    `before`, the same two with the nself package in that folder too."""
    target = f"{name}_r"
    fresh_database(params, target)
    t = timed([pg_restore, "-d", target, str(ours)], env=pgtools.tool_env(database, target))
    record("pg_restore -d (1 job)", t)
    t = timed([pg_restore, "--clean", "--if-exists", "--single-transaction", "-d", target,
               str(ours)], env=pgtools.tool_env(database, target))
    record("pg_restore --clean -1", t)
    restore_env = {**nself_env, "DATABASE_URL": url_of(params, target)}
    if before:
        time_nself(params, target, ours, work, {**restore_env, "PYTHONPATH": before}, record,
                   " (before)")
    time_nself(params, target, ours, work, restore_env, record)
    with connect(params, target) as conn:
        restored = conn.execute("SELECT count(*) FROM orders").fetchone()[0]
    with connect(params, name) as conn:
        original = conn.execute("SELECT count(*) FROM orders").fetchone()[0]
    assert restored == original, (restored, original)


def time_nself(params, target, ours, work, restore_env, record, suffix: str = "") -> None:
    """`nself db restore` into a fresh database, then `--clean` over what it restored."""
    fresh_database(params, target)
    # the backup is of the bench database, so the copy is "another source"
    t = timed([sys.executable, "-m", "nself", "db", "restore", str(ours),
               "--allow-other-source", "--yes"], cwd=work, env=restore_env,
              stdout=subprocess.DEVNULL)
    record("nself db restore" + suffix, t)
    t = timed([sys.executable, "-m", "nself", "db", "restore", str(ours), "--clean", "--yes",
               "--no-backup", "--allow-other-source"], cwd=work, env=restore_env,
              stdout=subprocess.DEVNULL)
    record("nself db restore --clean" + suffix, t)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 is about 1 GB")
    parser.add_argument("--url", help="admin URL of the server to use (default: embedded 18)")
    parser.add_argument("--build-only", action="store_true")
    parser.add_argument("--rounds", type=int, default=3,
                        help="run every measurement this many times, report the median")
    parser.add_argument("--levels", action="store_true",
                        help="also time pg_dump -Fc at -Z1..-Z3 (to choose the default)")
    parser.add_argument("--restore-only", action="store_true",
                        help="time only the restores (one backup still makes the file)")
    parser.add_argument("--before", metavar="DIR",
                        help="also time the restores with the nself package in DIR")
    args = parser.parse_args()

    params = admin_params(args.url)
    name = f"bench_{str(args.scale).replace('.', '_')}"
    ensure_database(params, name, args.scale)
    if args.build_only:
        return 0
    with connect(params, name) as conn:
        major = conn.info.server_version // 10000
        db_size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
    database = Database({**params, "dbname": name})
    env = pgtools.tool_env(database, name)
    pg_dump = pgtools.find("pg_dump", major).path
    pg_restore = pgtools.find("pg_restore", major).path

    work = Path(tempfile.mkdtemp(prefix="nself-bench-"))
    (work / "migrations").mkdir()
    nself_env = {**os.environ, "DATABASE_URL": url_of(params, name), "ENV": "local"}
    runs: dict[str, list[float]] = {}
    sizes: dict[str, int | None] = {}

    def record(label: str, seconds: float, size: int | None = None) -> None:
        runs.setdefault(label, []).append(seconds)
        sizes[label] = size
        print(f"  {label:<33} {seconds:6.2f} s", flush=True)

    try:
        # Warm the cache once so the first measured run is not penalised.
        subprocess.run([pg_dump, "-Fc", "-Z0", "--no-sync", "-f", "/dev/null"], env=env, check=True)
        for round_no in range(1, args.rounds + 1):
            print(f"round {round_no}/{args.rounds}", flush=True)
            ours = work / "backups" / "local" / "bench.dump"
            if args.restore_only:
                if not ours.exists():
                    subprocess.run([sys.executable, "-m", "nself", "db", "backup", "--name",
                                    "bench"], cwd=work, env=nself_env, check=True,
                                   stdout=subprocess.DEVNULL)
                time_restores(params, name, database, pg_restore, ours, work, nself_env,
                              record, args.before)
                continue
            raw = work / "raw_z0.dump"
            t = timed([pg_dump, "-Fc", "-Z0", "-f", str(raw)], env=env)
            record("pg_dump -Fc -Z0", t, raw.stat().st_size)
            raw.unlink()

            gz = work / "raw.sql.gz"
            t = timed(["sh", "-c", f"'{pg_dump}' | gzip > '{gz}'"], env=env)
            record("pg_dump | gzip", t, gz.stat().st_size)
            gz.unlink()

            if args.levels:
                for level in (1, 2, 3, 6):
                    out = work / f"z{level}.dump"
                    t = timed([pg_dump, "-Fc", f"-Z{level}", "-f", str(out)], env=env)
                    record(f"pg_dump -Fc -Z{level}", t, out.stat().st_size)
                    out.unlink()

            ours = work / "backups" / "local" / "bench.dump"
            for path in ours.parent.glob("bench.dump*"):
                path.unlink()
            t = timed([sys.executable, "-m", "nself", "db", "backup", "--name", "bench"],
                      cwd=work, env=nself_env, stdout=subprocess.DEVNULL)
            record("nself db backup", t, ours.stat().st_size)

            time_restores(params, name, database, pg_restore, ours, work, nself_env, record,
                          args.before)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        with connect(params, "postgres") as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(f"{name}_r")))
    results = {label: (statistics.median(times), sizes[label]) for label, times in runs.items()}

    print(f"\nPostgreSQL {major}, database {name}: {db_size / 2**20:.0f} MB on disk, "
          f"{os.cpu_count()} cores, median of {args.rounds} run(s)\n")
    print(f"| {'what':<33} | {'seconds':>7} | {'size MB':>8} |")
    print(f"|{'-' * 35}|{'-' * 9}|{'-' * 10}|")
    for label, (seconds, size) in results.items():
        shown = f"{size / 2**20:.1f}" if size is not None else "-"
        print(f"| {label:<33} | {seconds:>7.2f} | {shown:>8} |")
    restore_t = results["nself db restore"][0]
    raw_restore_t = results["pg_restore -d (1 job)"][0]
    checks = [
        (f"restore / pg_restore -d = {restore_t / raw_restore_t:.2f}x (target <= 1.0x)",
         restore_t <= raw_restore_t),
    ]
    if not args.restore_only:
        backup_t, backup_size = results["nself db backup"]
        z0_t = results["pg_dump -Fc -Z0"][0]
        gz_t, gz_size = results["pg_dump | gzip"]
        checks[:0] = [
            (f"backup / -Z0 dump = {backup_t / z0_t:.2f}x (target <= 1.5x)",
             backup_t / z0_t <= 1.5),
            (f"pg_dump|gzip / backup = {gz_t / backup_t:.2f}x (target >= 2x)",
             gz_t / backup_t >= 2),
            (f"backup size / gzip size = {backup_size / gz_size:.3f} (target <= 1.15)",
             backup_size / gz_size <= 1.15),
        ]
    print()
    for text, passed in checks:
        print(f"{'PASS' if passed else 'MISS'}  {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
