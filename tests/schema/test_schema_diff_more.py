"""`schema diff --generate-migration` on what real schemas have beyond the round-trip
generator (issue 17): foreign keys under DATABASE_SEARCH_PATH when two schemas hold a table of
the same name. Each case: the migration takes A to B, and its DOWN returns to A (on both
servers)."""

from __future__ import annotations

from test_schema_roundtrip import diff_apply_down

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
