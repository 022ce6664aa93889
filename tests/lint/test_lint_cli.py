"""`nself db migrate lint` and `inv db.migrate.lint`: files chosen by name, --since or
--changed, text/github/gcc/JSON output, exit 6 on an error nobody acknowledged, levels from
the environment's settings, and the size of the live table when a database answers."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import Project

from nself import scaffold

USERS = ("-- UP\nCREATE TABLE users (id bigint PRIMARY KEY, email text);\n"
         "-- DOWN\nDROP TABLE users;\n")
INDEX = ("-- UP\nCREATE INDEX users_email ON users (email); -- CREATE INDEX CONCURRENTLY\n"
         "-- DOWN\nDROP INDEX users_email;\n")


@pytest.fixture
def files_only(tmp_path, monkeypatch, capsys) -> Project:
    """A project with migrations and no database (every run passes --no-database)."""
    root = tmp_path / "proj"
    (root / "migrations").mkdir(parents=True)
    (root / "nself.toml").write_text("")
    (root / "migrations" / "001_users.sql").write_text(USERS)
    (root / "migrations" / "002_index.sql").write_text(INDEX)
    monkeypatch.chdir(root)
    return Project(root=root, db=None, capsys=capsys)


def test_text_output_and_exit_6(files_only):
    result = files_only.run("db", "migrate", "lint", "--no-database")
    assert result.code == 6, result
    assert result.out.splitlines()[:3] == [
        "migrations/002_index.sql:2: PG101 error: CREATE INDEX users_email on public.users "
        "without CONCURRENTLY [lock: SHARE, blocks: writes]",
        "    why: The SHARE lock blocks every INSERT, UPDATE and DELETE on the table while "
        "the whole index is built.",
        "    safe: CREATE INDEX CONCURRENTLY ... in a migration marked "
        "`-- nself:no-transaction` (first line)."]
    assert "001_users.sql" not in result.out  # the table is new in that migration
    assert result.err.startswith("Error: Lint: 1 error not allowed")


def test_a_named_file_json_and_the_other_formats(files_only):
    argv = ("db", "migrate", "lint", "migrations/002_index.sql", "--no-database")
    found = json.loads(files_only.run(*argv, "--json").out)
    pg101 = next(f for f in found if f["rule"] == "PG101")
    assert pg101 == {"rule": "PG101", "level": "error", "file": "migrations/002_index.sql",
                     "line": 2, "lock": "SHARE", "blocks": "writes",
                     "message": "CREATE INDEX users_email on public.users without "
                                "CONCURRENTLY",
                     "why": pg101["why"], "safe": pg101["safe"], "table": None,
                     "allowed": None}
    github = files_only.run(*argv, "--format", "github")
    assert github.code == 6
    assert "::error file=migrations/002_index.sql,line=2,title=PG101::CREATE INDEX" in github.out
    gcc = files_only.run(*argv, "--format", "gcc")
    assert "migrations/002_index.sql:2:1: error: CREATE INDEX users_email on public.users " \
           "without CONCURRENTLY [PG101]" in gcc.out.splitlines()
    bad = files_only.run(*argv, "--format", "sarif")
    assert bad.code == 2 and "--format expects one of text, github, gcc" in bad.err


def test_an_acknowledged_error_is_shown_and_does_not_fail(files_only):
    (files_only.migrations / "002_index.sql").write_text(
        "-- nself:allow PG101 users has 40 rows in production\n" + INDEX)
    result = files_only.run("db", "migrate", "lint", "--no-database")
    assert result.code == 0, result
    assert "    allowed: users has 40 rows in production" in result.out
    assert "Lint: no errors" in result.out


def test_levels_from_the_environments_settings(files_only, monkeypatch):
    monkeypatch.setenv("NSELF_LINT_WARNING", "PG101")
    result = files_only.run("db", "migrate", "lint", "--no-database")
    assert result.code == 0 and "PG101 warning:" in result.out
    monkeypatch.setenv("NSELF_LINT_OFF", "pg101")
    monkeypatch.delenv("NSELF_LINT_WARNING")
    assert "PG101" not in files_only.run("db", "migrate", "lint", "--no-database").out
    monkeypatch.setenv("NSELF_LINT_OFF", "PG999")
    bad = files_only.run("db", "migrate", "lint", "--no-database")
    assert bad.code == 2 and "NSELF_LINT_OFF: no lint rule 'PG999'" in bad.err


def test_since_and_changed_choose_the_files(files_only):
    since = files_only.run("db", "migrate", "lint", "--since", "2", "--no-database", "--json")
    assert {f["file"] for f in json.loads(since.out)} == set()
    since = files_only.run("db", "migrate", "lint", "--since", "1", "--no-database", "--json")
    assert {f["file"] for f in json.loads(since.out)} == {"migrations/002_index.sql"}
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(git + ["init", "-q"], cwd=files_only.root, check=True)
    subprocess.run(git + ["add", "."], cwd=files_only.root, check=True)
    subprocess.run(git + ["commit", "-qm", "x"], cwd=files_only.root, check=True)
    clean = files_only.run("db", "migrate", "lint", "--changed", "--no-database")
    assert clean.code == 0 and "0 findings" in clean.out
    (files_only.migrations / "003_vacuum.sql").write_text("-- UP\nVACUUM FULL users;\n")
    changed = files_only.run("db", "migrate", "lint", "--changed", "--no-database", "--json")
    assert {f["rule"] for f in json.loads(changed.out)} >= {"PG111"}
    assert {f["file"] for f in json.loads(changed.out)} == {"migrations/003_vacuum.sql"}
    both = files_only.run("db", "migrate", "lint", "--changed", "--since", "1")
    assert both.code == 2 and "not both" in both.err


def test_rules_lists_every_rule(files_only):
    result = files_only.run("db", "migrate", "lint", "--rules")
    assert result.code == 0
    assert "PG101  error    require-concurrent-index-creation:" in result.out
    assert len(result.out.splitlines()) >= 45


def test_inv_front_end(files_only):
    (files_only.root / "tasks.py").write_text(scaffold.TASKS_FILE)
    proc = subprocess.run([sys.executable, "-m", "invoke", "db.migrate.lint", "--no-database",
                           "--format", "gcc", "-f", "migrations/002_index.sql"],
                          cwd=files_only.root, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=120)
    assert proc.returncode == 6, proc
    assert "migrations/002_index.sql:2:1: error:" in proc.stdout


def test_the_live_tables_size_is_shown(project, monkeypatch):
    """With the configured database answering, a finding names its table's size; a table
    under NSELF_LINT_SMALL_TABLE_MB (10 by default) gets a warning: its lock is brief."""
    project.db.query("CREATE TABLE users (id bigint PRIMARY KEY, email text);"
                     "INSERT INTO users SELECT g, 'u' || g FROM generate_series(1, 2000) g;"
                     "ANALYZE users")
    project.write("nself.toml", "")
    project.write("migrations/002_index.sql", INDEX)
    small = project.run("db", "migrate", "lint", "--json")
    assert small.code == 0, small
    pg101 = next(f for f in json.loads(small.out) if f["rule"] == "PG101")
    assert pg101["level"] == "warning" and pg101["message"].endswith(
        "(a small table: the lock is brief)")
    monkeypatch.setenv("NSELF_LINT_SMALL_TABLE_MB", "0")
    result = project.run("db", "migrate", "lint", "--json")
    assert result.code == 6, result
    pg101 = next(f for f in json.loads(result.out) if f["rule"] == "PG101")
    assert pg101["table"].startswith("users: 2k rows (") and pg101["level"] == "error"


def test_migrate_up_follows_the_environments_policy(project, monkeypatch):
    """Local shows a lint error and applies; production refuses it (exit 3, nothing
    applied) until the file acknowledges it, and then prints the acknowledgement. A table
    an earlier migration of the same run creates is new: no finding."""
    monkeypatch.setenv("NSELF_LINT_SMALL_TABLE_MB", "0")  # the test's table is tiny
    project.write("nself.toml", "")
    project.migration("001_users.sql", "CREATE TABLE users (id bigint PRIMARY KEY, email text);",
                      "DROP TABLE users;")
    project.migration("002_index.sql", "CREATE INDEX users_email ON users (email);",
                      "DROP INDEX users_email;")
    together = project.run("db", "migrate", "up")  # users is new in this run: no finding
    assert together.code == 0 and "Lint:" not in together.out, together
    assert project.run("db", "migrate", "down").code == 0
    local = project.run("db", "migrate", "up")
    assert local.code == 0, local
    assert "Lint: migrations/002_index.sql:3: PG101 error: CREATE INDEX users_email" in local.out
    assert project.run("db", "migrate", "down").code == 0
    prod = {"ENV": "production"}
    refused = project.run_process("db", "migrate", "up", "--yes", "--no-backup", env=prod)
    assert refused.code == 3, refused
    assert "Refused in production: 1 lint error (migrations/002_index.sql:3 PG101" in \
        refused.err
    assert project.db.query("SELECT version FROM nself.migrations ORDER BY 1") == [(1,)]
    path = project.migrations / "002_index.sql"
    path.write_text("-- nself:allow PG101 users holds 12 rows\n" + path.read_text())
    allowed = project.run_process("db", "migrate", "up", "--yes", "--no-backup", env=prod)
    assert allowed.code == 0, allowed
    assert "Lint: migrations/002_index.sql:4: PG101 acknowledged: users holds 12 rows" in \
        allowed.out


def test_trace_lists_the_locks_taken_in_a_shadow_database(project):
    """--trace replays the earlier migrations into a shadow database, runs the file there
    and lists each lock with its mode and time; the configured database is untouched."""
    project.write("nself.toml", "")
    project.migration("001_users.sql", "CREATE TABLE users (id bigint PRIMARY KEY, email text);",
                      "DROP TABLE users;")
    project.migration("002_index.sql", "SELECT 1;\nCREATE INDEX users_email ON users (email);\n"
                      "ALTER TABLE users ALTER COLUMN email SET NOT NULL;",
                      "DROP INDEX users_email;")
    result = project.run("db", "migrate", "lint", "--trace", "migrations/002_index.sql", "--json")
    assert result.code == 0, result
    held = {(h["line"], h["relation"], h["mode"]) for h in json.loads(result.out)}
    assert {(4, "public.users", "SHARE"), (5, "public.users", "ACCESS EXCLUSIVE")} <= held
    assert all(h["ms"] >= 0 for h in json.loads(result.out))
    assert project.db.query("SELECT to_regclass('public.users') IS NULL") == [(True,)]
    text = project.run("db", "migrate", "lint", "--trace", "migrations/002_index.sql")
    assert "migrations/002_index.sql:4: SHARE on public.users, held " in text.out
