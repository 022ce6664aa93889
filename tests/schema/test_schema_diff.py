"""The differ: unit tests on hand-made models (no database), then round trips on real
servers (introspect A and B, apply diff(A, B) to A, compare; apply DOWN, compare)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from nself.errors import UsageError
from nself.schema.ddl import ident
from nself.schema.diff import BODIES_UNCHECKED, DROPS_DATA, diff, invert_renames
from nself.schema.model import Column, Constraint, Definition, Enum, Index, Schema, Sequence, Table


def model(tables=(), enums=(), schemas=("public",), definitions=(), sequences=(),
          extensions=(), domains=(), comments=None) -> Schema:
    return Schema(schemas=list(schemas), extensions=list(extensions), enums=list(enums),
                  domains=list(domains), sequences=list(sequences), tables=list(tables),
                  definitions=list(definitions), comments=dict(comments or {}), unsupported=[])


def table(name, *columns, schema="public", constraints=(), indexes=(), **kw) -> Table:
    return Table(schema=schema, name=name, columns=list(columns), constraints=list(constraints),
                 indexes=list(indexes), **kw)


def col(name, type="integer", **kw) -> Column:
    return Column(name=name, type=type, **kw)


def pk(table_name, *columns) -> Constraint:
    return Constraint(name=f"{table_name}_pkey", kind="p", columns=list(columns),
                      definition=f"PRIMARY KEY ({', '.join(columns)})")


def fk(name, columns, ref_table, ref_columns, on_delete="NO ACTION", ref_schema="public"):
    return Constraint(name=name, kind="f", columns=list(columns), ref_schema=ref_schema,
                      ref_table=ref_table, ref_columns=list(ref_columns), on_delete=on_delete)


def users(*extra, **kw) -> Table:
    return table("users", col("id", nullable=False), col("email", "text"), *extra,
                 constraints=[pk("users", "id")], **kw)


def sql_of(plan) -> str:
    return plan.up_sql()


def position(text: str, fragment: str) -> int:
    at = text.find(fragment)
    assert at >= 0, f"{fragment!r} not in:\n{text}"
    return at


# -- unit tests ------------------------------------------------------------------------------

def test_ident_quotes_only_when_needed():
    """Plain lower-case names stay bare; keywords, capitals, spaces and quotes are quoted."""
    assert ident("users") == "users"
    assert ident("user") == '"user"'
    assert ident("Users") == '"Users"'
    assert ident("my table") == '"my table"'
    assert ident('a"b') == '"a""b"'
    assert ident("name") == "name"  # unreserved keyword


def test_equal_models_give_an_empty_plan():
    """Two equal models: no change, no summary line."""
    plan = diff(model([users()]), model([users()]))
    assert plan.empty and plan.up_sql() == "" and plan.summary() == []


def test_new_table_is_created_with_its_constraints_and_indexes():
    """A new table: CREATE TABLE with its primary key, then its index, quoted where needed."""
    new = users(indexes=[Index(name="Users Email", table="users", columns=["email"], unique=True)])
    plan = diff(model(), model([new]))
    text = sql_of(plan)
    assert "CREATE TABLE public.users (\n    id integer NOT NULL,\n    email text,\n" \
           "    CONSTRAINT users_pkey PRIMARY KEY (id)\n);" in text
    assert 'CREATE UNIQUE INDEX "Users Email" ON public.users USING btree (email);' in text
    assert plan.summary("local", "staging") == ["- Table: users (missing in local)"]


def test_summary_wording_names_both_sides():
    """'+' marks what only the left side has, '-' what only the right has, '~' a difference."""
    left = model([users(col("last_login", "timestamp without time zone")),
                  table("comments", col("id"))])
    right = model([users(col("last_login", "timestamp with time zone"))])
    lines = diff(left, right).summary("local", "staging")
    assert "+ Table: comments (missing in staging)" in lines
    assert "~ Column: users.last_login (different type)" in lines
    back = diff(right, left).summary("staging", "local")
    assert back[0] == "- Table: comments (missing in staging)"


def test_fk_cycle_between_two_new_tables():
    """Two new tables referencing each other: both created, then both keys added."""
    a = table("a", col("id", nullable=False), col("b_id"), constraints=[
        pk("a", "id"), fk("a_b_id_fkey", ["b_id"], "b", ["id"])])
    b = table("b", col("id", nullable=False), col("a_id"), constraints=[
        pk("b", "id"), fk("b_a_id_fkey", ["a_id"], "a", ["id"])])
    text = sql_of(diff(model(), model([a, b])))
    last_create = max(position(text, "CREATE TABLE public.a"),
                      position(text, "CREATE TABLE public.b"))
    assert position(text, "ADD CONSTRAINT a_b_id_fkey FOREIGN KEY (b_id) REFERENCES public.b(id)") \
        > last_create
    assert position(text, "ADD CONSTRAINT b_a_id_fkey") > last_create
    down = sql_of(diff(model([a, b]), model()))
    assert position(down, "DROP CONSTRAINT a_b_id_fkey") < position(down, "DROP TABLE public.a")
    assert position(down, "DROP CONSTRAINT b_a_id_fkey") < position(down, "DROP TABLE public.b")


def test_view_over_a_column_whose_type_changes_is_dropped_and_recreated():
    """ALTER COLUMN TYPE is refused under a view: the view goes first and comes back after."""
    view = Definition(kind="view", schema="public", name="emails",
                      sql="CREATE VIEW public.emails AS SELECT email FROM public.users",
                      depends_on=["public.users"])
    on_view = Definition(kind="view", schema="public", name="emails2",
                         sql="CREATE VIEW public.emails2 AS SELECT email FROM public.emails",
                         depends_on=["public.emails"])
    old = model([users()], definitions=[view, on_view])
    changed = users()
    changed.columns[1] = col("email", "character varying(200)")
    text = sql_of(diff(old, model([changed], definitions=[view, on_view])))
    alter = position(text, "ALTER TABLE public.users ALTER COLUMN email TYPE "
                           "character varying(200) USING email::character varying(200);")
    assert position(text, "DROP VIEW public.emails2;") \
        < position(text, "DROP VIEW public.emails;") < alter
    assert alter < position(text, "CREATE VIEW public.emails AS") \
        < position(text, "CREATE VIEW public.emails2 AS")


def test_unchanged_view_over_untouched_table_is_left_alone():
    """A view is recreated only when something under it changes."""
    view = Definition(kind="view", schema="public", name="v",
                      sql="CREATE VIEW public.v AS SELECT 1", depends_on=["public.users"])
    plan = diff(model([users()], definitions=[view]),
                model([users(col("extra", "text"))], definitions=[view]))
    assert "VIEW" not in sql_of(plan)


def test_enum_append_is_autocommit_in_a_group_of_its_own():
    """Appended and inserted values: ADD VALUE (BEFORE for an insertion), needs_autocommit,
    in the first group, apart from the transactional changes."""
    old = model([users()], enums=[Enum(schema="public", name="mood", values=["sad", "happy"])])
    new = model([users(col("note", "text"))],
                enums=[Enum(schema="public", name="mood", values=["sad", "ok", "happy", "great"])])
    plan = diff(old, new)
    groups = plan.groups()
    assert [g.autocommit for g in groups] == [True, False]
    assert groups[0].sql() == ("ALTER TYPE public.mood ADD VALUE 'ok' BEFORE 'happy';\n"
                               "ALTER TYPE public.mood ADD VALUE 'great';\n")
    assert all(c.needs_autocommit for c in groups[0].changes)
    assert "~ Enum: mood (values added: ok, great)" in plan.summary()


def test_enum_reorder_or_removal_replaces_the_type():
    """Removed or reordered values: rename the type away, create the new one, convert the
    columns through text (default dropped and set again), drop the old type, with a hazard."""
    old_enum = Enum(schema="public", name="mood", values=["sad", "happy"])
    new_enum = Enum(schema="public", name="mood", values=["happy", "sad"])
    t = table("t", col("m", "mood", default="'sad'::mood"), col("ms", "mood[]"))
    plan = diff(model([t], enums=[old_enum]), model([t], enums=[new_enum]))
    text = sql_of(plan)
    order = [position(text, "ALTER TYPE public.mood RENAME TO mood__old;"),
             position(text, "CREATE TYPE public.mood AS ENUM ('happy', 'sad');"),
             position(text, "ALTER TABLE public.t ALTER COLUMN m DROP DEFAULT;"),
             position(text, "ALTER TABLE public.t ALTER COLUMN m TYPE mood USING m::text::mood;"),
             position(text, "ALTER TABLE public.t ALTER COLUMN m SET DEFAULT 'sad'::mood;"),
             position(text, "DROP TYPE public.mood__old;")]
    assert order == sorted(order)
    assert "ALTER COLUMN ms TYPE mood[] USING ms::text[]::mood[];" in text
    assert not any(c.needs_autocommit for c in plan.changes)
    assert any(c.hazard and "enum values removed" in c.hazard for c in plan.changes)


def test_dropped_column_without_hint_warns():
    """A vanished column is a drop, with the warning line and the 'drops data' hazard."""
    old = model([users(col("nickname", "text"))])
    plan = diff(old, model([users(col("nick", "text"))]))
    text = sql_of(plan)
    assert "-- WARNING: drops data (public.users.nickname)\n" \
           "ALTER TABLE public.users DROP COLUMN nickname;" in text
    assert "ALTER TABLE public.users ADD COLUMN nick text;" in text
    assert [c.kind for c in plan.changes if c.hazard == DROPS_DATA] == ["drop column"]


def test_column_rename_from_hint():
    """With a hint the column is renamed (no drop), and the index on it is kept."""
    idx_old = Index(name="users_nick_idx", table="users", columns=["nickname"],
                    definition="CREATE INDEX users_nick_idx ON public.users USING btree (nickname)")
    idx_new = Index(name="users_nick_idx", table="users", columns=["nick"],
                    definition="CREATE INDEX users_nick_idx ON public.users USING btree (nick)")
    old = model([users(col("nickname", "text"), indexes=[idx_old])])
    new = model([users(col("nick", "text"), indexes=[idx_new])])
    renames = {"public.users.nickname": "public.users.nick"}
    plan = diff(old, new, renames)
    assert plan.up_sql() == "ALTER TABLE public.users RENAME COLUMN nickname TO nick;\n"
    assert plan.summary() == ["~ Column: users.nickname (renamed to nick)"]
    assert diff(new, old, invert_renames(renames)).up_sql() == \
        "ALTER TABLE public.users RENAME COLUMN nick TO nickname;\n"


def test_table_rename_from_hint_follows_into_foreign_keys():
    """A renamed table keeps its data; keys that reference it are not rebuilt."""
    posts_old = table("posts", col("id"), col("user_id"),
                      constraints=[fk("posts_user_id_fkey", ["user_id"], "users", ["id"])])
    members = users()
    members.name = "members"
    old, new = model([users(), posts_old]), model([members, table(
        "posts", col("id"), col("user_id"),
        constraints=[fk("posts_user_id_fkey", ["user_id"], "members", ["id"])])])
    renames = {"public.users": "public.members"}
    assert diff(old, new, renames).up_sql() == "ALTER TABLE public.users RENAME TO members;\n"
    assert diff(new, old, invert_renames(renames)).up_sql() == \
        "ALTER TABLE public.members RENAME TO users;\n"
    without = sql_of(diff(old, new))
    assert "-- WARNING: drops data (public.users)\nDROP TABLE public.users;" in without


def test_constraint_and_index_differing_only_by_name_are_renamed():
    """A key or index that only changed name (e.g. after a table rename) is renamed in place."""
    idx = Index(name="old_idx", table="users", columns=["email"],
                definition="CREATE INDEX old_idx ON public.users USING btree (email)")
    renamed_pk = replace(pk("users", "id"), name="members_pkey")
    old = model([users(indexes=[idx])])
    new_idx = replace(idx, name="new_idx",
                      definition="CREATE INDEX new_idx ON public.users USING btree (email)")
    new = model([table("users", col("id", nullable=False), col("email", "text"),
                       constraints=[renamed_pk], indexes=[new_idx])])
    plan = diff(old, new)
    assert plan.up_sql() == ("ALTER TABLE public.users RENAME CONSTRAINT users_pkey "
                             "TO members_pkey;\n"
                             "ALTER INDEX public.old_idx RENAME TO new_idx;\n")
    assert plan.summary() == ["~ Primary key: users.users_pkey (renamed to members_pkey)",
                              "~ Index: old_idx (renamed to new_idx)"]


def test_rename_hint_naming_nothing_is_a_usage_error():
    """A hint that names no old table or column is refused, not ignored."""
    with pytest.raises(UsageError, match="no table or column public.users.nope"):
        diff(model([users()]), model([users()]), {"public.users.nope": "public.users.x"})


def test_column_changes_nullability_default_identity():
    """NOT NULL, defaults and identity each give their ALTER COLUMN form."""
    old = model([table("t", col("a"), col("b", default="1"), col("c", nullable=False),
                       col("d", nullable=False, identity="always"))])
    new = model([table("t", col("a", nullable=False, default="0"), col("b"),
                       col("c", nullable=False, identity="by default"), col("d", nullable=False))])
    text = sql_of(diff(old, new))
    assert "ALTER TABLE public.t ALTER COLUMN a SET DEFAULT 0;" in text
    assert "ALTER TABLE public.t ALTER COLUMN a SET NOT NULL;" in text
    assert "ALTER TABLE public.t ALTER COLUMN b DROP DEFAULT;" in text
    assert "ALTER TABLE public.t ALTER COLUMN c ADD GENERATED BY DEFAULT AS IDENTITY;" in text
    assert "ALTER TABLE public.t ALTER COLUMN d DROP IDENTITY;" in text


def test_generated_column_change_is_drop_and_add_with_hazard():
    """A new generation expression: the column is dropped and added again (hazard said)."""
    old = model([table("t", col("a"), col("g", generated="(a * 2)"))])
    new = model([table("t", col("a"), col("g", generated="(a * 3)"))])
    plan = diff(old, new)
    assert plan.up_sql() == ("ALTER TABLE public.t DROP COLUMN g;\n"
                             "ALTER TABLE public.t ADD COLUMN g integer GENERATED ALWAYS AS "
                             "((a * 3)) STORED;\n")
    assert plan.changes[0].hazard


def test_foreign_key_on_delete_change_is_drop_and_add():
    """ON DELETE changes: the key is dropped before and added after."""
    old = model([users(), table("p", col("u"),
                                constraints=[fk("p_u_fkey", ["u"], "users", ["id"])])])
    new = model([users(), table("p", col("u"), constraints=[
        fk("p_u_fkey", ["u"], "users", ["id"], on_delete="CASCADE")])])
    plan = diff(old, new)
    assert plan.up_sql() == ("ALTER TABLE public.p DROP CONSTRAINT p_u_fkey;\n"
                             "ALTER TABLE public.p ADD CONSTRAINT p_u_fkey FOREIGN KEY (u) "
                             "REFERENCES public.users(id) ON DELETE CASCADE;\n")
    assert plan.summary() == ["~ Foreign key: p.p_u_fkey (different ON DELETE)"]


def test_check_and_index_changes():
    """A changed check and a changed index: dropped first, created after."""
    chk = Constraint(name="t_a_check", kind="c", definition="CHECK ((a > 0))")
    idx = Index(name="t_a_idx", table="t", columns=["a"],
                definition="CREATE INDEX t_a_idx ON public.t USING btree (a)")
    old = model([table("t", col("a"), constraints=[chk], indexes=[idx])])
    new = model([table("t", col("a"), constraints=[
        Constraint(name="t_a_check", kind="c", definition="CHECK ((a > 1))")], indexes=[
        Index(name="t_a_idx", table="t", columns=["a"], where="(a > 1)",
              definition="CREATE INDEX t_a_idx ON public.t USING btree (a) WHERE (a > 1)")])])
    text = sql_of(diff(old, new))
    assert position(text, "DROP INDEX public.t_a_idx;") < position(
        text, "ALTER TABLE public.t DROP CONSTRAINT t_a_check;") < position(
        text, "ADD CONSTRAINT t_a_check CHECK ((a > 1));") < position(
        text, "CREATE INDEX t_a_idx ON public.t USING btree (a) WHERE (a > 1);")


def test_type_change_rebuilds_foreign_keys_on_both_sides():
    """A key column changing type: the foreign keys using it go before and come back after."""
    old = model([users(), table("p", col("u"),
                                constraints=[fk("p_u_fkey", ["u"], "users", ["id"])])])
    bigger = users()
    bigger.columns[0] = col("id", "bigint", nullable=False)
    new = model([bigger, table("p", col("u", "bigint"),
                               constraints=[fk("p_u_fkey", ["u"], "users", ["id"])])])
    text = sql_of(diff(old, new))
    assert position(text, "DROP CONSTRAINT p_u_fkey") \
        < position(text, "ALTER COLUMN id TYPE bigint") < position(text, "ADD CONSTRAINT p_u_fkey")


def test_schema_extension_sequence_and_partition_order():
    """Creation runs forward: schema, extension, enum, sequence, tables (parent before its
    partition), owner of the sequence; a partition is created as PARTITION OF."""
    parent = table("events", col("at", "date", nullable=False), schema="app",
                   partition_by="RANGE (at)")
    part = table("events_2024", col("at", "date", nullable=False), schema="app",
                 partition_of="app.events",
                 partition_bound="FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')")
    seq = Sequence(schema="app", name="n_seq", owned_by="app.events.at")
    new = model([part, parent], schemas=["public", "app"], extensions=["citext"], sequences=[seq],
                enums=[Enum(schema="app", name="kind", values=["a"])])
    text = sql_of(diff(model(), new))
    order = [position(text, "CREATE SCHEMA app;"), position(text, "CREATE EXTENSION citext;"),
             position(text, "CREATE TYPE app.kind AS ENUM ('a');"),
             position(text, "CREATE SEQUENCE app.n_seq"),
             position(text, "CREATE TABLE app.events (\n    at date NOT NULL\n) "
                            "PARTITION BY RANGE (at);"),
             position(text, "CREATE TABLE app.events_2024 PARTITION OF app.events FOR VALUES FROM"),
             position(text, "ALTER SEQUENCE app.n_seq OWNED BY app.events.at;")]
    assert order == sorted(order)
    down = sql_of(diff(new, model()))
    assert position(down, "DROP TABLE app.events;") < position(down, "DROP TYPE app.kind;") \
        < position(down, "DROP EXTENSION citext;") < position(down, "DROP SCHEMA app;")
    assert "events_2024" not in down  # dropped with its parent


def test_definitions_changed_and_functions_replaced_in_place():
    """A changed function is CREATE OR REPLACE in place; a changed trigger is dropped and
    created; unknown kinds are listed as unsupported."""
    fn = Definition(kind="function", schema="public", name="f()",
                    sql="CREATE OR REPLACE FUNCTION public.f() RETURNS integer LANGUAGE sql "
                        "AS $$ select 1 $$")
    fn2 = Definition(kind="function", schema="public", name="f()", sql=fn.sql.replace("1", "2"))
    trg = Definition(kind="trigger", schema="public", name="users.trg",
                     depends_on=["public.users"],
                     sql="CREATE TRIGGER trg BEFORE INSERT ON public.users FOR EACH ROW "
                         "EXECUTE FUNCTION f()")
    trg2 = Definition(kind="trigger", schema="public", name="users.trg",
                      depends_on=["public.users"], sql=trg.sql.replace("INSERT", "UPDATE"))
    odd = Definition(kind="aggregate", schema="public", name="agg(integer)",
                     sql="CREATE AGGREGATE ...")
    plan = diff(model([users()], definitions=[fn, trg]),
                model([users()], definitions=[fn2, trg2, odd]))
    assert plan.up_sql() == (BODIES_UNCHECKED + "\nDROP TRIGGER trg ON public.users;\n"
                             + fn2.sql + ";\n" + trg2.sql + ";\n")
    assert plan.unsupported == ["aggregate public.agg(integer)"]


def test_unsupported_objects_of_the_models_are_listed():
    """What introspection saw but did not model is carried into the plan, by name."""
    old = model()
    old.unsupported = ["collation public.x"]
    assert diff(old, model()).unsupported == ["collation public.x"]


def test_domain_changes():
    """Domain checks are dropped and added by name, the default altered; a new base type is
    named in plan.unsupported."""
    from nself.schema.model import Domain

    old = model(domains=[Domain(schema="public", name="pos", type="integer",
                                checks=["CONSTRAINT pos_check CHECK ((VALUE > 0))"])])
    new = model(domains=[Domain(schema="public", name="pos", type="integer", default="1",
                                checks=["CONSTRAINT pos_check CHECK ((VALUE >= 0))"])])
    plan = diff(old, new)
    assert plan.up_sql() == ("ALTER DOMAIN public.pos DROP CONSTRAINT pos_check;\n"
                             "ALTER DOMAIN public.pos ADD CONSTRAINT pos_check "
                             "CHECK ((VALUE >= 0));\n"
                             "ALTER DOMAIN public.pos SET DEFAULT 1;\n")
    assert plan.unsupported == []
    new.domains[0].type = "bigint"
    assert diff(old, new).unsupported == ["domain public.pos (base type changed: write it by hand)"]


def test_sequence_owned_by_a_dropped_column_is_not_dropped_twice():
    """A serial's sequence goes with its column: no DROP SEQUENCE after the column drop; a
    sequence kept while its column goes is released first."""
    owned = Sequence(schema="public", name="users_n_seq", type="integer",
                     owned_by="public.users.n")
    kept = Sequence(schema="public", name="users_k_seq", owned_by="public.users.k")
    old = model([users(col("n", default="nextval('users_n_seq'::regclass)"), col("k"))],
                sequences=[kept, owned])
    new = model([users()], sequences=[replace(kept, owned_by=None)])
    text = sql_of(diff(old, new))
    assert "DROP SEQUENCE" not in text
    assert position(text, "ALTER SEQUENCE public.users_k_seq OWNED BY NONE;") \
        < position(text, "DROP COLUMN k;")


def test_partition_bound_change_detaches_and_attaches():
    """A partition's new bound: DETACH then ATTACH with the new bound (rows kept)."""
    parent = table("ev", col("at", "date"), partition_by="RANGE (at)")
    part = table("ev_a", col("at", "date"), partition_of="public.ev",
                 partition_bound="FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')")
    wider = replace(part, partition_bound="FOR VALUES FROM ('2024-01-01') TO ('2026-01-01')")
    assert diff(model([parent, part]), model([parent, wider])).up_sql() == (
        "ALTER TABLE public.ev DETACH PARTITION public.ev_a;\n"
        "ALTER TABLE public.ev ATTACH PARTITION public.ev_a "
        "FOR VALUES FROM ('2024-01-01') TO ('2026-01-01');\n")


