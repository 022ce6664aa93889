#!/usr/bin/env python3
"""nself's migration lint vs squawk (squawk-cli, the bench extra) on the same fixtures.

For every nself rule whose name is one of squawk's, three files: the unsafe statement,
its safe form, and the unsafe statement in comments and a string (the cases of
tests/lint/test_lint_*.py); plus cases from squawk's issue tracker. A tool is right on a
case when it reports the rule on the unsafe file only. Then both lint the same 1,000
migration files (median wall time of `--runs`). Prints Markdown for bench/README.md.

    python bench/bench_lint.py [--runs 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nself.lint import REGISTRY, Context, lint_statements
from nself.sql import split

REPO = Path(__file__).resolve().parent.parent
SQUAWK = shutil.which("squawk") or str(Path(sys.executable).parent / "squawk")
# (squawk issue, what it is, SQL, squawk rule, nself rule, should be reported, squawk flags)
ISSUES = [
    ("#277 #390 #636", "constant default, no server version",
     "ALTER TABLE users ADD COLUMN plan text DEFAULT 'free';", "adding-field-with-default",
     "PG107", False, []),
    ("#331", "CONCURRENTLY in a migration run in a transaction",
     "CREATE INDEX CONCURRENTLY users_email ON users (email);",
     "ban-concurrent-index-creation-in-transaction", "TX101", True,
     ["--assume-in-transaction"]),
    ("#349", "index right after its table",
     "CREATE TABLE t (id bigint PRIMARY KEY, a text);\nCREATE INDEX t_a ON t (a);",
     "require-concurrent-index-creation", "PG101", False, []),
    ("#411", "function body",
     "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$\nBEGIN\n"
     "  CREATE INDEX i ON users (email);\nEND $$;", "require-concurrent-index-creation",
     "PG101", True, []),
    ("#528", "DDL inside DO",
     "DO $$\nBEGIN\n  CREATE INDEX i ON users (email);\nEND $$;",
     "require-concurrent-index-creation", "PG101", True, []),
]


def cases() -> dict[str, tuple[str, str]]:
    found: dict[str, tuple[str, str]] = {}
    sys.path.insert(0, str(REPO / "tests"))  # the test modules import conftest
    for name in ("test_lint_locks", "test_lint_data"):
        spec = importlib.util.spec_from_file_location(name, REPO / "tests/lint" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        found.update(module.CASES)
    return found


def hidden(text: str) -> str:
    one_line = " ".join(text.split())
    return f"/* {text} */\n-- {one_line}\nSELECT $q${text}$q$ AS sql_text;\n"


def nself_reports(text: str, rule: str) -> bool:
    ctx = Context.for_text("case.sql", text)
    return any(f.rule == rule for f in lint_statements(split(text, parse=True), ctx))


def squawk_reports(folder: Path, text: str, rule: str, flags: list[str]) -> bool:
    path = folder / "case.sql"
    path.write_text(text if text.rstrip().endswith(";") else text + ";\n")
    run = subprocess.run([SQUAWK, *flags, "--reporter", "json", str(path)],
                         capture_output=True, text=True)
    try:
        return any(v["rule_name"] == rule for v in json.loads(run.stdout or "[]"))
    except json.JSONDecodeError:
        return False


def squawk_has(name: str) -> bool:
    """Whether squawk knows rule `name` (it refuses an unknown name in --exclude)."""
    return subprocess.run([SQUAWK, f"--exclude={name}", "--version"],
                          capture_output=True).returncode == 0


def mark(right: bool) -> str:
    return "right" if right else "**wrong**"


def per_rule(folder: Path) -> list[str]:
    rows = ["| rule | squawk's name | nself: unsafe / safe / comment | squawk: unsafe / safe / "
            "comment |", "|---|---|---|---|"]
    tally = {"nself": 0, "squawk": 0, "cases": 0, "shared": 0}
    for rule_id, (unsafe, safe) in sorted(cases().items()):
        name = REGISTRY[rule_id].name
        texts = [(unsafe, True), (safe, False), (hidden(unsafe), False)]
        ours = [nself_reports(t, rule_id) == want for t, want in texts]
        tally["nself"] += sum(ours)
        tally["cases"] += 3
        if not squawk_has(name):
            rows.append(f"| {rule_id} | ({name}: not squawk's) | "
                        f"{' / '.join(mark(r) for r in ours)} | no such rule |")
            continue
        theirs = [squawk_reports(folder, t, name, []) == want for t, want in texts]
        theirs_text = " / ".join(mark(r) for r in theirs)
        tally["squawk"] += sum(theirs)
        tally["shared"] += 3
        rows.append(f"| {rule_id} | {name} | {' / '.join(mark(r) for r in ours)} | "
                    f"{theirs_text} |")
    rows.append(f"| **total** | | {tally['nself']} of {tally['cases']} right | "
                f"{tally['squawk']} of the {tally['shared']} cases of its rules right |")
    return rows


def issues(folder: Path) -> list[str]:
    rows = ["| squawk issue | case | should report | nself | squawk |", "|---|---|---|---|---|"]
    for issue, what, text, squawk_rule, rule, want, flags in ISSUES:
        ours = nself_reports(text, rule) == want
        theirs = squawk_reports(folder, text, squawk_rule, flags) == want
        rows.append(f"| {issue} | {what} | {'yes' if want else 'no'} ({rule} / {squawk_rule}) "
                    f"| {mark(ours)} | {mark(theirs)} |")
    return rows


def timing(folder: Path, runs: int) -> list[str]:
    project = folder / "proj"
    (project / "migrations").mkdir(parents=True)
    (project / "nself.toml").write_text("")
    for i in range(1, 1001):
        (project / "migrations" / f"{i:04d}_m{i}.sql").write_text(
            f"-- UP\nCREATE TABLE t{i} (id bigint PRIMARY KEY, name text, ref bigint);\n"
            f"CREATE INDEX t{i}_name ON t{i} (name);\n"
            f"ALTER TABLE t{max(i - 1, 1)} ADD COLUMN c{i} text;\n"
            f"DO $$ BEGIN UPDATE t{i} SET name = 'x' WHERE id = 1; END $$;\n"
            f"-- DOWN\nDROP TABLE t{i};\n")
    commands = {
        "nself db migrate lint --no-database": [sys.executable, "-m", "nself", "db", "migrate",
                                                "lint", "--no-database", "--format", "gcc"],
        "squawk migrations/*.sql": [SQUAWK, "--reporter", "gcc",
                                    *sorted(str(p) for p in (project / "migrations").glob("*"))],
    }
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in commands}
    for _ in range(runs):
        for label, argv in commands.items():
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            subprocess.run(argv, cwd=project, capture_output=True)
            wall = time.perf_counter() - started
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
            times[label].append((wall, cpu))
    return ["| 1,000 migration files | median wall | median CPU |", "|---|---|---|"] + [
        f"| `{label}` | {statistics.median(w for w, _ in t):.2f} s | "
        f"{statistics.median(c for _, c in t):.2f} s |" for label, t in times.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    version = subprocess.run([SQUAWK, "--version"], capture_output=True, text=True).stdout
    print(f"{version.strip()}, nself {len(REGISTRY)} rules\n")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for block in (per_rule(folder), issues(folder), timing(folder, args.runs)):
            print("\n".join(block) + "\n")


if __name__ == "__main__":
    main()
