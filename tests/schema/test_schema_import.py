"""`nself db schema import` (DBML -> verified migration) and `schema diff --migrations` /
`--generate-migration`, on real PostgreSQL: each generated migration is applied with
`migrate up`, re-importing must find nothing, and every migration rolls back to empty."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

import pytest
from conftest import REPO

GUIDE_DBML = """
Project my_app {
  database_type: 'PostgreSQL'
  Note: 'My Application Database Schema'
}

// Users table
Table users {
  id uuid [pk, default: `gen_random_uuid()`]
  email varchar(255) [not null, unique]
  password_hash text [not null]
  display_name varchar(100)
  avatar_url text
  role user_role [default: 'user']
  email_verified boolean [default: false]
  created_at timestamptz [default: `now()`]
  updated_at timestamptz [default: `now()`]

  indexes {
    email [unique]
    created_at
    role
  }
}

// Posts table
Table posts {
  id uuid [pk, default: `gen_random_uuid()`]
  user_id uuid [not null, ref: > users.id]
  title varchar(255) [not null]
  slug varchar(255) [not null]
  content text
  excerpt text
  status post_status [default: 'draft']
  published_at timestamptz
  created_at timestamptz [default: `now()`]
  updated_at timestamptz [default: `now()`]

  indexes {
    slug [unique]
    user_id
    status
    published_at
  }
}

// Enums
Enum user_role {
  admin
  moderator
  user
  guest
}

Enum post_status {
  draft
  published
  archived
}
"""


def _dbml(project, text: str) -> None:
    project.write("schema.dbml", textwrap.dedent(text))


def _files(project) -> list[str]:
    return sorted(p.name for p in project.migrations.glob("*.sql"))


def _shadows(db) -> list[str]:
    """Shadow databases of DB's server that belong to DB (by its oid)."""
    oid = db.scalar("SELECT oid FROM pg_database WHERE datname = current_database()")
    with db.connect() as conn:
        return [r[0] for r in conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s",
            (f"nself_shadow_{oid}\\_%",))]


def _import(project, *flags: str):
    result = project.run("db", "schema", "import", *flags)
    assert _shadows(project.db) == [], "a shadow database was left behind"
    return result


def _import_and_apply(project, *flags: str) -> list[str]:
    """Import (must write), apply with migrate up, re-import (must find nothing)."""
    before = set(_files(project))
    result = _import(project, *flags)
    assert result.code == 0, result
    assert "✓ Schema changes detected!" in result.out
    written = sorted(set(_files(project)) - before)
    assert written, result
    for name in written:
        assert f"✓ Migration created: migrations/{name}" in result.out
    up = project.run("db", "migrate", "up")
    assert up.code == 0, up
    again = _import(project)
    assert again.code == 0, again
    assert "No schema changes" in again.out, again
    assert set(_files(project)) == before | set(written)
    return written


def test_guides_schema_imports_applies_and_rolls_back(project):
    _dbml(project, GUIDE_DBML)
    before = project.db.tables()
    result = _import(project, "schema.dbml")
    assert result.code == 0, result
    assert result.out.splitlines()[0] == "✓ Schema changes detected!"
    assert "  + Table: users (new)" in result.out
    assert "  + Enum: post_status (new)" in result.out
    # nothing touched the project's own database: the work was on shadows
    assert project.db.tables() == before
    (name,) = _files(project)
    text = (project.migrations / name).read_text()
    assert text.startswith(f"-- Migration: {name.removesuffix('.sql')}\n-- Created: ")
    assert "-- Description: Generated from schema.dbml by nself db schema import" in text
    up, down = text.split("-- UP\n", 1)[1].split("\n-- DOWN\n")
    assert "CREATE TABLE public.users" in up and "CREATE TYPE public.user_role" in up
    assert "DROP TABLE public.users;" in down and "-- WARNING: drops data" in down
    assert project.run("db", "migrate", "up").code == 0
    assert sorted(project.db.tables()) == ["posts", "users"]
    assert project.db.scalar(
        "SELECT count(*) FROM pg_indexes WHERE tablename IN ('users', 'posts')") == 10
    again = _import(project)
    assert again.code == 0 and "No schema changes" in again.out, again
    assert len(_files(project)) == 1
    assert project.run("db", "migrate", "down").code == 0
    assert project.db.tables() == []
    assert project.db.scalar("SELECT count(*) FROM pg_type t JOIN pg_namespace n ON "
                             "n.oid = t.typnamespace WHERE n.nspname = 'public' "
                             "AND t.typtype = 'e'") == 0


