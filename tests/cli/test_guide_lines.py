"""Every command line of the two user guides runs as written.

The lines are read from the guide files themselves (../shared/seeds/*.txt, else the copy
in tests/data/guides/, or NSELF_GUIDES_DIR): every `nself ...` / `inv ...` line of their code
blocks, with its `ENV=x` prefix, without its `# comment`, joined over `\\` continuations and
multi-line quotes. The migrations guide (000) is scraped text where inline code runs into the prose
around it (`nself db migrate up 3nself db migrate statusCheck current migration status:`);
a command starts at a line start or glued to the text before it (never after a space: that
is prose, "the nself db migrate command suite") and ends at glued prose.

Each line runs in a scratch project holding the repo's example application (migrations/,
seeds/, schema.dbml), in an order that gives it something to do (SCENARIOS), with the
guides' placeholders (`NAME`, `other_db`, `/path/to/backup.sql`, ...) made real. A line
passes when it exits as the guide implies (0 unless EXPECT says otherwise: a difference
found is 6, a command nself deliberately does not do is 2 and says what to do instead, a
Quick Reference line without its argument is 2 and names it), never with a front-end error
(unknown command or word), and with the guide's output lines, in the guide's order, where
the guide shows output.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from conftest import REPO, Project, Result, TestDatabase, _create, _drop, answer_on_terminal

from nself.config import Database
from nself.pg.wipe import wipe

# the guides beside the checkout (as CI has them), else the copy kept with the tests (a clone
# elsewhere); NSELF_GUIDES_DIR names another folder
_BESIDE = REPO.parent / "shared" / "seeds"
GUIDES = Path(os.environ.get("NSELF_GUIDES_DIR")
              or (_BESIDE if _BESIDE.is_dir() else REPO / "tests" / "data" / "guides"))

# What a line should do when it is not "exit 0": exit codes and the words its output must
# hold, in this order (the guide's).
EXPECT: dict[str, tuple[set[int], list[str]]] = {
    # the guides show these outputs
    "nself db migrate status": ({0}, ["Migration Status\n" + "─" * 44 + "\nVERSION", "NAME",
                                      "STATUS", "APPLIED\n001", "create_users"]),
    "nself db migrate create add_posts_table": ({0}, ["Migration created: migrations/"]),
    "nself db schema import schema.dbml": ({0}, ["Schema changes detected",
                                                 "Migration created: migrations/"]),
    "nself db backup": ({0}, ["Creating backup...", "Backup created: backups/", "Size: "]),
    "nself db backup status": ({0}, ["Backup Configuration", "─" * 24 + "\nSchedule: ",
                                     "\nRetention: ", "\nStorage: ", "\nLast Backup: ",
                                     "\nNext Backup: ", "\nBackups Count: "]),
    "nself db update": ({0}, ["Database Update\n" + "─" * 24 + "\n", "Creating backup... Done",
                              "Checking migrations... 2 pending",
                              "Applying 004_create_comments... Done",
                              "Verifying integrity... Passed",
                              "Update complete! 2 migrations applied."]),
    # the migrations guide: "Production migration includes:" these four, in this order
    "ENV=production nself db migrate up": ({0}, ["Schema validation... Passed",
                                                 "Confirmation prompt... confirmed",
                                                 "Pre-migration backup... Done",
                                                 "Rollback preparation... Ready"]),
    # a difference found is exit 6, with the guides' block
    "nself db schema diff staging": ({6}, ["Schema Differences (local vs staging)\n" + "─" * 40,
                                           "+ Table: comments (missing in staging)"]),
    "nself db schema diff production": ({6}, ["Schema Differences (local vs production)"]),
    # the Quick Reference names this without its argument: the error says what to add
    "nself db migrate create": ({2}, ["nself db migrate create add_user_indexes"]),
    # and this one compares with what the migration files produce
    "nself db schema diff": ({0}, ["No schema differences (local vs migrations)"]),
    # not done on purpose: exit 2 and what to do instead
    "nself db schema sync --token YOUR_DBDIAGRAM_TOKEN": (
        {2}, ["nself db schema export", "nself db schema import"]),
    "nself db backup --include-metadata": ({2}, ["hasura metadata export"]),
}
# Never acceptable, whatever the exit code.
FRONT_END_ERRORS = ("No idea what", "Unknown command", "Unexpected ", "did not receive",
                    "Traceback", "internal error")


# Reading the guides ------------------------------------------------------------------------

START = re.compile(r"(?:^\s*(?:\$\s+)?|(?<=\S))((?:[A-Z][A-Z0-9_]*=\S*\s+)*)(nself|inv)(?=\s)")
# where a command ends and prose (or a comment) begins
PROSE = re.compile(r"(?<=[a-z0-9])(?=[A-Z][a-z])|\s#|(?<=\S)#| - | to ")
ASSIGNMENT = re.compile(r"[A-Z][A-Z0-9_]*=\S*")


@dataclass
class GuideLine:
    guide: str
    lineno: int
    text: str                      # as written, `ENV=x` prefix included
    env: dict[str, str] = field(default_factory=dict)
    argv: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.guide}:{self.lineno}: {self.text}"


def _free(text: str) -> list[bool]:
    """For each character: is it outside quotes?"""
    free, quote = [], None
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
            free.append(False)
        elif ch in "\"'":
            quote = ch
            free.append(False)
        else:
            free.append(True)
    return free


def _until_prose(segment: str) -> str:
    free = _free(segment)
    for match in PROSE.finditer(segment):
        if match.start() >= len(free) or free[match.start()]:
            return segment[:match.start()]
    return segment


def command_lines(path: Path) -> list[GuideLine]:
    """Every nself/inv command line of a guide file, in order."""
    return commands_in(path.read_text(encoding="utf-8"), path.name[:3])


def commands_in(text: str, source: str) -> list[GuideLine]:
    """Every nself/inv command line of TEXT (SOURCE names it in messages), in order."""
    lines = text.splitlines()
    found, i = [], 0
    while i < len(lines):
        line, lineno = lines[i], i + 1
        while line.endswith("\\") and i + 1 < len(lines):
            i += 1
            line = line[:-1] + " " + lines[i].strip()
        starts = list(START.finditer(line))
        for k, match in enumerate(starts):
            end = starts[k + 1].start() if k + 1 < len(starts) else len(line)
            segment = line[match.start():end]
            while segment.count('"') % 2 and end == len(line) and i + 1 < len(lines):
                i += 1  # a quoted argument over several lines (db shell -c "...")
                segment += "\n" + lines[i]
            segment = _until_prose(segment).strip()
            words = shlex.split(segment)
            env = {}
            while words and ASSIGNMENT.fullmatch(words[0]):
                key, value = words.pop(0).split("=", 1)
                env[key] = value
            # `nself v0.4.8 provides ...`, `nself uses DBML ... .`: prose, not a command
            if len(words) < 2 or not re.fullmatch(r"[a-z][a-z:_-]*", words[1]) \
                    or segment.endswith("."):
                continue
            found.append(GuideLine(source, lineno, segment, env, words))
        i += 1
    return found


def guide_lines() -> list[GuideLine]:
    files = sorted(GUIDES.glob("*.txt"))
    assert len(files) >= 2, f"the user guides are not in {GUIDES} (set NSELF_GUIDES_DIR)"
    return [line for path in files for line in command_lines(path)]


# Running a line --------------------------------------------------------------------------


@dataclass
class Scratch:
    """A scratch project with the example application, and the databases its lines use."""

    project: Project
    others: dict[str, TestDatabase]   # staging, production, other_db
    placeholders: dict[str, str]

    @property
    def root(self) -> Path:
        return self.project.root


def make_scratch(project: Project, steps: list[Step]) -> Scratch:
    """The scratch project for STEPS: the databases (staging, production, other_db) that
    its lines name are made, the others only named (a CREATE DATABASE less each)."""
    for rel in ("migrations", "seeds"):
        shutil.rmtree(project.root / rel)
        shutil.copytree(REPO / rel, project.root / rel)
    shutil.copy(REPO / "schema.dbml", project.root / "schema.dbml")
    texts = " ".join(step for step in steps if isinstance(step, str))
    named = {name: TestDatabase(project.db.backend, {**project.db.params,
                                                     "dbname": f"{project.db.name}_{name[:4]}"},
                                project.db.admin)
             for name in ("staging", "production", "other_db")}
    others = {name: db for name, db in named.items() if name in texts}
    for other in others.values():
        _create(other.admin, other.name)
    for name in ("staging", "production"):
        project.write(f"config/{name}.env", f"DATABASE_URL={named[name].url}\n")
    (project.root / "path" / "to").mkdir(parents=True)
    project.write("query.sql", "SELECT count(*) AS users FROM users;\n")
    placeholders = {"NAME": "add_example_notes", "other_db": named["other_db"].name,
                    "/path/to/backup.sql": str(project.root / "path" / "to" / "backup.sql")}
    return Scratch(project, others, placeholders)


@pytest.fixture
def scratch(project, request):
    """The scratch project for the test's scenario (SCENARIO_OF)."""
    made = make_scratch(project, SCENARIOS[SCENARIO_OF[request.function.__name__]])
    yield made
    for other in made.others.values():
        _drop(project.db.admin, other.name)


