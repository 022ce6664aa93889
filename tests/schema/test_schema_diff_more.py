"""`schema diff --generate-migration` on what real schemas have beyond the round-trip
generator (issue 17): foreign keys under DATABASE_SEARCH_PATH when two schemas hold a table of
the same name, composite types whose attributes change, statistics objects. Each case: the
migration takes A to B, and its DOWN returns to A (on both servers)."""

from __future__ import annotations

import pytest
from test_schema_roundtrip import diff_apply_down, export_import_same

SAME_NAME_TABLES = """
CREATE SCHEMA app;
CREATE TABLE public.t (id int PRIMARY KEY);
CREATE TABLE app.t (id int PRIMARY KEY);
CREATE TABLE public.r (x int, y int);
CREATE TABLE app.r (x int);
"""


def test_foreign_keys_under_a_search_path_reference_the_right_table(project, monkeypatch):
    """With DATABASE_SEARCH_PATH=app,public, a foreign key to public.t (while app.t exists)
    is written qualified: it references public.t, not the app.t the path finds first."""
    staging = project.db.create_sibling()
    project.write("config/local.env", "DATABASE_SEARCH_PATH=app,public\n")
    project.write("config/staging.env",
                  f"DATABASE_URL={staging.url}\nDATABASE_SEARCH_PATH=app,public\n")
    b_sql = SAME_NAME_TABLES + (
        "ALTER TABLE public.r ADD CONSTRAINT to_public FOREIGN KEY (x) REFERENCES public.t;"
        "ALTER TABLE public.r ADD CONSTRAINT to_app FOREIGN KEY (y) REFERENCES app.t;"
        "ALTER TABLE app.r ADD CONSTRAINT to_public FOREIGN KEY (x) REFERENCES public.t;")
    diff_apply_down(project, staging, monkeypatch, SAME_NAME_TABLES, b_sql)
    up = project.run("db", "migrate", "up")
    assert up.code == 0, up
    targets = project.db.query(
        "SELECT fn.nspname || '.' || f.relname, tn.nspname || '.' || t.relname "
        "FROM pg_constraint k JOIN pg_class f ON f.oid = k.conrelid "
        "JOIN pg_namespace fn ON fn.oid = f.relnamespace JOIN pg_class t ON t.oid = k.confrelid "
        "JOIN pg_namespace tn ON tn.oid = t.relnamespace "
        "WHERE k.contype = 'f' AND fn.nspname <> 'nself' ORDER BY 1, 2")
    assert targets == [("app.r", "public.t"), ("public.r", "app.t"), ("public.r", "public.t")]


COMPOSITE = """
CREATE SCHEMA "App";
CREATE TYPE "App"."Pair" AS (x integer, "Label" text COLLATE "C", gone int);
CREATE FUNCTION first_of(p "App"."Pair") RETURNS integer LANGUAGE sql IMMUTABLE
    AS $$ SELECT p.x $$;
"""
WITH_COLUMN = 'CREATE TABLE t (id int, p "App"."Pair", ps "App"."Pair"[]);'


@pytest.mark.parametrize(("a_sql", "b_sql"), [
    # attributes dropped and added (at the end) while columns hold values of the type
    (COMPOSITE + WITH_COLUMN,
     COMPOSITE.replace(", gone int", ', "Added One" numeric(10,2)') + WITH_COLUMN),
    # ... and, with no column of the type, an attribute's type and collation changing
    (COMPOSITE, COMPOSITE.replace("x integer", "x bigint").replace('COLLATE "C"', "")),
], ids=["add-drop", "attribute-type"])
def test_composite_type_attributes_change_in_place(project, monkeypatch, a_sql, b_sql):
    """A composite type's attributes change by ALTER TYPE (values in columns kept, the
    functions taking it kept), and back in DOWN."""
    staging = project.db.create_sibling()
    project.write("config/staging.env", f"DATABASE_URL={staging.url}\n")
    diff_apply_down(project, staging, monkeypatch, a_sql, b_sql)
    up = project.run("db", "migrate", "up")
    assert up.code == 0, up
    text = next(project.migrations.glob("*.sql")).read_text()
    assert "ALTER TYPE \"App\".\"Pair\"" in text and "DROP TYPE" not in text, text


def test_composite_attribute_type_under_a_column_is_said(project):
    """An attribute's type change, which PostgreSQL refuses while a column uses the type,
    is named as not handled (write it by hand), not written as a migration that fails."""
    staging = project.db.create_sibling()
    project.write("config/staging.env", f"DATABASE_URL={staging.url}\n")
    with project.db.connect() as conn:
        conn.execute(COMPOSITE + WITH_COLUMN)
    with staging.connect() as conn:
        conn.execute(COMPOSITE.replace("x integer", "x bigint") + WITH_COLUMN)
    result = project.run("db", "schema", "diff", "staging")
    assert result.code == 6, result
    assert ('Not compared: type App.Pair (attribute x changes type while column public.t.p, '
            'public.t.ps uses it: write it by hand)') in result.out, result.out


