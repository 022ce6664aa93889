"""nself.schema.introspect: a live database -> the schema model, on real servers."""


from conftest import REPO

from nself.schema.introspect import introspect

# A rich schema in plain SQL: the guides' users/posts with their enums, plus composite
# keys, partial/expression/INCLUDE/hash/GIN indexes, check and exclusion constraints,
# identity, serial, generated and collated columns, a domain, a free sequence, a
# partitioned table, views, a materialized view, functions, a trigger, a policy, a
# second schema with a quoted table name, and objects the model does not describe.
RICH_SQL = (REPO / "tests" / "data" / "schema_rich.sql").read_text()


def _model(db, **kw):
    with db.connect() as conn:
        return introspect(conn, **kw)


def test_tables_columns_and_types(db):
    """Columns come back with format_type spellings, nullability, defaults, identity,
    generated expressions, collations and comments; user types are qualified outside public."""
    db.query(RICH_SQL)
    s = _model(db)
    assert s.schemas == ["app", "public"]
    assert s.extensions == ["citext"]
    users = s.table("public.users")
    assert users.comment == "People who sign in"
    email = users.column("email")
    assert (email.type, email.nullable, email.comment) == (
        "character varying(255)", False, "Login name; it's unique")
    assert users.column("role").default == "'user'::user_role"
    assert users.column("nickname").type == "citext"
    counters = s.table("counters")
    assert counters.column("id").identity == "always"
    assert counters.column("serial_no").default == "nextval('counters_serial_no_seq'::regclass)"
    assert counters.column("doubled").generated == "(amount * (2)::numeric)"
    assert counters.column("doubled").default is None
    assert counters.column("label").collation == '"C"'
    assert counters.column("qty").type == "positive_int"
    audit = s.table('app.Audit Log')
    assert audit.column("mood").type == "app.mood"
    assert [c.name for c in audit.columns] == ["id", "user_id", "mood", "at"]


def test_types_sequences_and_comments(db):
    """Enums keep their declared order; domains carry checks; identity sequences are left
    out, serial ones are owned by their column, free ones keep their options."""
    db.query(RICH_SQL)
    s = _model(db)
    assert s.enum("user_role").values == ["admin", "moderator", "user", "guest"]
    assert s.enum("post_status").comment == "Where a post is"
    assert s.enum("app.mood").values == ["sad", "happy"]
    (domain,) = s.domains
    assert (domain.name, domain.type, domain.nullable, domain.default, domain.checks) == (
        "positive_int", "integer", False, "1", ["CONSTRAINT positive CHECK ((VALUE > 0))"])
    sequences = {q.qualified: q for q in s.sequences}
    assert set(sequences) == {"app.Audit Log_id_seq", "public.counters_serial_no_seq",
                              "public.ticket_seq"}
    assert sequences["public.counters_serial_no_seq"].owned_by == "public.counters.serial_no"
    ticket = sequences["public.ticket_seq"]
    assert (ticket.type, ticket.start, ticket.increment, ticket.min_value, ticket.max_value,
            ticket.cycle, ticket.owned_by) == ("integer", 100, 5, None, 100000, True, None)
    assert s.comments == {"schema:app": "The app's own"}


def test_constraints_and_indexes(db):
    """Constraints carry kind, columns and definition (FK actions, deferrable, composite);
    indexes backing constraints are not listed; partial, expression, INCLUDE and method are."""
    db.query(RICH_SQL)
    s = _model(db)
    posts = s.table("posts")
    kinds = {c.name: c.kind for c in posts.constraints}
    assert kinds == {"posts_pkey": "p", "posts_slug_key": "u", "posts_user_id_fkey": "f",
                     "title_not_blank": "c"}
    fk = next(c for c in posts.constraints if c.kind == "f")
    assert (fk.ref_qualified, fk.ref_columns, fk.on_delete, fk.on_update) == (
        "public.users", ["id"], "CASCADE", "NO ACTION")
    lines = s.table("order_lines")
    composite = next(c for c in lines.constraints if c.kind == "f")
    assert (composite.columns, composite.ref_columns, composite.on_update,
            composite.on_delete) == (["region", "order_no"], ["region", "order_no"],
                                     "CASCADE", "SET NULL")
    assert composite.definition.endswith("ON DELETE SET NULL (order_no)")
    exclusion = next(c for c in s.table("orders").constraints if c.kind == "x")
    assert exclusion.definition.startswith("EXCLUDE USING gist (placed WITH &&)")
    assert exclusion.deferrable and exclusion.initially_deferred
    indexes = {i.name: i for i in posts.indexes}
    assert set(indexes) == {"posts_user_id_idx", "posts_published_idx",
                            "posts_lower_title_idx", "posts_slug_hash"}
    assert indexes["posts_published_idx"].where == "(status = 'published'::post_status)"
    assert "DESC" in indexes["posts_published_idx"].definition
    assert indexes["posts_lower_title_idx"].columns == ["lower(title::text)"]
    assert indexes["posts_lower_title_idx"].include == ["slug"]
    assert indexes["posts_slug_hash"].method == "hash"
    assert all(i.table == "posts" for i in posts.indexes)
    assert posts.row_security and not posts.force_row_security


def test_partitions(db):
    """A partitioned table has its key; partitions name their parent and bound and carry no
    copies of the parent's constraints or indexes."""
    db.query(RICH_SQL)
    s = _model(db)
    events = s.table("events")
    assert events.partition_by == "RANGE (happened)"
    assert [i.method for i in events.indexes] == ["gin"]
    part = s.table("events_2024")
    assert part.partition_of == "public.events"
    assert part.partition_bound == "FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')"
    assert part.constraints == [] and part.indexes == []
    assert s.table("events_rest").partition_bound == "DEFAULT"


