"""The schema model: plain dataclasses describing a PostgreSQL database's user objects.

Producers: nself.schema.introspect (live catalogs), nself.schema.dbml (DBML files).
Consumers: nself.schema.diff (model x model -> DDL), nself.schema.render (SQL, DBML).

Conventions (so that two models of the same schema compare equal whatever made them):
- names are plain strings, unquoted, as PostgreSQL stores them;
- types are format_type() spellings; a user type is schema-qualified only outside
  "public" ("user_role" for public.user_role, "app.mood" otherwise);
- expressions (defaults, checks, index expressions, generated columns) are texts as
  PostgreSQL prints them back (pg_get_expr, pg_get_constraintdef, pg_get_indexdef);
- references between objects are qualified names "schema.name" (functions
  "schema.name(argtypes)", sequence owners "schema.table.column", definitions of triggers
  and policies "table.name" inside their schema);
- comments of schemas and extensions are in Schema.comments keyed "schema:NAME" and
  "extension:NAME"; other objects carry their own `comment`.
`Schema.normalised()` puts every list in a stable order; enum values and columns keep
their declared order."""

from __future__ import annotations

from dataclasses import dataclass, field, replace


class Named:
    """An object named inside a schema (its dataclass has `schema` and `name`)."""

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass
class Column:
    name: str
    type: str                       # format_type spelling
    nullable: bool = True
    default: str | None = None      # SQL expression text, e.g. "now()", "'user'::user_role"
    identity: str | None = None     # None | "always" | "by default"
    generated: str | None = None    # stored generated expression
    collation: str | None = None    # only when not the default
    comment: str | None = None


@dataclass
class Constraint:
    """A primary key ("p"), unique ("u"), check ("c"), exclusion ("x") or foreign key ("f")."""
    name: str
    kind: str
    columns: list[str] = field(default_factory=list)   # key columns (p, u, f)
    definition: str = ""            # pg_get_constraintdef text (authoritative for c, x)
    ref_schema: str | None = None   # f only
    ref_table: str | None = None
    ref_columns: list[str] = field(default_factory=list)
    on_delete: str = "NO ACTION"    # NO ACTION | RESTRICT | CASCADE | SET NULL | SET DEFAULT
    on_update: str = "NO ACTION"
    deferrable: bool = False
    initially_deferred: bool = False
    comment: str | None = None

    @property
    def ref_qualified(self) -> str | None:
        """'schema.table' a foreign key points at, None for other kinds."""
        if self.ref_table is None:
            return None
        return f"{self.ref_schema or 'public'}.{self.ref_table}"


@dataclass
class Index:
    """An index that does not back a constraint."""
    name: str
    table: str                      # the table's name (unqualified; the index is in its schema)
    columns: list[str]              # column names or expression texts, in order
    unique: bool = False
    method: str = "btree"
    where: str | None = None        # partial index predicate
    include: list[str] = field(default_factory=list)
    definition: str = ""            # pg_get_indexdef text
    comment: str | None = None


@dataclass
class Table(Named):
    schema: str
    name: str
    columns: list[Column] = field(default_factory=list)
    constraints: list[Constraint] = field(default_factory=list)
    indexes: list[Index] = field(default_factory=list)
    comment: str | None = None
    partition_by: str | None = None         # "RANGE (created_at)" for a partitioned table
    partition_of: str | None = None         # "schema.parent" for a partition
    partition_bound: str | None = None      # "FOR VALUES FROM (...) TO (...)"
    row_security: bool = False              # ALTER TABLE ... ENABLE ROW LEVEL SECURITY
    force_row_security: bool = False        # ... FORCE ROW LEVEL SECURITY
    # functions and types its columns, defaults, constraints and indexes use (pg_depend),
    # for the order of statements only: not compared
    uses: list[str] = field(default_factory=list, compare=False)

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    @property
    def primary_key(self) -> Constraint | None:
        return next((c for c in self.constraints if c.kind == "p"), None)

    @property
    def foreign_keys(self) -> list[Constraint]:
        return [c for c in self.constraints if c.kind == "f"]