IDX = "    (user_id, created_at) [name: 'idx_posts_user_created']\n"
CHECK = "  checks {\n    `kind in ('login', 'logout')` [name: 'kind_known']\n  }\n}"
EDITS = [
    # (what, (old, new) replacement in the running DBML text or None, DBML appended)
    ("add table", None, """
Table categories {
  id integer [pk, increment]
  name varchar(100) [not null]
  parent_id integer
}
"""),
    ("column with default",
     ("  excerpt text\n", "  excerpt text\n  views integer [not null, default: 0]\n"), ""),
    ("NOT NULL column",
     ("  avatar_url text\n", "  avatar_url text\n  locale varchar(10) [not null, default: 'en']\n"),
     ""),
    ("type change", ("  display_name varchar(100)\n", "  display_name varchar(200)\n"), ""),
    ("enum value", ("  archived\n", "  archived\n  deleted\n"), ""),
    ("index", ("    published_at\n  }", "    published_at\n" + IDX + "  }"), ""),
    ("FK with delete cascade", None,
     "Ref: categories.parent_id > categories.id [delete: cascade]\n"),
    ("drop column", ("  excerpt text\n", ""), ""),
    ("rename with a note",
     ("  content text\n", "  body text [note: 'renamed from content']\n"), ""),
    ("composite FK", None, """
Table tags {
  post_id uuid
  name varchar(50)
  indexes {
    (post_id, name) [pk]
  }
}
Table tag_votes {
  id bigint [pk, increment]
  post_id uuid [not null]
  tag varchar(50) [not null]
}
Ref: tag_votes.(post_id, tag) > tags.(post_id, name) [delete: cascade]
"""),
    ("second schema", None, """
Table audit.events {
  id bigint [pk, increment]
  at timestamptz [not null, default: `now()`]
  kind varchar(20)
}
"""),
    ("check constraint", ("  kind varchar(20)\n}", "  kind varchar(20)\n" + CHECK), ""),
    ("expression index",
     (IDX, IDX + "    `lower(title)` [name: 'idx_posts_title_lower']\n"), ""),
]


def test_a_sequence_of_dbml_edits_each_gives_a_verified_migration(project):
    text = GUIDE_DBML
    _dbml(project, text)
    _import_and_apply(project, "--name", "initial")
    for what, change, added in EDITS:
        if change:
            old, new = change
            assert old in text, what
            text = text.replace(old, new, 1)
        if added and added.strip():
            text += added
        _dbml(project, text)
        written = _import_and_apply(project)
        assert written, what
    # the rename kept the column's data path: no drop of posts.content was written
    renamed = [p for p in project.migrations.glob("*.sql") if "RENAME COLUMN" in p.read_text()]
    assert len(renamed) == 1 and "DROP COLUMN content" not in renamed[0].read_text()
    # the enum value went into a no-transaction migration of its own
    enum_files = [p for p in project.migrations.glob("*.sql")
                  if "ADD VALUE 'deleted'" in p.read_text()]
    assert len(enum_files) == 1 and "-- nself:no-transaction" in enum_files[0].read_text()
    # the partial/expression index and the cascade FK are really there
    assert project.db.scalar("SELECT count(*) FROM pg_indexes "
                             "WHERE indexname = 'idx_posts_title_lower'") == 1
    assert project.db.scalar("SELECT confdeltype FROM pg_constraint "
                             "WHERE conrelid = 'categories'::regclass AND contype = 'f'") == "c"
    # every migration rolls back: the database is empty again
    count = len(_files(project))
    down = project.run("db", "migrate", "down", "--steps", str(count))
    assert down.code == 0, down
    assert project.db.tables() == [] and project.db.tables("audit") == []


