"""What a rule knows beyond its statement: the migration, what came before it in the file
and in earlier migrations, the live tables' sizes, the file's acknowledgements.

One `Context` per migration file; `nself.lint.lint` moves it along the statements
(`before`, `created`, `lock_timeout_set`, ... grow as it goes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from nself import sql

# `-- nself:allow PG101 the table is empty until the feature launches`
ALLOW = re.compile(r"(?im)^[ \t]*--[ \t]*nself:allow[ \t]+([A-Za-z]+[0-9]+)[ \t]*(.*?)[ \t]*$")
DEFAULT_SCHEMA = "public"
SMALL_TABLE_MB = 10


def qualified(schema: str | None, name: str) -> str:
    return f"{schema or DEFAULT_SCHEMA}.{name}"


def of_range(rel) -> str:
    """A parse tree's RangeVar as `schema.table` (public when it names no schema)."""
    return qualified(rel.schemaname, rel.relname)


@dataclass
class Schema:
    """What migrations build, as far as lint needs it: tables, and the column lists that
    lead an index or a primary key / unique constraint, per table."""

    tables: set[str] = field(default_factory=set)
    indexed: dict[str, list[tuple[str, ...]]] = field(default_factory=dict)
    enums: set[str] = field(default_factory=set)
    columns: dict[str, dict[str, str]] = field(default_factory=dict)  # table -> col -> type
    # (table, column) with a validated CHECK (column IS NOT NULL); NOT VALID ones by name
    not_null: set[tuple[str, str]] = field(default_factory=set)
    unvalidated: dict[tuple[str, str], str] = field(default_factory=dict)

    def add_index(self, table: str, columns: tuple[str, ...]) -> None:
        self.indexed.setdefault(table, []).append(columns)

    def has_index(self, table: str, columns: tuple[str, ...]) -> bool:
        """Whether an index's leading columns are `columns` (in any order)."""
        wanted = set(columns)
        return any(set(cols[:len(columns)]) == wanted for cols in self.indexed.get(table, ()))

    def learn(self, node) -> None:
        """Take in what statement `node` creates."""
        kind = type(node).__name__
        if kind in ("CreateStmt", "CreateTableAsStmt"):
            rel = node.relation if kind == "CreateStmt" else node.into.rel
            table = of_range(rel)
            self.tables.add(table)
            if kind == "CreateStmt":
                for elt in node.tableElts or ():
                    if type(elt).__name__ == "ColumnDef":
                        self._column(table, elt)
                        for con in elt.constraints or ():
                            if con.contype.name in ("CONSTR_PRIMARY", "CONSTR_UNIQUE"):
                                self.add_index(table, (elt.colname,))
                    elif type(elt).__name__ == "Constraint":
                        self._constraint(table, elt)
        elif kind == "IndexStmt":
            cols = tuple(p.name for p in node.indexParams or () if p.name)
            if cols:
                self.add_index(of_range(node.relation), cols)
        elif kind == "AlterTableStmt" and node.objtype.name == "OBJECT_TABLE":
            table = of_range(node.relation)
            for cmd in node.cmds or ():
                sub = cmd.subtype.name
                if sub == "AT_AddConstraint":
                    self._constraint(table, cmd.def_)
                elif sub == "AT_AddColumn":
                    self._column(table, cmd.def_)
                elif sub == "AT_AlterColumnType":
                    self.columns.setdefault(table, {})[cmd.name] = \
                        sql.type_name(cmd.def_.typeName)
                elif sub == "AT_ValidateConstraint":
                    for key, name in list(self.unvalidated.items()):
                        if key[0] == table and name == cmd.name:
                            self.not_null.add(key)
        elif kind == "CreateEnumStmt":
            self.enums.add(".".join(p.sval for p in node.typeName))

    def _column(self, table: str, col) -> None:
        if col.typeName is not None:
            self.columns.setdefault(table, {})[col.colname] = sql.type_name(col.typeName)

    def _constraint(self, table: str, con) -> None:
        kind = con.contype.name
        if kind in ("CONSTR_PRIMARY", "CONSTR_UNIQUE") and con.keys:
            self.add_index(table, tuple(k.sval for k in con.keys))
        elif kind == "CONSTR_CHECK" and type(con.raw_expr).__name__ == "NullTest" and \
                con.raw_expr.nulltesttype.name == "IS_NOT_NULL" and \
                type(con.raw_expr.arg).__name__ == "ColumnRef":
            key = (table, con.raw_expr.arg.fields[-1].sval)
            if con.skip_validation:
                self.unvalidated[key] = con.conname or ""
            else:
                self.not_null.add(key)


