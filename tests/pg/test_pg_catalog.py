"""nself.pg.catalog: one definition of a user object, asked of real servers."""

import psycopg
import pytest

from nself.pg import catalog


def setup_objects(db):
    db.query("""
        CREATE SCHEMA app;
        CREATE TABLE public.a (id int PRIMARY KEY);
        CREATE TABLE app.b (id int);
        CREATE VIEW public.v AS SELECT id FROM public.a;
        CREATE SCHEMA nself;
        CREATE TABLE nself.bookkeeping (id int);
        INSERT INTO public.a SELECT generate_series(1, 7);
    """)


def test_user_schemas_include_public_and_exclude_nself(db):
    """User schemas are public and the user's own; never nself or PostgreSQL's."""
    setup_objects(db)
    with db.connect() as conn:
        assert catalog.user_schemas(conn) == ["app", "public"]


def test_user_relations_and_exact_counts(db):
    """Tables and views of user schemas are listed; nself's are not; counts are exact."""
    setup_objects(db)
    with db.connect() as conn:
        relations = catalog.user_relations(conn)
        names = [r.qualified for r in relations]
        assert names == ["app.b", "public.a", "public.v"]
        assert catalog.row_counts(conn, relations) == {"app.b": 0, "public.a": 7}
        size, tables = catalog.database_facts(conn)
        assert tables == 2 and size > 0


def test_partitions_count_once(db):
    """A partitioned table counts as one table, not one per partition."""
    db.query("""CREATE TABLE p (id int) PARTITION BY RANGE (id);
                CREATE TABLE p1 PARTITION OF p FOR VALUES FROM (0) TO (10);""")
    with db.connect() as conn:
        assert [r.qualified for r in catalog.user_relations(conn)] == ["public.p"]


def test_index_state(db):
    """An index is reported valid, invalid (a failed CONCURRENTLY build) or absent."""
    db.query("CREATE TABLE t (x int); INSERT INTO t VALUES (1), (1); CREATE INDEX ok_idx ON t (x)")
    with pytest.raises(psycopg.errors.UniqueViolation):
        db.query("CREATE UNIQUE INDEX CONCURRENTLY bad_idx ON t (x)")
    with db.connect() as conn:
        assert catalog.index_state(conn, "ok_idx") == "valid"
        assert catalog.index_state(conn, "bad_idx") == "invalid"
        assert catalog.index_state(conn, "bad_idx", "public") == "invalid"
        assert catalog.index_state(conn, "bad_idx", "other") is None
        assert catalog.index_state(conn, "nope") is None
        assert catalog.invalid_indexes(conn) == [("public", "bad_idx")]
        assert catalog.invalid_indexes(conn, "public.t") == [("public", "bad_idx")]
        assert catalog.invalid_indexes(conn, "no such table(") == []


def test_relation_resolves_names(db):
    """A --tables name resolves to its quoted qualified name and kind; junk resolves to None."""
    db.query('CREATE TABLE "Mixed Case" (id int)')
    with db.connect() as conn:
        assert catalog.relation(conn, '"Mixed Case"') == ('public."Mixed Case"', "r")
        assert catalog.relation(conn, "missing") is None
        assert catalog.relation(conn, "a..b") is None


def test_extension_objects_are_not_user_objects(db):
    """Objects an extension owns are not the user's, even in public: hstore's type and
    functions, pg_buffercache's view. On both servers (the embedded build ships contrib)."""
    db.query("CREATE EXTENSION hstore; CREATE EXTENSION pg_buffercache; "
             "CREATE TABLE h (v hstore)")
    assert db.scalar("SELECT to_regclass('public.pg_buffercache') IS NOT NULL")
    with db.connect() as conn:
        assert catalog.extensions(conn) == ["hstore", "pg_buffercache"]
        assert [r.qualified for r in catalog.user_relations(conn)] == ["public.h"]
