"""Schema diff and export on schemas as real projects have them (issue 17, section 2):
objects ordered by what they really use (pg_depend), an SQL export that psql loads as
written, DBML export -> import that reproduces the schema, `schema diff --rename`, DOWNs
that say what they cannot do, one-sense failure messages, and the column order."""

from __future__ import annotations

import json
import re

import test_schema_diff_cli
from conftest import TestDatabase
from test_schema_diff_cli import _apply
from test_schema_import import _round_trip

from nself.schema.diff import diff
from nself.schema.introspect import introspect
from nself.schema.render import EXPORT_MARK, digest

staging = test_schema_diff_cli.staging  # the same fixture: a sibling configured as staging

BASE = """
CREATE TABLE items (id bigint PRIMARY KEY, qty integer NOT NULL, label text);
"""

# Everything here uses something created from another phase of a migration: a partial
# index and a generated column calling functions, a view on a function, a function
# returning a composite type, a domain whose check calls a function (named so that
# alphabetical order puts the domain first), a table default calling a function that
# reads another table (BEGIN ATOMIC: a real dependency), a function taking a domain.
DEPENDENT = """
CREATE FUNCTION positive(n integer) RETURNS boolean LANGUAGE sql IMMUTABLE
  AS $$ SELECT n > 0 $$;
CREATE INDEX items_positive ON items (id) WHERE positive(qty);
CREATE FUNCTION doubled(n integer) RETURNS integer LANGUAGE sql IMMUTABLE
  AS $$ SELECT n * 2 $$;
ALTER TABLE items ADD COLUMN twice integer GENERATED ALWAYS AS (doubled(qty)) STORED;
CREATE VIEW doubled_items AS SELECT id, doubled(qty) AS d FROM items;
CREATE TYPE amount AS (value numeric, currency text);
CREATE FUNCTION amount_zero() RETURNS amount LANGUAGE sql IMMUTABLE
  AS $$ SELECT ROW(0, 'EUR')::amount $$;
CREATE FUNCTION is_code(t text) RETURNS boolean LANGUAGE sql IMMUTABLE
  AS $$ SELECT t ~ '^[A-Z]{3}$' $$;
CREATE DOMAIN a_code AS text CHECK (is_code(VALUE));
ALTER TABLE items ADD COLUMN currency a_code;
CREATE FUNCTION code_length(c a_code) RETURNS integer LANGUAGE sql IMMUTABLE
  AS $$ SELECT length(c) $$;
CREATE TABLE z_counters (n integer NOT NULL);
CREATE FUNCTION b_next() RETURNS integer LANGUAGE sql
  BEGIN ATOMIC SELECT coalesce(max(n), 0) + 1 FROM z_counters; END;
CREATE TABLE a_tickets (id integer DEFAULT b_next() PRIMARY KEY, price amount);
"""


def _sibling(project) -> TestDatabase:
    """The sibling database _round_trip created (and imported into)."""
    db = project.db
    return TestDatabase(db.backend, {**db.params, "dbname": f"{db.name}_b"}, db.admin)


def _model(db):
    with db.connect() as conn:
        return introspect(conn)


def _files(project) -> list[str]:
    return sorted(p.name for p in project.migrations.glob("*.sql"))


def _migrate_to_staging(project, staging) -> str:
    """Generate local -> staging, apply it (over a baseline that is local's schema), check
    that local now equals staging and that the DOWN returns; the migration's text."""
    result = project.run("db", "schema", "diff", "staging", "--generate-migration")
    assert result.code == 0, result
    assert "This is a bug in nself" not in result.out + result.err
    # the main part, and a no-transaction part when an index on an existing table is
    # built CONCURRENTLY (or a key is validated): UP read in order, DOWN in reverse
    names = [n for n in _files(project) if "match_staging" in n]
    assert names, _files(project)
    parts = [(project.migrations / n).read_text().partition("-- DOWN") for n in names]
    text = "".join(up for up, _, _ in parts) + "-- DOWN" + "".join(
        down for _, _, down in reversed(parts))
    project.migration("000_baseline.sql", "SELECT 1;", "SELECT 1;")
    up = project.run("db", "migrate", "up")
    assert up.code == 0, up
    assert project.run("db", "schema", "diff", "staging").code == 0
    down = project.run("db", "migrate", "down", "--to", "000")
    assert down.code == 0, down
    return text


# ------------------------------------------------------------------ (a) real dependencies

