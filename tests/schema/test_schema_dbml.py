"""nself.schema.dbml: DBML files -> the schema model, and every problem reported at once
with file:line:column and a fix (no database needed except the last tests)."""

from __future__ import annotations

import re
import time

import pytest
from conftest import REPO
from hypothesis import given, settings
from hypothesis import strategies as st

from nself.errors import USAGE
from nself.schema import types
from nself.schema.dbml import (
    DbmlError,
    Literal,
    choose_name,
    load_dbml,
    load_dbml_document,
    make_object_name,
    parse_dbml,
    parse_dbml_document,
)
from nself.schema.introspect import introspect
from nself.schema.model import Column, Constraint, Enum, Index
from nself.schema.render import to_sql

DATA = REPO / "tests" / "data" / "dbml"


def problems(text: str, strict: bool = False) -> list[str]:
    """The problem lines parse_dbml reports for TEXT (named x.dbml); STRICT: other
    databases' type names are refused (`schema import --strict`)."""
    with pytest.raises(DbmlError) as caught:
        parse_dbml_document(text, "x.dbml", strict=strict)
    assert caught.value.exit_code == USAGE
    return caught.value.problems


def table(text: str, name: str = "t"):
    return parse_dbml(text).table(name)


# ------------------------------------------------------------------ the guides' file
def test_guides_schema_parses_to_the_expected_model():
    """The guides' schema.dbml gives users and posts with PostgreSQL's names for keys and
    indexes, format_type spellings, defaults as the server prints them, and both enums."""
    schema = load_dbml(DATA / "guides.dbml")
    assert schema.schemas == ["public"]
    assert schema.enums == [Enum("public", "user_role", ["admin", "moderator", "user", "guest"]),
                            Enum("public", "post_status", ["draft", "published", "archived"])]
    users = schema.table("users")
    assert [(c.name, c.type, c.nullable, c.default) for c in users.columns] == [
        ("id", "uuid", False, "gen_random_uuid()"),
        ("email", "character varying(255)", False, None),
        ("password_hash", "text", False, None),
        ("display_name", "character varying(100)", True, None),
        ("avatar_url", "text", True, None),
        ("role", "user_role", True, "'user'::user_role"),
        ("email_verified", "boolean", True, "false"),
        ("created_at", "timestamp with time zone", True, "now()"),
        ("updated_at", "timestamp with time zone", True, "now()"),
    ]
    assert users.constraints == [Constraint("users_pkey", "p", ["id"]),
                                 Constraint("users_email_key", "u", ["email"])]
    assert users.indexes == [Index("users_email_idx", "users", ["email"], unique=True),
                             Index("users_created_at_idx", "users", ["created_at"]),
                             Index("users_role_idx", "users", ["role"])]
    posts = schema.table("posts")
    assert posts.constraints == [
        Constraint("posts_pkey", "p", ["id"]),
        Constraint("posts_user_id_fkey", "f", ["user_id"], ref_schema="public",
                   ref_table="users", ref_columns=["id"])]
    assert [i.name for i in posts.indexes] == ["posts_slug_idx", "posts_user_id_idx",
                                               "posts_status_idx", "posts_published_at_idx"]
    assert posts.column("status").default == "'draft'::post_status"


def test_load_dbml_document_returns_records_and_no_warning_for_postgresql():
    """A PostgreSQL project gives no warning; an unreadable file is a usage error."""
    document = load_dbml_document(DATA / "guides.dbml")
    assert document.warnings == [] and document.records == {}
    with pytest.raises(Exception) as caught:
        load_dbml(DATA / "missing.dbml")
    assert caught.value.exit_code == USAGE and "missing.dbml" in str(caught.value)


def test_file_that_is_not_utf8_is_a_usage_error_with_its_line(tmp_path):
    """Bytes that are not UTF-8 are reported with the line they are on."""
    path = tmp_path / "s.dbml"
    path.write_bytes(b"Table t {\n  id int\n  n text [note: '\xff']\n}\n")
    with pytest.raises(Exception) as caught:
        load_dbml(path)
    assert caught.value.exit_code == USAGE and f"{path}:3:" in str(caught.value)