def test_partial_index_and_dropping_warns(project):
    _dbml(project, """
        Table orders {
          id bigint [pk, increment]
          status varchar(20) [not null]
          note text
          indexes {
            status [name: 'idx_open', note: 'partial']
          }
        }
    """)
    _import_and_apply(project)
    # a partial index (DBML cannot write WHERE: made by a migration, kept by later imports)
    project.migration("900_partial.sql", "CREATE INDEX idx_pending ON orders (id) "
                                         "WHERE status = 'pending';",
                      "DROP INDEX idx_pending;")
    assert project.run("db", "migrate", "up").code == 0
    _dbml(project, """
        Table orders {
          id bigint [pk, increment]
          status varchar(20) [not null]
          indexes {
            status [name: 'idx_open', note: 'partial']
          }
        }
    """)
    result = _import(project, "--name", "drop_note")
    assert result.code == 0, result
    assert "drops data" in result.err
    text = next(project.migrations.glob("*_drop_note.sql")).read_text()
    assert "-- WARNING: drops data" in text
    assert "idx_pending" not in text  # DBML cannot write a partial index: kept, not dropped
    assert project.run("db", "migrate", "up").code == 0


def test_dry_run_prints_the_sql_and_writes_nothing(project):
    _dbml(project, GUIDE_DBML)
    result = _import(project, "schema.dbml", "--dry-run")
    assert result.code == 0, result
    assert "-- UP\nCREATE TYPE" in result.out and "\n-- DOWN\n" in result.out
    assert _files(project) == []
    assert project.db.tables() == []


def test_apply_writes_and_applies_in_local(project):
    _dbml(project, GUIDE_DBML)
    result = _import(project, "--apply", "--name", "first")
    assert result.code == 0, result
    assert _files(project)[0].endswith("_first.sql")
    assert sorted(project.db.tables()) == ["posts", "users"]


@pytest.mark.parametrize("env_name", ["staging", "production"])
def test_apply_is_blocked_outside_local(project, monkeypatch, env_name):
    monkeypatch.setenv("ENV", env_name)
    _dbml(project, GUIDE_DBML)
    result = _import(project, "--apply")
    assert result.code == 3, result
    assert _files(project) == [] and project.db.tables() == []


BAD = [
    # other databases' type names are read as PostgreSQL's (test_schema_dbml_real.py);
    # a name nobody maps is still refused at its line
    ("Table t {\n  id polyhedron\n}\n", "schema.dbml:2:6: column t.id: unknown type "
     "'polyhedron'"),
    ("Table t {\n  id int [pk\n}\n", "schema.dbml:3:1"),
    ("Table a {\n  id int [pk]\n}\nTable b {\n  a_id text [ref: > a.id]\n}\n", "type"),
    # backtick expressions are checked as SQL before anything is built (was a ParseError)
    ("Table t {\n  id int [pk]\n  at timestamp [default: `now(`]\n}\n", "schema.dbml:3:17"),
    ("Table t {\n  id uuid [default: `gen_rando,d()`]\n}\n", "schema.dbml:2:12"),
    ("Table t {\n  n int [check: `n >`]\n}\n", "is not an SQL expression"),
    ("Table t {\n  n int\n  indexes {\n    (`lower(n`)\n  }\n}\n", "schema.dbml:4:5"),
    ("Table t {\n  n int\n  checks {\n    `n > 0; DROP TABLE t`\n  }\n}\n", "more than one"),
    ("Table t {\n  n int\n}\nRecords t(n) {\n  `1 +`\n}\n", "Records t row 1"),
    # a type modifier PostgreSQL refuses is the file's problem at the type (was an internal
    # error: a syntax error beyond 2^31, the server's error below it)
    ("Table a {\n id varchar(99999999999)\n}\n", "schema.dbml:2:5: column a.id: "
     "'varchar(99999999999)': the length 99999999999 is out of range"),
    ("Table a {\n id varchar(10485761)\n}\n", "or text for longer values"),
    ("Table a {\n id numeric(10,2000)\n}\n", "schema.dbml:2:5: column a.id: "
     "'numeric(10,2000)': the scale 2000 is out of range for numeric"),
    ("Table a {\n at timestamptz(7)\n}\n", "schema.dbml:2:5"),
    ("Table a {\n v vector(99999999999)\n}\n", "dimension count"),
    # a -- comment in a backtick expression swallowed the SQL after it (was: a NOT NULL
    # silently lost, or an internal syntax error)
    ("Table t {\n  n int [default: `1 --`, not null]\n}\n", "schema.dbml:2:10"),
    ("Table t {\n  n int\n  checks {\n    `n > 0 --`\n  }\n}\n", "runs on into the SQL"),
    # a row the server refuses is the file's (was: 'This is a bug in nself', exit 1)
    ("Table t {\n  n int\n}\nRecords t(n) {\n  'abc'\n}\n",
     "schema.dbml: its Records cannot be inserted: invalid input syntax for type integer"),
]