STATISTICS = """
CREATE SCHEMA app;
CREATE TABLE t (id int, a int, b int, "C d" text);
CREATE TABLE app.t (a int, b int);
CREATE STATISTICS keep_me ON a, b FROM t;
"""


def test_statistics_objects_are_diffed(project, monkeypatch):
    """CREATE STATISTICS objects (kinds, expressions, another schema, a comment) are created
    and dropped by the generated migration, their table named qualified."""
    staging = project.db.create_sibling()
    project.write("config/staging.env", f"DATABASE_URL={staging.url}\n")
    a_sql = STATISTICS + 'CREATE STATISTICS gone (ndistinct) ON a, "C d" FROM t;'
    b_sql = STATISTICS + ('CREATE STATISTICS app."New S" (dependencies) ON a, b FROM app.t;'
                          "CREATE STATISTICS expr ON (a + b), b FROM t;"
                          "COMMENT ON STATISTICS expr IS 'sums';")
    diff_apply_down(project, staging, monkeypatch, a_sql, b_sql)
    text = next(project.migrations.glob("*.sql")).read_text()
    assert "CREATE STATISTICS public.expr ON b, (a + b) FROM public.t;" in text, text
    assert "DROP STATISTICS public.gone;" in text, text


def test_statistics_survive_export_and_import(project, tmp_path, monkeypatch):
    """A DBML export keeps the statistics objects (in its SQL note, with a statistics
    target); importing it gives them back."""
    export_import_same(project, project.db.create_sibling(), tmp_path / "other", monkeypatch,
                       STATISTICS + "CREATE STATISTICS app.s2 (mcv) ON a, b FROM app.t;"
                       "ALTER STATISTICS app.s2 SET STATISTICS 500;")


def test_a_type_change_only_an_explicit_cast_makes_is_said(project, monkeypatch):
    """integer -> boolean and text -> integer (no automatic conversion) are written with
    USING col::type and a comment saying so, in UP and in DOWN; the rows are converted, and
    back in DOWN."""
    staging = project.db.create_sibling()
    project.write("config/staging.env", f"DATABASE_URL={staging.url}\n")
    a_sql = ("CREATE TABLE t (id int, a int DEFAULT 1, b text, c int);"
             "INSERT INTO t VALUES (1, 0, '42', 7);")
    b_sql = "CREATE TABLE t (id int, a boolean DEFAULT true, b integer, c text);"
    diff_apply_down(project, staging, monkeypatch, a_sql, b_sql)
    text = next(project.migrations.glob("*.sql")).read_text()
    up = text.split("-- DOWN")[0]
    for column, change in (("a", "integer -> boolean"), ("b", "text -> integer")):
        assert (f"-- public.t.{column}: {change} has no automatic conversion: USING converts\n"
                "-- each value by its explicit cast; a value it cannot convert stops the "
                f"migration.\n") in up, up
    assert "public.t.c:" not in up, up   # integer -> text is an assignment cast
    down = text.split("-- DOWN")[1]
    for column, change in (("a", "boolean -> integer"), ("c", "text -> integer")):
        assert f"-- public.t.{column}: {change} has no automatic conversion" in down, down
    assert project.run("db", "migrate", "up").code == 0
    assert project.db.query("SELECT a, b, c FROM t") == [(False, 42, "7")]


def test_a_type_change_without_any_cast_is_refused_in_one_line(project):
    """integer -> uuid (no cast at all): exit 2, one line naming the column, the two types
    and what to do; no migration written."""
    staging = project.db.create_sibling()
    project.write("config/staging.env", f"DATABASE_URL={staging.url}\n")
    with project.db.connect() as conn:
        conn.execute("CREATE TABLE t (id int, a int)")
    with staging.connect() as conn:
        conn.execute("CREATE TABLE t (id int, a uuid)")
    result = project.run("db", "schema", "diff", "staging", "--generate-migration")
    assert result.code == 2, result
    assert len(result.err.strip().splitlines()) == 1, result.err
    assert ("column t.a: its type cannot change from integer to uuid in place (cannot cast "
            "type integer to uuid); nothing was written. Add a new column of the new type, "
            "fill it with an UPDATE") in result.err, result.err
    assert not list(project.migrations.glob("*.sql"))