def run_line(scratch: Scratch, line: GuideLine, answer: str | None = None) -> Result:
    """Run LINE as written in the scratch project: in-process when it can, in a shell for
    shell syntax, in a child process where psql would read stdin, on a terminal that types
    ANSWER where the line asks."""
    argv = [scratch.placeholders.get(word, word) for word in line.argv]
    project = scratch.project
    env = dict(line.env)
    if env.get("ENV") in ("staging", "production"):
        env["DATABASE_URL"] = ""  # the environment's own database, from config/<env>.env
    if answer is not None:
        return answer_on_terminal(project.root, argv[1:], answer, env)
    if any(word in ("|", ">", ">>", "&&") for word in argv):
        return in_shell(project, line.text, env)
    if argv[1:3] == ["db", "shell"] and not {"-c", "-f"} & set(argv):
        return project.run_process(*argv[1:], env=env)
    saved = {name: os.environ.get(name) for name in env}
    try:
        for name, value in env.items():
            if value:
                os.environ[name] = value
            else:
                os.environ.pop(name, None)
        return project.run(*argv[1:])
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def in_shell(project: Project, text: str, env: dict[str, str]) -> Result:
    """The line through bash, `nself` being this checkout's."""
    define = f'nself() {{ {shlex.quote(sys.executable)} -m nself "$@"; }}; inv() {{ nself "$@"; }}'
    proc = subprocess.run(["bash", "-c", f"{define}\n{text}"], cwd=project.root,
                          env={**os.environ, **env}, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=120)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def problem(line: GuideLine, result: Result) -> str | None:
    """What is wrong with LINE's result, or None."""
    codes, words = EXPECT.get(line.text, ({0}, []))
    text = result.out + result.err
    bad = [w for w in FRONT_END_ERRORS if w in result.err]
    if bad:
        return f"front-end error ({bad[0]!r})"
    if result.code not in codes:
        return f"exit {result.code}, expected {sorted(codes)}"
    missing = [w for w in words if w not in text]
    if missing:
        return f"output lacks {missing}"
    at = 0
    for word in words:  # the guide's lines, in the guide's order
        found = text.find(word, at)
        if found < 0:
            return f"output has {word!r} out of the guide's order {words}"
        at = found + len(word)
    return None


