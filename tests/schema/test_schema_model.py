"""The schema model: stable normalised order and equality, without a database."""

from nself.schema.model import (
    Column,
    Constraint,
    Definition,
    Domain,
    Enum,
    Index,
    Schema,
    Sequence,
    Table,
)


def _users(constraint_order=("users_pkey", "users_email_key")) -> Table:
    constraints = {
        "users_pkey": Constraint("users_pkey", "p", ["id"], "PRIMARY KEY (id)"),
        "users_email_key": Constraint("users_email_key", "u", ["email"], "UNIQUE (email)"),
    }
    return Table("public", "users",
                 [Column("id", "integer", nullable=False, identity="by default"),
                  Column("email", "character varying(255)", nullable=False),
                  Column("role", "user_role", default="'user'::user_role")],
                 [constraints[n] for n in constraint_order],
                 [Index("users_b", "users", ["email"]),
                  Index("users_a", "users", ["lower((email)::text)"])])


def _schema(**overrides) -> Schema:
    base = dict(
        schemas=["public", "app"],
        extensions=["pgcrypto", "citext"],
        enums=[Enum("public", "user_role", ["user", "admin", "moderator"]),
               Enum("app", "mood", ["sad", "happy"])],
        domains=[Domain("public", "pos", "integer", checks=["CONSTRAINT b CHECK ((VALUE > 0))",
                                                            "CONSTRAINT a CHECK ((VALUE < 9))"])],
        sequences=[Sequence("public", "s2"), Sequence("app", "s1")],
        tables=[Table("public", "posts", [Column("id", "integer")]), _users()],
        definitions=[Definition("view", "public", "v", "CREATE VIEW public.v AS SELECT 1;",
                                ["public.users", "public.posts", "public.users"]),
                     Definition("function", "public", "f()", "CREATE FUNCTION ...")],
        comments={"schema:public": "x", "extension:citext": "y"},
        unsupported=["collation public.c", "aggregate public.a", "collation public.c"],
    )
    base.update(overrides)
    return Schema(**base)


def test_normalised_sorts_names_but_keeps_enum_values_and_columns_in_order():
    """normalised() sorts top-level objects, constraints and indexes by name; enum values and
    columns keep their declared order."""
    n = _schema().normalised()
    assert n.schemas == ["app", "public"]
    assert n.extensions == ["citext", "pgcrypto"]
    assert [e.qualified for e in n.enums] == ["app.mood", "public.user_role"]
    assert n.enum("user_role").values == ["user", "admin", "moderator"]
    assert [s.qualified for s in n.sequences] == ["app.s1", "public.s2"]
    assert [t.qualified for t in n.tables] == ["public.posts", "public.users"]
    users = n.table("users")
    assert [c.name for c in users.columns] == ["id", "email", "role"]
    assert [c.name for c in users.constraints] == ["users_email_key", "users_pkey"]
    assert [i.name for i in users.indexes] == ["users_a", "users_b"]
    assert n.domains[0].checks == ["CONSTRAINT a CHECK ((VALUE < 9))",
                                   "CONSTRAINT b CHECK ((VALUE > 0))"]
    assert [d.kind for d in n.definitions] == ["function", "view"]
    assert n.definitions[1].depends_on == ["public.posts", "public.users"]
    assert n.unsupported == ["aggregate public.a", "collation public.c"]
    assert list(n.comments) == ["extension:citext", "schema:public"]


def test_models_of_the_same_schema_in_another_order_are_equal_once_normalised():
    """Two models listing the same objects in different orders compare equal after
    normalised(), not before."""
    a = _schema()
    users = Table("public", "users", _users().columns,
                  _users(("users_email_key", "users_pkey")).constraints,
                  list(reversed(_users().indexes)))
    b = _schema(schemas=["app", "public"],
                tables=[users, Table("public", "posts", [Column("id", "integer")])],
                extensions=["citext", "pgcrypto"])
    assert a != b
    assert a.normalised() == b.normalised()
    assert a.normalised() == a.normalised().normalised()


def test_a_different_enum_order_or_column_order_is_a_difference():
    """Enum value order and column order are meaningful: changing them makes the models differ."""
    a = _schema()
    b = _schema(enums=[Enum("public", "user_role", ["admin", "user", "moderator"]),
                       Enum("app", "mood", ["sad", "happy"])])
    assert a.normalised() != b.normalised()
    users = _users()
    swapped = Table("public", "users", list(reversed(users.columns)), users.constraints,
                    users.indexes)
    c = _schema(tables=[Table("public", "posts", [Column("id", "integer")]), swapped])
    assert a.normalised() != c.normalised()


def test_normalised_does_not_change_the_original():
    """normalised() returns a copy; the model it was called on keeps its order."""
    a = _schema()
    a.normalised()
    assert a.schemas == ["public", "app"]
    assert [c.name for c in a.table("public.users").constraints] == ["users_pkey",
                                                                     "users_email_key"]


def test_lookups_and_helpers():
    """table()/enum() take qualified or bare (public) names; primary_key, foreign_keys and
    ref_qualified read the constraints."""
    s = _schema()
    assert s.table("public.users") is s.table("users")
    assert s.table("app.users") is None
    assert s.enum("app.mood").values == ["sad", "happy"]
    users = s.table("users")
    assert users.primary_key.name == "users_pkey"
    assert users.foreign_keys == []
    assert users.column("email").type == "character varying(255)"
    fk = Constraint("fk", "f", ["a"], ref_table="users", ref_columns=["id"])
    assert fk.ref_qualified == "public.users"
    assert Constraint("c", "c", definition="CHECK (a > 0)").ref_qualified is None