def test_generated_migration_creates_what_is_used_first(project, staging):
    """UP creates functions, types and domains before the index, generated column, domain,
    view and table default that use them; the DOWN (verified before writing) drops them
    after their users."""
    _apply(project.db, BASE)
    _apply(staging, BASE + DEPENDENT)
    text = _migrate_to_staging(project, staging)
    up, _, down = text.partition("-- DOWN")
    assert up.index("FUNCTION public.is_code") < up.index("CREATE DOMAIN public.a_code")
    assert up.index("CREATE TABLE public.z_counters") < up.index("FUNCTION public.b_next")
    assert up.index("FUNCTION public.b_next") < up.index("CREATE TABLE public.a_tickets")
    assert down.index("DROP INDEX public.items_positive") < down.index(
        "DROP ROUTINE public.positive(integer)")
    assert down.index("DROP DOMAIN public.a_code") < down.index(
        "DROP ROUTINE public.is_code(text)")
    assert down.index("DROP TABLE public.a_tickets") < down.index("DROP ROUTINE public.b_next()")
    assert _model(project.db).table("items").column("twice") is None  # DOWN ran


def test_generated_migration_drops_what_is_used_last(project, staging):
    """The other way: this database has the functions and their users, staging has not."""
    _apply(project.db, BASE + DEPENDENT)
    _apply(staging, BASE)
    result = project.run("db", "schema", "diff", "staging", "--generate-migration")
    assert result.code == 0, result
    (name,) = _files(project)
    up = (project.migrations / name).read_text().partition("-- DOWN")[0]
    assert up.index("DROP INDEX public.items_positive") < up.index(
        "DROP ROUTINE public.positive(integer)")
    assert up.index("ALTER TABLE public.items DROP COLUMN twice") < up.index(
        "DROP ROUTINE public.doubled(integer)")


def test_a_function_whose_return_type_changes_is_made_again_with_its_view(project, staging):
    """CREATE OR REPLACE cannot change a function's return type or parameter names: the
    function is dropped and created again, and the view over it with it."""
    _apply(project.db, "CREATE FUNCTION answer() RETURNS integer LANGUAGE sql AS $$ SELECT 42 $$;"
                       "CREATE VIEW answers AS SELECT answer() AS a;")
    _apply(staging, "CREATE FUNCTION answer() RETURNS bigint LANGUAGE sql AS $$ SELECT 42 $$;"
                    "CREATE VIEW answers AS SELECT answer() AS a;")
    text = _migrate_to_staging(project, staging)
    up = text.partition("-- DOWN")[0]
    assert up.index("DROP VIEW public.answers") < up.index("DROP ROUTINE public.answer()")


def test_a_function_a_default_stops_using_is_dropped_after_the_default(project, staging):
    """The default that calls a function reading a table changes first; then the function
    goes (the table stays)."""
    tables = "CREATE TABLE z_counters (n integer NOT NULL);"
    _apply(project.db, tables + "CREATE FUNCTION b_next() RETURNS integer LANGUAGE sql "
           "BEGIN ATOMIC SELECT coalesce(max(n), 0) + 1 FROM z_counters; END;"
           "CREATE TABLE a_tickets (id integer DEFAULT b_next() PRIMARY KEY);")
    _apply(staging, tables + "CREATE TABLE a_tickets (id integer PRIMARY KEY);")
    up = _migrate_to_staging(project, staging).partition("-- DOWN")[0]
    assert up.index("ALTER COLUMN id DROP DEFAULT") < up.index("DROP ROUTINE public.b_next()")


# ------------------------------------------------------------- (b) the SQL export loads

FUNCTIONS_CALLING_LATER_ONES = """
CREATE FUNCTION z_helper(n integer) RETURNS integer LANGUAGE sql AS $$ SELECT n * 3 $$;
CREATE FUNCTION a_total(n integer) RETURNS integer LANGUAGE sql
  AS $$ SELECT z_helper(n) + 1 $$;
CREATE FUNCTION y_base() RETURNS integer LANGUAGE sql IMMUTABLE RETURN 7;
CREATE FUNCTION b_atomic() RETURNS integer LANGUAGE sql BEGIN ATOMIC SELECT y_base(); END;
"""