def test_definitions_and_dependencies(db):
    """Views, materialized views, functions, triggers and policies come as full CREATE
    statements with what they depend on; extension functions are not the user's."""
    db.query(RICH_SQL)
    s = _model(db)
    found = {(d.kind, d.qualified): d for d in s.definitions}
    assert set(found) == {
        ("view", "public.published_posts"), ("view", "app.recent"),
        ("materialized view", "public.post_counts"),
        ("function", "public.touch_updated_at()"), ("function", "public.add(integer, integer)"),
        ("trigger", "public.users.users_touch"), ("policy", "public.posts.own_posts"),
        ("type", "app.pair")}
    assert found[("type", "app.pair")].sql == ("CREATE TYPE app.pair AS (\n    a integer,\n"
                                               "    b text\n)")
    view = found[("view", "public.published_posts")]
    assert view.sql.startswith("CREATE VIEW public.published_posts AS\n")
    assert view.comment == "Visible posts"
    assert {"public.posts", "public.users", "public.post_status"} <= set(view.depends_on)
    assert found[("view", "app.recent")].depends_on == ["public.published_posts"]
    assert found[("function", "public.add(integer, integer)")].sql.startswith(
        "CREATE OR REPLACE FUNCTION public.add(a integer, b integer)")
    trigger = found[("trigger", "public.users.users_touch")]
    assert trigger.sql.startswith("CREATE TRIGGER users_touch BEFORE UPDATE ON public.users")
    assert trigger.depends_on == ["public.touch_updated_at()", "public.users"]
    matview = found[("materialized view", "public.post_counts")]
    assert matview.sql.endswith(";\nCREATE UNIQUE INDEX post_counts_user ON public.post_counts "
                                "USING btree (user_id)")
    policy = found[("policy", "public.posts.own_posts")]
    assert policy.sql.startswith("CREATE POLICY own_posts ON public.posts FOR SELECT USING (")
    assert policy.depends_on == ["public.posts"]


def test_unsupported_objects_are_named_and_nself_is_left_out(db):
    """Objects the model does not describe are listed by kind and name; nself's own schema
    and extension members are not user objects."""
    db.query(RICH_SQL)
    db.query("CREATE SCHEMA nself; CREATE TABLE nself.meta_x (id int);"
             "CREATE AGGREGATE app.total (integer) (sfunc = int4pl, stype = integer);")
    s = _model(db)
    assert s.unsupported == ["aggregate app.total(integer)", "collation app.c_copy",
                             "storage parameters of public.order_lines (fillfactor=70)"]
    assert "nself" not in s.schemas
    assert not any(t.schema == "nself" for t in s.tables)
    assert not any("citext" in d.name for d in s.definitions)


def test_grants_only_when_asked(db):
    """Owners and grants are left out by default and listed as statements with grants=True."""
    db.query(RICH_SQL)
    db.query("GRANT SELECT ON users TO PUBLIC")
    assert _model(db).privileges == []
    privileges = _model(db, grants=True).privileges
    assert "GRANT SELECT ON TABLE public.users TO PUBLIC;" in privileges
    assert any(p.startswith("ALTER TABLE public.users OWNER TO ") for p in privileges)


def test_an_empty_database_is_an_empty_model(db):
    """A fresh database has only public and nothing else."""
    s = _model(db)
    assert (s.schemas, s.extensions, s.tables, s.definitions, s.unsupported, s.comments) == (
        ["public"], [], [], [], [], {})


def test_introspection_leaves_the_session_as_it_was(db):
    """Inside a caller's transaction the search_path is restored and the transaction goes on."""
    db.query(RICH_SQL)
    with db.connect() as conn:
        conn.autocommit = False
        conn.execute("SET search_path = app, public")
        introspect(conn)
        assert conn.execute("SHOW search_path").fetchone()[0] == "app, public"
        conn.rollback()


def test_a_thousand_tables_introspect(db):
    """1,000 tables (10 columns, 3 indexes, 2 foreign keys each) are all read (the time
    belongs in bench/, never asserted here)."""
    db.query(generated_schema(1000))
    with db.connect() as conn:
        s = introspect(conn)
    assert len(s.tables) == 1000
    assert sum(len(t.indexes) for t in s.tables) == 3000
    assert sum(len(t.foreign_keys) for t in s.tables) == 1996


def generated_schema(tables: int) -> str:
    """TABLES tables of 10 columns with 3 indexes and (after the first two) 2 foreign keys."""
    parts = []
    for i in range(tables):
        refs = ""
        if i >= 2:
            refs = (f", a_id integer REFERENCES t{i - 1} (id), "
                    f"b_id integer REFERENCES t{i - 2} (id)")
        else:
            refs = ", a_id integer, b_id integer"
        parts.append(
            f"CREATE TABLE t{i} (id integer PRIMARY KEY, name text NOT NULL, "
            f"email varchar(255), amount numeric(10,2) DEFAULT 0, created_at timestamptz "
            f"DEFAULT now(), flag boolean DEFAULT false, note text, score integer{refs});"
            f"CREATE INDEX t{i}_name ON t{i} (name); CREATE INDEX t{i}_created ON t{i} "
            f"(created_at); CREATE INDEX t{i}_lower ON t{i} (lower(email));")
    return "\n".join(parts)
