"""Defects found by trying `schema import` and `schema diff` on DBML files and migration
histories of public projects (issue 17). Each test reproduces one defect with a small DBML
or SQL written here, in the style of what was found (no project's file is copied)."""

from __future__ import annotations

from test_schema_dbml_real import _dbml, _import_up, _migration


def _migrated(project, sql: str) -> None:
    """A hand-written first migration SQL (-- UP ... -- DOWN ...), applied."""
    project.write("migrations/001_start.sql", sql)
    assert project.run("db", "migrate", "up").code == 0


def _no_changes(project) -> None:
    result = project.run("db", "schema", "import")
    assert result.code == 0 and "No schema changes" in result.out, result


def _export_imports_back(project) -> None:
    """The DBML export of the database, imported as it is: nothing to change."""
    exported = project.run("db", "schema", "export")
    assert exported.code == 0, exported
    project.write("schema.dbml", exported.out)
    _no_changes(project)


def _constraints(project, table: str) -> dict[str, str]:
    return dict(project.db.query(
        "SELECT conname, contype::text FROM pg_constraint WHERE conrelid = %s::regclass "
        "AND contype IN ('p', 'u', 'f')",
        [table]))


# A hand-written migration names its keys its own way (an ORM's PK_<table>, UQ_..., FK_...);
# the DBML written afterwards declares the same keys with DBML's default names. They are the
# same keys: the import renames them, it does not keep the old ones beside the new (which
# PostgreSQL refuses: "multiple primary keys for table").
HAND_WRITTEN_KEYS = """\
-- UP
CREATE TABLE users (id integer CONSTRAINT "PK_users" PRIMARY KEY,
                    email text CONSTRAINT "UQ_users_email" UNIQUE);
CREATE TABLE posts (id integer CONSTRAINT "PK_posts" PRIMARY KEY,
                    user_id integer CONSTRAINT "FK_posts_user" REFERENCES users (id),
                    title text);
-- DOWN
DROP TABLE posts;
DROP TABLE users;
"""


def test_keys_a_hand_written_migration_named_otherwise_are_the_dbml_ones(project):
    _migrated(project, HAND_WRITTEN_KEYS)
    _dbml(project, """
        Table users {
          id integer [pk]
          email text [unique]
        }
        Table posts {
          id integer [pk]
          user_id integer [ref: > users.id]
          title text
          body text
        }
        """)
    _import_up(project)
    assert _constraints(project, "posts") == {
        "posts_pkey": "p", "posts_user_id_fkey": "f"}
    assert _constraints(project, "users") == {"users_pkey": "p", "users_email_key": "u"}


def test_rename_of_a_table_a_hand_written_migration_made(project):
    """The issue's known defect: --rename posts:articles with `id [pk]` in the DBML."""
    _migrated(project, "-- UP\nCREATE TABLE posts (id integer PRIMARY KEY, title text);\n"
                       "INSERT INTO posts VALUES (1, 'kept');\n-- DOWN\nDROP TABLE posts;\n")
    _dbml(project, """
        Table articles {
          id integer [pk]
          title text
        }
        """)
    result = project.run("db", "schema", "import", "--rename", "posts:articles")
    assert result.code == 0 and "Migration created" in result.out, result
    assert project.run("db", "migrate", "up").code == 0
    _no_changes(project)
    assert project.db.query("SELECT id, title FROM articles") == [(1, "kept")]
    assert _constraints(project, "articles") == {"articles_pkey": "p"}


# MySQL writes a default's fractional-second precision as an argument: now(3),
# current_timestamp(6) (sql2dbml and hand-written MySQL-style files keep it).
def test_mysql_time_defaults_with_a_precision(project):
    _dbml(project, """
        Table events {
          id int [pk]
          created_at datetime(3) [not null, default: `now(3)`]
          updated_at datetime [default: `CURRENT_TIMESTAMP(6)`]
          seen_at datetime [default: `utc_timestamp(3)`]
          day_time time [default: `curtime(2)`]
        }
        """)
    result = _import_up(project)
    assert "`now(3)` is not PostgreSQL's" in result.err, result.err
    project.db.query("INSERT INTO events (id) VALUES (1)")
    assert project.db.query(
        "SELECT created_at IS NOT NULL AND seen_at IS NOT NULL AND day_time IS NOT NULL "
        "FROM events") == [(True,)]


# `uuid [pk, increment]` (written at dbdiagram.io, and by exporters of ORMs whose key is a
# generated uuid): PostgreSQL has no identity of type uuid; the value it generates is
# gen_random_uuid().
def test_increment_on_a_uuid_column_is_a_generated_uuid(project):
    _dbml(project, """
        Table users {
          id uuid [pk, increment]
          name varchar
        }
        """)
    result = _import_up(project)
    assert "increment" in result.err and "gen_random_uuid()" in result.err, result.err
    project.db.query("INSERT INTO users (name) VALUES ('a')")
    assert project.db.query("SELECT count(*) FROM users WHERE id IS NOT NULL") == [(1,)]
    _dbml(project, """
        Table users {
          id uuid [pk, increment]
          name varchar
          code uuid [increment]
        }
        """)
    strict = project.run("db", "schema", "import", "--strict")  # refuses what it would map
    assert strict.code == 2, strict
    assert "schema.dbml:4:" in strict.err and "users.code" in strict.err, strict.err