# Scenarios ------------------------------------------------------------------------------

Step = str | Callable[[Scratch], None]


def sql(statement: str) -> Callable[[Scratch], None]:
    def run(scratch: Scratch) -> None:
        scratch.project.db.query(statement)
    run.__name__ = f"sql({statement[:40]})"
    return run


def add_table(name: str) -> Callable[[Scratch], None]:
    """Edit schema.dbml as the guides' first step does: one more table."""
    def edit(scratch: Scratch) -> None:
        path = scratch.root / "schema.dbml"
        path.write_text(path.read_text() + f"\nTable {name} {{\n  id bigint [pk]\n"
                        "  label text [not null]\n}\n")
    edit.__name__ = f"add_table({name})"
    return edit


def fill_created(scratch: Scratch) -> None:
    """Write SQL into the migration `migrate create` just made (its UP is empty)."""
    newest = sorted(scratch.project.migrations.glob("*.sql"))[-1]
    number = newest.name.split("_", 1)[0]
    newest.write_text(f"-- UP\nCREATE TABLE created_{number} (id int);\n\n"
                      f"-- DOWN\nDROP TABLE created_{number};\n")


def discard_newest_migration(scratch: Scratch) -> None:
    sorted(scratch.project.migrations.glob("*.sql"))[-1].unlink()


