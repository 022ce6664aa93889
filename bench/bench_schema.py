#!/usr/bin/env python3
"""Schema tools (issue 9): DBML parse, `schema import --dry-run` end to end with its phase
split, and introspection + diff of two databases side by side with migra and pgmig on the
same pair, in one run; then the SET of differences each tool finds on that pair.

Generated schemas: N tables of 10 columns, 3 indexes and 2 foreign keys each (N = 50, 200,
1,000). Database B is A with a few dozen differences of eight kinds (see `schema_sql`).
Needs a PostgreSQL reachable over a URL (default: the machine's,
postgresql://postgres@127.0.0.1:5432/postgres); creates and drops databases named
nself_bench_schema_* (and the import's own shadow databases).

For every N:
- DBML parse of B's DBML (nself's `to_dbml` of B), pydbml and ours;
- `schema import --dry-run` on a scratch project whose migrations/001_base.sql creates A and
  whose schema.dbml is B's: `nself.schema.importer.generate` in-process (with its phase
  split: parse, shadow replay, introspection, build the DBML's schema, diff, verification)
  and the real CLI process `python -m nself db schema import --dry-run`;
- introspection of both + diff: nself in-process, and `nself db schema diff staging` as a
  process, against migra and pgmig, each both in-process (work only, imports excluded) and
  as a whole process (start-up included).

The peers run from virtualenvs of their own (migra needs SQLAlchemy < 2 and psycopg2;
pgmig needs Python >= 3.11; it is also in nself's `bench` extra):

    python3 -m venv /tmp/bv && /tmp/bv/bin/pip install migra psycopg2-binary 'sqlalchemy<2'
    python3 -m venv /tmp/bvp && /tmp/bvp/bin/pip install pgmig 'psycopg[binary]'
    python bench/bench_schema.py --migra /tmp/bv/bin/migra --pgmig /tmp/bvp/bin/pgmig \\
        [--runs 3] [--sizes 50,200,1000]
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
from collections.abc import Callable
from contextlib import contextmanager, nullcontext
from pathlib import Path

import psycopg
from psycopg import sql

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from nself.config import Environment  # noqa: E402
from nself.errors import NselfError  # noqa: E402
from nself.schema import importer  # noqa: E402
from nself.schema.compare import compare  # noqa: E402
from nself.schema.dbml import parse_dbml  # noqa: E402
from nself.schema.diff import diff  # noqa: E402
from nself.schema.introspect import introspect  # noqa: E402
from nself.schema.render import to_dbml  # noqa: E402
from nself.schema.shadow import Shadows  # noqa: E402

PHASES = ("parse", "shadow replay", "introspection", "build the DBML's schema", "diff",
          "verification")
# Shadows methods timed on their own (see shadow_clock)
SHADOW_STEPS = {"_create": "of which CREATE DATABASE (shadows)",
                "_drop": "DROP DATABASE (shadows; released ones meanwhile)"}


# ------------------------------------------------------------------------------ schemas

def schema_sql(n: int, variant: int = 0, checks: bool = True) -> str:
    """N tables, 11 columns (one of an enum type), 3 indexes, 2 FKs each (to earlier
    tables). Variant 1 (B):
    - table i with i % 120 == 7: `score` integer -> numeric(12,2), a new column `extra`,
      the unique index on email dropped;
    - i % 120 == 47: column `body` dropped, `flag` NOT NULL, `score` DEFAULT 1;
    - i % 120 == 87: the FK on ref_a becomes ON DELETE CASCADE, a new index on amount, a
      new CHECK constraint;
    - the last table dropped (nothing references it); two new tables, one with an FK.
    CHECKS False: no CHECK (DBML cannot write one: nself's export puts it in the file's
    `Note nself_sql`, which the import builds in a shadow of its own)."""
    out = ["CREATE TYPE state AS ENUM ('new', 'active', 'gone');"]
    for i in range(n):
        kind = i % 120 if variant else None
        if variant and i == n - 1:
            continue
        cascade = " ON DELETE CASCADE" if kind == 87 else ""
        cols = ["id bigint PRIMARY KEY", "name text NOT NULL", "email varchar(255)",
                f"score {'numeric(12,2)' if kind == 7 else 'integer'} "
                f"DEFAULT {1 if kind == 47 else 0}",
                "created_at timestamptz DEFAULT now()",
                f"flag boolean{' NOT NULL' if kind == 47 else ''}",
                "body text", "amount numeric(10,2)", "state state DEFAULT 'new'",
                f"ref_a bigint{f' REFERENCES t{i - 1}{cascade}' if i else ''}",
                f"ref_b bigint{f' REFERENCES t{i - 2}' if i > 1 else ''}"]
        if kind == 7:
            cols.append("extra jsonb")
        if kind == 47:
            cols.remove("body text")
        if kind == 87 and checks:
            cols.append(f"CONSTRAINT t{i}_amount_positive CHECK (amount >= 0)")
        out.append(f"CREATE TABLE t{i} ({', '.join(cols)});")
        out.append(f"CREATE INDEX t{i}_name ON t{i} (name);")
        out.append(f"CREATE INDEX t{i}_created ON t{i} (created_at);")
        if kind != 7:
            out.append(f"CREATE UNIQUE INDEX t{i}_email ON t{i} (email);")
        if kind == 87:
            out.append(f"CREATE INDEX t{i}_amount ON t{i} (amount);")
    if variant:
        out += ["CREATE TABLE extra0 (id int PRIMARY KEY, v text);",
                "CREATE TABLE extra1 (id int PRIMARY KEY, t0_id bigint REFERENCES t0);"]
    return "\n".join(out)


# ------------------------------------------------------------------------------ helpers

def median(fn, runs: int, warm: bool = False) -> tuple[float, object]:
    if warm:
        fn()
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def url_for(admin: str, name: str) -> str:
    base, _, _ = admin.rpartition("/")
    return f"{base}/{name}"


def drop_kept(admin: psycopg.Connection, home: str) -> None:
    """Drop the replay `schema import` keeps for HOME (nself_kept_<its oid>_<key>)."""
    rows = admin.execute(
        "SELECT k.datname FROM pg_database h JOIN pg_database k ON k.datname LIKE "
        "'nself\\_kept\\_' || h.oid || '\\_%%' WHERE h.datname = %s", (home,)).fetchall()
    for (name,) in rows:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))


def recreate(admin: psycopg.Connection, name: str) -> None:
    admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
        sql.Identifier(name)))
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child process: no ENV/NSELF_*/DATABASE_URL of ours."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("ENV", "DATABASE_URL", "PYTHONDONTWRITEBYTECODE")
           and not k.startswith("NSELF_")}
    return {**env, **extra}


def run_process(argv: list[str], ok: tuple[int, ...], cwd: Path | None = None,
                env: dict[str, str] | None = None) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, cwd=cwd,
                          env=env or child_env())
    if done.returncode not in ok:
        raise SystemExit(f"{Path(argv[0]).name} {' '.join(argv[1:4])} failed "
                         f"(exit {done.returncode}): {done.stderr.strip()[-600:]}")
    return done.stdout


# peers in-process: the work only (imports and start-up excluded), in their own venvs
MIGRA_WORK = """
import json, sys, time
from migra import Migration
from sqlbag import S
a, b, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
def once():
    with S(a) as sa, S(b) as sb:
        m = Migration(sa, sb)
        m.set_safety(False)
        m.add_all_changes()
        return m.sql