def test_comments_on_keys_indexes_sequences_and_definitions():
    """Comments on constraints, indexes, sequences and views are set with COMMENT ON, and
    set again on an object that is made anew."""
    chk = Constraint(name="t_a_check", kind="c", definition="CHECK ((a > 0))", comment="positive")
    idx = Index(name="t_a_idx", table="t", columns=["a"], comment="fast",
                definition="CREATE INDEX t_a_idx ON public.t USING btree (a)")
    view = Definition(kind="view", schema="public", name="v",
                      sql="CREATE VIEW public.v AS SELECT 1", comment="a view")
    seq = Sequence(schema="public", name="s", comment="counter")
    new = model([table("t", col("a"), constraints=[chk], indexes=[idx])], definitions=[view],
                sequences=[seq])
    text = sql_of(diff(model([table("t", col("a"))]), new))
    for line in ("COMMENT ON CONSTRAINT t_a_check ON public.t IS 'positive';",
                 "COMMENT ON INDEX public.t_a_idx IS 'fast';",
                 "COMMENT ON VIEW public.v IS 'a view';",
                 "COMMENT ON SEQUENCE public.s IS 'counter';"):
        assert line in text
    changed = replace(chk, definition="CHECK ((a > 1))")
    again = model([table("t", col("a"), constraints=[changed], indexes=[idx])],
                  definitions=[view], sequences=[seq])
    text = sql_of(diff(new, again))
    assert position(text, "ADD CONSTRAINT t_a_check CHECK ((a > 1));") \
        < position(text, "COMMENT ON CONSTRAINT t_a_check ON public.t IS 'positive';")
    assert "INDEX" not in text and "VIEW" not in text