def backup_to(path: str) -> Callable[[Scratch], None]:
    def make(scratch: Scratch) -> None:
        result = scratch.project.run("db", "backup", "--output", path)
        assert result.code == 0, result
    make.__name__ = f"backup_to({path})"
    return make


def empty_database(scratch: Scratch) -> None:
    """A database as a new server has it: what `restore` of a full backup is for."""
    with scratch.project.db.connect() as conn:
        wipe(conn)
        conn.execute("DROP SCHEMA IF EXISTS nself CASCADE")


def roll_back(count: int) -> Callable[[Scratch], None]:
    def down(scratch: Scratch) -> None:
        result = scratch.project.run("db", "migrate", "down", "--steps", str(count),
                                     "--no-backup")
        assert result.code == 0, result
    down.__name__ = f"roll_back({count})"
    return down


MIGRATIONS: list[Step] = [
    "nself db status",
    "nself db migrate status",
    add_table("tags"),
    "nself db schema import schema.dbml --dry-run",
    "nself db schema import schema.dbml",
    add_table("labels"),
    "nself db schema import schema.dbml --name add_posts_table",
    add_table("badges"),
    "nself db schema import schema.dbml --name merged_changes",
    add_table("notes"),
    "nself db run",
    add_table("stickers"),
    "nself db schema import schema.dbml --name add_comments_feature",
    "nself db schema import",
    "nself db migrate up 1",
    "nself db migrate up 3",
    "nself db migrate up",
    "nself db migrate:up",
    "nself db migrate create add_posts_table", fill_created,
    "nself db migrate create add_user_indexes", fill_created,
    "nself db migrate create add_indexes", fill_created,
    "nself db migrate create NAME", fill_created,
    "nself db migrate create",
    "nself db migrate up 3",
    "nself db migrate up",
    "nself db migrate down",
    "nself db migrate down 2",
    "nself db migrate down 3",
    "nself db migrate repair",
    add_table("extras"),
    "nself db schema import schema.dbml --apply",
    "nself db migrate up",
    "nself db schema export",
    "nself db schema export --format dbml > schema.dbml",
    "nself db schema sync --token YOUR_DBDIAGRAM_TOKEN",
    "nself db schema diff",
    "nself db schema diff staging",
    "nself db schema diff production",
    "nself db schema diff staging --generate-migration",
    discard_newest_migration,  # it makes local look like (empty) staging
    "nself db migrate fresh",
]