# ------------------------------------------------------------------- rich fixture
def test_rich_file_covers_partials_checks_records_schemas_and_refs():
    """rich.dbml: partial injection (own definitions win, later partial wins), checks
    blocks and column checks, a second schema, quoted names, every ref form, Records."""
    document = load_dbml_document(DATA / "rich.dbml")
    schema = document.schema
    assert schema.schemas == ["app", "public"]
    assert schema.enums == [Enum("app", "mood", ["happy", "in progress", "it's"])]
    users = schema.table("app.users")
    assert users.comment == "People who log in"
    assert [c.name for c in users.columns] == [
        "id", "email", "mood", "score", "balance", "tags", "nickname", "created_at",
        "updated_at", "updated_by"]
    assert users.column("id") == Column("id", "integer", False, identity="by default")
    assert users.column("email").type == "character varying(320)"
    assert users.column("email").comment == "Login, \"unique\" and 'quoted'"
    assert users.column("mood").default == "'happy'::app.mood"
    assert users.column("score").default == "'-1.5'::numeric"  # as DEFAULT -1.5 prints
    assert users.column("tags").type == "text[]"
    assert users.column("tags").default == "'{}'::text[]"
    assert users.column("nickname").default is None and users.column("nickname").nullable
    assert users.column("created_at").default == "now()"          # from ~timestamps
    assert users.column("updated_at").type == "timestamp(3) with time zone"  # later partial
    assert users.column("updated_by").type == "character varying(100)"      # own wins
    checks = {c.name: c.definition for c in users.constraints if c.kind == "c"}
    assert checks == {"score_floor": "CHECK (score >= -100)",
                      "users_balance_check": "CHECK (balance >= 0)"}
    assert [(i.name, i.columns, i.method) for i in users.indexes] == [
        ("users_lower_email", ["lower(email)"], "btree"),
        ("users_mood_score_idx", ["mood", "score"], "btree"),
        ("users_tags_idx", ["tags"], "gin"),
        ("users_created_at_idx", ["created_at"], "btree")]
    spaced = schema.table("user table")
    assert spaced.comment == "A table with\nspaces in its name"
    assert spaced.constraints == [Constraint(
        "user table_user id_fkey", "f", ["user id"], ref_schema="app", ref_table="users",
        ref_columns=["id"])]
    orders = schema.table("orders")
    assert orders.column("id") == Column("id", "bigint", False,
                                         default="nextval('orders_id_seq'::regclass)")
    assert ("orders_total_check", "CHECK (total > 0)") in [
        (c.name, c.definition) for c in orders.constraints]
    named = next(c for c in orders.constraints if c.name == "order_user")
    assert (named.columns, named.ref_table, named.on_delete, named.on_update) == (
        ["user_id"], "users", "CASCADE", "NO ACTION")
    lines = schema.table("order_lines")
    assert lines.primary_key == Constraint("order_lines_pkey", "p", ["order_id", "line"])
    assert {c.name for c in lines.foreign_keys} == {"order_lines_order_id_fkey",
                                                    "order_lines_product_code_fkey"}
    assert lines.column("qty").type == "bit varying(5)"
    junction = schema.table("products_tags")
    assert [(c.name, c.type, c.nullable) for c in junction.columns] == [
        ("products_code", "character(8)", False), ("tags_id", "integer", False)]
    assert junction.primary_key.columns == ["products_code", "tags_id"]
    assert sorted((c.name, c.ref_table) for c in junction.foreign_keys) == [
        ("products_tags_products_code_fkey", "products"),
        ("products_tags_tags_id_fkey", "tags")]
    assert document.records == {"app.users": (["id", "email", "mood", "score"], [
        [Literal("1"), Literal("'a@example.com'"), Literal("'happy'"), Literal("1.5")],
        [Literal("2"), Literal("'b@example.com'"), Literal("NULL"), Literal("random()")]])}
    assert [t.name for t in schema.tables if t.name in ("shop", "sales", "sticky")] == []


