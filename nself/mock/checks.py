"""CHECK constraints (a table's, or a domain's) -> what they allow each column.

PostgreSQL prints every check back in one normal form (pg_get_constraintdef); pglast,
PostgreSQL's own parser, reads it. Solved: `col IN (...)` (printed `= ANY (ARRAY[...])`),
`col = const`, `col <> const`, comparisons with constants (`>`, `>=`, `<`, `<=`, BETWEEN),
jsonb keys (`col ? 'k'`, `?&`, `?|`),
`length(col)` / `char_length(col)` against constants, `col IS NOT NULL`, comparisons of two
columns (`starts_at < ends_at`), AND of those, and OR (one branch is enough: a branch of
IS NOT NULL tests is preferred, else the first that solves). Anything else is unsolved:
the caller names it before inserting anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from pglast import ast

from nself import sql

_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "=", "<>": "<>", "!=": "<>"}
_LENGTH_FUNCTIONS = {"length", "char_length", "character_length", "octet_length"}


class Unsolved(Exception):
    """A check (or a part of one) this module cannot turn into column restrictions."""


@dataclass
class Restriction:
    """What the checks allow one column (None: no limit). Bounds are Python values: int,
    Decimal or str (the literal's text, for dates and times)."""
    choices: list | None = None
    excluded: list = field(default_factory=list)
    low: object = None
    low_strict: bool = False
    high: object = None
    high_strict: bool = False
    min_length: int | None = None
    max_length: int | None = None
    not_null: bool = False
    json_keys: list = field(default_factory=list)     # jsonb `?` / `?&`: keys it must hold

    def merge(self, other: Restriction) -> None:
        if other.choices is not None:
            self.choices = (other.choices if self.choices is None
                            else [c for c in self.choices if c in other.choices])
        self.excluded += other.excluded
        if other.low is not None and (self.low is None or _gt(other.low, self.low)):
            self.low, self.low_strict = other.low, other.low_strict
        if other.high is not None and (self.high is None or _gt(self.high, other.high)):
            self.high, self.high_strict = other.high, other.high_strict
        if other.min_length is not None:
            self.min_length = max(self.min_length or 0, other.min_length)
        if other.max_length is not None:
            self.max_length = min(self.max_length if self.max_length is not None
                                  else other.max_length, other.max_length)
        self.not_null = self.not_null or other.not_null
        self.json_keys += [k for k in other.json_keys if k not in self.json_keys]


def _gt(a, b) -> bool:
    try:
        return a > b
    except TypeError:
        return str(a) > str(b)


@dataclass
class Solution:
    """Restrictions per column, and ordered pairs (low column, high column, strict)."""
    columns: dict[str, Restriction] = field(default_factory=dict)
    pairs: list[tuple[str, str, bool]] = field(default_factory=list)

    def restrict(self, column: str, restriction: Restriction) -> None:
        self.columns.setdefault(column, Restriction()).merge(restriction)

    def update(self, other: Solution) -> None:
        for column, restriction in other.columns.items():
            self.restrict(column, restriction)
        self.pairs += other.pairs


def expression(definition: str) -> ast.Node:
    """The boolean expression of a `CHECK (...)` definition (NOT VALID / NO INHERIT dropped)."""
    text = definition.strip()
    if text.upper().startswith("CONSTRAINT "):
        text = text.split(None, 2)[2]
    if text.upper().startswith("CHECK"):
        text = text[5:]
    for tail in (" NOT VALID", " NO INHERIT"):
        while text.upper().endswith(tail):
            text = text[: -len(tail)]
    try:
        return sql.expression(text)
    except sql.SqlSyntaxError as exc:
        raise Unsolved(str(exc)) from None


def solve(definition: str, value_column: str | None = None) -> Solution:
    """The restrictions `definition` (a CHECK) puts on columns; a domain's check names its
    value `VALUE`, reported as `value_column`. Raises Unsolved."""
    return _solve(expression(definition), value_column)


def _solve(node, value_column) -> Solution:
    solution = Solution()
    if isinstance(node, ast.BoolExpr):
        op = node.boolop.name if hasattr(node.boolop, "name") else str(node.boolop)
        if op.startswith("AND"):
            for arg in node.args:
                solution.update(_solve(arg, value_column))
            return solution
        if op.startswith("OR"):
            branches = []
            for arg in node.args:
                try:
                    branches.append((_only_not_null(arg), _solve(arg, value_column)))
                except Unsolved:
                    continue
            if not branches:
                raise Unsolved("no branch of OR solved")
            branches.sort(key=lambda b: not b[0])
            return branches[0][1]
        raise Unsolved("NOT")
    if isinstance(node, ast.NullTest):
        column = _column(node.arg, value_column)
        kind = node.nulltesttype.name if hasattr(node.nulltesttype, "name") else str(
            node.nulltesttype)
        if column is None or not kind.startswith("IS_NOT"):
            raise Unsolved("IS NULL")
        solution.restrict(column, Restriction(not_null=True))
        return solution
    if isinstance(node, ast.A_Expr):
        return _comparison(node, value_column)
    raise Unsolved(type(node).__name__)


def _only_not_null(node) -> bool:
    if isinstance(node, ast.NullTest):
        return True
    if isinstance(node, ast.BoolExpr):
        return all(_only_not_null(a) for a in node.args)
    return False


def _comparison(node: ast.A_Expr, value_column) -> Solution:
    solution = Solution()
    kind = node.kind.name if hasattr(node.kind, "name") else str(node.kind)
    op = node.name[-1].sval if node.name else ""
    if kind in ("AEXPR_OP_ANY", "AEXPR_IN"):
        column = _column(node.lexpr, value_column)
        items = node.rexpr
        while isinstance(items, ast.TypeCast):
            items = items.arg
        elements = items.elements if isinstance(items, ast.A_ArrayExpr) else items
        if column is None or op not in ("=",) or not isinstance(elements, (list, tuple)):
            raise Unsolved("ANY")
        solution.restrict(column, Restriction(choices=[_constant(e) for e in elements]))
        return solution
    if kind == "AEXPR_BETWEEN":
        column = _column(node.lexpr, value_column)
        low, high = (_constant(x) for x in node.rexpr)
        if column is None:
            raise Unsolved("BETWEEN")
        solution.restrict(column, Restriction(low=low, high=high))
        return solution
    if kind == "AEXPR_OP" and op in ("?", "?&", "?|"):
        column = _column(node.lexpr, value_column)
        if column is None:
            raise Unsolved(f"operator {op}")
        if op == "?":
            keys = [_constant(node.rexpr)]
        else:
            items = node.rexpr
            while isinstance(items, ast.TypeCast):
                items = items.arg
            if isinstance(items, ast.A_ArrayExpr):
                keys = [_constant(e) for e in items.elements]
            elif isinstance(items, ast.A_Const) and isinstance(items.val, ast.String):
                keys = [k.strip().strip('"') for k in items.val.sval.strip("{}").split(",")]
            else:
                raise Unsolved(f"operator {op}")
            keys = keys[:1] if op == "?|" else keys
        solution.restrict(column, Restriction(json_keys=[str(k) for k in keys],
                                              not_null=True))
        return solution
    if kind != "AEXPR_OP" or op not in _FLIP:
        raise Unsolved(f"operator {op}")
    left, right = node.lexpr, node.rexpr
    for a, b, o in ((left, right, op), (right, left, _FLIP[op])):
        column = _column(a, value_column)
        if column is not None:
            other = _column(b, value_column)
            if other is not None:
                if o in ("<", "<="):
                    solution.pairs.append((column, other, o == "<"))
                elif o in (">", ">="):
                    solution.pairs.append((other, column, o == ">"))
                else:
                    raise Unsolved("column = column")
                return solution
            solution.restrict(column, _bound(o, _constant(b)))
            return solution
        length_of = _length_column(a, value_column)
        if length_of is not None:
            bound = _constant(b)
            if not isinstance(bound, int):
                raise Unsolved("length against a non-integer")
            solution.restrict(length_of, _length_bound(o, bound))
            return solution
    raise Unsolved("comparison")


def _bound(op: str, value) -> Restriction:
    if op == "=":
        return Restriction(choices=[value])
    if op == "<>":
        return Restriction(excluded=[value])
    if op in (">", ">="):
        return Restriction(low=value, low_strict=op == ">")
    return Restriction(high=value, high_strict=op == "<")


def _length_bound(op: str, n: int) -> Restriction:
    if op == "=":
        return Restriction(min_length=n, max_length=n)
    if op == ">":
        return Restriction(min_length=n + 1)
    if op == ">=":
        return Restriction(min_length=n)
    if op == "<":
        return Restriction(max_length=n - 1)
    if op == "<=":
        return Restriction(max_length=n)
    return Restriction(min_length=1 if n == 0 else None)


def _column(node, value_column) -> str | None:
    """The column `node` names (through casts), or None."""
    while isinstance(node, ast.TypeCast):
        node = node.arg
    if isinstance(node, ast.ColumnRef) and len(node.fields) == 1 and isinstance(
            node.fields[0], ast.String):
        name = node.fields[0].sval
        if value_column is not None:
            return value_column if name == "value" else None
        return name
    return None


def _length_column(node, value_column) -> str | None:
    if isinstance(node, ast.FuncCall) and node.funcname[-1].sval in _LENGTH_FUNCTIONS and \
            node.args and len(node.args) == 1:
        return _column(node.args[0], value_column)
    return None


def _constant(node):
    """A literal's Python value (int, Decimal, str, bool); raises Unsolved otherwise."""
    negative = False
    while True:
        if isinstance(node, ast.TypeCast):
            node = node.arg
        elif isinstance(node, ast.A_Expr) and node.name and node.name[-1].sval == "-" \
                and node.lexpr is None:
            negative, node = not negative, node.rexpr
        else:
            break
    if not isinstance(node, ast.A_Const) or node.isnull:
        raise Unsolved("not a constant")
    val = node.val
    if isinstance(val, ast.Integer):
        return -val.ival if negative else val.ival
    if isinstance(val, ast.Float):
        number = Decimal(val.fval)
        return -number if negative else number
    if isinstance(val, ast.String):
        text = val.sval
        if negative:
            return "-" + text
        return text
    if isinstance(val, ast.Boolean):
        return val.boolval
    raise Unsolved("constant")