@pytest.mark.parametrize(("text", "hint"), BAD)
def test_bad_dbml_is_one_clear_error_and_nothing_written(project, text, hint):
    project.write("schema.dbml", text)
    result = _import(project)
    assert result.code == 2, result
    assert hint in result.err
    assert "Traceback" not in result.err + result.out
    assert _files(project) == []


def test_what_postgresql_cannot_read_is_a_problem_at_its_column(monkeypatch):
    """Text of the file pasted into SQL that PostgreSQL's parser refuses, past every check
    of its own, is still a problem at its column (the last guard of the DBML front end)."""
    from nself.schema import types
    from nself.schema.dbml import DbmlError, parse_dbml_document

    monkeypatch.setitem(types.LIMITS, "character varying", ("length", 1, 10 ** 12))
    with pytest.raises(DbmlError, match=r"x\.dbml:3:5: column a\.id: PostgreSQL cannot "
                                        r"read `id character varying\(99999999999\)`"):
        parse_dbml_document("Table a {\n n int\n id varchar(99999999999)\n}\n", "x.dbml")


@pytest.mark.parametrize(("directive", "hint"), [
    ('partition-by {"table": "public.a", "by": "RANGE (id"}', "syntax error at end of input"),
    ('generated {"table": "public.a", "column": "x", "expression": "id * 2 --"}',
     "a -- comment in it runs on"),
    ('generated {"table": "public.a", "column": "x", "expression": "id *"}', "syntax error"),
])
def test_a_bad_directive_of_the_sql_note_is_its_line(project, directive, hint):
    """A Note nself_sql directive whose SQL PostgreSQL cannot read is one error naming its
    file line, exit 2 (was: an internal error)."""
    project.write("schema.dbml", "Table a {\n  id int\n  x int\n}\nNote nself_sql {\n"
                  f"'''\nSELECT 1;\n-- nself:{directive}\n'''\n}}\n")
    result = _import(project, "--dry-run")
    assert result.code == 2, result
    assert result.err.startswith("Error: schema.dbml:8: Note nself_sql: ") and hint in result.err


def test_bad_input_is_exit_2(project):
    assert _import(project).code == 2  # no schema.dbml
    _dbml(project, GUIDE_DBML)
    assert _import(project, "missing.dbml").code == 2
    assert _import(project, "--name", "not a name").code == 2
    assert _import(project, "--dry-run", "--apply").code == 2
    for bad in ("users", "users:", ":x", "nosuch:other", "users.nosuch:x"):
        result = _import(project, "--rename", bad)
        assert result.code == 2, (bad, result)
    assert _files(project) == []