# -------------------------------------------------------------------- constructs
@pytest.mark.parametrize("written,expected", [
    ("int", "integer"), ("INTEGER", "integer"), ("int4", "integer"), ("bigint", "bigint"),
    ("int8", "bigint"), ("smallint", "smallint"), ("Int", "integer"),
    ("varchar(255)", "character varying(255)"), ("varchar", "character varying"),
    ('"character varying"(20)', "character varying(20)"), ("char(3)", "character(3)"),
    ("char", "character(1)"), ("timestamptz", "timestamp with time zone"),
    ("timestamp", "timestamp without time zone"),
    ('"timestamp(3) with time zone"', "timestamp(3) with time zone"),
    ("timestamp(3) with time zone", "timestamp(3) with time zone"),
    ("timestamptz(6)", "timestamp(6) with time zone"), ("timetz", "time with time zone"),
    ("time", "time without time zone"), ("bool", "boolean"), ("Boolean", "boolean"),
    ('"double precision"', "double precision"), ("float8", "double precision"),
    ("float", "double precision"), ("float4", "real"), ("numeric(10, 2)", "numeric(10,2)"),
    ("decimal(5)", "numeric(5,0)"), ("numeric", "numeric"), ("text[]", "text[]"),
    ("varchar(255)[]", "character varying(255)[]"), ("int[][]", "integer[]"),
    ('"bit varying"(5)', "bit varying(5)"), ("varbit", "bit varying"), ("bit(3)", "bit(3)"),
    ("interval", "interval"), ('"interval day to second"', "interval day to second"),
    ("jsonb", "jsonb"), ("json", "json"), ("inet", "inet"), ("cidr", "cidr"),
    ("macaddr", "macaddr"), ("tsvector", "tsvector"), ("int4range", "int4range"),
    ("uuid", "uuid"), ("money", "money"), ("xml", "xml"), ("bytea", "bytea"),
    ("date", "date"), ("point", "point"), ("tstzmultirange", "tstzmultirange"),
])
def test_postgresql_types_are_accepted_in_format_type_spelling(written, expected):
    """Every built-in type, with modifiers, arrays and DBML's quoting, maps to the
    spelling format_type() prints."""
    assert table(f"Table t {{\n  c {written}\n}}\n").column("c").type == expected


def test_serial_is_serial_and_increment_is_identity():
    """serial/bigserial/smallserial default to a sequence of their own, as PostgreSQL makes
    them (so an exported serial column comes back a serial); increment is an identity
    column; all NOT NULL."""
    schema = parse_dbml("Table t {\n  a serial\n  b bigserial\n  c smallserial\n"
                        "  d int [increment]\n}\nTable app.\"T 2\" {\n  id serial\n}\n")
    t = schema.table("t")
    assert [(c.type, c.identity, c.default, c.nullable) for c in t.columns] == [
        ("integer", None, "nextval('t_a_seq'::regclass)", False),
        ("bigint", None, "nextval('t_b_seq'::regclass)", False),
        ("smallint", None, "nextval('t_c_seq'::regclass)", False),
        ("integer", "by default", None, False)]
    assert [(q.schema, q.name, q.type, q.owned_by) for q in schema.sequences] == [
        ("public", "t_a_seq", "integer", "public.t.a"),
        ("public", "t_b_seq", "bigint", "public.t.b"),
        ("public", "t_c_seq", "smallint", "public.t.c"),
        ("app", "T 2_id_seq", "integer", "app.T 2.id")]
    assert schema.table("app.T 2").column("id").default == \
        "nextval('app.\"T 2_id_seq\"'::regclass)"


def test_extension_types_name_their_extension():
    """citext is accepted and the model needs the citext extension."""
    schema = parse_dbml("Table t {\n  email citext\n}\n")
    assert schema.table("t").column("email").type == "citext"
    assert schema.extensions == ["citext"]


def test_defaults_of_every_kind():
    """Strings are cast to the column's type, numbers stay, negative numbers are quoted
    (as pg_get_expr prints them), booleans, null (no default) and expressions."""
    t = table("""Table t {
  a text [default: 'it\\'s']
  b varchar(10) [default: "x"]
  c int [default: 42]
  d numeric [default: 1.5]
  e int [default: -3]
  f boolean [default: true]
  g text [default: null]
  h timestamptz [default: `now()`]
  i date [default: `CURRENT_DATE`]
}
""")
    assert [c.default for c in t.columns] == [
        "'it''s'::text", "'x'::character varying", "42", "1.5", "'-3'::integer", "true",
        None, "now()", "CURRENT_DATE"]


