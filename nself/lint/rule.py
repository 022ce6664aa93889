"""What a lint rule is, what it finds, and the statements it looks at.

A rule is a function registered with `@rule(id, name, level, summary)`: it gets one `Stmt`
(a parsed statement of a migration, or one found inside a DO block or function body) and
the `Context` of the migration, and yields `Finding`s. Rules read parse trees only: a
keyword in a comment or a string literal is never a finding.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from nself import sql

if TYPE_CHECKING:
    from nself.lint.context import Context

LEVELS = ("error", "warning")

# What each table lock blocks, from PostgreSQL's "Explicit Locking" chapter (table-level
# lock modes and their conflicts): only the ordinary application statements are named
# here (SELECT reads; INSERT/UPDATE/DELETE write). SHARE UPDATE EXCLUSIVE and weaker
# modes block neither (they conflict with other DDL, VACUUM, CREATE INDEX).
BLOCKS = {
    "ACCESS EXCLUSIVE": "reads and writes",  # conflicts with every mode, ACCESS SHARE too
    "EXCLUSIVE": "writes",                   # allows only ACCESS SHARE (plain SELECT)
    "SHARE ROW EXCLUSIVE": "writes",         # conflicts with ROW EXCLUSIVE
    "SHARE": "writes",                       # conflicts with ROW EXCLUSIVE
    "SHARE UPDATE EXCLUSIVE": None,
    "ROW EXCLUSIVE": None,
    "ROW SHARE": None,
    "ACCESS SHARE": None,
}


@dataclass(frozen=True)
class Finding:
    """One unsafe statement: which rule, where, the lock it takes and what that blocks,
    what it does, why that matters, the safe form, and the table's size when known."""

    rule: str
    level: str  # 'error' | 'warning'
    file: str
    line: int
    lock: str | None
    blocks: str | None  # 'reads and writes' | 'writes' | None
    message: str
    why: str
    safe: str
    table: str | None = None  # 'users: 1.2M rows (last ANALYZE), 480 MB'
    allowed: str | None = None  # the reason of the file's `-- nself:allow RULE reason`

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Stmt:
    """A statement a rule looks at: the parsed `Statement`, and where it was found
    (`inside`: "" at the top of the migration, "DO block" or "function body")."""

    statement: sql.Statement
    line: int
    inside: str = ""
    index: int = 0  # its position among the migration's top-level statements

    # cached: every rule reads both of every statement
    @cached_property
    def node(self):
        return self.statement.node

    @cached_property
    def kind(self) -> str:
        return type(self.node).__name__

    @property
    def text(self) -> str:
        return self.statement.text

    @property
    def lock(self) -> str:
        return lock_of(self.node) if self.node is not None else ""


def lock_of(node) -> str:
    """`nself.sql.lock_of`, and the weaker lock an ALTER TABLE that only adds foreign keys
    takes (SHARE ROW EXCLUSIVE, on the table and the one it references)."""
    if type(node).__name__ == "AlterTableStmt" and node.cmds and all(
            c.subtype.name == "AT_AddConstraint" and c.def_.contype.name == "CONSTR_FOREIGN"
            for c in node.cmds):
        return "SHARE ROW EXCLUSIVE"
    return sql.lock_of(node)


@dataclass(frozen=True)
class Rule:
    id: str      # 'PG101'
    name: str    # squawk's name where it has one ('require-concurrent-index-creation')
    level: str   # default level: 'error' | 'warning'
    summary: str
    check: Callable[[Stmt, Context], Iterable[Finding]] = field(compare=False, repr=False)
    # the parse node kinds the rule can find something in (empty: every statement)
    kinds: frozenset[str] = frozenset()


REGISTRY: dict[str, Rule] = {}

# Statement kinds by the rules that look at them: ALTER TABLE, CREATE TABLE, DROP
TABLE_CHANGES = ("AlterTableStmt",)
COLUMN_DECLARATIONS = ("CreateStmt", "AlterTableStmt")


def rule(id: str, name: str, level: str, summary: str, kinds: tuple[str, ...] = ()):
    """Register the decorated `check(stmt, ctx)` as rule `id`; `kinds`: the only statement
    kinds it finds anything in (lint then does not call it for the others: 60 rules times
    every statement is most of a large folder's time)."""
    if level not in LEVELS:
        raise ValueError(f"level {level!r}")

    def register(check):
        if id in REGISTRY:
            raise ValueError(f"rule {id} registered twice")
        REGISTRY[id] = Rule(id, name, level, summary, check, frozenset(kinds))
        return check
    return register


def for_kind(rules: list[Rule], kind: str) -> list[Rule]:
    """The rules of `rules` that look at statements of `kind`."""
    return [r for r in rules if not r.kinds or kind in r.kinds]


def finding(rule_id: str, stmt: Stmt, ctx: Context, message: str, why: str, safe: str,
            table: str | None = None, lock: str | None = None,
            scans: bool = False) -> Finding:
    """A Finding of rule `rule_id` at `stmt`, with the statement's lock (or `lock`) and
    what it blocks, and `table`'s size when the context knows it. `scans`: the harm is
    the time the statement scans or rewrites `table`, so on a live table the context
    knows to be small (`Context.is_small`) it is a warning: the lock is brief."""
    taken = (lock if lock is not None else stmt.lock) or None
    where = f" (in a {stmt.inside})" if stmt.inside else ""
    level = REGISTRY[rule_id].level
    if scans and table and ctx.is_small(table):
        level, where = "warning", where + " (a small table: the lock is brief)"
    return Finding(rule_id, level, ctx.path, stmt.line, taken,
                   BLOCKS.get(taken or ""), message + where, why, safe,
                   ctx.size_text(table) if table else None)


def statements(top: list[sql.Statement]) -> Iterator[Stmt]:
    """`top`'s statements, each followed by those of its DO block or function body
    (PL/pgSQL statements and constant EXECUTEs; a SQL function's body), with the line of
    the enclosing statement plus the inner statement's offset when it is found there."""
    for index, st in enumerate(top):
        yield Stmt(st, st.line, "", index)
        for inside, query in _bodies(st):
            try:
                inner = sql.body_statements(query)
            except sql.SqlSyntaxError:
                continue
            for each in inner:
                at = st.text.find(each.text.strip())
                line = st.line + (sql.line_of(st.text, at) - 1 if at >= 0 else 0)
                yield Stmt(each, line, inside, index)


def _bodies(st: sql.Statement) -> list[tuple[str, str]]:
    node = st.node
    kind = type(node).__name__
    if kind == "DoStmt":
        tree = sql._do_tree(node)
        return [("DO block", q) for q in sql._plpgsql_queries(tree)] if tree else []
    if kind == "CreateFunctionStmt":
        options = {o.defname: o.arg for o in node.options or ()}
        language = getattr(options.get("language"), "sval", "sql").lower()
        body = options.get("as")
        if language == "plpgsql":
            tree = sql.routine_tree(st.text)
            return [("function body", q) for q in sql._plpgsql_queries(tree)] if tree else []
        if language == "sql" and body:
            return [("function body", part.sval) for part in body[:1]
                    if getattr(part, "sval", None)]
    return []