once()
times = []
for _ in range(runs):
    t = time.perf_counter(); text = once(); times.append(time.perf_counter() - t)
print(json.dumps({"times": times, "sql": text}))
"""

PGMIG_WORK = """
import json, sys, time
from pgmig import generate
a, b, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
generate(source=a, target=b)
times = []
for _ in range(runs):
    t = time.perf_counter(); text = generate(source=a, target=b)
    times.append(time.perf_counter() - t)
print(json.dumps({"times": times, "sql": text}))
"""


def peer_in_process(binary: str, work: str, a_url: str, b_url: str, runs: int
                    ) -> tuple[float, str]:
    python = Path(binary).parent / "python"
    data = json.loads(run_process([str(python), "-c", work, a_url, b_url, str(runs)], (0,)))
    return statistics.median(data["times"]), data["sql"]


# ---------------------------------------------------------------- differences as a set

def pairs_of(text: str, owners: dict[str, str]) -> set[tuple[str, str]]:
    """A tool's SQL as a set of (kind, object): ('alter column type', 't7.score'),
    ('drop index', 't7_email'), ('create table', 'extra0'), ... (schema public left out).
    Objects of a table the same SQL creates or drops count as that table's (OWNERS: index
    name -> its table, for DROP INDEX); a constraint or index dropped and added again under
    its name is one ('replace …', name)."""
    import pglast
    from pglast import ast
    from pglast.enums import AlterTableType as At
    from pglast.enums import ConstrType as Ct
    from pglast.enums import ObjectType as Ot
    from pglast.stream import RawStream

    def rel(rv) -> str:
        return rv.relname if rv.schemaname in (None, "public") else \
            f"{rv.schemaname}.{rv.relname}"

    def dotted(names) -> str:
        parts = [n.sval for n in names]
        return ".".join(parts[1:] if parts[0] == "public" and len(parts) > 1 else parts)

    column_kinds = {At.AT_AddColumn: "add column", At.AT_DropColumn: "drop column",
                    At.AT_AlterColumnType: "alter column type",
                    At.AT_SetNotNull: "set not null", At.AT_DropNotNull: "drop not null"}
    constraint_kinds = {Ct.CONSTR_FOREIGN: "add foreign key", Ct.CONSTR_CHECK: "add check",
                        Ct.CONSTR_PRIMARY: "add primary key", Ct.CONSTR_UNIQUE: "add unique",
                        Ct.CONSTR_EXCLUSION: "add exclusion"}
    found: list[tuple[str, str, str]] = []   # (kind, object, table it belongs to)
    for raw in pglast.parse_sql(text):
        node = raw.stmt
        if isinstance(node, ast.CreateStmt):
            found.append(("create table", rel(node.relation), rel(node.relation)))
        elif isinstance(node, ast.DropStmt) and node.removeType in (Ot.OBJECT_TABLE,
                                                                    Ot.OBJECT_INDEX):
            kind = "drop table" if node.removeType == Ot.OBJECT_TABLE else "drop index"
            for names in node.objects:
                name = dotted(names)
                found.append((kind, name, name if kind == "drop table"
                              else owners.get(name, "")))
        elif isinstance(node, ast.IndexStmt):
            found.append(("create index", node.idxname, rel(node.relation)))
        elif isinstance(node, ast.AlterTableStmt):
            table = rel(node.relation)
            for cmd in node.cmds:
                if cmd.subtype in column_kinds:
                    name = cmd.name or cmd.def_.colname
                    found.append((column_kinds[cmd.subtype], f"{table}.{name}", table))
                elif cmd.subtype == At.AT_ColumnDefault:
                    kind = "set default" if cmd.def_ is not None else "drop default"
                    found.append((kind, f"{table}.{cmd.name}", table))
                elif cmd.subtype == At.AT_AddConstraint:
                    kind = constraint_kinds.get(cmd.def_.contype, "add constraint")
                    found.append((kind, f"{table}.{cmd.def_.conname}", table))
                elif cmd.subtype == At.AT_DropConstraint:
                    found.append(("drop constraint", f"{table}.{cmd.name}", table))
                elif cmd.subtype == At.AT_ValidateConstraint:
                    continue  # the second half of an ADD … NOT VALID
                else:
                    found.append((cmd.subtype.name, table, table))
        else:
            found.append((type(node).__name__, RawStream()(node)[:60], ""))
    whole = {obj for kind, obj, _ in found if kind in ("create table", "drop table")}
    pairs = {(kind, obj) for kind, obj, table in found
             if kind in ("create table", "drop table") or table not in whole}
    for dropped, added, word in (("drop constraint", None, "replace constraint"),
                                 ("drop index", "create index", "replace index")):
        for kind, obj in list(pairs):
            if kind != dropped:
                continue
            again = [p for p in pairs if p[1] == obj and p[0] != dropped
                     and (p[0] == added if added else p[0].startswith("add "))]
            if again:
                pairs -= {(kind, obj), *again}
                pairs.add((word, obj))
    return pairs


def compare_sets(name: str, mine: set, theirs: set) -> dict:
    agreed = mine & theirs
    only_mine, only_theirs = sorted(mine - theirs), sorted(theirs - mine)
    print(f"  nself vs {name}: {len(agreed)} agreed, {len(only_mine)} only nself, "
          f"{len(only_theirs)} only {name}")
    for label, items in (("only nself", only_mine), (f"only {name}", only_theirs)):
        for kind, obj in items:
            print(f"    {label:12} {kind:20} {obj}")
    return {"agreed": len(agreed), "only_nself": only_mine, "only_peer": only_theirs}


# ------------------------------------------------------------------------ measurements

def scratch_project(root: Path, n: int, dbml: str, home_url: str) -> Path:
    (root / "migrations").mkdir(parents=True)
    (root / "migrations" / "001_base.sql").write_text(
        "-- Migration: 001_base\n-- Description: bench base schema\n\n-- UP\n"
        + schema_sql(n, 0) + "\n")
    (root / "schema.dbml").write_text(dbml)
    (root / "config").mkdir()
    (root / "config" / "local.env").write_text(f"DATABASE_URL={home_url}\n")
    return root


@contextmanager
def shadow_clock(times: dict[str, float]):
    """Seconds spent in CREATE DATABASE / DROP DATABASE of the import's shadows (wrapped
    here, for the bench only: they fall inside the phases, and after the last one)."""
    saved = {attr: getattr(Shadows, attr) for attr in SHADOW_STEPS}

    def timed(attr: str):
        def wrapper(self, name):
            started = time.perf_counter()
            try:
                return saved[attr](self, name)
            finally:
                times[SHADOW_STEPS[attr]] += time.perf_counter() - started
        return wrapper

    for attr in SHADOW_STEPS:
        setattr(Shadows, attr, timed(attr))
    try:
        yield
    finally:
        for attr, original in saved.items():
            setattr(Shadows, attr, original)


@contextmanager
def batched_build(batch: int = 400):
    """BENCH-ONLY WORKAROUND, labelled as such in the output: importer._build runs the
    DBML's whole schema as one transaction, which at ~1,000 tables (~15 locks a table)
    overflows the server's shared lock table (max_locks_per_transaction 64 x
    max_connections 100). Here the shadow is built in transactions of BATCH statements."""
    import pglast

    original = importer._build

    def build(shadow, desired, shown, note=None):
        if note is not None:
            return original(shadow, desired, shown, note)
        statements = [x for x in pglast.split(importer.to_sql(desired)) if x.strip()]
        for first in range(0, len(statements), batch):
            shadow.conn.execute(";\n".join(statements[first:first + batch]) + ";")
        return introspect(shadow.conn)

    importer._build = build
    try:
        yield
    finally:
        importer._build = original


def psql_build(admin: psycopg.Connection, admin_url: str, name: str, path: Path) -> float:
    """Seconds of `psql -1 -f PATH` into a new empty database NAME (what the import is
    measured against: PostgreSQL building the same schema once, in one transaction)."""
    recreate(admin, name)
    started = time.perf_counter()
    run_process(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-1", "-f", str(path),
                 url_for(admin_url, name)], (0,))
    return time.perf_counter() - started


def edit_dbml(root: Path, run: int) -> None:
    """The designer's loop: the file changed since the last import, in one table (a new
    one at the end, so one DBML block is new: the parse cache holds the others)."""
    path = root / "schema.dbml"
    text = path.read_text().split("\n// bench edit")[0]
    path.write_text(f"{text}\n// bench edit\nTable bench_edit_{run} {{\n  id int [pk]\n}}\n")


def bench_import(root: Path, home_url: str, runs: int, patched: bool = False,
                 psql: Callable[[], float] | None = None) -> dict:
    """`schema import --dry-run` in-process: one run with no parse cache (cold), then RUNS
    runs each after a one-table edit of the file (the median run's phase split), and as a
    CLI process; PSQL (`psql -1 -f` of the same schema) before each run, so that the ratio
    is of one run under one load. A failure is recorded, not raised."""
    env = Environment.load(root, environ={"DATABASE_URL": home_url}, search_parents=False)
    said: list[str] = []
    runs_seen = []   # (total, {phase: seconds})
    psql_times: list[float] = []
    generated, cold = None, None
    for run in range(runs + 1):
        if psql is not None:
            psql_times.append(psql())
        if run == 0:
            (env.state_dir / "dbml-blocks.cache").unlink(missing_ok=True)
        edit_dbml(root, run)
        shadow_times = dict.fromkeys(SHADOW_STEPS.values(), 0.0)
        started = time.perf_counter()
        try:
            with shadow_clock(shadow_times), (batched_build() if patched else nullcontext()):
                generated = importer.generate(env, root / "schema.dbml", None, said.append)
        except NselfError as exc:
            return {"failed": f"{type(exc).__name__} after {time.perf_counter() - started:.1f}"
                              f" s: {exc}", "patched": patched}
        split = {**generated.timings, **shadow_times}
        seen = (time.perf_counter() - started,
                {p: split.get(p, 0.0) for p in (*PHASES, *SHADOW_STEPS.values())})
        if run == 0:
            cold = seen
        else:
            runs_seen.append(seen)
    if generated.empty:
        raise SystemExit("schema import found no change")
    total, phases = sorted(runs_seen, key=lambda r: r[0])[len(runs_seen) // 2]
    result = {"total": total, "phases": phases,   # the median run's split
              "cold": cold[0], "cold_parse": cold[1]["parse"],
              "cold_replay": cold[1]["shadow replay"],
              "changes": len(generated.plan.changes), "parts": len(generated.parts),
              "said": said, "patched": patched}
    if psql_times:
        result["psql"] = statistics.median(psql_times)
        result["psql_runs"] = psql_times
    if not patched:  # the CLI cannot take the bench's patch
        argv = [sys.executable, "-m", "nself", "db", "schema", "import", "--dry-run"]
        cli_times, cli_psql = [], []
        for run in range(runs):
            if psql is not None:
                cli_psql.append(psql())
            edit_dbml(root, runs + 1 + run)
            started = time.perf_counter()
            done = subprocess.run(argv, capture_output=True, text=True, cwd=root,
                                  env=child_env(PYTHONPATH=str(REPO)))
            cli_times.append(time.perf_counter() - started)
            if done.returncode != 0 or "Schema changes detected" not in done.stdout:
                result["cli_failed"] = f"exit {done.returncode}: {done.stderr.strip()[-300:]}"
        result["cli"] = statistics.median(cli_times)
        if cli_psql:
            result["cli_psql"] = statistics.median(cli_psql)
    return result


def bench_size(args, admin: psycopg.Connection, n: int) -> dict:
    names = [f"nself_bench_schema_a_{n}", f"nself_bench_schema_b_{n}",
             f"nself_bench_schema_home_{n}"]
    result: dict = {"n": n, "load": " ".join(f"{x:.1f}" for x in os.getloadavg())}
    try:
        for name, text in zip(names, (schema_sql(n, 0), schema_sql(n, 1), ""), strict=True):
            recreate(admin, name)
            if text:  # in batches: 1,000 tables in one transaction can fill the lock table
                lines = text.splitlines()
                with psycopg.connect(url_for(args.url, name), autocommit=True) as conn:
                    for start in range(0, len(lines), 400):
                        conn.execute("\n".join(lines[start:start + 400]))
        a_url, b_url, home_url = (url_for(args.url, name) for name in names)
        with tempfile.TemporaryDirectory(prefix="nself_bench_schema_") as tmp:
            root = Path(tmp)
            (root / "config").mkdir()
            (root / "config" / "local.env").write_text(f"DATABASE_URL={a_url}\n")
            (root / "config" / "staging.env").write_text(f"DATABASE_URL={b_url}\n")
            env = Environment.load(root, environ={}, search_parents=False)
            # what `schema diff staging` does: connect to both, introspect them in two
            # threads, diff
            result["nself"], comparison = median(lambda: compare(env, "staging"),
                                                 args.runs, warm=True)
            argv = [sys.executable, "-m", "nself", "db", "schema", "diff", "staging"]
            result["nself_process"], _ = median(
                lambda: run_process(argv, (6,), cwd=root,
                                    env=child_env(PYTHONPATH=str(REPO))), args.runs)
        plan = comparison.plan
        result["differences"] = len(plan.differences)
        with psycopg.connect(a_url, autocommit=True) as a, \
                psycopg.connect(b_url, autocommit=True) as b:
            dbml = to_dbml(introspect(b))
            result["parse"], _ = median(lambda: parse_dbml(dbml), args.runs)
            result["introspect"], _ = median(lambda: introspect(a), args.runs, warm=True)
            result["nself_serial"], _ = median(lambda: diff(introspect(a), introspect(b)),
                                               args.runs)
        owners = {name if t.schema == "public" else f"{t.schema}.{name}":
                  t.name if t.schema == "public" else t.qualified
                  for t in comparison.left_schema.tables
                  for name in [i.name for i in t.indexes] + [
                      c.name for c in t.constraints if c.kind in "pux"]}
        if not args.no_import:
            with tempfile.TemporaryDirectory(prefix="nself_bench_schema_") as tmp:
                root = scratch_project(Path(tmp), n, dbml, home_url)
                (root / "b.sql").write_text(schema_sql(n, 1) + "\n")
                psql_db = f"nself_bench_schema_psql_{n}"
                names.append(psql_db)

                def psql() -> float:
                    return psql_build(admin, args.url, psql_db, root / "b.sql")

                result["import"] = bench_import(root, home_url, args.runs, psql=psql)
                if "failed" in result["import"]:
                    result["import_patched"] = bench_import(root, home_url, args.runs, True)
        sets = {"nself": pairs_of(plan.up_sql(), owners)}
        for peer, work, argv in (
                ("migra", MIGRA_WORK, [args.migra, "--unsafe", a_url, b_url]),
                ("pgmig", PGMIG_WORK, [args.pgmig, "generate", "-s", a_url, "-t", b_url])):
            binary = getattr(args, peer)
            if not binary:
                continue
            ok = (0, 2) if peer == "migra" else (0,)
            result[f"{peer}_process"], _ = median(lambda: run_process(argv, ok),  # noqa: B023
                                                  args.runs)
            result[peer], text = peer_in_process(binary, work, a_url, b_url, args.runs)
            sets[peer] = pairs_of(text, owners)
        result["sets"] = sets
    finally:
        drop_kept(admin, names[2])
        for name in names:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))
    return result


def bench_import_only(args, admin: psycopg.Connection, n: int) -> dict:
    """`schema import --dry-run` of B's DBML over migrations making A, against `psql -1 -f`
    of B's SQL, and nothing else (--import-only)."""
    names = [f"nself_bench_schema_b_{n}", f"nself_bench_schema_home_{n}",
             f"nself_bench_schema_psql_{n}"]
    result: dict = {"n": n, "load": " ".join(f"{x:.1f}" for x in os.getloadavg())}
    try:
        recreate(admin, names[0])
        recreate(admin, names[1])
        lines = schema_sql(n, 1, args.checks).splitlines()
        with psycopg.connect(url_for(args.url, names[0]), autocommit=True) as conn:
            for start in range(0, len(lines), 400):
                conn.execute("\n".join(lines[start:start + 400]))
            dbml = to_dbml(introspect(conn))
        with tempfile.TemporaryDirectory(prefix="nself_bench_schema_") as tmp:
            root = scratch_project(Path(tmp), n, dbml, url_for(args.url, names[1]))
            (root / "b.sql").write_text(schema_sql(n, 1, args.checks) + "\n")
            result["import"] = bench_import(
                root, url_for(args.url, names[1]), args.runs,
                psql=lambda: psql_build(admin, args.url, names[2], root / "b.sql"))
        result["load_after"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
    finally:
        drop_kept(admin, names[1])
        for name in names:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))
    return result