def test_column_settings_pk_not_null_null_unique_primary_key():
    """pk and primary key make NOT NULL key columns; null keeps nullability; several pk
    columns form one composite key; unique makes <table>_<col>_key."""
    t = table("""Table t {
  a int [primary key]
  b int [pk]
  c text [not null, unique]
  d text [null]
}
""")
    assert [c.nullable for c in t.columns] == [False, False, False, True]
    assert t.constraints == [Constraint("t_pkey", "p", ["a", "b"]),
                             Constraint("t_c_key", "u", ["c"])]


def test_indexes_composite_expression_type_name_and_pk():
    """Index entries: composite, expressions (named after their function, as PostgreSQL
    does), method, explicit name, and [pk] as the primary key."""
    t = table("""Table t {
  a int
  b text
  c jsonb
  indexes {
    (a, b) [unique]
    `lower(b)`
    `a + 1`
    c [type: gin, name: 'c_gin']
    b [type: hash]
    (a, b) [pk]
  }
}
""")
    assert t.primary_key == Constraint("t_pkey", "p", ["a", "b"])
    assert [(i.name, i.columns, i.unique, i.method) for i in t.indexes] == [
        ("t_a_b_idx", ["a", "b"], True, "btree"),
        ("t_lower_idx", ["lower(b)"], False, "btree"),
        ("t_expr_idx", ["(a + 1)"], False, "btree"),
        ("c_gin", ["c"], False, "gin"),
        ("t_b_idx", ["b"], False, "hash")]
    assert all(not t.column(n).nullable for n in ("a", "b"))


def test_generated_names_follow_postgresql_truncation_and_numbering():
    """Names longer than 63 bytes are cut the way makeObjectName cuts them, and a name
    already taken gets a number (users_email_key1)."""
    long = "a" * 60
    assert make_object_name(long, "email", "key") == "a" * 53 + "_email_key"
    assert len(make_object_name("t" * 70, "c" * 70, "fkey").encode()) == 63
    taken = {"users_email_key"}
    assert choose_name("users", "email", "key", taken) == "users_email_key1"
    t = table(f"Table {long} {{\n  id int [pk]\n}}\n", long)
    assert t.primary_key.name == "a" * 58 + "_pkey"


def test_unnamed_check_names_use_the_one_column_it_reads():
    """A check reading one column is <table>_<col>_check, otherwise <table>_check."""
    t = table("""Table t {
  a int [check: `a > 0`]
  b int
  checks {
    `a < b`
    `b <> 'a'` [name: 'b_not_a']
  }
}
""")
    assert [(c.name, c.definition) for c in t.constraints] == [
        ("t_a_check", "CHECK (a > 0)"), ("t_check", "CHECK (a < b)"),
        ("b_not_a", "CHECK (b <> 'a')")]


def test_refs_every_direction_and_composite():
    """`>` and `-` put the key on the left side, `<` on the right, inline and top-level;
    composite refs; delete/update actions; the same ref written twice counts once."""
    schema = parse_dbml("""Table a {
  id int [pk]
  x int
  y int
  indexes {
    (x, y) [unique]
  }
}
Table b {
  id int [pk, ref: < c.a_id]
  a_id int [ref: > a.id]
  x int
  y int
}
Table c {
  a_id int
  b_id int
}
Ref: b.a_id > a.id
Ref: c.b_id - b.id [delete: set null, update: cascade]
Ref: b.(x, y) > a.(x, y) [delete: cascade]
""")
    b, c = schema.table("b"), schema.table("c")
    assert [(k.name, k.columns, k.ref_table, k.ref_columns, k.on_delete, k.on_update)
            for k in b.foreign_keys] == [
        ("b_a_id_fkey", ["a_id"], "a", ["id"], "NO ACTION", "NO ACTION"),
        ("b_x_y_fkey", ["x", "y"], "a", ["x", "y"], "CASCADE", "NO ACTION")]
    assert [(k.name, k.columns, k.ref_table, k.on_delete, k.on_update)
            for k in c.foreign_keys] == [
        ("c_a_id_fkey", ["a_id"], "b", "NO ACTION", "NO ACTION"),
        ("c_b_id_fkey", ["b_id"], "b", "SET NULL", "CASCADE")]


