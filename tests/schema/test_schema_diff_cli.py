"""`nself db schema diff ENV`: the current environment's database against another's, on
real PostgreSQL (the test's database is local, a sibling on the same server is staging)."""

from __future__ import annotations

import json

import pytest

SCHEMA = """
CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL, last_login timestamp);
CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint REFERENCES users, created date);
"""


@pytest.fixture
def staging(project):
    """A sibling database, configured as staging's in config/staging.env."""
    sibling = project.db.create_sibling()
    project.write("config/staging.env", f"DATABASE_URL={sibling.url}\n")
    return sibling


def _apply(db, text: str) -> None:
    with db.connect() as conn:
        conn.execute(text)


def _make_different(project, staging) -> None:
    _apply(project.db, SCHEMA + "CREATE TABLE comments (id bigint PRIMARY KEY, body text);")
    _apply(staging, SCHEMA.replace("last_login timestamp", "last_login date")
           + "CREATE INDEX idx_orders_date ON orders (created);")


def _no_nself_schema(*dbs) -> None:
    for db in dbs:
        assert db.scalar("SELECT count(*) FROM pg_namespace WHERE nspname = 'nself'") == 0


def test_same_schema_is_no_differences(project, staging):
    _apply(project.db, SCHEMA)
    _apply(staging, SCHEMA)
    result = project.run("db", "schema", "diff", "staging")
    assert result.code == 0, result
    assert result.out.strip() == "No schema differences (local vs staging)"
    result = project.run("db", "schema", "diff", "stage", "--json")
    assert result.code == 0, result
    data = json.loads(result.out)
    assert data == {"left": "local", "right": "staging", "equal": True, "differences": [],
                    "unsupported": []}
    _no_nself_schema(project.db, staging)


def test_differences_in_the_guides_words(project, staging):
    _make_different(project, staging)
    before = (project.db.tables(), staging.tables())
    result = project.run("db", "schema", "diff", "staging")
    assert result.code == 6, result
    lines = result.out.splitlines()
    assert lines[0] == "Schema Differences (local vs staging)"
    assert lines[1] == "─" * 40
    assert "+ Table: comments (missing in staging)" in lines
    assert "~ Column: users.last_login (different type)" in lines
    assert "- Index: idx_orders_date (missing in local)" in lines
    assert "No schema differences" not in result.out
    assert result.err == ""  # the block is the finding; exit 6 says it
    # read-only on both sides
    assert (project.db.tables(), staging.tables()) == before
    _no_nself_schema(project.db, staging)


def test_differences_as_json(project, staging):
    _make_different(project, staging)
    result = project.run("db", "schema", "diff", "--env", "staging", "--json")
    assert result.code == 6, result
    data = json.loads(result.out)
    assert data["left"] == "local" and data["right"] == "staging"
    assert data["equal"] is False
    assert "+ Table: comments (missing in staging)" in data["differences"]
    assert "~ Column: users.last_login (different type)" in data["differences"]
    assert "- Index: idx_orders_date (missing in local)" in data["differences"]
    assert data["unsupported"] == []


def test_current_process_database_url_is_not_the_other_environments(project, staging,
                                                                    monkeypatch):
    """DATABASE_URL in the process is local's; staging's comes from its own file."""
    _apply(project.db, SCHEMA)
    _apply(staging, SCHEMA)
    monkeypatch.setenv("PGDATABASE", "nope_not_this_one")
    result = project.run("db", "schema", "diff", "staging")
    assert result.code == 0, result


def test_unsupported_objects_are_named(project, staging):
    for db in (project.db, staging):
        _apply(db, "CREATE COLLATION my_c (locale = 'C');")
    result = project.run("db", "schema", "diff", "staging")
    assert result.code == 0, result
    assert "No schema differences (local vs staging)" in result.out
    assert any(line.startswith("Not compared: ") and "my_c" in line
               for line in result.out.splitlines()), result


@pytest.mark.parametrize("argv", [("bogus",), ("bogus", "--json"), ("local",), ("dev",)])
def test_bad_environment_is_usage(project, staging, argv):
    result = project.run("db", "schema", "diff", *argv)
    assert result.code == 2, result
    assert "No schema differences" not in result.out


def test_same_database_is_usage(project, staging):
    project.write("config/staging.env", f"DATABASE_URL={project.db.url}\n")
    result = project.run("db", "schema", "diff", "staging")
    assert result.code == 2, result
    assert "same database" in result.err
    assert "No schema differences" not in result.out


@pytest.mark.parametrize("extra", [(), ("--json",)])
def test_unreachable_other_side(project, staging, extra):
    project.write("config/staging.env", "DATABASE_URL=postgresql://u:secretpw@127.0.0.1:1/x\n")
    result = project.run("db", "schema", "diff", "staging", *extra)
    assert result.code == 4, result
    assert "No schema differences" not in result.out + result.err
    assert '"equal"' not in result.out
    assert "secretpw" not in result.out + result.err
    assert "staging" in result.err
    _no_nself_schema(project.db)


def test_unreachable_current_side(project, staging, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:secretpw@127.0.0.1:1/x")
    result = project.run("db", "schema", "diff", "staging")
    assert result.code == 4, result
    assert "No schema differences" not in result.out + result.err
    assert "secretpw" not in result.out + result.err


def test_other_environment_reads_its_own_file_then_dotenv(project, staging):
    """Staging's settings: config/staging.env, never .env's database and never the current
    process's DATABASE_URL."""
    from nself.config import Environment
    from nself.schema.compare import other_environment

    env = Environment.load()
    other = other_environment(env, "stage")
    assert other.name == "staging" and other.get("DATABASE_URL") == staging.url
    assert env.name == "local" and env.get("DATABASE_URL") == project.db.url
    # .env is personal and local: staging keeps the database its own file names
    project.write(".env", f"DATABASE_URL={project.db.url}\n")
    assert other_environment(env, "staging").get("DATABASE_URL") == staging.url
    # where staging's file names none, .env's is still not staging's: diff refuses, naming
    # the file to fill, and compares nothing
    project.write("config/staging.env", "")
    assert other_environment(env, "staging").get("DATABASE_URL") is None
    result = project.run("db", "schema", "diff", "staging")
    assert result.code == 2, result
    assert "config/staging.env names no database" in result.err
