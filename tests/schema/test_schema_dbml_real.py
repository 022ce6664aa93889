"""DBML as people write it (issue 17, section 1): type names of other databases and
generators read as PostgreSQL types (with a warning, a note in the migration, and
`--strict` to refuse them), MySQL's inline enums, table aliases, foreign keys between
integer widths, unique indexes as reference targets, one-to-one and many-to-many refs,
serial with increment, and defaults PostgreSQL refuses named by their DBML line. Each
case through `nself db schema import`, then `migrate up` on real PostgreSQL. The DBML
here is written for these tests, in the style of each generator."""

from __future__ import annotations

import textwrap

import pytest


def _dbml(project, text: str) -> None:
    project.write("schema.dbml", textwrap.dedent(text))


def _import_up(project, *flags: str):
    """Import (must write a migration), migrate up, re-import (must find nothing)."""
    result = project.run("db", "schema", "import", *flags)
    assert result.code == 0, result
    assert "Migration created" in result.out, result
    up = project.run("db", "migrate", "up")
    assert up.code == 0, up
    again = project.run("db", "schema", "import", *flags)
    assert again.code == 0 and "No schema changes" in again.out, again
    return result


def _types(project, table: str) -> dict[str, str]:
    return dict(project.db.query(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped", [table]))


def _migration(project) -> str:
    (path,) = sorted(project.migrations.glob("*.sql"))
    return path.read_text()


FOREIGN = """
Table accounts {
  id Int [pk, increment]
  handle String [not null, unique]
  nick string
  created_at datetime [not null, default: `now()`]
  seen_at DateTime
  legacy_blob blob
  bio longtext
  body varchar(max)
  title nvarchar(80)
  born year
  flags tinyint [default: 0]
  score mediumint
  ratio double
  small_ratio float(10,2)
  big BigInt
  active Boolean [default: true]
  settings Json
  price Decimal
  weight Float
  avatar Bytes
  code int(11)
}

Table logins {
  id int [pk]
  account_id Int [ref: > accounts.id]
  at datetime
}
"""


def test_type_names_of_other_databases_are_read_as_postgresql_types(project):
    _dbml(project, FOREIGN)
    result = _import_up(project)
    types = _types(project, "accounts")
    assert types == {
        "id": "integer", "handle": "text", "nick": "text",
        "created_at": "timestamp without time zone",
        "seen_at": "timestamp without time zone", "legacy_blob": "bytea", "bio": "text",
        "body": "text", "title": "character varying(80)", "born": "smallint",
        "flags": "smallint", "score": "integer", "ratio": "double precision",
        "small_ratio": "real", "big": "bigint", "active": "boolean", "settings": "json",
        "price": "numeric", "weight": "double precision", "avatar": "bytea",
        "code": "integer"}
    # one warning line per name, listing where it is used with its line
    lines = [x for x in result.err.splitlines() if x.startswith("! ")]
    datetime = [x for x in lines if "'datetime'" in x]
    assert len(datetime) == 1, lines
    assert "accounts.created_at (line 5)" in datetime[0]
    assert "accounts.seen_at (line 6)" in datetime[0]
    assert "logins.at (line 28)" in datetime[0]
    assert "timestamp without time zone" in datetime[0]
    assert "--strict" in datetime[0]
    assert any("'string'" in x and "accounts.handle (line 3)" in x and "accounts.nick"
               in x for x in lines), lines
    assert any("'varchar(max)'" in x and "text" in x for x in lines), lines
    assert any("'nvarchar'" in x and "character varying(80)" in x for x in lines), lines
    assert not any("accounts.id " in x or "accounts.active" in x for x in lines), lines
    # the migration says what was mapped
    text = _migration(project)
    head = text.split("-- UP", 1)[0]
    assert "datetime -> timestamp without time zone: accounts.created_at" in head, head
    assert "Bytes -> bytea: accounts.avatar" in head, head


def test_strict_keeps_the_refusal(project):
    _dbml(project, FOREIGN)
    result = project.run("db", "schema", "import", "--strict")
    assert result.code == 2, result
    assert "schema.dbml:5:14: column accounts.created_at: unknown type 'datetime' (not " \
           "PostgreSQL) (write timestamp)" in result.err, result.err
    assert "Traceback" not in result.err
    assert list(project.migrations.glob("*.sql")) == []
    assert "--strict" in project.run("db", "schema", "import", "--help").out


def test_unknown_custom_type_is_still_an_error_with_its_line(project):
    _dbml(project, """
        Table t {
          id int [pk]
          shape polyhedron
          at datetime
        }
        """)
    result = project.run("db", "schema", "import")
    assert result.code == 2, result
    assert "schema.dbml:3:9: column t.shape: unknown type 'polyhedron'" in result.err
    assert "datetime" not in result.err
    assert list(project.migrations.glob("*.sql")) == []


def test_defaults_of_other_databases_are_read_as_postgresql_ones(project):
    _dbml(project, """
        Table t {
          id int [pk]
          at timestamp [default: `current_timestamp()`]
          done boolean [not null, default: 0]
          seen boolean [default: 1]
        }
        """)
    result = _import_up(project)
    defaults = dict(project.db.query(
        "SELECT column_name, column_default FROM information_schema.columns "
        "WHERE table_name = 't'"))
    assert defaults["at"] == "CURRENT_TIMESTAMP" and defaults["done"] == "false"
    assert defaults["seen"] == "true"
    assert "the default `current_timestamp()` is not PostgreSQL's; read as CURRENT_TIMESTAMP" \
        in result.err, result.err
    assert "t.done (line 4)" in result.err
    strict = project.run("db", "schema", "import", "--strict")
    assert strict.code == 2 and "schema.dbml:3:" in strict.err, strict


def test_mysql_inline_enum_becomes_an_enum_type_named_after_table_and_column(project):
    _dbml(project, """
        Table posts {
          id int [pk, increment]
          status enum('draft', 'published', 'it''s') [not null, default: 'draft']
          kind ENUM("a","b")
        }
        """)
    result = _import_up(project)
    assert _types(project, "posts")["status"] == "posts_status"
    assert _types(project, "posts")["kind"] == "posts_kind"
    assert project.db.scalar("SELECT enum_range(NULL::posts_status)::text") == \
        "{draft,published,it's}"
    assert project.db.scalar("SELECT enum_range(NULL::posts_kind)::text") == "{a,b}"
    assert "posts.status -> posts_status (line 3)" in result.err, result.err
    project.db.query("INSERT INTO posts DEFAULT VALUES RETURNING status")


def test_table_aliases_resolve(project):
    _dbml(project, """
        Table posts as po {
          id int [pk]
        }
        Table public.replies as re {
          id int [pk]
          post_id int
          quoted_id int [ref: > po.id]
        }
        Ref: re.post_id > po.id [delete: cascade]
        """)
    _import_up(project)
    refs = sorted(project.db.query(
        "SELECT conname, confrelid::regclass::text FROM pg_constraint WHERE contype = 'f' "
        "AND connamespace = 'public'::regnamespace"))
    assert refs == [("replies_post_id_fkey", "posts"), ("replies_quoted_id_fkey", "posts")]


def test_foreign_keys_between_integer_widths(project):
    _dbml(project, """
        Table owners {
          id bigint [pk]
          code smallint [unique]
        }
        Table pets {
          id int [pk]
          owner_id int [ref: > owners.id]
          owner_code integer [ref: > owners.code]
          label varchar(20) [ref: > tags.name]
        }
        Table tags {
          name text [pk]
        }
        """)
    _import_up(project)
    assert project.db.scalar("SELECT count(*) FROM pg_constraint WHERE contype = 'f' "
                             "AND connamespace = 'public'::regnamespace") == 3


def test_unique_index_makes_a_column_referenceable(project):
    _dbml(project, """
        Table countries {
          id int [pk]
          iso varchar(2) [not null]
          indexes {
            iso [unique]
          }
        }
        Table cities {
          id int [pk]
          country varchar(2) [ref: > countries.iso]
        }
        """)
    _import_up(project)
    up = _migration(project).split("-- UP", 1)[1].split("-- DOWN")[0]
    assert up.index("CREATE UNIQUE INDEX") < up.index("FOREIGN KEY"), up
    assert project.db.scalar("SELECT confrelid::regclass::text FROM pg_constraint "
                             "WHERE contype = 'f' AND connamespace = 'public'::regnamespace"
                             ) == "countries"


def test_one_to_one_with_the_primary_key_on_the_left(project):
    _dbml(project, """
        Table users {
          id int [pk]
        }
        Table profiles {
          id int [pk]
          user_id int [unique]
        }
        Ref: users.id - profiles.user_id
        """)
    _import_up(project)
    assert project.db.query(
        "SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint "
        "WHERE contype = 'f' AND connamespace = 'public'::regnamespace") == [("profiles",
                                                                               "users")]


def test_many_to_many_junction_gets_a_name_of_its_own(project):
    _dbml(project, """
        Table users {
          id int [pk]
        }
        Table groups {
          id int [pk]
        }
        Table users_groups {
          note text
        }
        Ref: users.id <> groups.id
        Ref: users.id <> users.id
        """)
    result = _import_up(project)
    assert "users_groups_1" in result.err, result.err
    assert sorted(project.db.tables()) == ["groups", "users", "users_groups",
                                           "users_groups_1", "users_users"]
    assert _types(project, "users_groups_1") == {"users_id": "integer",
                                                 "groups_id": "integer"}
    assert sorted(_types(project, "users_users")) == ["users_id", "users_id_2"]


def test_serial_types_with_increment_stay_serial(project):
    _dbml(project, """
        Table a {
          id serial [pk, increment]
          n bigserial [increment]
          s smallserial [increment, not null]
        }
        """)
    _import_up(project)
    rows = project.db.query(
        "SELECT column_name, is_identity, column_default FROM information_schema.columns "
        "WHERE table_name = 'a' ORDER BY ordinal_position")
    assert [(r[0], r[1]) for r in rows] == [("id", "NO"), ("n", "NO"), ("s", "NO")]
    assert all(r[2].startswith("nextval(") for r in rows), rows


@pytest.mark.parametrize("default, found", [
    ('`{"a":1}`', '`{"a":1}` is not an SQL expression'),
    ("`1 +`", "`1 +` is not an SQL expression"),
])
def test_malformed_backtick_default_is_a_dbml_problem(project, default, found):
    _dbml(project, f"""
        Table t {{
          id int [pk]
          data jsonb [default: {default}]
        }}
        """)
    result = project.run("db", "schema", "import")
    assert result.code == 2, result
    assert "schema.dbml:3:" in result.err and found in result.err, result.err
    assert "bug in nself" not in result.err


@pytest.mark.parametrize("column, line", [
    ("n integer [default: 'abc']", 6),
    ("at integer [default: `now()`]", 6),
    ("m mood [default: 'angry']", 6),
])
def test_a_default_postgresql_refuses_names_the_dbml_line(project, column, line):
    project.write("schema.dbml", "Enum mood {\n  happy\n}\nTable t {\n  id int [pk]\n"
                  f"  {column}\n}}\n")
    result = project.run("db", "schema", "import")
    assert result.code == 2, result
    name = column.split()[0]
    assert f"schema.dbml:{line}:" in result.err and f"t.{name}" in result.err, result.err
    assert "bug in nself" not in result.err and "Traceback" not in result.err


PRISMA = """
//// ------------------------------------------------------
//// THIS FILE WAS AUTOMATICALLY GENERATED (DO NOT MODIFY)
//// ------------------------------------------------------

Project "shop" {
  database_type: 'PostgreSQL'
  Note: 'generated from schema.prisma'
}

Table Customer {
  id Int [pk, increment]
  email String [unique, not null]
  fullName String
  joinedAt DateTime [default: `now()`, not null]
  orders Order
  card LoyaltyCard
  tier Tier [not null, default: 'BRONZE']
  tags String[]
  uid String [unique, not null, default: `gen_random_uuid()`]
}

Table LoyaltyCard {
  id BigInt [pk, increment]
  points Int [not null, default: 0]
  customer Customer [not null]
  customerId Int [unique, not null]

  Note: 'one per customer'
}

Table Order {
  id String [pk]
  total Decimal [not null]
  paid Boolean [not null, default: false]
  meta Json
  receipt Bytes
  weight Float
  customer Customer
  customerId Int
  items Item
  placedAt DateTime [default: `now()`, not null]
}

Table Item {
  id Int [pk, increment]
  name String [not null]
  orders Order
}

Table ItemToOrder {
  itemsId Int [ref: > Item.id]
  ordersId String [ref: > Order.id]
}

Enum Tier {
  BRONZE
  SILVER
  GOLD
}

Ref: LoyaltyCard.customerId - Customer.id [delete: Cascade]

Ref: Order.customerId > Customer.id [delete: Set Null]
"""

MYSQL = """
Table "authors" {
  "id" int(10) [pk, not null, increment]
  "name" varchar(120) [not null]
  "email" varchar(190) [not null]
  "bio" mediumtext
  "active" tinyint(1) [not null, default: 1]
  "created_at" datetime [default: `CURRENT_TIMESTAMP`]
  "updated_at" timestamp [default: `current_timestamp()`]

  Indexes {
    email [unique, name: "authors_email_unique"]
    (name, active) [name: "authors_name_active_index"]
  }
}

Table "books" {
  "id" bigint(20) [pk, not null, increment]
  "author_id" int(10) [not null]
  "isbn" char(13)
  "title" varchar(255) [not null]
  "price" decimal(8,2) [not null, default: "0.00"]
  "pages" smallint(5)
  "rating" double(3,1)
  "cover" longblob
  "format" books_format_enum [default: "paper"]
  "published" year

  Indexes {
    author_id [name: "books_author_id_foreign"]
    isbn [unique, name: "books_isbn_unique"]
  }
}

Table "book_tags" {
  "book_id" bigint(20) [not null]
  "tag" varchar(40) [not null]

  Indexes {
    (book_id, tag) [pk]
  }
}

Enum "books_format_enum" {
  "paper"
  "ebook"
  "audio"
}

Ref "books_author_id_foreign":"authors"."id" < "books"."author_id" [delete: cascade]

Ref "book_tags_book_id_foreign":"books"."id" < "book_tags"."book_id"
"""

HAND = """
Project library {
  database_type: 'PostgreSQL'
  Note: '''
    # Library
    Lending, by branch.
  '''
}

Table branches as B {
  id integer [pk, increment]
  name varchar(100) [not null, note: 'shown on cards']
  city varchar(60)
  Note: 'a lending branch'
}

Table members as M [headercolor: #3498DB] {
  id integer [pk, increment]
  branch_id integer [not null, ref: > B.id]
  card_no varchar(20) [not null]
  status member_status [not null, default: 'active']
  joined date [default: `current_date`]
  kind enum('adult', 'child')

  indexes {
    (branch_id, card_no) [unique]
    joined [name: 'members_joined']
  }
}

Table copies {
  branch_id integer
  copy_no integer
  title varchar(200) [not null]

  indexes {
    (branch_id, copy_no) [pk]
  }
}

Table loans {
  id bigserial [pk, increment]
  member_id integer [not null]
  branch_id integer [not null]
  copy_no integer [not null]
  due datetime [not null]
  returned boolean [default: false]
}

Table member_cards {
  member_id bigint [pk]
  issued timestamptz [default: `now()`]
}

Enum member_status {
  active
  suspended [note: 'overdue fines']
  left
}

Ref: loans.member_id > M.id [delete: restrict]
Ref: loans.(branch_id, copy_no) > copies.(branch_id, copy_no) [update: cascade]
Ref: M.id - member_cards.member_id
Ref: branches.id < copies.branch_id
Ref: B.id <> M.id

TableGroup lending {
  loans
  copies
}

Note desk {
  'Ask at the desk'
}
"""


SQLSERVER = """
Table "sales"."Customers" {
  "CustomerID" int [pk, increment]
  "Code" nchar(5) [not null]
  "Name" nvarchar(80) [not null]
  "Notes" nvarchar(max)
  "Since" datetime2(7) [default: `sysdatetime()`]
  "Key" uniqueidentifier [not null, default: `gen_random_uuid()`]
  "Credit" money [default: 0]
  "Active" boolean [not null, default: 1]

  Indexes {
    "Code" [unique, name: "UQ_Customers_Code"]
  }
}

Table "sales"."Orders" {
  "OrderID" bigint [pk, increment]
  "CustomerCode" nchar(5) [not null]
  "Placed" datetimeoffset [not null]
  "Lines" tinyint
  "Photo" varbinary(max)
}

Ref "FK_Orders_Customers":"sales"."Customers"."Code" < "sales"."Orders"."CustomerCode"
"""

SQLITE = """
Table "notes" {
  "id" INTEGER [pk, increment]
  "title" TEXT [not null]
  "body" CLOB
  "score" REAL
  "raw" BLOB
  "done" BOOLEAN [not null, default: 0]
  "created" DATETIME [default: `CURRENT_TIMESTAMP`]
  "big" "UNSIGNED BIG INT"
}

Table "tags" {
  "note_id" INTEGER [not null, ref: > "notes"."id"]
  "tag" "VARYING CHARACTER(30)" [not null]
}
"""


@pytest.mark.parametrize("text, tables", [
    (PRISMA, ["Customer", "Item", "ItemToOrder", "LoyaltyCard", "Order"]),
    (MYSQL, ["authors", "book_tags", "books"]),
    (HAND, ["branches", "branches_members", "copies", "loans", "member_cards", "members"]),
    (SQLSERVER, []),
    (SQLITE, ["notes", "tags"]),
], ids=["prisma-dbml-generator", "mysql-sql2dbml", "dbdiagram", "sqlserver", "sqlite"])
def test_generated_and_hand_written_dbml_imports_and_migrates_up(project, text, tables):
    _dbml(project, text)
    result = _import_up(project)
    assert "Traceback" not in result.err
    assert sorted(project.db.tables()) == tables
    if text is SQLSERVER:
        assert sorted(project.db.tables("sales")) == ["Customers", "Orders"]
    assert project.run("db", "migrate", "down").code == 0
    assert project.db.tables() == []