def test_rename_flag_renames_a_table(project):
    _dbml(project, "Table people {\n  id int [pk]\n  name text\n}\n")
    _import_and_apply(project)
    project.db.connect().execute("INSERT INTO people VALUES (1, 'Ann')")
    _dbml(project, "Table members {\n  id int [pk]\n  full_name text\n}\n")
    written = _import_and_apply(project, "--rename", "people:members", "--rename",
                                "people.name:full_name")
    text = (project.migrations / written[0]).read_text()
    assert "RENAME TO members" in text and "RENAME COLUMN name TO full_name" in text
    assert "DROP TABLE" not in text.split("-- DOWN")[0]
    assert project.db.query("SELECT id, full_name FROM members") == [(1, "Ann")]
    assert project.run("db", "migrate", "down").code == 0
    assert project.db.query("SELECT id, name FROM people") == [(1, "Ann")]


def test_what_dbml_cannot_say_is_kept(project):
    project.migration("001_base.sql", """
        CREATE DOMAIN email AS text CHECK (VALUE LIKE '%@%');
        CREATE TABLE users (id bigint PRIMARY KEY, mail email, updated timestamptz);
        CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN NEW.updated := now(); RETURN NEW; END $$;
        CREATE TRIGGER users_touch BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION touch();
        CREATE VIEW user_mails AS SELECT id, mail FROM users;
        ALTER TABLE users ENABLE ROW LEVEL SECURITY;
    """, "DROP VIEW user_mails; DROP TABLE users; DROP FUNCTION touch(); DROP DOMAIN email;")
    assert project.run("db", "migrate", "up").code == 0
    _dbml(project, "Table users {\n  id bigint [pk]\n  mail email\n  updated timestamptz\n}\n")
    result = _import(project)
    assert result.code == 0, result
    assert "No schema changes" in result.out
    # a DBML change still works around them
    _dbml(project, "Table users {\n  id bigint [pk]\n  mail email\n  updated timestamptz\n"
                   "  age int\n}\n")
    written = _import_and_apply(project)
    text = (project.migrations / written[0]).read_text()
    assert "ADD COLUMN age integer" in text
    assert "DROP VIEW" not in text.split("-- DOWN")[0]
    assert "DROP FUNCTION" not in text


def test_records_become_data_of_the_table_they_create(project):
    _dbml(project, """
        Table roles {
          id int [pk]
          name varchar(20) [not null, unique]
        }
        Records roles(id, name) {
          1, 'admin'
          2, 'member'
        }
    """)
    _import_and_apply(project)
    assert project.db.query("SELECT id, name FROM roles ORDER BY id") == [
        (1, "admin"), (2, "member")]


def test_a_migration_that_fails_to_replay_is_an_error(project):
    project.migration("001_bad.sql", "CREATE TABLE t (id int REFERENCES nowhere);", "")
    _dbml(project, "Table t {\n  id int\n}\n")
    result = _import(project)
    assert result.code == 1, result
    assert "shadow" in result.err and "001_bad" in result.err
    assert _files(project) == ["001_bad.sql"]


def test_leftover_shadow_of_a_killed_run_is_dropped(project):
    oid = project.db.scalar("SELECT oid FROM pg_database WHERE datname = current_database()")
    leftover = f"nself_shadow_{oid}_1_deadbeef"
    with project.db.connect() as conn:
        conn.execute(f'CREATE DATABASE "{leftover}"')
    try:
        _dbml(project, "Table t {\n  id int [pk]\n}\n")
        assert _import(project, "--dry-run").code == 0  # _import asserts none is left
    finally:
        with project.db.connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{leftover}"')


# ------------------------------------------------------------------ schema diff --migrations

def test_diff_migrations_reports_drift(project):
    project.migration("001_t.sql", "CREATE TABLE t (id int PRIMARY KEY);", "DROP TABLE t;")
    assert project.run("db", "migrate", "up").code == 0
    same = project.run("db", "schema", "diff", "--migrations")
    assert same.code == 0, same
    assert same.out.strip() == "No schema differences (local vs migrations)"
    with project.db.connect() as conn:
        conn.execute("ALTER TABLE t ADD COLUMN note text")
    drift = project.run("db", "schema", "diff", "--migrations")
    assert drift.code == 6, drift
    assert "+ Column: t.note (missing in migrations)" in drift.out
    assert drift.err == ""
    bare = project.run("db", "schema", "diff")  # without ENV: the same comparison
    assert (bare.code, bare.out) == (6, drift.out), bare
    assert _shadows(project.db) == []
    assert project.run("db", "schema", "diff", "staging", "--migrations").code == 2


