"""nself.schema.render: model -> SQL and DBML. Ordering and spelling without a database;
the SQL round trip (script -> empty database -> introspection) on real servers."""

from test_schema_introspect import RICH_SQL

from nself.schema.introspect import introspect
from nself.schema.model import (
    Column,
    Constraint,
    Definition,
    Enum,
    Index,
    Schema,
    Sequence,
    Table,
)
from nself.schema.render import dbml_default, dbml_string, dbml_type, to_dbml, to_sql


def _model() -> Schema:
    users = Table("public", "users",
                  [Column("id", "integer", False, identity="by default"),
                   Column("email", "character varying(255)", False, comment="Login, it's 'x'"),
                   Column("role", "user_role", default="'user'::user_role"),
                   Column("created_at", "timestamp with time zone", default="now()")],
                  [Constraint("users_pkey", "p", ["id"], "PRIMARY KEY (id)"),
                   Constraint("users_email_key", "u", ["email"], "UNIQUE (email)")],
                  [Index("users_created_idx", "users", ["created_at"],
                         definition="CREATE INDEX users_created_idx ON public.users USING btree "
                                    "(created_at)"),
                   Index("users_lower_idx", "users", ["lower(email::text)"], unique=True,
                         definition="CREATE UNIQUE INDEX users_lower_idx ON public.users USING "
                                    "btree (lower((email)::text))")],
                  comment="People\nwho sign in")
    # a cycle of foreign keys: a -> b and b -> a (only ALTER TABLE after both can do it)
    a = Table("public", "a", [Column("id", "integer", False), Column("b_id", "integer")],
              [Constraint("a_pkey", "p", ["id"], "PRIMARY KEY (id)"),
               Constraint("a_b_id_fkey", "f", ["b_id"], "FOREIGN KEY (b_id) REFERENCES b(id)",
                          "public", "b", ["id"])])
    b = Table("public", "b", [Column("id", "integer", False), Column("a_id", "integer")],
              [Constraint("b_pkey", "p", ["id"], "PRIMARY KEY (id)"),
               Constraint("b_to_a", "f", ["a_id"],
                          "FOREIGN KEY (a_id) REFERENCES a(id) ON DELETE CASCADE",
                          "public", "a", ["id"], "CASCADE")])
    parent = Table("public", "ev", [Column("d", "date", False)], partition_by="RANGE (d)")
    part = Table("public", "aa_ev_1", [Column("d", "date", False)], partition_of="public.ev",
                 partition_bound="FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')")
    lines = Table("app", "Order Lines", [Column("o", "integer"), Column("r", "text")],
                  [Constraint("lines_fk", "f", ["o", "r"], "", "app", "orders", ["o", "r"])])
    definitions = [
        Definition("view", "public", "v2", "CREATE VIEW public.v2 AS SELECT * FROM v1",
                   ["public.v1"]),
        Definition("view", "public", "v1", "CREATE VIEW public.v1 AS SELECT id FROM users",
                   ["public.users"]),
        Definition("trigger", "public", "users.t", "CREATE TRIGGER t ...",
                   ["public.users", "public.f()"]),
        Definition("function", "public", "f()", "CREATE FUNCTION public.f() ..."),
    ]
    return Schema(["public", "app"], ["citext"],
                  [Enum("public", "user_role", ["user", "admin"])], [],
                  [Sequence("public", "s", start=5)],
                  [users, b, a, part, parent, lines], definitions,
                  {"schema:app": "App"}, ["collation app.c"])


def test_sql_is_in_dependency_order():
    """Schemas, extensions, types, sequences and functions come before tables; a partition
    after its parent; foreign keys (a cycle too) as ALTER TABLE after every table; then
    indexes, views after the views they read, triggers after their function, comments."""
    text = to_sql(_model())
    at = text.index
    assert at("CREATE SCHEMA app;") < at("CREATE EXTENSION IF NOT EXISTS citext;") < at(
        "CREATE TYPE public.user_role AS ENUM ('user', 'admin');") < at(
        "CREATE SEQUENCE public.s") < at("CREATE FUNCTION public.f()") < at(
        "CREATE TABLE public.a (")
    assert at("CREATE TABLE public.ev (") < at("CREATE TABLE public.aa_ev_1 PARTITION OF public.ev")
    assert "REFERENCES" not in text[:at("ALTER TABLE")]
    assert at("CREATE TABLE public.users (") < at(
        "ALTER TABLE public.a ADD CONSTRAINT a_b_id_fkey FOREIGN KEY (b_id) "
        "REFERENCES public.b(id);")
    assert ('ALTER TABLE app."Order Lines" ADD CONSTRAINT lines_fk FOREIGN KEY (o, r) '
            'REFERENCES app.orders(o, r);') in text
    assert at("ADD CONSTRAINT b_to_a") < at("CREATE UNIQUE INDEX users_lower_idx") < at(
        "CREATE VIEW public.v1") < at("CREATE VIEW public.v2")
    assert at("CREATE FUNCTION public.f()") < at("CREATE TRIGGER t")
    assert at("CREATE TRIGGER t") < at("COMMENT ON SCHEMA app IS 'App';")
    assert "COMMENT ON COLUMN public.users.email IS 'Login, it''s ''x''';" in text
    assert "COMMENT ON TABLE public.users IS 'People\nwho sign in';" in text
    assert text.endswith("-- not modelled (not in this script): collation app.c\n")


