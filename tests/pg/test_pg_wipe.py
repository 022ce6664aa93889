"""nself.pg.wipe: the one way to empty a database."""

from nself.pg import catalog, meta
from nself.pg.wipe import wipe


def test_wipe_drops_every_user_object_and_recreates_public(db):
    """Tables, views, functions, types and schemas go; public comes back empty, as initdb
    makes it."""
    db.query("""
        CREATE SCHEMA app;
        CREATE TYPE mood AS ENUM ('a', 'b');
        CREATE DOMAIN pos AS int CHECK (VALUE > 0);
        CREATE TABLE public.a (id int PRIMARY KEY, m mood, p pos);
        CREATE TABLE app.b (a_id int REFERENCES public.a);
        CREATE VIEW app.v AS SELECT * FROM public.a;
        CREATE MATERIALIZED VIEW public.mv AS SELECT 1 AS one;
        CREATE SEQUENCE public.s;
        CREATE FUNCTION public.f() RETURNS int LANGUAGE sql AS 'SELECT 1';
        CREATE AGGREGATE public.agg(int) (SFUNC = int4pl, STYPE = int);
    """)
    with db.connect() as conn:
        meta.record_environment(conn, "local")
        wipe(conn)
        assert catalog.user_schemas(conn) == ["public"]
        assert catalog.user_relations(conn) == []
        assert meta.recorded_environment(conn) is None
    for catalog_table, column in (("pg_proc", "pronamespace"), ("pg_type", "typnamespace")):
        assert db.scalar(f"SELECT count(*) FROM {catalog_table} "
                         f"WHERE {column} = 'public'::regnamespace") == 0
    assert db.scalar("SELECT obj_description('public'::regnamespace)") == "standard public schema"
    db.query("CREATE TABLE again (id int)")  # public is usable again


def test_wipe_on_empty_database(db):
    """Wiping an empty database is harmless and leaves public."""
    with db.connect() as conn:
        wipe(conn)
        wipe(conn)
        assert catalog.user_schemas(conn) == ["public"]


def test_wipe_drops_extensions(db):
    """Extensions and what depends on them go too."""
    db.query("CREATE EXTENSION hstore; CREATE TABLE h (v hstore)")
    with db.connect() as conn:
        wipe(conn)
        assert catalog.extensions(conn) == []
        assert catalog.user_relations(conn) == []