def test_generate_migration_brings_this_database_to_the_other(project):
    sibling = project.db.create_sibling()
    project.write("config/staging.env", f"DATABASE_URL={sibling.url}\n")
    with project.db.connect() as conn:
        conn.execute("CREATE TABLE users (id bigint PRIMARY KEY, last_login timestamp)")
    with sibling.connect() as conn:
        conn.execute("CREATE TABLE users (id bigint PRIMARY KEY, last_login timestamptz, "
                     "email text NOT NULL DEFAULT '')")
        conn.execute("CREATE INDEX idx_users_email ON users (email)")
    result = project.run("db", "schema", "diff", "staging", "--generate-migration")
    assert result.code == 0, result
    assert "Schema Differences (local vs staging)" in result.out
    name, indexes = _files(project)  # the index on an existing table: built CONCURRENTLY
    assert name.endswith("_match_staging_schema.sql")
    assert "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_users_email" in \
        (project.migrations / indexes).read_text()
    text = (project.migrations / name).read_text()
    assert "-- Description: Brings local's schema to staging's" in text
    assert re.search(r"ALTER COLUMN last_login TYPE timestamp with time zone", text)
    assert project.db.tables() == ["users"]  # written, not applied
    project.migration("000_baseline.sql", "CREATE TABLE IF NOT EXISTS users "
                      "(id bigint PRIMARY KEY, last_login timestamp);", "")
    assert project.run("db", "migrate", "up").code == 0
    assert project.run("db", "schema", "diff", "staging").code == 0
    assert project.run("db", "schema", "diff", "--generate-migration").code == 2
    assert project.run("db", "schema", "diff", "staging", "--name", "x").code == 2


# ------------------------------------------------------------ export -> import round trips

RICH_SQL = (REPO / "tests" / "data" / "schema_rich.sql").read_text()


def _round_trip(project, tmp_path, monkeypatch) -> None:
    """Export PROJECT's database as DBML, import it into an empty project on a sibling
    database, apply: both schemas must be equal (diff finds nothing)."""
    from nself.schema.diff import diff
    from nself.schema.introspect import introspect

    exported = project.run("db", "schema", "export", "--output", "exported.dbml")
    assert exported.code == 0, exported
    sibling = project.db.create_sibling()
    other = tmp_path / "other"
    (other / "migrations").mkdir(parents=True)
    (other / "schema.dbml").write_text((project.root / "exported.dbml").read_text())
    monkeypatch.chdir(other)
    monkeypatch.setenv("DATABASE_URL", sibling.url)
    imported = project.run("db", "schema", "import", "--name", "from_export")
    assert imported.code == 0, imported
    assert project.run("db", "migrate", "up").code == 0
    again = project.run("db", "schema", "import")
    assert again.code == 0 and "No schema changes" in again.out, again
    with project.db.connect() as a, sibling.connect() as b:
        plan = diff(introspect(a), introspect(b))
    assert plan.summary() == [] and plan.empty


def test_export_import_round_trip_of_the_guides_schema(project, tmp_path, monkeypatch):
    _dbml(project, GUIDE_DBML)
    _import_and_apply(project)
    _round_trip(project, tmp_path, monkeypatch)


def test_export_import_round_trip_of_a_rich_sql_schema(project, tmp_path, monkeypatch):
    """Views, functions, triggers, policies, partitions, domains, generated and collated
    columns, exclusion constraints: what DBML cannot say travels in the export's
    `Note nself_sql` and comes back."""
    project.db.query(RICH_SQL)
    _round_trip(project, tmp_path, monkeypatch)
    text = (project.root / "exported.dbml").read_text()
    assert "Note nself_sql {" in text and "CREATE VIEW public.published_posts" in text