@dataclass
class Enum(Named):
    schema: str
    name: str
    values: list[str] = field(default_factory=list)   # declared order, never sorted
    comment: str | None = None


@dataclass
class Domain(Named):
    schema: str
    name: str
    type: str
    nullable: bool = True
    default: str | None = None
    checks: list[str] = field(default_factory=list)   # "CONSTRAINT name CHECK (...)"
    comment: str | None = None
    # functions and types its base type, default and checks use: order only, not compared
    uses: list[str] = field(default_factory=list, compare=False)


@dataclass
class Sequence(Named):
    schema: str
    name: str
    type: str = "bigint"
    start: int = 1
    increment: int = 1
    min_value: int | None = None    # None: the type's default
    max_value: int | None = None
    cycle: bool = False
    owned_by: str | None = None     # "schema.table.column"
    comment: str | None = None


DEFINITION_KINDS = ("type", "function", "view", "materialized view", "trigger", "policy",
                    "statistics")


@dataclass
class Definition(Named):
    """A composite type, view, materialized view, function, trigger, policy or statistics
    object (CREATE STATISTICS), carried whole."""
    kind: str                       # one of DEFINITION_KINDS
    schema: str
    name: str                       # functions: name(argtypes); triggers/policies: table.name
    sql: str                        # the full CREATE statement
    depends_on: list[str] = field(default_factory=list)   # qualified names it uses
    comment: str | None = None


@dataclass
class Schema:
    """A whole database's user objects (as nself.pg.catalog defines them)."""
    schemas: list[str] = field(default_factory=list)
    extensions: list[str] = field(default_factory=list)
    enums: list[Enum] = field(default_factory=list)
    domains: list[Domain] = field(default_factory=list)
    sequences: list[Sequence] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    definitions: list[Definition] = field(default_factory=list)
    comments: dict[str, str] = field(default_factory=dict)
    unsupported: list[str] = field(default_factory=list)
    # owners and grants as statements ("GRANT SELECT ON TABLE public.users TO app;"), only
    # when asked for (introspect(grants=True)); empty otherwise
    privileges: list[str] = field(default_factory=list)

    def table(self, qualified: str) -> Table | None:
        """The table named 'schema.name' (a bare name is looked up in public)."""
        if "." not in qualified:
            qualified = f"public.{qualified}"
        return next((t for t in self.tables if t.qualified == qualified), None)

    def enum(self, qualified: str) -> Enum | None:
        if "." not in qualified:
            qualified = f"public.{qualified}"
        return next((e for e in self.enums if e.qualified == qualified), None)

    def normalised(self) -> Schema:
        """A copy with every list in a stable order: by qualified name for top-level objects,
        by name for constraints and indexes; columns and enum values keep their order."""
        def by_name(items):
            return sorted(items, key=lambda x: x.name)

        tables = [replace(t, columns=list(t.columns),
                          constraints=by_name(replace(c, columns=list(c.columns),
                                                      ref_columns=list(c.ref_columns))
                                              for c in t.constraints),
                          indexes=by_name(replace(i, columns=list(i.columns),
                                                  include=list(i.include))
                                          for i in t.indexes))
                  for t in self.tables]
        return Schema(
            schemas=sorted(set(self.schemas)),
            extensions=sorted(set(self.extensions)),
            enums=sorted((replace(e, values=list(e.values)) for e in self.enums),
                         key=lambda e: (e.schema, e.name)),
            domains=sorted((replace(d, checks=sorted(d.checks)) for d in self.domains),
                           key=lambda d: (d.schema, d.name)),
            sequences=sorted(self.sequences, key=lambda s: (s.schema, s.name)),
            tables=sorted(tables, key=lambda t: (t.schema, t.name)),
            definitions=sorted((replace(d, depends_on=sorted(set(d.depends_on)))
                                for d in self.definitions),
                               key=lambda d: (d.schema, DEFINITION_KINDS.index(d.kind)
                                              if d.kind in DEFINITION_KINDS else 99,
                                              d.kind, d.name)),
            comments=dict(sorted(self.comments.items())),
            unsupported=sorted(set(self.unsupported)),
            privileges=sorted(set(self.privileges)),
        )