def test_many_to_many_makes_a_junction_table():
    """`<>` makes <a>_<b> with <a>_<col>, <b>_<col> as its primary key and two FKs."""
    schema = parse_dbml("""Table students {
  id int [pk]
}
Table courses {
  code text [pk]
}
Ref: students.id <> courses.code
""")
    junction = schema.table("students_courses")
    assert junction.columns == [Column("students_id", "integer", False),
                                Column("courses_code", "text", False)]
    assert junction.constraints == [
        Constraint("students_courses_pkey", "p", ["students_id", "courses_code"]),
        Constraint("students_courses_students_id_fkey", "f", ["students_id"],
                   ref_schema="public", ref_table="students", ref_columns=["id"]),
        Constraint("students_courses_courses_code_fkey", "f", ["courses_code"],
                   ref_schema="public", ref_table="courses", ref_columns=["code"])]


def test_enums_keep_order_quoted_values_notes_and_schemas():
    """Enum values keep their order (quoted ones too); an enum in another schema is the
    type app.mood; quoted enum names are quoted in the type as format_type does."""
    schema = parse_dbml("""Enum app.mood {
  "very happy" [note: 'best']
  sad
}
Enum "Level" {
  b
  a
}
Table app.t {
  m app.mood
  l "Level"
}
""")
    assert schema.enums == [Enum("app", "mood", ["very happy", "sad"]),
                            Enum("public", "Level", ["b", "a"])]
    t = schema.table("app.t")
    assert [c.type for c in t.columns] == ["app.mood", '"Level"']


def test_notes_become_comments_with_quotes_and_newlines():
    """Table and column notes (single, double and triple quoted, escaped quotes and \\n)
    are comments."""
    t = table("""Table t [note: 'on the line'] {
  a int [note: "say \\"hi\\""]
  b int [note: 'two\\nlines, it\\'s']
  Note {
    '''
    Inside
      indented
    '''
  }
}
""")
    assert t.comment == "Inside\n  indented"
    assert [c.comment for c in t.columns] == ['say "hi"', "two\nlines, it's"]
    assert table("Table t [note: 'on the line'] {\n  a int\n}\n").comment == "on the line"


def test_project_of_another_database_warns():
    """Project database_type other than PostgreSQL is a warning, not an error."""
    document = parse_dbml_document("Project p {\n  database_type: 'MySQL'\n}\n"
                                   "Table t {\n  a int\n}\n", "x.dbml")
    assert document.warnings == ["x.dbml:1:1: Project p: database_type is 'MySQL'; nself "
                                 "reads the file as PostgreSQL"]


def test_table_groups_sticky_notes_and_header_colors_are_ignored():
    """TableGroup, Note blocks and headercolor leave no trace in the model."""
    schema = parse_dbml("""Table t [headercolor: #3498DB] {
  a int
}
TableGroup g [color: #fff] {
  t
}
Note n {
  'sticky'
}
""")
    assert [t.name for t in schema.tables] == ["t"] and schema.enums == []


def test_partial_only_table_and_nested_records():
    """A table made only of partials parses; nested records without columns use the
    table's columns in order; Records may add rows in several blocks."""
    document = parse_dbml_document("""TablePartial ids {
  id int [pk]
  name text
}
Table t {
  ~ids
  records {
    1, 'one'
  }
}
Records t(id, name) {
  2, "two"
}
""")
    t = document.schema.table("t")
    assert [c.name for c in t.columns] == ["id", "name"] and t.primary_key.name == "t_pkey"
    assert document.records == {"public.t": (["id", "name"], [
        [Literal("1"), Literal("'one'")], [Literal("2"), Literal("'two'")]])}