def test_a_role_that_may_not_create_databases(project, monkeypatch):
    """Managed clouds often refuse CREATEDB: the shadow then goes to the embedded server of
    the same major version (PostgreSQL 18 here), said once; with none of the server's
    version (the machine's 15), the error names the way out and nothing is written."""
    import os
    import uuid

    role = f"nself_nocreate_{uuid.uuid4().hex[:8]}"
    project.db.query(f"CREATE ROLE {role} LOGIN NOCREATEDB; "
                     f"GRANT ALL ON SCHEMA public TO {role}")
    try:
        monkeypatch.setenv("DATABASE_URL", project.db.url.replace("postgres@", f"{role}@", 1))
        # the test session's embedded server (18) is the one the project would use
        monkeypatch.setenv("NSELF_STATE_DIR", f"/tmp/nself-test-{os.getpid()}")
        _dbml(project, "Table t {\n  id int [pk]\n}\n")
        result = project.run("db", "schema", "import", "--dry-run")
        if project.db.backend == "embedded":
            assert result.code == 0, result
            assert "may not create databases; using the embedded PostgreSQL 18" in result.err
            assert "CREATE TABLE public.t" in result.out
        else:
            assert result.code == 1, result
            assert "CREATEDB" in result.err and "Traceback" not in result.err
        assert _files(project) == []
    finally:
        project.db.query(f"REVOKE ALL ON SCHEMA public FROM {role}; DROP ROLE {role}")


# ------------------------------------------------------- found by trying it as a new user

def test_renaming_a_table_keeps_its_serial_counter(project):
    _dbml(project, "Table tags {\n  id serial [pk]\n  name text\n}\n")
    _import_and_apply(project)
    project.db.query("INSERT INTO tags (name) VALUES ('a'), ('b'), ('c')")
    _dbml(project, "Table labels {\n  id serial [pk]\n  name text\n}\n")
    written = _import_and_apply(project, "--rename", "tags:labels")
    text = (project.migrations / written[0]).read_text()
    assert "ALTER SEQUENCE public.tags_id_seq RENAME TO labels_id_seq;" in text
    assert "DROP SEQUENCE" not in text
    assert project.db.query("INSERT INTO labels (name) VALUES ('d') RETURNING id") == [(4,)]
    assert project.run("db", "migrate", "down").code == 0
    assert project.db.query("INSERT INTO tags (name) VALUES ('e') RETURNING id") == [(5,)]


def test_a_note_may_name_the_old_column_with_quotes_or_spaces(project):
    _dbml(project, 'Table users {\n  id int [pk]\n  "Display Name" text\n}\n')
    _import_and_apply(project)
    for note in ('renamed from \\"Display Name\\"', "renamed from Display Name"):
        _dbml(project, "Table users {\n  id int [pk]\n"
                       f"  display_name text [note: '{note}']\n}}\n")
        result = _import(project, "--dry-run")
        assert result.code == 0, result
        assert 'RENAME COLUMN "Display Name" TO display_name' in result.out, (note, result)
        assert "DROP COLUMN" not in result.out.split("-- DOWN")[0]


@pytest.mark.parametrize("sql", [
    # an enum and a composite key whose names need quotes
    """CREATE SCHEMA "Sales Dept"; CREATE TYPE "Sales Dept"."Order State" AS ENUM ('new', 'done');
       CREATE TABLE "Sales Dept"."Order Items" ("Order ID" int, "Line No" smallint,
         state "Sales Dept"."Order State" DEFAULT 'new', PRIMARY KEY ("Order ID", "Line No"));""",
    # a domain of another schema, used by a table of that schema
    """CREATE SCHEMA app; CREATE DOMAIN app.email AS text CHECK (VALUE ~ '@');
       CREATE TABLE app.people (id int PRIMARY KEY, mail app.email NOT NULL);""",
    # a generated column in the middle keeps its place
    """CREATE TABLE people (id int PRIMARY KEY, first text,
         full_name text GENERATED ALWAYS AS (upper(first)) STORED, note text);""",
], ids=["quoted-names", "domain-in-schema", "generated-column"])
def test_more_export_import_round_trips(project, tmp_path, monkeypatch, sql):
    project.db.query(sql)
    order = ("SELECT string_agg(a.attname, ',' ORDER BY c.oid, a.attnum) FROM pg_attribute a "
             "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = "
             "c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', "
             "'pg_toast', 'nself') AND c.relkind = 'r' AND a.attnum > 0 "
             "AND NOT a.attisdropped")
    before = project.db.scalar(order)
    _round_trip(project, tmp_path, monkeypatch)
    again = project.run("db", "schema", "export")
    assert again.code == 0
    assert again.out.rstrip("\n") == (project.root / "exported.dbml").read_text().rstrip("\n")
    sibling = f"{project.db.name}_b"
    with project.db.connect(dbname=sibling) as conn:
        assert conn.execute(order).fetchone()[0] == before