WORKFLOW: list[Step] = [
    "nself db migrate up",
    "nself db seed",
    "nself db seed 01_test_users.sql",
    "nself db seed --env local",
    "nself db seed --dry-run",
    "nself db mock",
    "nself db mock --users 100 --posts 500",
    "nself db mock --seed 12345",
    "nself db mock --clear",
    'nself db shell -c "SELECT count(*) FROM users"',
    "nself db shell -f query.sql",
    "nself db shell --database other_db",
    "nself db shell",
    'nself db shell -c "SELECT * FROM pg_locks WHERE NOT granted"',
    'nself db shell -c "SELECT 1"',
    'nself db shell -c "SELECT count(*) FROM pg_stat_activity"',
    'nself db shell -c "ANALYZE"',
    'nself db shell -c "\nSELECT schemaname, relname, seq_scan, idx_scan\n'
    'FROM pg_stat_user_tables\nWHERE seq_scan > idx_scan AND seq_scan > 1000\n'
    'ORDER BY seq_scan DESC"',
    'nself db shell -c "VACUUM ANALYZE"',
    "nself db backup",
    "nself db backup --name before_migration",
    "nself db backup --no-compress",
    "nself db backup --output /path/to/backup.sql",
    "nself db backup --tables users,posts,comments",
    sql("CREATE TABLE sessions (id int); CREATE TABLE logs (id int)"),
    "nself db backup --exclude sessions,logs",
    sql("DROP TABLE sessions; DROP TABLE logs"),
    "nself db backup --schema-only",
    "nself db backup --data-only",
    "nself db backup --include-metadata",
    "nself db backup list",
    "nself db backup status",
    backup_to("backup.sql"),
    "nself db restore backup.sql --dry-run",
    "nself db restore backup.sql --clean",
    backup_to("backups/2026-01-24_143052_nhost.sql.gz"),
    empty_database,
    "nself db restore backups/2026-01-24_143052_nhost.sql.gz",
    empty_database,
    "nself db restore",
    roll_back(2),
    "nself db update",
    "nself db reset",
    "nself db migrate status",
]

# Lines that ask on a terminal, with what the user types; the last steps of a scenario,
# since they record the database as that environment.
ANSWERS = {"nself db seed --env staging": "y", "ENV=production nself db migrate up": "y"}
ON_TERMINAL: list[Step] = list(ANSWERS)

# The embedded default (logs and restart are about it): `nself status` after a restart.
EMBEDDED: list[Step] = [
    "nself logs postgres",
    "nself restart postgres",
    "nself status",
    'nself db shell -c "SELECT 1"',
]

SCENARIOS = {"migrations": MIGRATIONS, "workflow": WORKFLOW, "on_terminal": ON_TERMINAL,
             "embedded": EMBEDDED}
SCENARIO_OF = {"test_migrations_guide_lines": "migrations",
               "test_workflow_guide_lines": "workflow", "test_lines_that_ask": "on_terminal"}


def run_scenario(scratch: Scratch, steps: list[Step]) -> None:
    """Run each step; fail once at the end listing every guide line that did not pass."""
    by_text: dict[str, list[GuideLine]] = {}
    for line in guide_lines():
        by_text.setdefault(line.text, []).append(line)
    failures = []
    for step in steps:
        if callable(step):
            step(scratch)
            continue
        assert step in by_text, f"{step!r} is no longer a line of the guides"
        line = by_text[step][0]
        result = run_line(scratch, line, ANSWERS.get(step))
        wrong = problem(line, result)
        if wrong:
            where = ", ".join(f"{g.guide}:{g.lineno}" for g in by_text[step])
            output = (result.err.strip() or result.out.strip()).splitlines()
            failures.append(f"{step!r} ({where}): {wrong}; "
                            f"{output[-1][:300] if output else 'no output'}")
    assert not failures, "guide lines that do not run as written:\n" + "\n".join(failures)


# Tests ------------------------------------------------------------------------------------


def test_every_guide_line_is_in_a_scenario():
    """Each command line of the guides is run by one of the scenarios below (a new guide
    line fails here until it is placed)."""
    placed = {step for steps in SCENARIOS.values() for step in steps if isinstance(step, str)}
    missing = sorted({line.text for line in guide_lines()} - placed)
    assert not missing, missing