def test_sql_export_loads_with_psql_as_written(project, tmp_path):
    """The export runs in an empty database with psql -v ON_ERROR_STOP=1 -f, unedited:
    a function calling one defined later, and every dependency above."""
    _apply(project.db, BASE + DEPENDENT + FUNCTIONS_CALLING_LATER_ONES)
    exported = project.run("db", "schema", "export", "--format", "sql", "--output",
                           "schema.sql")
    assert exported.code == 0, exported
    text = (project.root / "schema.sql").read_text()
    assert text.startswith("SET check_function_bodies = off;\n")
    empty = project.db.create_sibling()
    loaded = project.run("db", "shell", "-f", "schema.sql", "--database", empty.name)
    assert loaded.code == 0, loaded
    assert diff(_model(project.db), _model(empty)).empty


# -------------------------------------------------- (c, d) DBML export -> import exactly

ROUND_TRIP = """
CREATE TABLE accounts (id bigint PRIMARY KEY, "userId" bigint NOT NULL, kind text NOT NULL,
                       org bigint, slug text, email text,
                       CONSTRAINT accounts_org_slug UNIQUE (org, slug),
                       CONSTRAINT accounts_email_unique UNIQUE (email));
CREATE UNIQUE INDEX accounts_user_kind ON accounts ("userId", kind);
CREATE FUNCTION tabbed() RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'a\tb' $$;
"""


def test_dbml_export_quotes_a_capitalised_index_column_once(project):
    _apply(project.db, ROUND_TRIP.replace("\\t", "\t"))
    result = project.run("db", "schema", "export")
    assert result.code == 0, result
    assert "(userId, kind) [unique, name: 'accounts_user_kind']" in result.out
    assert '\\"' not in result.out


def test_dbml_export_then_import_reproduces_the_schema(project, tmp_path, monkeypatch):
    """A tab in a function's string literal stays a tab; UNIQUE constraints (several
    columns, or one with a name of its own) stay constraints; a capitalised column in a
    composite index survives."""
    _apply(project.db, ROUND_TRIP.replace("\\t", "\t"))
    _round_trip(project, tmp_path, monkeypatch)  # diff finds nothing
    copy = _model(_sibling(project))
    kinds = {c.name: c.kind for c in copy.table("accounts").constraints}
    assert kinds["accounts_org_slug"] == kinds["accounts_email_unique"] == "u"
    (tabbed,) = [d for d in copy.definitions if d.name == "tabbed()"]
    assert "'a\tb'" in tabbed.sql


def test_import_of_an_unedited_export_checks_it_reproduces_it(project, tmp_path, monkeypatch):
    """An unedited export is checked: what the import builds must have the exported
    schema's facts. A lossy step (here simulated: the function's tab turned into spaces, as
    the DBML reader did, with the file's hash made to match) stops it; nothing is written.
    A file edited by hand is not an export any more: imported as written."""
    _apply(project.db, ROUND_TRIP.replace("\\t", "\t"))
    assert project.run("db", "schema", "export", "--output", "exported.dbml").code == 0
    text = (project.root / "exported.dbml").read_text()
    at = text.rindex(EXPORT_MARK)
    lossy = text[:at].replace("'a\tb'", "'a  b'")
    mark = json.loads(text[at + len(EXPORT_MARK):])
    other = tmp_path / "other"
    (other / "migrations").mkdir(parents=True)
    monkeypatch.chdir(other)
    monkeypatch.setenv("DATABASE_URL", project.db.create_sibling().url)
    (other / "schema.dbml").write_text(lossy + EXPORT_MARK + json.dumps(
        {"file": digest(lossy), "schema": mark["schema"]}) + "\n")
    caught = project.run("db", "schema", "import")
    assert caught.code == 1, caught
    assert "would not reproduce that schema" in caught.err and "functions" in caught.err
    assert "Traceback" not in caught.err
    assert list((other / "migrations").iterdir()) == []
    (other / "schema.dbml").write_text(lossy + text[at:])  # edited: the hash says so
    edited = project.run("db", "schema", "import")
    assert edited.code == 0, edited


def test_dbml_export_then_import_of_functions_types_and_their_users(project, tmp_path,
                                                                    monkeypatch):
    """Every dependency above travels through DBML and back: a column of a composite type,
    a domain whose check calls a function, a default calling a function that reads a table,
    functions calling functions created after them."""
    _apply(project.db, BASE + DEPENDENT + FUNCTIONS_CALLING_LATER_ONES)
    _round_trip(project, tmp_path, monkeypatch)


# --------------------------------------------------------------- (e) --rename, NOT NULL

