"""The schema model + counts -> what `db mock` will insert, in which order, and every
reason it cannot, found before anything is inserted.

Order: tables in foreign-key order (parents first). A cycle is broken at a nullable
foreign key (its rows get NULL, then an UPDATE once every table is filled); a cycle of
NOT NULL foreign keys that are all deferrable is loaded with those constraints deferred
(the keys it needs are made before the rows); any other cycle is an error naming its
tables. Partitions are filled through their partitioned table."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from nself.errors import UsageError
from nself.mock import checks
from nself.mock import columns as C
from nself.mock import values as V
from nself.schema.model import Constraint, Schema, Table


@dataclass
class ForeignKey:
    constraint: Constraint
    parent: str                     # schema.table
    columns: list[str]
    ref_columns: list[str]
    nullable: bool                  # every column nullable: NULL is allowed
    late: bool = False              # a nullable cycle edge: NULL first, UPDATE at the end
    deferred: bool = False          # a deferrable cycle edge inside a deferred group
    unique: bool = False            # its columns are (part of) a unique key: enumerate
    unique_with_existing: bool = False  # exactly a unique key: skip keys already used


@dataclass
class TablePlan:
    table: Table
    count: int
    specs: dict[str, V.Spec] = field(default_factory=dict)   # columns mock writes itself
    left: list[str] = field(default_factory=list)          # columns left to the database
    reserved: list[str] = field(default_factory=list)      # serial/identity made by nextval
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    enumerate_sets: list[list[str]] = field(default_factory=list)   # unique sets by radix
    pairs: list[tuple[str, str, bool]] = field(default_factory=list)
    unique_ints: list[str] = field(default_factory=list)   # start after the current max
    key_columns: list[str] = field(default_factory=list)   # how --clear finds the rows

    @property
    def qualified(self) -> str:
        return self.table.qualified

    @property
    def written(self) -> list[str]:
        """The columns COPY writes, in table order."""
        fk_columns = {c for fk in self.foreign_keys for c in fk.columns}
        return [c.name for c in self.table.columns
                if c.name in self.specs or c.name in fk_columns or c.name in self.reserved]


@dataclass
class Plan:
    tables: list[TablePlan]                     # in insertion order
    deferred: list[str] = field(default_factory=list)   # constraint names to defer
    unsolved: list[str] = field(default_factory=list)   # "table: CHECK ..." not solved
    notices: list[str] = field(default_factory=list)
    unfilled_parents: set[str] = field(default_factory=set)

    @property
    def total(self) -> int:
        return sum(t.count for t in self.tables)


def parse_rows(text: str | None) -> dict[str, int]:
    """`users=100,posts=500` -> {"users": 100, "posts": 500}; UsageError when malformed."""
    counts: dict[str, int] = {}
    if not text:
        return counts
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, number = part.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--rows takes TABLE=COUNT pairs (users=100,posts=500), not "
                             f"{part!r}.")
        counts[name.strip()] = count_value(number.strip(), name.strip())
    return counts


def count_value(text: str, name: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"The row count for {name} must be a whole number, not {text!r}."
                         ) from None
    if value < 0:
        raise UsageError(f"The row count for {name} must be 0 or more, not {value}.")
    return value


def fillable(schema: Schema) -> list[Table]:
    """Tables mock fills: every user table but partitions (filled through their parent)."""
    return [t for t in schema.tables if t.partition_of is None]


def lookup(schema: Schema, name: str) -> Table:
    """The fillable table `name` (bare or schema-qualified) names; UsageError otherwise."""
    tables = fillable(schema)
    plain = name.strip().strip('"')
    found = [t for t in tables if t.qualified == plain] or \
        [t for t in tables if t.name == plain and t.schema == "public"] or \
        [t for t in tables if t.name == plain]
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise UsageError(f"{name!r} names several tables ({', '.join(t.qualified for t in found)}"
                         "): write schema.table.")
    partition = next((t for t in schema.tables if t.partition_of and plain in (
        t.name, t.qualified)), None)
    if partition is not None:
        raise UsageError(f"{name} is a partition of {partition.partition_of}: give the count "
                         f"to {partition.partition_of.split('.', 1)[1]}.")
    known = ", ".join(t.name if t.schema == "public" else t.qualified for t in tables)
    raise UsageError(f"Unknown table {name!r}. Tables: {known or 'none'}. Nothing was inserted.")


def build(schema: Schema, counts: dict[str, int], default: int, skip: list[str],
          seed: int, keep_defaults: bool = False) -> Plan:
    """The plan for filling `schema`; UsageError for a name or cycle that cannot be filled.
    `keep_defaults` leaves every column with a default to it, unless it is part of a
    unique key or a foreign key points at it (then mock makes it, to know or count it)."""
    wanted: dict[str, int] = {}
    skipped = {lookup(schema, name).qualified for name in skip}
    for name, count in counts.items():
        table = lookup(schema, name)
        if table.qualified in skipped:
            raise UsageError(f"{name} is both counted and skipped.")
        wanted[table.qualified] = count
    plans: dict[str, TablePlan] = {}
    for table in fillable(schema):
        if table.qualified in skipped:
            continue
        count = wanted.get(table.qualified, default)
        if count > 0:
            plans[table.qualified] = TablePlan(table, count)
    plan = Plan([])
    _foreign_keys(schema, plans, plan)
    order = _order(plans, plan)
    for tp in order:
        _columns(schema, tp, plan, seed, order, keep_defaults)
    plan.tables = order
    return plan


def _foreign_keys(schema: Schema, plans: dict[str, TablePlan], plan: Plan) -> None:
    for tp in plans.values():
        table = tp.table
        for con in table.foreign_keys:
            cols = [table.column(c) for c in con.columns]
            fk = ForeignKey(con, con.ref_qualified, list(con.columns), list(con.ref_columns),
                            nullable=any(c.nullable for c in cols if c is not None))
            tp.foreign_keys.append(fk)
            if fk.parent not in plans:
                plan.unfilled_parents.add(fk.parent)


def _order(plans: dict[str, TablePlan], plan: Plan) -> list[TablePlan]:
    """Parents before children; cycles broken as the module docstring says."""
    edges: dict[str, list[ForeignKey]] = {name: [] for name in plans}
    for name, tp in plans.items():
        for fk in tp.foreign_keys:
            if fk.parent in plans:
                edges[name].append(fk)
    for component in _components(plans, edges):
        inside = set(component)
        cyclic = [fk for name in component for fk in edges[name] if fk.parent in inside]
        if len(component) == 1 and not cyclic:
            continue
        for fk in cyclic:
            if fk.nullable:
                fk.late = True
        rest = {name: [fk for fk in edges[name] if fk.parent in inside and not fk.late]
                for name in component}
        if _components_cyclic(rest):
            stuck = [fk for fk in cyclic if not fk.late]
            hard = [fk for fk in stuck if not fk.constraint.deferrable]
            if hard:
                names = sorted(inside)
                links = ", ".join(f"{_short(_owner(plans, fk))}.{fk.constraint.name} -> "
                                  f"{_short(fk.parent)}" for fk in hard)
                raise UsageError(
                    f"Cannot fill {', '.join(_short(n) for n in names)}: their NOT NULL foreign "
                    f"keys form a cycle that is not deferrable ({links}). Make one of them "
                    f"DEFERRABLE or nullable, or leave the tables out with --skip "
                    f"{','.join(_short(n) for n in names)}. Nothing was inserted.")
            for fk in stuck:
                fk.deferred = True
                plan.deferred.append(_quoted_constraint(plans, fk))
    # Kahn's algorithm over the edges that must be satisfied at insert time.
    blocking = {name: {fk.parent for fk in edges[name] if not fk.late and not fk.deferred
                       and fk.parent != name}
                for name in plans}
    done: list[str] = []
    ready = sorted(n for n, deps in blocking.items() if not deps)
    remaining = {n: set(d) for n, d in blocking.items() if d}
    while ready:
        name = ready.pop(0)
        done.append(name)
        freed = []
        for other, deps in list(remaining.items()):
            deps.discard(name)
            if not deps:
                freed.append(other)
                del remaining[other]
        ready = sorted(ready + freed)
    return [plans[n] for n in done]


def _owner(plans: dict[str, TablePlan], fk: ForeignKey) -> str:
    return next(name for name, tp in plans.items() if fk in tp.foreign_keys)


def _quoted_constraint(plans, fk: ForeignKey) -> str:
    schema, _, _ = _owner(plans, fk).partition(".")
    return f'"{schema}"."{fk.constraint.name}"'


def _short(qualified: str) -> str:
    return qualified[7:] if qualified.startswith("public.") else qualified


def _components(plans, edges) -> list[list[str]]:
    """Strongly connected components (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v):
        work = [(v, iter(sorted({fk.parent for fk in edges[v] if fk.parent in plans})))]
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        while work:
            node, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted({fk.parent for fk in edges[w]
                                                 if fk.parent in plans}))))
                    advanced = True
                    break
                if w in on_stack:
                    low[node] = min(low[node], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                out.append(sorted(comp))

    for v in sorted(plans):
        if v not in index:
            visit(v)
    return out


def _components_cyclic(edges: dict[str, list[ForeignKey]]) -> bool:
    inside = set(edges)
    graph = {n: [fk for fk in fks if fk.parent in inside] for n, fks in edges.items()}
    for comp in _components(inside, graph):
        if len(comp) > 1 or any(fk.parent == comp[0] for fk in graph[comp[0]]):
            return True
    return False


def _exclusion_columns(table: Table, definition: str) -> list[str] | None:
    """The columns of an exclusion constraint of `=` and `&&` items, the `&&` ones first
    (counter-made ranges never overlap, which satisfies it); None for any other."""
    body = re.search(r"\((.*)\)", definition, re.S)
    if body is None or " WHERE " in definition.upper():
        return None
    overlaps, equals = [], []
    for item in body.group(1).split(","):
        m = re.fullmatch(r'\s*("[^"]+"|\w+)\s+WITH\s+(&&|=)\s*', item)
        if m is None or table.column(m.group(1).strip('"')) is None:
            return None
        (overlaps if m.group(2) == "&&" else equals).append(m.group(1).strip('"'))
    return overlaps + equals if overlaps else None


def _unique_sets(table: Table) -> list[list[str]]:
    names = {c.name for c in table.columns}
    sets = [list(c.columns) for c in table.constraints if c.kind in ("p", "u") and c.columns]
    sets += [cols for c in table.constraints if c.kind == "x"
             for cols in [_exclusion_columns(table, c.definition)] if cols]
    for index in table.indexes:
        if not index.unique:
            continue
        cols = []
        for key in index.columns:
            plain = key.strip('"')
            if plain in names:
                cols.append(plain)
            else:  # an expression: every column it mentions
                cols += [w for w in re.findall(r'"([^"]+)"|(\w+)', key) for w in w if w in names]
        if cols:
            sets.append(list(dict.fromkeys(cols)))
    return sets


def _columns(schema: Schema, tp: TablePlan, plan: Plan, seed: int,
             every: list[TablePlan], keep_defaults: bool = False) -> None:
    table = tp.table
    solution = checks.Solution()
    for con in table.constraints:
        if con.kind == "c":
            try:
                solution.update(checks.solve(con.definition))
            except checks.Unsolved:
                plan.unsolved.append(f"{_short(table.qualified)}: {con.name} {con.definition}")
        elif con.kind == "x" and _exclusion_columns(table, con.definition) is None:
            plan.unsolved.append(f"{_short(table.qualified)}: {con.name} {con.definition}")
    _partition_bounds(schema, table, solution, plan)
    tp.pairs = solution.pairs
    fk_columns = {c for fk in tp.foreign_keys for c in fk.columns}
    deferred_refs = {c for other in every for fk in other.foreign_keys
                     if fk.deferred and fk.parent == tp.qualified for c in fk.ref_columns}
    specs: dict[str, V.Spec] = {}
    keyed = {c for cols in _unique_sets(table) for c in cols} | {
        c for other in every for fk in other.foreign_keys if fk.parent == tp.qualified
        for c in fk.ref_columns}
    for column in table.columns:
        if column.name in fk_columns:
            continue
        if keep_defaults and column.default is not None and column.name not in keyed:
            tp.left.append(column.name)
            continue
        if column.generated:
            tp.left.append(column.name)
            continue
        sequence = column.identity or (column.default or "").startswith("nextval(")
        if sequence:
            if column.name in deferred_refs:
                tp.reserved.append(column.name)
            else:
                tp.left.append(column.name)
            continue
        specs[column.name] = C.resolve(schema, table.qualified, column,
                                       solution.columns.get(column.name), plan.unsolved)
    # Unique keys: one column per key gets a counter; keys made only of foreign keys and
    # small choices (enums, booleans) are enumerated instead.
    for cols in _unique_sets(table):
        if any(c in tp.left or c in tp.reserved for c in cols):
            continue
        if any(specs.get(c) is not None and specs[c].unique for c in cols):
            continue
        candidate = next((c for c in cols if c in specs and _countable(specs[c])), None)
        if candidate is not None:
            specs[candidate].unique = True
            continue
        tp.enumerate_sets.append(cols)
        for fk in tp.foreign_keys:
            if set(fk.columns) & set(cols):
                fk.unique = True
                if set(fk.columns) == set(cols):
                    fk.unique_with_existing = True
    for name, spec in specs.items():
        if spec.unique and spec.base in V.INT_BOUNDS and not spec.array:
            tp.unique_ints.append(name)
    tp.specs = specs
    key = table.primary_key
    if key is not None:
        tp.key_columns = list(key.columns)
    else:
        for cols in _unique_sets(table):
            if all((table.column(c) is not None and not table.column(c).nullable)
                   for c in cols):
                tp.key_columns = cols
                break


def _countable(spec: V.Spec) -> bool:
    """Whether a counter can make this column unique (not an enum, boolean or IN list)."""
    r = spec.restriction
    if spec.enum_values is not None or spec.base == "boolean":
        return False
    return not (r is not None and r.choices is not None)


def _partition_bounds(schema: Schema, table: Table, solution: checks.Solution,
                      plan: Plan) -> None:
    """Values of a partitioned table's key that some partition accepts: the list values of
    LIST partitions, the overall span of (contiguous) RANGE partitions; none with a DEFAULT
    partition or HASH."""
    if not table.partition_by:
        return
    m = re.fullmatch(r"(RANGE|LIST|HASH)\s*\((.*)\)", table.partition_by.strip(), re.I)
    parts = [t for t in schema.tables if t.partition_of == table.qualified]
    if not m or m.group(1).upper() == "HASH" or not parts:
        return
    key = m.group(2).strip().strip('"')
    if "," in key or table.column(key) is None:
        plan.notices.append(f"{_short(table.qualified)}: partition key {m.group(2)} is not "
                            "one column; rows may find no partition")
        return
    if any((p.partition_bound or "").strip().upper() == "DEFAULT" for p in parts):
        return
    if m.group(1).upper() == "LIST":
        values: list = []
        for p in parts:
            inner = re.search(r"IN\s*\((.*)\)\s*$", p.partition_bound or "", re.S)
            if inner:
                try:
                    sol = checks.solve(f"CHECK (({key}) = ANY (ARRAY[{inner.group(1)}]))")
                    values += sol.columns[key].choices or []
                except (checks.Unsolved, KeyError):
                    pass
        if values:
            solution.restrict(key, checks.Restriction(choices=values))
        return
    lows, highs = [], []
    for p in parts:
        bound = re.search(r"FROM\s*\((.*)\)\s*TO\s*\((.*)\)\s*$", p.partition_bound or "", re.S)
        if not bound:
            continue
        for text, into in ((bound.group(1), lows), (bound.group(2), highs)):
            if text.strip().upper() in ("MINVALUE", "MAXVALUE"):
                into.append(None)
                continue
            try:
                into.append(checks.solve(f"CHECK (({key}) = {text})").columns[key].choices[0])
            except (checks.Unsolved, KeyError, IndexError, TypeError):
                into.append(None)
    restriction = checks.Restriction()
    if lows and None not in lows:
        restriction.low = min(lows, key=_sortable)
    if highs and None not in highs:
        restriction.high, restriction.high_strict = max(highs, key=_sortable), True
    solution.restrict(key, restriction)


def _sortable(value):
    moment = V.bound_moment(value) if isinstance(value, str) else None
    return (0, moment.timestamp()) if moment is not None else (1, float(V.bound_number(
        value, float) or 0))