# ------------------------------------------------------------------------ errors
def test_unknown_types_are_reported_with_their_postgresql_spelling():
    """Strict: each foreign type is one problem at its line and column with the type to
    write (without --strict they are read as it: test_schema_dbml_real.py)."""
    found = problems("""Table t {
  a datetime
  b "Var Char"(20)
  c String
  d DateTime
  e nvarchar(30)
  f tinyint
  g mediumint
  h longtext
  i enum('a','b')
  j u
  k nonsense
}
Table u {
  id int [pk]
}
""", strict=True)
    assert found == [
        "x.dbml:2:5: column t.a: unknown type 'datetime' (not PostgreSQL) (write timestamp)",
        "x.dbml:3:5: column t.b: unknown type 'Var Char(20)' (not PostgreSQL) "
        "(write varchar(20))",
        "x.dbml:4:5: column t.c: unknown type 'String' (not PostgreSQL) (write text)",
        "x.dbml:5:5: column t.d: unknown type 'DateTime' (not PostgreSQL) (write timestamp)",
        "x.dbml:6:5: column t.e: unknown type 'nvarchar(30)' (not PostgreSQL) "
        "(write varchar(30))",
        "x.dbml:7:5: column t.f: unknown type 'tinyint' (not PostgreSQL) (write smallint)",
        "x.dbml:8:5: column t.g: unknown type 'mediumint' (not PostgreSQL) (write integer)",
        "x.dbml:9:5: column t.h: unknown type 'longtext' (not PostgreSQL) (write text)",
        "x.dbml:10:5: column t.i: \"enum('a','b')\" is MySQL's inline enum, PostgreSQL has "
        "none (define `Enum <name> { a b }` and use <name> as the type)",
        "x.dbml:11:5: column t.j: 'u' is a table, not a type (give the column the type of "
        "u's key (e.g. uuid or integer) and add `ref: > u.id`)",
        "x.dbml:12:5: column t.k: unknown type 'nonsense' (use a PostgreSQL type (text, "
        "integer, varchar(n), timestamptz, ...) or define `Enum nonsense { ... }` in this "
        "file)",
    ]


def test_reference_problems_are_all_reported():
    """FK between different types, to a column neither PK nor unique, to unknown tables
    and columns, a unique HASH index and a table defined twice: one error, each line."""
    found = problems("""Table users {
  id uuid [pk]
  email text
}
Table posts {
  id int [pk]
  user_id int [ref: > users.id]
  email text [ref: > users.email]
  x int [ref: > userz.id]
  y int [ref: > users.nope]
  indexes {
    email [unique, type: hash]
  }
}
Table users {
  id int
}
""")
    assert found == [
        "x.dbml:7:16: column posts.user_id: foreign key between different types: "
        "posts.user_id is integer but users.id is uuid (give posts.user_id the type uuid)",
        "x.dbml:8:15: column posts.email: users(email) is neither a primary key nor unique, "
        "so it cannot be referenced (add [unique] to users.email, or refer to its primary "
        "key users.id)",
        "x.dbml:9:10: column posts.x: reference to unknown table 'userz' (did you mean "
        "users?)",
        "x.dbml:10:10: column posts.y: reference to unknown column users.nope (define the "
        "column or fix the name)",
        "x.dbml:12:5: index of Table posts: a unique HASH index: PostgreSQL supports unique "
        "indexes only with btree (drop type: hash or unique)",
        "x.dbml:15:1: Table users: table defined twice (the first one is at x.dbml:1:1)",
    ]


def test_syntax_errors_name_the_construct_and_each_block_is_checked():
    """pydbml's syntax errors become file:line:column with the construct; a broken block
    does not hide the problems of the next ones, nor cause follow-up problems."""
    found = problems("""Table a {
  id int [pk,, ]
}
Enum e {
}
Ref: a.id >> b.id
Table b {
  id int [default: nope]
  e e
}
garbage here
Table c {
  id int [primary_key, ref: > a.id]
}
""")
    assert found == [
        "x.dbml:2:13: column a.id: syntax error: unexpected ','; expected ']' (column "
        "settings are pk, primary key, not null, null, unique, increment, default: value, "
        "note: 'text', ref: > table.column, check: `expression`)",
        "x.dbml:5:1: Enum e: syntax error: unexpected '}' (write one value per line inside "
        "Enum name { ... })",
        "x.dbml:6:12: Ref: syntax error: unexpected '>' (write Ref name: table.column > "
        "other.column [delete: cascade])",
        "x.dbml:8:20: column b.id: 'nope' is not a value (write a 'string', a number, true, "
        "false, null or an `expression` in backticks)",
        "x.dbml:11:1: top level: unexpected 'garbage' (a DBML file holds Project, Table, "
        "TablePartial, Enum, Ref, TableGroup, Note and Records blocks)",
        "x.dbml:13:11: column c.id: syntax error: unexpected 'primary_key' (column settings "
        "are pk, primary key, not null, null, unique, increment, default: value, note: "
        "'text', ref: > table.column, check: `expression`)",
    ]


