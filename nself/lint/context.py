"""What a rule knows beyond its statement: the migration, what came before it in the file
and in earlier migrations, the live tables' sizes, the file's acknowledgements.

One `Context` per migration file; `nself.lint.lint` moves it along the statements
(`before`, `created`, `lock_timeout_set`, ... grow as it goes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import psycopg

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


def _names(parts) -> str:
    """`[schema,] name` parts as `schema.name` (public when none)."""
    names = [p.sval for p in parts]
    return qualified(names[-2] if len(names) > 1 else None, names[-1])


def created_object(node) -> tuple[str, str] | None:
    """(the DropStmt.removeType that drops it, its key) of the view, sequence, foreign
    table, function, procedure or trigger statement `node` creates (tables and
    materialized views are `Schema.tables`); None for other statements."""
    kind = type(node).__name__
    if kind == "ViewStmt":
        return "OBJECT_VIEW", of_range(node.view)
    if kind == "CreateTableAsStmt" and node.objtype.name == "OBJECT_MATVIEW":
        return "OBJECT_MATVIEW", of_range(node.into.rel)
    if kind == "CreateSeqStmt":
        return "OBJECT_SEQUENCE", of_range(node.sequence)
    if kind == "CreateForeignTableStmt":
        return "OBJECT_FOREIGN_TABLE", of_range(node.base.relation)
    if kind == "CreateFunctionStmt":
        return ("OBJECT_PROCEDURE" if node.is_procedure else "OBJECT_FUNCTION",
                _names(node.funcname))
    if kind == "CreateTrigStmt":
        return "OBJECT_TRIGGER", f"{of_range(node.relation)}.{node.trigname}"
    return None


def object_key(removed: str, obj) -> str | None:
    """The key `created_object` gives the object `obj` of a DropStmt whose removeType is
    `removed` (a function without its argument types; a trigger under its table)."""
    if type(obj).__name__ == "ObjectWithArgs":
        return _names(obj.objname)
    if not isinstance(obj, (tuple, list)) or not all(hasattr(p, "sval") for p in obj):
        return None
    if removed == "OBJECT_TRIGGER":
        return f"{_names(obj[:-1])}.{obj[-1].sval}" if len(obj) > 1 else None
    return _names(obj)


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
    # other objects created, by DropStmt.removeType: {("OBJECT_VIEW", "public.v"), ...}
    objects: set[tuple[str, str]] = field(default_factory=set)
    constraints: set[tuple[str, str]] = field(default_factory=set)  # (table, name) added

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
        created = created_object(node)
        if created:
            self.objects.add(created)

    def _column(self, table: str, col) -> None:
        if col.typeName is not None:
            self.columns.setdefault(table, {})[col.colname] = sql.type_name(col.typeName)

    def _constraint(self, table: str, con) -> None:
        kind = con.contype.name
        if con.conname:
            self.constraints.add((table, con.conname))
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
    sizes: dict[str, tuple] | None = None  # (rows, bytes[, how]): see live_sizes
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
    enum_types: dict[str, set[str]] = field(default_factory=dict)  # label -> its types
    has_down: bool | None = None  # a DOWN section with SQL (None: not a migration file)
    top: list = field(default_factory=list)  # the migration's top-level sql.Statements
    # a live table this small (bytes, NSELF_LINT_SMALL_TABLE_MB) is scanned or rewritten
    # in moments: the scan/rewrite rules only warn
    small_bytes: int = SMALL_TABLE_MB << 20
    # the sizes are read just before these migrations are applied, in order: a table the
    # live database lacks is created by one applied before this one in the same run
    absent_is_new: bool = False
    # what the earlier files of the same run create when the run's files are all pending
    # (being applied, or `lint --since`): new too, nobody uses them yet
    fresh: Schema = field(default_factory=Schema)

    @classmethod
    def for_text(cls, path: str, text: str, transactional: bool = True, **known) -> Context:
        """A context for file `path` holding `text` (its acknowledgements read from it)."""
        allowed = {m.group(1).upper(): (sql.line_of(text, m.start()), m.group(2))
                   for m in ALLOW.finditer(text)}
        return cls(path, transactional, allowed=allowed, **known)

    def is_new(self, table: str) -> bool:
        """Whether `table` is created earlier in this same migration, or by an earlier
        pending migration of the same run (so nobody uses it yet: locks on it block no
        one)."""
        return table in self.created.tables or table in self.fresh.tables

    def is_new_constraint(self, table: str, name: str) -> bool:
        """Whether constraint `name` of `table` is added earlier in this migration (or an
        earlier pending one of the run): nothing relies on it yet."""
        return (table, name) in self.created.constraints or \
            (table, name) in self.fresh.constraints

    def is_new_object(self, removed: str, key: str) -> bool:
        """`is_new` for any object a DROP names (`object_key`; a materialized view is a
        table too)."""
        if (removed, key) in self.created.objects or (removed, key) in self.fresh.objects:
            return True
        return removed in ("OBJECT_TABLE", "OBJECT_MATVIEW") and self.is_new(key)

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
        """'users: 1.2M rows (last ANALYZE), 480 MB' when the live database's size of
        `table` is known."""
        if not self.sizes or table not in self.sizes:
            return None
        rows, size, *how = self.sizes[table]
        shown = table.removeprefix(DEFAULT_SCHEMA + ".")
        counted = f"{_count(rows)} rows" if rows >= 0 else "rows unknown"
        if how or rows < 0:
            counted += f" ({ROWS_HOW[how[0] if how else 'unknown']})"
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
        """The live table's rows (`live_sizes` says how they are known); None when
        unknown (no database)."""
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


# Each table's planner estimate (reltuples: -1, or 0, until the first VACUUM/ANALYZE/CREATE
# INDEX, and stale after), whether it was ever analyzed or vacuumed, its heap and total
# bytes (a partitioned table: its partitions'), and the rows its heap holds by its size
# (pages x rows a page holds at the columns' widths: a varlena counts 32 bytes, as the
# planner guesses; 24 bytes of tuple header and 4 of item pointer each).
SIZES_SQL = """
WITH rel AS (
  SELECT c.oid, c.relkind, n.nspname, c.relname, c.reltuples,
         CASE WHEN c.relkind = 'p' THEN ARRAY(SELECT relid FROM pg_partition_tree(c.oid)
                                              WHERE isleaf)
              ELSE ARRAY[c.oid] END AS parts
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'm')
    AND n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname NOT LIKE 'pg_toast%'
)
SELECT r.nspname || '.' || r.relname, r.reltuples::bigint,
       (SELECT coalesce(sum(pg_total_relation_size(p)), 0) FROM unnest(r.parts) p)::bigint,
       (SELECT coalesce(sum(pg_relation_size(p)), 0) FROM unnest(r.parts) p)::bigint,
       coalesce(s.last_analyze, s.last_autoanalyze, s.last_vacuum,
                s.last_autovacuum) IS NOT NULL,
       ((SELECT coalesce(sum(pg_relation_size(p)), 0) FROM unnest(r.parts) p)
        / current_setting('block_size')::int
        * floor((current_setting('block_size')::int - 24) / (28 + coalesce(
            (SELECT sum(CASE WHEN a.attlen > 0 THEN a.attlen ELSE 32 END)
             FROM pg_attribute a WHERE a.attrelid = r.oid AND a.attnum > 0
               AND NOT a.attisdropped), 0))))::bigint,
       format('%I.%I', r.nspname, r.relname),
       r.relkind <> 'm' AND has_table_privilege(r.oid, 'SELECT')