def test_guide_lines_are_read_as_written():
    """The reader finds inline commands glued to prose, prefixes and multi-line quotes, and
    skips prose that mentions nself."""
    by_text = {line.text: line for line in guide_lines()}
    for text in ("nself db migrate up 3", "nself db migrate:up", "nself db run",
                 "nself db schema diff staging", "nself db migrate down 2",
                 "nself db mock --users 100 --posts 500", "nself logs postgres"):
        assert text in by_text, text
    production = by_text["ENV=production nself db migrate up"]
    assert production.env == {"ENV": "production"}
    assert production.argv == ["nself", "db", "migrate", "up"]
    multi = [t for t in by_text if "pg_stat_user_tables" in t]
    assert len(multi) == 1 and by_text[multi[0]].argv[-1].endswith("ORDER BY seq_scan DESC")
    assert not [t for t in by_text if t.split()[1] in ("v0.4.8", "uses", "provides")]
    assert not [t for t in by_text if "#" in t or " to " in t or "Check" in t]


def test_a_line_passes_only_as_the_guide_shows_it():
    """The check behind every line: its exit code, no front-end error, and the guide's
    wording in the guide's order."""
    update = GuideLine("001", 391, "nself db update", {}, ["nself", "db", "update"])
    words = EXPECT["nself db update"][1]
    right = "\n".join(words)
    assert problem(update, Result(0, right, "")) is None
    assert "out of the guide's order" in problem(update, Result(0, "\n".join(
        [words[0], words[2], words[1], *words[3:]]), ""))
    assert "lacks" in problem(update, Result(0, right.replace("Passed", "Failed"), ""))
    assert "exit 1" in problem(update, Result(1, right, ""))
    assert "front-end error" in problem(update, Result(2, "", "Error: No idea what 'db' is"))


def test_migrations_guide_lines(scratch):
    """Schema import, migrate up/down/create/repair/fresh, schema export/diff/sync, as the
    guides write them, on the example application."""
    run_scenario(scratch, MIGRATIONS)


def test_workflow_guide_lines(scratch):
    """Seeds, mock data, the shell, backups, restores, update and reset, as written."""
    run_scenario(scratch, WORKFLOW)


def test_lines_that_ask(scratch):
    """`seed --env staging` and `ENV=production nself db migrate up` ask on a terminal and
    run when the user says yes (production: its own database, from config/production.env)."""
    assert scratch.project.run("db", "migrate", "up").code == 0
    run_scenario(scratch, ON_TERMINAL)
    assert scratch.others["production"].scalar(
        "SELECT count(*) FROM nself.migrations") == len(list(
            (scratch.root / "migrations").glob("*.sql")))


@pytest.fixture
def embedded_scratch(tmp_path, monkeypatch, capsys, embedded_server):
    """The example application on the embedded default (no DATABASE_URL): the session's
    embedded server, a database of its own, dropped afterwards."""
    root = tmp_path / "emb"
    for rel in ("migrations", "seeds", "config"):
        (root / rel).mkdir(parents=True)
    monkeypatch.chdir(root)
    name = f"nself_t_gl_{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("NSELF_STATE_DIR", str(embedded_server.home.parent))
    monkeypatch.setenv("NSELF_PROJECT_NAME", name)
    admin = embedded_server.connection_params("postgres")
    project = Project(root=root, db=TestDatabase("embedded", {**admin, "dbname": name}, admin),
                      capsys=capsys)
    yield Scratch(project, {}, {})
    with psycopg.connect(Database(admin).conninfo(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_embedded_default_guide_lines(embedded_scratch):
    """`nself logs postgres`, `nself restart postgres` and `nself status` on the embedded
    default server."""
    run_scenario(embedded_scratch, EMBEDDED)