def test_diff_takes_rename_like_import(project, staging):
    _apply(project.db, "CREATE TABLE users (id bigint PRIMARY KEY, name text);"
                       "INSERT INTO users VALUES (1, 'Ada');")
    _apply(staging, "CREATE TABLE members (id bigint PRIMARY KEY, full_name text);")
    shown = project.run("db", "schema", "diff", "staging", "--rename", "users:members",
                        "--rename", "users.name:full_name")
    assert shown.code == 6, shown
    assert "~ Table: users (renamed to members)" in shown.out
    assert "~ Column: members.name (renamed to full_name)" in shown.out
    result = project.run("db", "schema", "diff", "staging", "--rename", "users:members",
                         "--rename", "users.name:full_name", "--generate-migration")
    assert result.code == 0, result
    (name,) = _files(project)
    text = (project.migrations / name).read_text()
    assert "RENAME TO members" in text and "RENAME COLUMN name TO full_name" in text
    assert "DROP TABLE" not in text
    wrong = project.run("db", "schema", "diff", "staging", "--rename", "nope:members")
    assert wrong.code == 2, wrong
    assert "nope" in wrong.err and "Traceback" not in wrong.err


def test_a_down_re_adding_a_not_null_column_says_it_needs_a_value(project, staging):
    """Staging dropped two NOT NULL columns: the DOWN re-adds the one with a default
    (which fills the rows), and says, in its SQL and on the output, that the other one
    cannot be re-added once the table has rows."""
    domain = "CREATE DOMAIN flag AS boolean DEFAULT false;"
    _apply(project.db, domain + "CREATE TABLE t (id bigint PRIMARY KEY, code text NOT NULL, "
                       "kind text NOT NULL DEFAULT 'plain', seen flag NOT NULL);")
    _apply(staging, domain + "CREATE TABLE t (id bigint PRIMARY KEY);")
    result = project.run("db", "schema", "diff", "staging", "--generate-migration")
    assert result.code == 0, result
    assert "DOWN: public.t.code: fails if the table has rows" in result.out + result.err
    (name,) = _files(project)
    down = (project.migrations / name).read_text().partition("-- DOWN")[2]
    assert re.search(r"-- WARNING: public\.t\.code is NOT NULL and has no default: this "
                     r"fails once public\.t has rows", down)
    assert "ADD COLUMN kind text DEFAULT 'plain'::text NOT NULL" in down
    # the domain's default fills the rows
    assert "DOWN: public.t.seen" not in result.out + result.err
    assert "public.t.seen is NOT NULL" not in down


# ------------------------------------------------------------ (f) a failed DOWN, one sense

def test_a_failed_down_says_one_thing(project):
    project.migration("001_t.sql", "CREATE TABLE t (id int);", "DROP TABLE nothing_here;")
    assert project.run("db", "migrate", "up").code == 0
    result = project.run("db", "migrate", "down")
    assert result.code != 0, result
    said = result.out + result.err
    assert "nothing of it is rolled back" not in said
    assert "the migration stays applied" in said


# ------------------------------------------------------------------- (g) column order

def test_diff_says_a_column_added_in_the_middle_comes_last(project, staging):
    _apply(project.db, "CREATE TABLE t (id bigint PRIMARY KEY, b text);")
    _apply(staging, "CREATE TABLE t (id bigint PRIMARY KEY, a text, b text);")
    result = project.run("db", "schema", "diff", "staging")
    assert result.code == 6, result
    assert ("~ Table: t (column order: a will come last (id, b, a): PostgreSQL adds columns "
            "at the end)") in result.out


def test_diff_says_a_recomputed_generated_column_moves_to_the_end(project, staging):
    _apply(project.db, "CREATE TABLE t (id int, g int GENERATED ALWAYS AS (id + 1) STORED, "
                       "z text);")
    _apply(staging, "CREATE TABLE t (id int, g int GENERATED ALWAYS AS (id + 2) STORED, "
                    "z text);")
    result = project.run("db", "schema", "diff", "staging")
    assert result.code == 6, result
    assert "~ Table: t (column order: g will come last (id, z, g)" in result.out


def test_diff_says_columns_in_another_order(project, staging):
    _apply(project.db, "CREATE TABLE t (id int, a text, b text);")
    _apply(staging, "CREATE TABLE t (id int, b text, a text);")
    result = project.run("db", "schema", "diff", "staging")
    assert result.code == 6, result
    assert "~ Table: t (different column order (id, a, b against id, b, a)" in result.out
    generated = project.run("db", "schema", "diff", "staging", "--generate-migration")
    assert generated.code == 0, generated
    assert "No migration written" in generated.out
    assert _files(project) == []