def test_row_security_and_privileges():
    """Row security is enabled/forced with ALTER TABLE; a grant only the old side has is
    revoked first, a new one granted after everything was created."""
    old = model([users()])
    old.privileges = ["GRANT SELECT ON TABLE public.users TO app;"]
    new = model([users(row_security=True, force_row_security=True)])
    new.privileges = ["GRANT INSERT ON TABLE public.users TO app WITH GRANT OPTION;"]
    assert diff(old, new).up_sql() == (
        "REVOKE SELECT ON TABLE public.users FROM app;\n"
        "ALTER TABLE public.users ENABLE ROW LEVEL SECURITY;\n"
        "ALTER TABLE public.users FORCE ROW LEVEL SECURITY;\n"
        "GRANT INSERT ON TABLE public.users TO app WITH GRANT OPTION;\n")


def _big_model(tables: int, variant: int = 0) -> Schema:
    result = []
    for i in range(tables):
        columns = [col("id", "bigint", nullable=False)] + [
            col(f"c{j}", "text" if j % 2 else "integer", default=None if j % 3 else "0")
            for j in range(1, 10)]
        if variant and i % 40 == 0:
            columns[3] = col("c3", "numeric(10,2)")  # type change
        if variant and i % 50 == 1:
            columns.append(col("extra", "text"))
        indexes = [Index(name=f"t{i}_c{j}_idx", table=f"t{i}", columns=[f"c{j}"],
                         definition=f"CREATE INDEX t{i}_c{j}_idx ON public.t{i} USING btree (c{j})")
                   for j in (1, 2, 3)]
        constraints = [pk(f"t{i}", "id")] + [
            fk(f"t{i}_r{k}_fkey", [f"c{k * 2}"], f"t{(i + k) % tables}", ["id"]) for k in (1, 2)]
        result.append(table(f"t{i}", *columns, constraints=constraints, indexes=indexes))
    if variant:
        result = [t for t in result if t.name != "t7"]
    return model(result)