@dataclass
class Context:
    """The migration a statement belongs to, and what lint knows around it."""

    path: str                       # as shown in findings
    transactional: bool = True      # False: `-- nself:no-transaction`
    earlier: Schema = field(default_factory=Schema)   # built by earlier migrations
    created: Schema = field(default_factory=Schema)   # built by this one, so far
    before: list = field(default_factory=list)        # this migration's earlier Stmts
    # {schema.table: (rows, bytes)} of the live database, when lint could read it
    sizes: dict[str, tuple[int, int]] | None = None
    allowed: dict[str, tuple[int, str]] = field(default_factory=dict)  # rule -> (line, why)
    server_version: int | None = None  # server_version_num (e.g. 150004), when known
    # the lock_timeout nself's runner sets for each migration (NSELF_LOCK_TIMEOUT_MS),
    # None when unknown (the file may be run by something else)
    lock_timeout_ms: int | None = None
    lock_timeout_set: bool = False      # a SET [LOCAL] lock_timeout earlier in the file
    exclusive_at: int | None = None     # line of the first ACCESS EXCLUSIVE statement
    exclusive_followed: bool = False    # a statement came after it (TX103 said so once)
    # the whole migration's Schema (an index created after its foreign key counts)
    whole: Schema = field(default_factory=Schema)
    enum_values: dict[str, int] = field(default_factory=dict)  # label -> line added
    has_down: bool | None = None  # a DOWN section with SQL (None: not a migration file)
    # a live table this small (bytes, NSELF_LINT_SMALL_TABLE_MB) is scanned or rewritten
    # in moments: the scan/rewrite rules only warn
    small_bytes: int = SMALL_TABLE_MB << 20
    # the sizes are read just before these migrations are applied, in order: a table the
    # live database lacks is created by one applied before this one in the same run
    absent_is_new: bool = False

    @classmethod
    def for_text(cls, path: str, text: str, transactional: bool = True, **known) -> Context:
        """A context for file `path` holding `text` (its acknowledgements read from it)."""
        allowed = {m.group(1).upper(): (sql.line_of(text, m.start()), m.group(2))
                   for m in ALLOW.finditer(text)}
        return cls(path, transactional, allowed=allowed, **known)

    def is_new(self, table: str) -> bool:
        """Whether `table` is created earlier in this same migration (so nobody uses it
        yet: locks on it block no one)."""
        return table in self.created.tables

    def has_index(self, table: str, columns: tuple[str, ...]) -> bool:
        return self.whole.has_index(table, columns) or self.earlier.has_index(table, columns)

    def column_type(self, table: str, column: str) -> str | None:
        """The column's type as the migrations so far left it (None when unknown)."""
        for schema in (self.created, self.earlier):
            found = schema.columns.get(table, {}).get(column)
            if found:
                return found
        return None

    def size_text(self, table: str) -> str | None:
        """'users: 1.2M rows, 480 MB' when the live database's size of `table` is known."""
        if not self.sizes or table not in self.sizes:
            return None
        rows, size = self.sizes[table]
        shown = table.removeprefix(DEFAULT_SCHEMA + ".")
        counted = f"{_count(rows)} rows" if rows >= 0 else "rows unknown (never analyzed)"
        return f"{shown}: {counted}, {_bytes(size)}"

    def is_small(self, table: str) -> bool:
        """Whether the live database says `table` is under `small_bytes`, or (when
        `absent_is_new`) lacks it: a migration applied earlier in the same run creates it,
        empty. False when unknown."""
        if self.sizes is None:
            return False
        if table not in self.sizes:
            return self.absent_is_new
        return self.sizes[table][1] < self.small_bytes

    def rows(self, table: str) -> int | None:
        """The live table's estimated rows; None when unknown (no database, or never
        analyzed: reltuples -1)."""
        if not self.sizes or table not in self.sizes or self.sizes[table][0] < 0:
            return None
        return self.sizes[table][0]


def _count(n: int) -> str:
    for limit, unit in ((10**9, "G"), (10**6, "M"), (10**3, "k")):
        if n >= limit:
            return f"{n / limit:.1f}{unit}".replace(".0", "")
    return str(n)


def _bytes(n: int) -> str:
    for limit, unit in ((1 << 40, "TB"), (1 << 30, "GB"), (1 << 20, "MB"), (1 << 10, "kB")):
        if n >= limit:
            return f"{n / limit:.0f} {unit}" if n >= 10 * limit else f"{n / limit:.1f} {unit}"
    return f"{n} bytes"


SIZES_SQL = """
SELECT n.nspname || '.' || c.relname, c.reltuples::bigint,
       pg_total_relation_size(c.oid)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'm')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
"""


def live_sizes(conn) -> tuple[dict[str, tuple[int, int]], int]:
    """Every table's (estimated rows, bytes) on connection `conn`, and the server version
    (one query; rows is the planner's estimate: -1 before the first VACUUM or ANALYZE)."""
    rows = conn.execute(SIZES_SQL).fetchall()
    return {name: (int(n), int(size)) for name, n, size in rows}, conn.info.server_version