FROM rel r LEFT JOIN pg_stat_all_tables s ON s.relid = r.oid
"""
# A never-analyzed table with pages is counted, up to this many rows
COUNT_LIMIT = 10000
# How a table's rows are known, as a finding says it
ROWS_HOW = {"analyzed": "last ANALYZE", "counted": "counted", "empty": "empty",
            "size": "from its size: never analyzed", "unknown": "never analyzed"}


def live_sizes(conn) -> tuple[dict[str, tuple[int, int, str]], int]:
    """Every table's (rows, bytes, how the rows are known) on connection `conn`, and the
    server version. Rows: the planner's estimate when the table was analyzed (or
    vacuumed); 0 for an empty heap; else counted, at most COUNT_LIMIT rows each
    (`_bounded_counts`); past that, or when it cannot count, estimated from the heap's
    size (`ROWS_HOW` names each)."""
    found, to_count = {}, {}
    for name, tuples, total, heap, analyzed, by_size, ident, countable in \
            conn.execute(SIZES_SQL).fetchall():
        if heap == 0:
            found[name] = (0, int(total), "empty")
        elif analyzed and tuples > 0:  # 0 after an ANALYZE of the empty table: count
            found[name] = (int(tuples), int(total), "analyzed")
        else:
            found[name] = (int(by_size), int(total), "size")
            if countable:
                to_count[name] = ident
    for name, counted in _bounded_counts(conn, to_count).items():
        rows, total, _ = found[name]
        if counted < COUNT_LIMIT:
            found[name] = (counted, total, "counted")
        else:
            found[name] = (max(rows, counted), total, "size")
    return found, conn.info.server_version


COUNT_TABLES = 1000  # at most this many tables counted; the others by their size
COUNT_CHUNK = 50  # tables a query counts (a UNION of thousands takes the planner minutes)


def _bounded_counts(conn, tables: dict[str, str]) -> dict[str, int]:
    """{name: rows, at most COUNT_LIMIT} of `tables` ({name: quoted identifier}, the
    first COUNT_TABLES), COUNT_CHUNK a query, in one transaction with lock_timeout 1 s;
    nothing when the connection is inside a transaction, or a table is locked."""
    if not tables or not conn.autocommit or \
            conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        return {}  # SET LOCAL would outlive the count in the caller's transaction
    names, found = list(tables)[:COUNT_TABLES], {}
    try:
        with conn.transaction():
            conn.execute("SET LOCAL lock_timeout = '1s'")
            for at in range(0, len(names), COUNT_CHUNK):
                chunk = names[at:at + COUNT_CHUNK]
                query = " UNION ALL ".join(
                    f"SELECT %s, (SELECT count(*) FROM (SELECT FROM {tables[name]} "
                    f"LIMIT {COUNT_LIMIT}) s)" for name in chunk)
                found.update((name, int(n)) for name, n in conn.execute(query, chunk))
    except psycopg.Error:
        return {}
    return found