def report_import(imp: dict) -> None:
    label = " (BENCH PATCH: shadow built in batches)" if imp["patched"] else ""
    if "failed" in imp:
        print(f"  schema import --dry-run, in-process{label}: FAILED, {imp['failed']}")
        return
    print(f"  {'schema import --dry-run, in-process' + label:40} {imp['total']:8.3f} s "
          f"({imp['changes']} changes, {imp['parts']} part(s))")
    for phase, seconds in imp["phases"].items():
        print(f"    {phase:42} {seconds:8.3f} s  {100 * seconds / imp['total']:5.1f}%")
    rest = imp["total"] - sum(imp["phases"][p] for p in PHASES) - imp["phases"][
        SHADOW_STEPS["_drop"]]
    if rest >= 0:
        print(f"    {'(other)':42} {rest:8.3f} s  {100 * rest / imp['total']:5.1f}%")
    else:  # shadows released in the background were dropped while the phases ran
        print(f"    {'(other: drops overlapped the phases)':42} {rest:8.3f} s")
    print(f"  {'(first run: no parse cache, no kept replay)':40} {imp['cold']:8.3f} s (parse "
          f"{imp['cold_parse']:.3f} s, replay {imp['cold_replay']:.3f} s)")
    if "psql" in imp:
        runs = ", ".join(f"{x:.3f}" for x in imp["psql_runs"])
        print(f"  psql -1 -f of the same schema's SQL     {imp['psql']:8.3f} s ({runs})")
        print(f"  ratio import / psql -1 -f, in-process   {imp['total'] / imp['psql']:8.2f}x "
              f"(first run {imp['cold'] / imp['psql']:.2f}x)")
    if "cli" in imp:
        failed = f"  FAILED, {imp['cli_failed']}" if "cli_failed" in imp else ""
        print(f"  schema import --dry-run, CLI process     {imp['cli']:8.3f} s{failed}")
        if "cli_psql" in imp:
            print(f"  ratio CLI / psql -1 -f (runs between)  {imp['cli'] / imp['cli_psql']:8.2f}x"
                  f" (psql {imp['cli_psql']:.3f} s)")