def test_thousand_tables_diff():
    """Two 1,000-table models (10 columns, 3 indexes, 2 keys each) with a few dozen
    differences diff (its time belongs in bench/, never asserted here)."""
    a, b = _big_model(1000), _big_model(1000, variant=1)
    plan = diff(a, b)
    assert len(plan.differences) > 24
    assert diff(a, a).differences == []



# -- round trips on real servers ---------------------------------------------------------------

BASE = """
CREATE TABLE users (id integer PRIMARY KEY, email text NOT NULL, name text);
CREATE TABLE posts (id integer PRIMARY KEY, user_id integer REFERENCES users(id), title text);
"""

ROUND_TRIPS = {
    "add table": (BASE, BASE + """
        CREATE TABLE comments (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                               post_id integer NOT NULL REFERENCES posts(id),
                               body text COLLATE "C", created_at timestamptz DEFAULT now());
        COMMENT ON TABLE comments IS 'What readers say';
        COMMENT ON COLUMN comments.body IS 'it''s markdown';
        """, None),
    "column with default": (BASE, BASE.replace(
        "name text)", "name text, status text NOT NULL DEFAULT 'active')"), None),
    "not null column": (BASE, BASE.replace("name text)", "name text NOT NULL)"), None),
    "type change under a view": (BASE + "CREATE VIEW titles AS SELECT id, title FROM posts;",
                                 BASE.replace("title text", "title varchar(200)")
                                 + "CREATE VIEW titles AS SELECT id, title FROM posts;", None),
    "enum value": ("CREATE TYPE mood AS ENUM ('sad', 'happy');"
                   "CREATE TABLE t (id int PRIMARY KEY, m mood DEFAULT 'sad', ms mood[]);",
                   "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy', 'great');"
                   "CREATE TABLE t (id int PRIMARY KEY, m mood DEFAULT 'sad', ms mood[]);", None),
    "index": (BASE, BASE + "CREATE UNIQUE INDEX users_email_key2 ON users (email);", None),
    "foreign key with delete cascade": (BASE, BASE.replace(
        "REFERENCES users(id)", "REFERENCES users(id) ON DELETE CASCADE"), None),
    "drop column": (BASE.replace("title text)", "title text, legacy jsonb)"), BASE, None),
    "rename with hint": (BASE, BASE.replace("users", "members").replace("name text", "nick text"),
                         {"public.users": "public.members",
                          "public.users.name": "public.members.nick"}),
    "composite foreign key": (BASE, BASE + """
        CREATE TABLE tags (org integer, tag text, PRIMARY KEY (org, tag));
        CREATE TABLE post_tags (post_id integer REFERENCES posts(id), org integer, tag text,
                                FOREIGN KEY (org, tag) REFERENCES tags (org, tag)
                                    ON UPDATE CASCADE);
        """, None),
    "second schema": (BASE, BASE + """
        CREATE SCHEMA app;
        CREATE TYPE app.state AS ENUM ('open', 'closed');
        CREATE TABLE app."Orders" (id serial PRIMARY KEY, "user" integer REFERENCES users(id),
                                   state app.state NOT NULL DEFAULT 'open');
        """, None),
    "check constraint": (BASE, BASE.replace(
        "title text)", "title text, CONSTRAINT title_len CHECK (length(title) < 200))"), None),
    "partial and expression index": (BASE, BASE + """
        CREATE INDEX users_lower_email ON users (lower(email)) WHERE name IS NOT NULL;
        CREATE INDEX posts_title_inc ON posts (user_id) INCLUDE (title);
        """, None),
    "foreign key cycle": ("", """
        CREATE TABLE a (id int PRIMARY KEY, b_id int);
        CREATE TABLE b (id int PRIMARY KEY, a_id int REFERENCES a(id));
        ALTER TABLE a ADD FOREIGN KEY (b_id) REFERENCES b(id);
        """, None),
    "rich": (BASE, BASE + """
        CREATE EXTENSION IF NOT EXISTS citext;
        CREATE TABLE handles (handle citext PRIMARY KEY);
        CREATE DOMAIN positive AS integer CHECK (VALUE > 0);
        CREATE SEQUENCE counter START 10 INCREMENT 5;
        CREATE TABLE events (id bigserial, at date NOT NULL, amount positive,
                             doubled integer GENERATED ALWAYS AS (amount * 2) STORED,
                             PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
        CREATE TABLE events_2024 PARTITION OF events
            FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
        CREATE INDEX events_at ON events (at);
        CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN NEW.title := trim(NEW.title); RETURN NEW; END $$;
        CREATE TRIGGER posts_touch BEFORE INSERT ON posts FOR EACH ROW EXECUTE FUNCTION touch();
        CREATE MATERIALIZED VIEW post_counts AS SELECT user_id, count(*) FROM posts GROUP BY 1;
        """, None),
}