def test_rendering_is_stable():
    """The same schema renders byte-identically, whatever order its lists were in."""
    model = _model()
    shuffled = _model()
    shuffled.tables.reverse()
    shuffled.definitions.reverse()
    shuffled.schemas.reverse()
    assert to_sql(model) == to_sql(model) == to_sql(shuffled)
    assert to_dbml(model) == to_dbml(model) == to_dbml(shuffled)


def test_dbml_tables_refs_and_what_dbml_cannot_carry():
    """Tables with pk/not null/unique/default/increment/note, named indexes with
    expressions in backticks, composite refs with actions, partitions and views as
    `// not in DBML` lines; no Project block."""
    text = to_dbml(_model())
    assert "Project" not in text
    assert "Enum user_role {\n  user\n  admin\n}" in text
    assert "Table users {\n  id integer [pk, increment]\n" in text
    assert "  email varchar(255) [not null, unique, note: 'Login, it\\'s \\'x\\'']\n" in text
    assert "  role user_role [default: 'user']\n" in text
    assert "  created_at timestamptz [default: `now()`]\n" in text
    assert "    created_at [name: 'users_created_idx']\n" in text
    assert "    `lower(email::text)` [unique, name: 'users_lower_idx']\n" in text
    assert "  Note: '''People\nwho sign in'''\n" in text
    assert 'Table app."Order Lines" {' in text
    assert "Ref: a.b_id > b.id\n" in text
    assert "Ref b_to_a: b.a_id > a.id [delete: cascade]\n" in text
    assert 'Ref lines_fk: app."Order Lines".(o, r) > app.orders.(o, r)' in text
    assert "Table aa_ev_1" not in text
    assert ("// not in DBML: partition public.aa_ev_1 of public.ev (FOR VALUES FROM "
            "('2024-01-01') TO ('2025-01-01')) (kept in SQL)") in text
    assert "// not in DBML: view public.v1 (kept in SQL)" in text
    assert "// not in DBML: trigger public.users.t (kept in SQL)" in text
    assert "// not in DBML: sequence public.s (kept in SQL)" in text
    assert "// not modelled by nself (neither in DBML nor in SQL): collation app.c" in text
    assert text.index("view public.v1") < text.index("view public.v2")


def test_dbml_spellings():
    """Types take DBML's short names (quoted when they keep a space); defaults become
    numbers, booleans, null, 'strings' or `expressions`; strings escape quotes."""
    assert dbml_type("character varying(10)") == "varchar(10)"
    assert dbml_type("timestamp(3) with time zone") == "timestamptz(3)"
    assert dbml_type("timestamp without time zone[]") == "timestamp[]"
    assert dbml_type("numeric(10,2)") == "numeric(10,2)"
    assert dbml_type("app.mood") == "app.mood"
    assert dbml_type("interval day") == '"interval day"'
    assert dbml_default("0", "integer") == "0"
    assert dbml_default("'-1'::integer", "integer") == "-1"
    assert dbml_default("false", "boolean") == "false"
    assert dbml_default("NULL::text", "text") == "null"
    assert dbml_default("'it''s'::text", "text") == "'it\\'s'"
    assert dbml_default("'draft'::post_status", "post_status") == "'draft'"
    assert dbml_default("'{}'::jsonb", "integer") == "`'{}'::jsonb`"
    assert dbml_default("now()", "timestamp with time zone") == "`now()`"
    # a string is what the import casts to the column's type: a domain's default prints
    # its base type ('s'::text), a varchar literal on a text column keeps its cast
    assert dbml_default("'ab'::character varying", "character varying(20)") == "'ab'"
    assert dbml_default("'s'::text", '"App"."Short Text"') == "`'s'::text`"
    assert dbml_default("'s'::character varying", "text") == "`'s'::character varying`"
    assert dbml_string("a\\b") == "'a\\\\b'"


def test_sql_round_trip_through_an_empty_database(db):
    """to_sql() of an introspected rich schema, run on an empty database, introspects to an
    equal model (all but the objects the model does not carry)."""
    db.query(RICH_SQL)
    with db.connect() as conn:
        before = introspect(conn)
    script = to_sql(before)
    other = db.create_sibling()
    other.query(script)
    with other.connect() as conn:
        after = introspect(conn)
    assert after.unsupported == []
    before.unsupported = []
    assert after == before
    assert to_sql(after) == to_sql(before)
    assert to_dbml(after) == to_dbml(before)