def report(r: dict, runs: int) -> None:
    print(f"\n{r['n']} tables (medians of {runs}; load average {r['load']})")
    print(f"  DBML parse of B's DBML (pydbml + ours)   {r['parse']:8.3f} s")
    for key in ("import", "import_patched"):
        if key in r:
            report_import(r[key])
    print(f"  introspection of one database (nself)    {r['introspect']:8.3f} s")
    print("  connect + introspect both + diff, in-process (work only):")
    print(f"  {'':25} nself compare() {r['nself']:7.3f} s ({r['differences']} differences)")
    for peer in ("migra", "pgmig"):
        if peer in r:
            print(f"  {'':25} {peer:14} {r[peer]:8.3f} s   nself / {peer} "
                  f"{r['nself'] / r[peer]:5.2f}x")
    print(f"  {'':25} (nself introspect(a), introspect(b), diff one after the other: "
          f"{r['nself_serial']:.3f} s)")
    print(f"  whole process: nself db schema diff      {r['nself_process']:8.3f} s")
    for peer in ("migra", "pgmig"):
        if f"{peer}_process" in r:
            t = r[f"{peer}_process"]
            print(f"  {'':25} {peer:14} {t:8.3f} s   nself / {peer} "
                  f"{r['nself_process'] / t:5.2f}x")
    sets = r["sets"]
    print(f"  difference sets: nself {len(sets['nself'])}" + "".join(
        f", {p} {len(sets[p])}" for p in ("migra", "pgmig") if p in sets))
    for peer in ("migra", "pgmig"):
        if peer in sets:
            compare_sets(peer, sets["nself"], sets[peer])
    if "migra" in sets and "pgmig" in sets:
        print(f"  all three agree on {len(sets['nself'] & sets['migra'] & sets['pgmig'])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sizes", default="50,200,1000")
    parser.add_argument("--migra", help="path of the migra binary (skipped when absent)")
    parser.add_argument("--pgmig", help="path of the pgmig binary (skipped when absent)")
    parser.add_argument("--no-import", action="store_true",
                        help="skip `schema import --dry-run` (the slowest part)")
    parser.add_argument("--import-only", action="store_true",
                        help="only `schema import --dry-run` against psql -1 -f (issue 17)")
    parser.add_argument("--checks", action=argparse.BooleanOptionalAction, default=True,
                        help="with --import-only: B's CHECK constraints (in the DBML's Note "
                             "nself_sql); --no-checks: the issue's shape, tables, foreign "
                             "keys, indexes and an enum column only")
    args = parser.parse_args()
    with psycopg.connect(args.url, autocommit=True) as admin:
        for n in [int(x) for x in args.sizes.split(",")]:
            if args.import_only:
                r = bench_import_only(args, admin, n)
                print(f"\n{n} tables (medians of {args.runs}; load average {r['load']}, "
                      f"after {r['load_after']})")
                report_import(r["import"])
                continue
            report(bench_size(args, admin, n), args.runs)


if __name__ == "__main__":
    main()