# ------------------------------------------------------------------ imports at the same time

def _at_once(project, count: int, *flags: str) -> list[tuple[int, str, str]]:
    """COUNT real `nself db schema import FLAGS` processes started together."""
    procs = [subprocess.Popen([sys.executable, "-m", "nself", "db", "schema", "import",
                               *flags], cwd=project.root, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(count)]
    outputs = [p.communicate(timeout=180) for p in procs]
    return [(p.returncode, out, err) for p, (out, err) in zip(procs, outputs, strict=True)]


def test_imports_at_the_same_time_write_the_change_once(project):
    """Two imports started together: one writes the migration, the other sees it and says
    there is nothing to do (was: 001_ and 002_add_users_table.sql, both CREATE TABLE)."""
    _dbml(project, "Table users {\n  id int [pk]\n}\n")
    results = _at_once(project, 2)
    assert [code for code, _, _ in results] == [0, 0], results
    assert _files(project) == ["001_add_users_table.sql"], results
    outs = [out for _, out, _ in results]
    assert sum("Migration created" in out for out in outs) == 1, results
    assert sum("No schema changes" in out for out in outs) == 1, results


def test_applying_imports_at_the_same_time_apply_it_once(project):
    """Three `--apply` imports together: one migration, applied once, every run exit 0."""
    _dbml(project, "Table users {\n  id int [pk]\n}\n")
    results = _at_once(project, 3, "--apply")
    assert [code for code, _, _ in results] == [0, 0, 0], results
    assert _files(project) == ["001_add_users_table.sql"], results
    assert project.db.tables() == ["users"]


def test_the_import_lock_names_its_holder_at_the_deadline(project):
    """An import that cannot get the project's import lock in time says who holds it."""
    from nself.config import Environment
    from nself.errors import LockTimeout
    from nself.schema.importer import exclusive

    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from nself.config import Environment; "
         "from nself.schema.importer import exclusive\n"
         "with exclusive(Environment.load(), print):\n"
         "    print('held', flush=True); time.sleep(30)"],
        cwd=project.root, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        said = []
        with pytest.raises(LockTimeout, match=f"pid {holder.pid} since"):
            with exclusive(Environment.load(), said.append, timeout=0.3):
                pass
        assert said and f"pid {holder.pid}" in said[0]
    finally:
        holder.kill()
        holder.wait()


def test_a_number_taken_while_writing_is_named_and_nothing_is_left(project, monkeypatch):
    """Another writer taking the chosen file name just before the link: the error names
    that migration (was: the temporary file), and no file of this run stays behind."""
    from nself.migrations import files

    chosen = files.next_file

    def raced(folder, name, now=None):
        path = chosen(folder, name, now)
        path.write_text("-- the other writer's\n")
        return path

    _dbml(project, "Table users {\n  id int [pk]\n}\n")
    monkeypatch.setattr(files, "next_file", raced)
    result = _import(project)
    assert result.code == 2, result
    assert "migrations/001_add_users_table.sql already exists" in result.err, result
    assert ".tmp" not in result.err
    assert sorted(p.name for p in project.migrations.iterdir()) == ["001_add_users_table.sql"]