@pytest.mark.parametrize("text,expected", [
    ("Table t {\n  a int\n  a text\n}\n", "x.dbml:3:3: column t.a: column defined twice"),
    ("Table t {\n  a text 'x\n}\n", "x.dbml:2:10: string: unterminated string"),
    ("Table t {\n  ~nope\n  a int\n}\n", "x.dbml:2:3: Table t: unknown TablePartial 'nope'"),
    ("Table t {\n  a int\n  checks {\n    a > 0\n  }\n}\n",
     "x.dbml:4:5: checks of Table t: expected an `expression`, found 'a'"),
    ("Table t {\n  a int [increment, default: 1]\n}\n",
     "x.dbml:2:21: column t.a: an identity column (increment or serial) cannot have a "
     "default"),
    ("Table t {\n  a serial [default: 1]\n}\n",
     "x.dbml:2:13: column t.a: a serial column cannot have a default"),
    ("Table t {\n  a int [pk]\n  indexes {\n    a [pk]\n  }\n}\n",
     "x.dbml:4:5: index of Table t: the table already has a primary key"),
    ("Table t {\n  a int\n  indexes {\n    b\n  }\n}\n",
     "x.dbml:4:5: index of Table t: unknown column 'b'"),
    ("Table t {\n  a int\n}\nRecords t(a) {\n  1, 2\n}\n",
     "x.dbml:4:1: Records t: row 1 has 2 values for 1 columns"),
    ("Table t {\n  a int\n}\nRecords t(b) {\n  1\n}\n", "x.dbml:4:1: Records t: unknown "
     "column 'b'"),
    ("Table t [colour: red] {\n  a int\n}\n",
     "x.dbml:1:10: Table t: unknown table setting 'colour'"),
    ("Table a {\n  id int [pk]\n  x int\n}\nRef: a.(id, x) > a.id\n",
     "x.dbml:5:1: Ref: 2 column(s) refer to 1 column(s)"),
    ("Enum e {\n  a\n  a\n}\n", "x.dbml:1:1: Enum e: value 'a' is listed twice"),
    ("Table t {\n  a Role\n}\nEnum role {\n  x\n}\n",
     "x.dbml:2:5: column t.a: unknown type 'Role' (enum names are case-sensitive: write "
     "role)"),
])
def test_each_other_problem_has_its_position_and_construct(text, expected):
    """Duplicate columns, unterminated strings, unknown partials, bad checks, identity
    with a default, two primary keys, unknown index columns, bad Records, unknown table
    settings and junction conflicts are each reported where they are."""
    found = problems(text)
    assert any(p.startswith(expected) for p in found), found


def test_error_message_is_one_usage_error_listing_everything():
    """The exception text names the file, the count, and lists every problem."""
    with pytest.raises(DbmlError) as caught:
        parse_dbml_document("Table t {\n  a datetime\n  b String\n}\n", "schema.dbml",
                            strict=True)
    text = str(caught.value)
    assert text.splitlines()[0] == "schema.dbml has 2 problems; nothing was written:"
    assert "schema.dbml:2:5" in text and "schema.dbml:3:5" in text


def test_types_module_refuses_with_fix():
    """types.canonical raises TypeProblem carrying the spelling to use."""
    with pytest.raises(types.TypeProblem) as caught:
        types.canonical("datetime", {}, strict=True)
    assert caught.value.fix == "write timestamp"
    assert types.canonical("mood[]", {"mood": "mood"}).type == "mood[]"


# -------------------------------------------------------------------------- fuzz
DBML_PIECES = st.sampled_from([
    "Table", "TablePartial", "Enum", "Ref", "Records", "Project", "Note", "indexes", "checks",
    "{", "}", "[", "]", "(", ")", ":", ",", ".", "<", ">", "-", "<>", "~", "\n", " ", "'",
    '"', "`", "'''", "pk", "not null", "default:", "ref:", "note:", "unique", "int", "t",
    "a", "b", "text[]", "varchar(3)", "1", "-2", "true", "null", "//", "/*", "*/", "#fff",
    "headercolor:", "increment", "type: hash", "name:", "delete: cascade", "\\",
])


