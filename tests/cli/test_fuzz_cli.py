"""Hostile input at the CLI (property-based): arbitrary DATABASE_URLs, flag values,
migration file names and migration file bytes. Whatever comes in: no traceback, an exit
code from the documented table, no password in the output, and the database unchanged
whenever the command refused or failed.

A few examples each by default (the hypothesis profile in conftest.py), hundreds with --slow.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from nself import errors
from nself.pg.wipe import wipe

EXIT_CODES = {errors.SUCCESS, errors.FAILED, errors.USAGE, errors.REFUSED, errors.UNREACHABLE,
              errors.LOCKED, errors.DIFFERENCES, errors.INTERRUPTED}

SNAPSHOT_SQL = """
SELECT n.nspname, c.relname, c.relkind::text
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  AND n.nspname NOT LIKE 'pg\\_temp%' AND n.nspname NOT LIKE 'pg\\_toast\\_temp%'
UNION ALL
SELECT 'schema', nspname, '' FROM pg_namespace
WHERE nspname NOT LIKE 'pg\\_temp%' AND nspname NOT LIKE 'pg\\_toast\\_temp%'
UNION ALL
SELECT 'extension', extname, extversion FROM pg_extension
ORDER BY 1, 2, 3
"""


def snapshot(db) -> list[tuple]:
    """The database's catalog (relations, schemas, extensions) and every user table's rows."""
    with db.connect() as conn:
        shape = conn.execute(SNAPSHOT_SQL).fetchall()
        rows = {}
        for schema, name, kind in shape:
            if kind in ("r", "p") and schema not in ("schema", "extension"):
                rows[f"{schema}.{name}"] = conn.execute(
                    f'SELECT count(*) FROM "{schema}"."{name}"').fetchone()[0]
    return shape + sorted(rows.items())


def reset(project) -> None:
    """Back to an empty database and an empty migrations folder."""
    with project.db.connect() as conn:
        wipe(conn)
    shutil.rmtree(project.migrations, ignore_errors=True)
    project.migrations.mkdir()


def files_outside(root: Path, *allowed: Path) -> set[str]:
    """Every path under `root` that is not inside one of `allowed`."""
    found = set()
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        if any(here == a or a in here.parents for a in allowed):
            continue
        for name in dirnames + filenames:
            path = here / name
            if not any(path == a or a in path.parents for a in allowed):
                found.add(str(path.relative_to(root)))
    return found


def assert_clean(result, *secrets: str) -> None:
    """No traceback, no internal error, a documented exit code, no secret."""
    text = result.out + result.err
    assert "Traceback" not in text, result
    assert "internal error" not in result.err, result
    assert result.code in EXIT_CODES, result
    for secret in secrets:
        assert secret not in text, result


# DATABASE_URL -----------------------------------------------------------------------

# Hosts that fail fast (no DNS lookups, no waiting): refused ports, broken brackets.
HOSTS = ["127.0.0.1:1", "[::1", "[::1]:1", "127.0.0.1:notaport", "127.0.0.1:99999",
         "127.0.0.1:0", "h%zz", "%", "[", "127.0.0.1:1,127.0.0.1:2", ":1", "127.0.0.1:-1",
         "/nonexistent/socket", "127.0.0.1:1?sslmode=bogus", "127.0.0.1:1?bogus=1",
         "127.0.0.1:1?host=/nonexistent", "127.0.0.1:1?port=x", "127.0.0.1:1?options=-c%20x"]
passwords = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1,
                    max_size=16).map(lambda s: "Pw" + s + "Zq")  # distinctive, >= 4 chars
url_tails = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)


@given(scheme=st.sampled_from(["postgresql://", "postgres://", "mysql://", "postgresql:/",
                               "", "POSTGRESQL://"]),
       user=st.text(alphabet="abcu_é%@:/", max_size=4),
       password=passwords, encode=st.booleans(), host=st.sampled_from(HOSTS),
       tail=url_tails)
@example(scheme="postgresql://", user="u", password="PASSWORD", encode=False, host="[::1",
         tail="")
@example(scheme="postgresql:/", user="", password="Pw0Zq", encode=False,
         host="127.0.0.1:1?sslmode=bogus", tail="@")  # libpq quotes up to the first @ only
def test_any_database_url(project, monkeypatch, scheme, user, password, encode, host, tail):
    """Any DATABASE_URL: exit 2 (malformed) or 4 (unreachable), one line, no password."""
    shown = quote(password, safe="") if encode else password
    assume("\x00" not in tail)
    url = f"{scheme}{user}:{shown}@{host}/db{tail}"
    monkeypatch.setenv("DATABASE_URL", url)
    result = project.run("db", "status")
    assert_clean(result, password, shown)
    assert result.code in (errors.USAGE, errors.UNREACHABLE), result
    assert result.err.count("\n") == 1, result


@given(value=st.sampled_from(["postgresql://u:Pw%zzSecret@h/db", "postgresql://u:PwSecret@[::1",
                              "host=127.0.0.1 port=1 password=PwSecret sslmode=bogus"]))
def test_any_database_url_in_a_real_process(project, value):
    """The installed command, with a broken URL: one line, exit 2, no password."""
    result = project.run_process("db", "status", env={"DATABASE_URL": value})
    assert_clean(result, "PwSecret", "Pw%zzSecret")
    assert result.code == errors.USAGE and result.err.count("\n") == 1, result


# Flag values ------------------------------------------------------------------------

HOSTILE_VALUES = ["nan", "NaN", "inf", "-inf", "Infinity", "-1", "0", "1e309", "1e-320",
                  "99999999999999999999", "9223372036854775808", "", " ", "1.5", "0x10", "１",
                  "٣", "../../escape", "a/b", "/tmp/x", "x" * 300, "\udcff", "'; DROP TABLE a; --",
                  "a\nb", "*", "public.*", "a,b", "custom", "sql", "SQL", "tar", "001", "1"]
flag_values = st.one_of(st.sampled_from(HOSTILE_VALUES),
                        st.text(alphabet=st.characters(blacklist_characters="\x00"), max_size=12))

FLAG_COMMANDS = [
    ("db", "migrate", "up", "--steps"),
    ("db", "migrate", "up", "--to"),
    ("db", "migrate", "up", "--lock-timeout"),
    ("db", "migrate", "up", "--dry-run", "--to"),
    ("db", "migrate", "down", "--no-backup", "--steps"),
    ("db", "migrate", "down", "--no-backup", "--to"),
    ("db", "migrate", "down", "--no-backup", "--lock-timeout"),
    ("db", "migrate", "create", "--name"),
    ("db", "backup", "--name"),
    ("db", "backup", "--format"),
    ("db", "backup", "--tables"),
    ("db", "restore", "--dry-run", "--file"),
    ("db", "shell", "-c", "SELECT 1", "--database"),
]


@pytest.fixture
def applied(project):
    """A project with two applied migrations; returns its snapshot."""
    project.migration("001_a.sql", "CREATE TABLE a (id int); INSERT INTO a VALUES (1);",
                      "DROP TABLE a;")
    project.migration("002_b.sql", "CREATE TABLE b (id int);", "DROP TABLE b;")
    result = project.run("db", "migrate", "up")
    assert result.code == 0, result
    return snapshot(project.db)


@given(argv=st.sampled_from(FLAG_COMMANDS), value=flag_values)
def test_any_flag_value(project, applied, argv, value):
    """Any flag value: a documented exit code and no traceback; refused or failed runs leave
    the database as it was, and nothing is written outside migrations/ and backups/."""
    allowed = (project.migrations, project.root / "backups")
    before_files = files_outside(project.root, *allowed)
    result = project.run(*argv, value)
    assert_clean(result)
    if result.code != errors.SUCCESS:
        assert snapshot(project.db) == applied, result
    if "--lock-timeout" in argv and value.strip().lower() in ("nan", "inf", "-inf", "infinity",
                                                              "-1", "1e309"):
        assert result.code == errors.USAGE, result
    assert files_outside(project.root, *allowed) == before_files, result
    # back to the starting point for the next example
    for path in project.migrations.iterdir():
        if path.name not in ("001_a.sql", "002_b.sql"):
            path.unlink()
    if snapshot(project.db) != applied:
        redo = project.run("db", "migrate", "up")
        assert redo.code == 0 and snapshot(project.db) == applied, redo


@given(name=flag_values)
def test_shell_database_never_creates_one(project, name):
    """`db shell --database NAME` never creates NAME, whatever it is."""
    assume(name and not name.startswith("-"))
    target = f"{project.db.name}_{name}"[:63]
    result = project.run("db", "shell", "--database", target, "-c", "SELECT 1")
    assert_clean(result)
    if result.code == errors.USAGE and "not valid UTF-8" in result.err:
        return  # refused before anything was looked up
    exists = project.db.scalar("SELECT count(*) FROM pg_database WHERE datname = %s", (target,))
    assert exists == 0 and result.code == errors.UNREACHABLE, result


# Migration files --------------------------------------------------------------------

name_parts = st.tuples(
    st.sampled_from(["001", "1", "0", "20260101120000", "99999999999999999999",
                     "9223372036854775808", "", "abc", "001a", "-1", "１", "0001"]),
    st.sampled_from(["_", "-", ".", "", " ", "__"]),
    st.text(alphabet=st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",)),
            max_size=12),
    st.sampled_from([".sql", ".SQL", ".Sql", ".sql.bak", "", ".sql ", ".txt", ".sql~"]),
)


def _name(parts) -> str:
    return "".join(parts)


@given(parts=name_parts)
def test_any_migration_file_name(project, parts):
    """Any file name in migrations/: status and up agree, nothing is half done, and a
    refused or failed `up` changes nothing."""
    reset(project)
    name = _name(parts)
    assume(name not in ("", ".", "..") and len(name.encode()) < 200)
    (project.migrations / name).write_text("-- UP\nCREATE TABLE fz (id int);\n-- DOWN\n"
                                           "DROP TABLE fz;\n")
    empty = snapshot(project.db)
    status = project.run("db", "migrate", "status", "--json")
    assert_clean(status)
    text_status = project.run("db", "migrate", "status")
    db_status = project.run("db", "status", "--json")
    db_text = project.run("db", "status")
    for result in (text_status, db_status, db_text):
        assert_clean(result)
    assert {status.code, text_status.code, db_status.code, db_text.code} == {status.code}, (
        status, text_status, db_status, db_text)
    assert snapshot(project.db) == empty
    up = project.run("db", "migrate", "up")
    assert_clean(up)
    if status.code == errors.USAGE:
        assert up.code == errors.USAGE, (status, up)
    if up.code != errors.SUCCESS:
        assert snapshot(project.db) == empty, up
    elif json.loads(status.out or "[]"):
        assert "fz" in project.db.tables(), up


FRAGMENTS = [b"-- UP\n", b"-- DOWN\n", b"CREATE TABLE fz (id int);\n",
             b"INSERT INTO fz VALUES (1);\n", b"SELECT 1;\n", b"\x00", b"\xff\xfe", b"\xef\xbb\xbf",
             b"BEGIN;\n", b"COMMIT;\n", b"ROLLBACK;\n", b"COPY fz FROM stdin;\n1\n\\.\n",
             b"$$", b"'", b'"', b";", b"\n", b"\r\n", b"-- nself:no-transaction\n",
             b"CREATE INDEX CONCURRENTLY fz_i ON fz (id);\n", b"VACUUM;\n",
             b"DO $$ BEGIN RAISE NOTICE 'hi'; END $$;\n", b"SELECT 1/0;\n", b"/*", b"*/",
             b"\\set x 1\n", b"CREATE TABLE fz2 (id int);\n", "é".encode(), b"\t"]
contents = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.binary(max_size=6)),
                    max_size=10).map(b"".join)


@given(body=contents, header=st.booleans())
def test_any_migration_bytes(project, body, header):
    """Any bytes in a migration: `up` exits 0, 1 or 2 without a traceback; unless it
    succeeded the migration stays pending and (outside no-transaction mode) the database is
    as it was; with exit 2 not even nself's own schema was created."""
    reset(project)
    (project.migrations / "001_fuzz.sql").write_bytes((b"-- UP\n" if header else b"") + body)
    empty = snapshot(project.db)
    up = project.run("db", "migrate", "up")
    assert_clean(up)
    assert up.code in (errors.SUCCESS, errors.FAILED, errors.USAGE), up
    if up.code == errors.SUCCESS:
        return
    status = project.run("db", "migrate", "status", "--json")
    assert_clean(status)
    if status.code == errors.SUCCESS:
        assert [e["status"] for e in json.loads(status.out)] == ["pending"], (up, status)
    if up.code == errors.USAGE:
        assert snapshot(project.db) == empty, up
    elif b"nself:no-transaction" not in body:
        user_objects = [row for row in snapshot(project.db)
                        if "nself" not in str(row[:2])]
        assert user_objects == [row for row in empty if "nself" not in str(row[:2])], up