def _introspect(database):
    from nself.schema.introspect import introspect

    with database.connect() as conn:
        return introspect(conn)


def _apply(database, plan) -> None:
    """Run a plan as a migration would: each group in a transaction, autocommit groups
    statement by statement."""
    with database.connect() as conn:
        for group in plan.groups():
            if group.autocommit:
                for change in group.changes:
                    conn.execute(change.sql)
            else:
                with conn.transaction():
                    conn.execute(group.sql())


@pytest.mark.parametrize("case", list(ROUND_TRIPS))
def test_round_trip(db, case):
    """UP = diff(A, B) applied to A gives B's schema exactly; DOWN = diff(B, A) brings A back."""
    a_sql, b_sql, renames = ROUND_TRIPS[case]
    other = db.create_sibling()
    for database, text in ((db, a_sql), (other, b_sql)):
        if text.strip():
            with database.connect() as conn:
                conn.execute(text)
    before, target = _introspect(db), _introspect(other)
    up = diff(before, target, renames)
    assert not up.empty
    _apply(db, up)
    after = _introspect(db)
    assert diff(after, target).empty, diff(after, target).up_sql()
    assert after == target
    down = diff(target, before, invert_renames(renames))
    _apply(db, down)
    back = _introspect(db)
    assert diff(back, before).empty, diff(back, before).up_sql()
    assert back == before


def test_round_trip_drop_warns_on_real_data(db):
    """Dropping a column of a table with rows: the plan carries the warning line and the
    hazard, and the DOWN puts the column back (empty: the data is gone)."""
    a_sql, b_sql, _ = ROUND_TRIPS["drop column"]
    other = db.create_sibling()
    with db.connect() as conn:
        conn.execute(a_sql)
    with other.connect() as conn:
        conn.execute(b_sql)
    plan = diff(_introspect(db), _introspect(other))
    assert "-- WARNING: drops data (public.posts.legacy)" in plan.up_sql()
    assert [c.hazard for c in plan.hazards()] == [DROPS_DATA]