@settings(max_examples=300)
@given(st.lists(DBML_PIECES, max_size=40).map(" ".join) | st.text(max_size=200))
def test_arbitrary_text_raises_nothing_but_dbml_error(text):
    """Whatever the text, parsing returns a model or raises DbmlError (never another
    exception)."""
    try:
        parse_dbml(text)
    except DbmlError as exc:
        assert all(re.match(r"schema\.dbml:\d+:\d+: ", p) for p in exc.problems)


RICH = (DATA / "rich.dbml").read_text()


@given(st.integers(0, len(RICH)), st.integers(0, 30), st.text(max_size=8))  # conftest's profile:
# the default run's examples, 300 with --slow (each is a whole pydbml parse of rich.dbml)
def test_edits_of_a_real_file_raise_nothing_but_dbml_error(at, cut, inserted):
    """Cutting and inserting text anywhere in rich.dbml gives a model or a DbmlError."""
    try:
        parse_dbml(RICH[:at] + inserted + RICH[at + cut:])
    except DbmlError as exc:
        assert exc.problems


@pytest.mark.slow  # ~7 s of pydbml; the parser's correctness is covered above
def test_thousand_tables_parse_time_is_reported(capsys):
    """A generated file of 1,000 tables (10 columns, 3 indexes, 2 refs each) parses; the
    time is printed for the benchmark notes (no bound: pydbml's speed is not ours)."""
    text = generated_dbml(1000)
    start = time.perf_counter()
    schema = parse_dbml(text)
    elapsed = time.perf_counter() - start
    assert len(schema.tables) == 1000
    assert sum(len(t.foreign_keys) for t in schema.tables) == 2 * 999 - 1
    with capsys.disabled():
        print(f"\n  DBML parse, 1,000 tables: {elapsed:.2f} s")


def generated_dbml(count: int) -> str:
    parts = []
    for n in range(count):
        refs = [f"  r{k} int [ref: > t{n - k}.id]" if n - k >= 0 else f"  r{k} int"
                for k in (1, 2)]
        parts.append(f"Table t{n} {{\n  id int [pk]\n" + "\n".join(
            f"  c{k} varchar(40) [not null, default: 'x', note: 'column {k}']"
            for k in range(7)) + "\n" + "\n".join(refs) + "\n  indexes {\n    c0\n"
            "    (c1, c2) [unique]\n    `lower(c3)`\n  }\n}\n")
    return "\n".join(parts)


# ------------------------------------------------------------- with a real server
def test_guides_model_applies_and_introspects_back_equal(db):
    """to_sql of the guides' model runs on a real server, and introspecting that database
    gives back the DBML model (names, types, keys, indexes) except for expression text."""
    expected = load_dbml(DATA / "guides.dbml")
    with db.connect() as conn:
        conn.execute(to_sql(expected))
        conn.commit()
        found = introspect(conn)
    left, right = expected.normalised(), found.normalised()
    assert right.enums == left.enums
    for want in left.tables:
        got = right.table(want.qualified)
        assert [(c.name, c.type, c.nullable, c.default) for c in got.columns] == [
            (c.name, c.type, c.nullable, c.default) for c in want.columns]
        assert [(c.name, c.kind, c.columns, c.ref_table, c.ref_columns)
                for c in got.constraints] == [
            (c.name, c.kind, c.columns, c.ref_table, c.ref_columns) for c in want.constraints]
        assert [(i.name, i.columns, i.unique, i.method) for i in got.indexes] == [
            (i.name, i.columns, i.unique, i.method) for i in want.indexes]


def test_rich_model_applies_on_a_real_server(db):
    """The rich fixture's model (partials, checks, second schema, junction table, quoted
    names) is valid PostgreSQL: its SQL runs and the tables are there."""
    schema = load_dbml(DATA / "rich.dbml")
    with db.connect() as conn:
        conn.execute(to_sql(schema))
        conn.commit()
    assert set(db.tables()) == {"user table", "orders", "order_lines", "products", "tags",
                                "products_tags"}
    assert db.tables("app") == ["users"]