# Prisma's String[] beside String: the warning names each as written.
def test_mapped_array_type_is_named_as_written(project):
    _dbml(project, """
        Table posts {
          id String [pk]
          tags String[]
        }
        """)
    result = _import_up(project)
    assert "read as String as text, String[] as text[]" in result.err, result.err
    assert "String[] -> text[]: posts.tags" in _migration(project), _migration(project)


# A type PostgreSQL cannot cast to (integer -> uuid): one line saying so and what to do,
# never "This is a bug in nself".
def test_a_type_change_postgresql_cannot_cast(project):
    _dbml(project, """
        Table tokens {
          id int [pk]
          owner int
        }
        """)
    _import_up(project)
    _dbml(project, """
        Table tokens {
          id int [pk]
          owner uuid
        }
        """)
    result = project.run("db", "schema", "import")
    assert result.code == 2, result
    assert "bug in nself" not in result.err and "Traceback" not in result.err, result.err
    assert "tokens.owner" in result.err and "integer" in result.err \
        and "uuid" in result.err, result.err
    assert "schema.dbml:3:" in result.err, result.err
    assert len(list(project.migrations.glob("*.sql"))) == 1


# A ref written the wrong way round (`<` for `>`): the referenced side is no key, but the
# other side is. PostgreSQL would refuse it either way; the error says which way works.
def test_a_ref_written_the_wrong_way_round_says_so(project):
    _dbml(project, """
        Table course {
          id bigserial [pk]
          name text
        }
        Table lesson {
          id bigserial [pk]
          course_id bigint
        }
        Ref: lesson.course_id < course.id
        """)
    result = project.run("db", "schema", "import")
    assert result.code == 2, result
    assert "schema.dbml:9:" in result.err, result.err
    assert ("if lesson.course_id is what refers to course.id (its primary key), turn the ref around"
            in result.err), result.err


# The same when the new type is an enum the change creates (a smallint code column turned
# into an enum, as a forum's migrations did between two releases): schema diff between a
# database before that change and one after it.
def test_a_type_change_to_a_new_enum_postgresql_cannot_cast(project):
    _dbml(project, """
        Table site {
          id int [pk]
          listing smallint
        }
        """)
    _import_up(project)
    _dbml(project, """
        Enum listing_kind {
          all
          local
        }
        Table site {
          id int [pk]
          listing listing_kind
        }
        """)
    result = project.run("db", "schema", "import")
    assert result.code == 2, result
    assert "bug in nself" not in result.err, result.err
    assert "schema.dbml:7:" in result.err and "site.listing" in result.err \
        and "smallint to listing_kind" in result.err, result.err


# drizzle-dbml-generator writes a JSON default in backticks: still the file's problem (it
# is no SQL expression), with the fix that works.
def test_a_json_value_in_backticks_is_told_to_go_in_quotes(project):
    _dbml(project, """
        Table server {
          id int [pk]
          config jsonb [default: `{"refresh":60,"include":[]}`]
        }
        """)
    result = project.run("db", "schema", "import")
    assert result.code == 2, result
    assert "schema.dbml:3:" in result.err and "write it in single quotes" in result.err, \
        result.err
    _dbml(project, """
        Table server {
          id int [pk]
          config jsonb [default: '{"refresh":60,"include":[]}']
        }
        """)
    _import_up(project)
    project.db.query("INSERT INTO server (id) VALUES (1)")
    assert project.db.query("SELECT config->>'refresh' FROM server") == [("60",)]


# A negative default means in DBML what it means in SQL: `DEFAULT -1` on a smallint or
# numeric column is printed '-1'::integer (the literal's type). A hand-written migration's
# default is the DBML's, and a schema export of it imports back exactly (an ORM's
# numeric(65,30) DEFAULT -1 came back '-1'::numeric).
NEGATIVE_DEFAULTS = """\
-- UP
CREATE TABLE field (id int PRIMARY KEY, s smallint DEFAULT -1, n numeric(65,30) DEFAULT -1,
                    d double precision DEFAULT -1.5, b bigint DEFAULT -3000000000);
-- DOWN
DROP TABLE field;
"""


def test_negative_defaults_mean_what_they_mean_in_sql(project):
    _migrated(project, NEGATIVE_DEFAULTS)
    _dbml(project, """
        Table field {
          id int [pk]
          s smallint [default: -1]
          n numeric(65,30) [default: -1]
          d double precision [default: -1.5]
          b bigint [default: -3000000000]
        }
        """)
    _no_changes(project)
    _export_imports_back(project)


# A serial column of a table renamed since keeps its sequence's old name (tag_id_seq for
# community_tag.id, as in a forum's history): the export must not call it serial (that
# would make community_tag_id_seq), so that export -> import gives the schema back.
def test_export_of_a_renamed_tables_serial_imports_back_exactly(project):
    _migrated(project, "-- UP\nCREATE TABLE tag (id serial PRIMARY KEY, name text);\n"
                       "ALTER TABLE tag RENAME TO community_tag;\n"
                       "-- DOWN\nDROP TABLE community_tag;\n")
    _export_imports_back(project)
