"""Rules on how a schema is declared: types that age badly, names PostgreSQL cuts, a
migration that cannot be undone or run twice. None takes a lock the others do not; each
makes the next migration harder or the data wrong later (ST: schema style, after squawk's
rules of the same names).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from nself import sql
from nself.lint.data import alter_cmds, found, key, table_name
from nself.lint.rule import COLUMN_DECLARATIONS, Finding, Stmt, rule

# PostgreSQL keeps the first NAMEDATALEN - 1 bytes of a name and drops the rest silently
NAME_BYTES = 63
SERIALS = {"serial": "integer", "serial4": "integer", "bigserial": "bigint",
           "serial8": "bigint", "smallserial": "smallint", "serial2": "smallint"}
INTEGER = {"int4", "serial", "serial4"}
SMALLINT = {"int2", "smallserial", "serial2"}
# Statements that create or rename objects (a name they give is cut to 63 bytes)
GIVES_NAMES = {"CreateStmt", "AlterTableStmt", "IndexStmt", "RenameStmt", "CreateSchemaStmt",
               "CreateSeqStmt", "ViewStmt", "CreateTableAsStmt", "CreateTrigStmt"}
# Statements that change no schema (a migration of only these needs no DOWN to be undone)
NOT_SCHEMA = {"SelectStmt", "InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt",
              "CopyStmt", "VariableSetStmt", "VariableShowStmt", "TransactionStmt",
              "LockStmt", "VacuumStmt", "ExplainStmt", "CallStmt", "DoStmt", "TruncateStmt",
              "CheckPointStmt", "NotifyStmt", "ClusterStmt", "ReindexStmt",
              "RefreshMatViewStmt", "DiscardStmt"}


def _column_type(column) -> str:
    names = [n.sval for n in column.typeName.names] if column.typeName is not None else [""]
    return names[-1]


# the last statement's columns: the eight type rules ask for them one after the other
_last_columns: list = [None, ()]


def columns(stmt: Stmt) -> tuple[tuple[str, object, bool], ...]:
    """(table, ColumnDef, whether it is a key: primary key, identity, serial, foreign key
    or named `id`/`..._id`) for every column the statement declares or gives a type."""
    if _last_columns[0] is not stmt:
        _last_columns[:] = [stmt, tuple(_columns(stmt))]
    return _last_columns[1]


def _columns(stmt: Stmt) -> Iterator[tuple[str, object, bool]]:
    node = stmt.node
    if stmt.kind == "CreateStmt":
        table = table_name(node.relation)
        keys = set()
        for e in node.tableElts or ():
            if type(e).__name__ == "Constraint" and e.contype.name in ("CONSTR_PRIMARY",
                                                                       "CONSTR_FOREIGN"):
                keys.update(k.sval for k in (e.keys or ()) + (e.fk_attrs or ()))
        for e in node.tableElts or ():
            if type(e).__name__ == "ColumnDef":
                yield table, e, e.colname in keys or _is_key(e, e.colname)
        return
    for cmd in alter_cmds(stmt, "AT_AddColumn", "AT_AlterColumnType"):
        name = cmd.def_.colname or cmd.name
        yield table_name(node.relation), cmd.def_, _is_key(cmd.def_, name)


def _is_key(column, name: str) -> bool:
    if name == "id" or name.endswith("_id") or _column_type(column) in SERIALS:
        return True
    return any(c.contype.name in ("CONSTR_PRIMARY", "CONSTR_IDENTITY", "CONSTR_FOREIGN")
               for c in column.constraints or ())


def _named(column, table: str) -> str:
    return f"{table}.{column.colname}" if column.colname else table


@dataclass(frozen=True)
class TypeRule:
    """A column type to avoid: which columns (`wanted(type, ColumnDef, is_key)`), and why."""

    id: str
    name: str
    summary: str
    wanted: Callable[[str, object, bool], bool]
    message: str
    why: str
    safe: str

    def check(self, stmt: Stmt, ctx) -> Iterator[Finding]:
        for table, column, is_key in columns(stmt):
            if self.wanted(_column_type(column), column, is_key):
                shown = sql.type_name(column.typeName)
                yield found(self.id, stmt, ctx,
                            f"{_named(column, table)} {shown}: {self.message}",
                            self.why, self.safe)


TYPE_RULES = [
    TypeRule("ST101", "prefer-bigint-over-int", "an integer key column",
             lambda t, c, key: key and t in INTEGER, "a 32-bit key",
             "ids run out at 2,147,483,647; changing the type then rewrites the table and "
             "every table referring to it, under an ACCESS EXCLUSIVE lock",
             "bigint (bigint GENERATED ALWAYS AS IDENTITY for an id)"),
    TypeRule("ST102", "prefer-bigint-over-smallint", "a smallint key column",
             lambda t, c, key: key and t in SMALLINT, "a 16-bit key",
             "ids run out at 32,767; changing the type then rewrites the table and its "
             "referrers under an ACCESS EXCLUSIVE lock",
             "bigint (or integer for a small lookup table you are sure of)"),
    TypeRule("ST103", "prefer-identity", "serial, bigserial or smallserial column",
             lambda t, c, key: t in SERIALS, "a serial column",
             "its sequence is a separate object with its own owner and grants: copying the "
             "table, granting inserts or dumping a part of the schema misses it",
             "bigint GENERATED ALWAYS AS IDENTITY (BY DEFAULT to allow explicit ids)"),
    TypeRule("ST104", "prefer-text-field", "varchar(n) column",
             lambda t, c, key: t == "varchar" and bool(c.typeName.typmods),
             "a length limit in the type",
             "raising the limit later is a schema change per column, and lowering it "
             "rewrites the table under an ACCESS EXCLUSIVE lock",
             "text, with CHECK (length(col) <= n) when a limit matters (a check can be "
             "changed NOT VALID, then validated)"),
    TypeRule("ST105", "prefer-timestamptz", "timestamp without time zone column",
             lambda t, c, key: t == "timestamp", "a time without its zone",
             "the value means a different instant for each session's TimeZone; comparing "
             "with now() shifts by the offset",
             "timestamptz (timestamp with time zone): it stores an instant"),
    TypeRule("ST106", "ban-char-field", "char(n) column",
             lambda t, c, key: t == "bpchar", "a blank-padded type",
             "values are padded with spaces to n, comparisons ignore the padding and the "
             "length limit is as hard to change as varchar(n)'s; it is no faster",
             "text (with a CHECK on the length when one matters)"),
    TypeRule("ST107", "prefer-jsonb", "json column",
             lambda t, c, key: t == "json", "JSON kept as text",
             "every read parses it again; it has no equality operator (no DISTINCT, GROUP "
             "BY or unique index) and no GIN index",
             "jsonb (keep json only to preserve key order and duplicates)"),
    TypeRule("ST108", "ban-money-type", "money column",
             lambda t, c, key: t == "money", "the money type",
             "its input, output and rounding follow the server's lc_monetary setting: a "
             "restore on a server set otherwise changes amounts",
             "numeric(p, s), with the currency in its own column"),
]
for _type_rule in TYPE_RULES:
    rule(_type_rule.id, _type_rule.name, "warning", _type_rule.summary,
         kinds=COLUMN_DECLARATIONS)(_type_rule.check)


def _may_hold_long_name(text: str) -> bool:
    """Whether `text` has a run of characters long enough to be a name over 63 bytes: a
    cheap look before scanning its tokens (a character takes up to 4 bytes)."""
    run = 64 if text.isascii() else 16
    return re.search(rf'[^\s,();.]{{{run},}}|"(?:[^"]|""){{{run},}}"', text) is not None


@rule("ST109", "identifier-too-long", "error", "a name longer than 63 bytes",
      kinds=tuple(GIVES_NAMES))
def name_too_long(stmt: Stmt, ctx) -> Iterator[Finding]:
    if stmt.kind not in GIVES_NAMES or not _may_hold_long_name(stmt.text):
        return
    for name in dict.fromkeys(sql.identifiers(stmt.text)):
        size = len(name.encode())
        if size > NAME_BYTES:
            cut = name.encode()[:NAME_BYTES].decode(errors="ignore")
            yield found("ST109", stmt, ctx, f"{name!r} is {size} bytes",
                        f"PostgreSQL silently keeps the first 63 bytes ({cut!r}): two "
                        "names that differ only after them are the same name, and code "
                        "using the full name finds nothing",
                        "a name of at most 63 bytes")


_ROBUST = {"CreateStmt": "CREATE TABLE IF NOT EXISTS", "IndexStmt": "CREATE INDEX IF NOT "
           "EXISTS", "CreateSeqStmt": "CREATE SEQUENCE IF NOT EXISTS",
           "CreateSchemaStmt": "CREATE SCHEMA IF NOT EXISTS"}
_ROBUST_CMDS = {"AT_AddColumn": "ADD COLUMN IF NOT EXISTS", "AT_DropColumn":
                "DROP COLUMN IF EXISTS", "AT_DropConstraint": "DROP CONSTRAINT IF EXISTS",
                "AT_AddIndex": "", "AT_AddConstraint": ""}


def _not_rerunnable(stmt: Stmt) -> str:
    """The robust form of a statement that fails when run a second time ("" if none)."""
    node = stmt.node
    if stmt.kind in _ROBUST and not node.if_not_exists:
        return _ROBUST[stmt.kind]
    if stmt.kind == "DropStmt" and not node.missing_ok:
        return "DROP ... IF EXISTS"
    for cmd in alter_cmds(stmt, *_ROBUST_CMDS):
        if _ROBUST_CMDS[cmd.subtype.name] and not cmd.missing_ok:
            return _ROBUST_CMDS[cmd.subtype.name]
    return ""


@rule("ST110", "prefer-robust-stmts", "warning",
      "a statement of a no-transaction migration that fails when run again",
      kinds=(*_ROBUST, "DropStmt", "AlterTableStmt"))
def robust(stmt: Stmt, ctx) -> Iterator[Finding]:
    if ctx.transactional or stmt.node is None or stmt.inside:
        return
    robust_form = _not_rerunnable(stmt)
    if robust_form:
        yield found("ST110", stmt, ctx, f"not {robust_form}",
                    "a migration without a transaction that stops half-way keeps what it "
                    "did; running it again then fails on this statement",
                    f"{robust_form} (an index left INVALID by a failed CONCURRENTLY build "
                    "must be dropped first)")


@rule("ST111", "require-enum-value-ordering", "warning",
      "ALTER TYPE ... ADD VALUE without BEFORE or AFTER",
      kinds=("AlterEnumStmt",))
def enum_ordering(stmt: Stmt, ctx) -> Iterator[Finding]:
    node = stmt.node
    if stmt.kind == "AlterEnumStmt" and node.newVal is not None and node.oldVal is None \
            and node.newValNeighbor is None:
        name = ".".join(p.sval for p in node.typeName)
        yield found("ST111", stmt, ctx, f"ADD VALUE {node.newVal!r} to {name} at the end",
                    "an enum sorts by its labels' order: ORDER BY and < on the column "
                    "follow where the value goes, and nothing says that the end was "
                    "meant",
                    f"ADD VALUE {node.newVal!r} BEFORE|AFTER 'existing' to state its place")


@rule("ST112", "ban-create-domain-with-constraint", "warning", "CREATE DOMAIN ... CHECK",
      kinds=("CreateDomainStmt",))
def domain_with_check(stmt: Stmt, ctx) -> Iterator[Finding]:
    node = stmt.node
    if stmt.kind == "CreateDomainStmt" and any(c.contype.name == "CONSTR_CHECK"
                                               for c in node.constraints or ()):
        name = ".".join(p.sval for p in node.domainname)
        yield found("ST112", stmt, ctx, f"CREATE DOMAIN {name} with a CHECK",
                    "changing the check later validates every column of the domain in "
                    "every table at once, under locks, with no NOT VALID step per table",
                    "a CHECK constraint on each table's column (addable NOT VALID, then "
                    "validated)")


@rule("ST113", "ban-alter-domain-with-add-constraint", "warning",
      "ALTER DOMAIN ... ADD CONSTRAINT",
      kinds=("AlterDomainStmt",))
def domain_add_check(stmt: Stmt, ctx) -> Iterator[Finding]:
    node = stmt.node
    if stmt.kind == "AlterDomainStmt" and node.subtype == "C":
        not_valid = getattr(node.def_, "skip_validation", False)
        name = ".".join(p.sval for p in node.typeName)
        yield found("ST113", stmt, ctx, f"ALTER DOMAIN {name} ADD CONSTRAINT"
                    + (" NOT VALID" if not_valid else ""),
                    "it checks every row of every column of the domain, in all tables, "
                    "holding their locks until it is done",
                    "CHECK constraints on the tables' columns, each added NOT VALID and "
                    "validated on its own")


def _changes_schema(stmt) -> bool:
    node = stmt.node
    if node is None or type(node).__name__ in NOT_SCHEMA:
        return False
    # VALIDATE CONSTRAINT only checks rows: there is nothing to undo
    return type(node).__name__ != "AlterTableStmt" or not node.cmds or any(
        c.subtype.name != "AT_ValidateConstraint" for c in node.cmds)


@rule("ST114", "require-down", "warning", "an UP that changes the schema without a DOWN")
def require_down(stmt: Stmt, ctx) -> Iterator[Finding]:
    if ctx.has_down is not False or stmt.inside or \
            not _changes_schema(stmt) or any(_changes_schema(s) for s in ctx.before):
        return
    yield found("ST114", stmt, ctx, "the UP changes the schema and the file has no DOWN",
                "`nself db migrate down` cannot undo it: going back means a backup or "
                "SQL written under pressure",
                "add `-- DOWN` with the statements that undo the UP (a DROP for each "
                "CREATE, in reverse order)")


def _declares_key(node) -> bool:
    for e in node.tableElts or ():
        if type(e).__name__ == "TableLikeClause":
            return True  # LIKE ... INCLUDING may bring one: not told by the tree
        cons = e.constraints or () if type(e).__name__ == "ColumnDef" else (e,)
        if any(type(c).__name__ == "Constraint" and c.contype.name == "CONSTR_PRIMARY"
               for c in cons):
            return True
    return False


@rule("ST115", "require-primary-key", "warning", "CREATE TABLE without a primary key",
      kinds=("CreateStmt",))
def require_primary_key(stmt: Stmt, ctx) -> Iterator[Finding]:
    node = stmt.node
    if stmt.kind != "CreateStmt" or node.relation.relpersistence != "p" or \
            node.partbound is not None or node.inhRelations or _declares_key(node):
        return
    table = table_name(node.relation)
    if ctx.whole.indexed.get(key(table)):
        return  # a primary key (or a unique index) added later in the migration
    yield found("ST115", stmt, ctx, f"CREATE TABLE {table} without a primary key",
                "rows cannot be told apart: logical replication refuses UPDATE and DELETE "
                "on it (no replica identity), and duplicates cannot be removed one by one",
                "a primary key (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, or "
                "the natural key's columns)")
