"""Two schema models -> the ordered changes that turn the first into the second.

`diff(old, new, renames)` returns a Plan: Change objects in dependency order (UP);
`diff(new, old, inverted renames)` gives DOWN. The order, in phases:

  enum values added (ALTER TYPE ... ADD VALUE: a group of their own, outside a transaction)
  renames from hints, sequences released from columns about to go
  drops of what is built on other things: definitions (triggers, policies, views,
    functions), foreign keys, indexes, constraints, columns, tables
  creates, forward: schemas, extensions, enums, domains, sequences, functions that
    need no table, tables (without foreign keys), columns, constraints (with the
    unique indexes on plain columns, which foreign keys may refer to), sequence
    owners, foreign keys (ALTER TABLE ... ADD CONSTRAINT, so cycles need nothing
    special), indexes, comments, views/triggers/policies
  drops of what others were built on, last (after the columns using them changed):
    replaced enum types, domains, sequences, enums, extensions, schemas

Composite types and functions go where what they use (pg_depend) puts them
(nself.schema.order): with the domains when they use no table or view, with the tables
when they use a table, with the views otherwise; and in those phases each object comes
after what it uses (UP) or before it (DOWN's drops).

Renames are never guessed: without a hint a vanished table or column is a drop,
written after a `-- WARNING: drops data` line. What the differ does not handle is
listed by name in `Plan.unsupported`."""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from dataclasses import dataclass, field, replace
from itertools import count

from nself.errors import UsageError
from nself.schema import ddl, order
from nself.schema.ddl import ident, literal, qualified
from nself.schema.model import Column, Constraint, Definition, Index, Schema, Table
from nself.schema.render import key_index

(ENUM_VALUES, RENAMES, RELEASE_SEQUENCES, REVOKES, DROP_DEFINITIONS, DROP_FOREIGN_KEYS,
 DROP_INDEXES, DROP_CONSTRAINTS, DROP_COLUMNS, DROP_TABLES, SCHEMAS, EXTENSIONS, ENUMS,
 SEQUENCES, DOMAINS, TABLES, COLUMNS, CONSTRAINTS, SEQUENCE_OWNERS, FOREIGN_KEYS,
 INDEXES, COMMENTS, DEFINITIONS, PRIVILEGES, DROP_REPLACED_TYPES, DROP_DOMAINS, DROP_SEQUENCES,
 DROP_ENUMS, DROP_EXTENSIONS, DROP_SCHEMAS) = range(30)
# Composite types and functions go where what they use puts them (nself.schema.order): with
# the domains (DOMAINS, DROP_DOMAINS), the tables (TABLES, DROP_TABLES) or the views
# (DEFINITIONS, DROP_DEFINITIONS); in those phases each object follows what it uses.
_CREATE_PHASE = {order.EARLY: DOMAINS, order.WITH_TABLES: TABLES, order.LATE: DEFINITIONS}
_DROP_PHASE = {order.EARLY: DROP_DOMAINS, order.WITH_TABLES: DROP_TABLES,
               order.LATE: DROP_DEFINITIONS}

DROPS_DATA = "drops data"
WARNING = "-- WARNING: drops data"
# a NOT NULL column added without a value for the rows already there (a DOWN re-adding a
# dropped column, typically): said in the SQL and by schema import / schema diff
NEEDS_A_VALUE = "fails if the table has rows (NOT NULL without a default)"

_DEFINITION_RANK = {"type": 0, "function": 0, "view": 1, "materialized view": 1, "trigger": 2,
                    "policy": 3, "statistics": 2}
_DEFINITION_WORD = {"type": "Type", "function": "Function", "view": "View",
                    "materialized view": "Materialized view", "trigger": "Trigger",
                    "policy": "Policy", "statistics": "Statistics"}
_CONSTRAINT_WORD = {"p": "Primary key", "u": "Unique constraint", "c": "Check constraint",
                    "x": "Exclusion constraint", "f": "Foreign key"}


@dataclass(frozen=True)
class Change:
    """One step of a plan: SQL text for one object."""

    kind: str                       # "create table", "drop column", "alter column", ...
    name: str                       # the object, qualified ("public.users.email")
    sql: str                        # one or more statements, each ending with ";"
    hazard: str | None = None       # "drops data", "the cast may fail", ...
    needs_autocommit: bool = False  # must run outside a transaction block
    phase: int = 0


@dataclass(frozen=True)
class Difference:
    """One line of the summary. sign '+': only on the left (old) side; '-': only on the
    right (new) side; '~': on both, different."""

    sign: str
    what: str                       # "Table", "Column", "Index", ...
    name: str                       # as shown: "users.last_login", "app.orders"
    detail: str = ""                # for '~': "different type", ...

    def line(self, left: str, right: str) -> str:
        if self.sign == "+":
            why = f"missing in {right}"
        elif self.sign == "-":
            why = f"missing in {left}"
        else:
            why = self.detail
        return f"{self.sign} {self.what}: {self.name} ({why})"


@dataclass(frozen=True)
class Group:
    """Consecutive changes that run together: in one transaction, or (autocommit) each
    on its own outside any transaction block."""

    autocommit: bool
    changes: tuple[Change, ...]

    def sql(self) -> str:
        return "\n".join(c.sql for c in self.changes) + "\n"


@dataclass
class Plan:
    changes: list[Change] = field(default_factory=list)
    differences: list[Difference] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.changes

    def up_sql(self) -> str:
        """Every change's SQL in order ("" when there is nothing to do)."""
        return "".join(c.sql + "\n" for c in self.changes)

    def groups(self) -> list[Group]:
        """The changes cut where needs_autocommit switches: a migration per group, the
        autocommit ones written as no-transaction migrations."""
        groups: list[Group] = []
        run: list[Change] = []
        for change in self.changes:
            if run and run[-1].needs_autocommit != change.needs_autocommit:
                groups.append(Group(run[-1].needs_autocommit, tuple(run)))
                run = []
            run.append(change)
        if run:
            groups.append(Group(run[-1].needs_autocommit, tuple(run)))
        return groups

    def hazards(self) -> list[Change]:
        return [c for c in self.changes if c.hazard]

    def summary(self, left: str = "old", right: str = "new") -> list[str]:
        """The differences in the guides' words, e.g. '+ Table: comments (missing in staging)'
        for a table only LEFT has, '- Index: idx (missing in local)' for one only RIGHT has."""
        return [d.line(left, right) for d in self.differences]


def invert_renames(renames: dict[str, str] | None) -> dict[str, str]:
    """The hints for DOWN: table renames swapped; a column hint names the table as DOWN's old
    side calls it (after UP's table rename)."""
    if not renames:
        return {}
    tables = {k: v for k, v in renames.items() if k.count(".") == 1}
    inverted = {v: k for k, v in tables.items()}
    for key, target in renames.items():
        if key.count(".") == 1:
            continue
        table, _, column = key.rpartition(".")
        new_column = target.rpartition(".")[2]
        inverted[f"{tables.get(table, table)}.{new_column}"] = f"{table}.{column}"
    return inverted


def diff(old: Schema, new: Schema, renames: dict[str, str] | None = None) -> Plan:
    """The plan that turns OLD into NEW. RENAMES maps 'schema.table' -> 'schema.newtable'
    and 'schema.table.column' -> 'schema.table.newcolumn' (tables named as in OLD); without
    a hint nothing is taken for a rename."""
    return _Differ(old.normalised(), new.normalised(), renames or {}).plan()


def display(schema: str, name: str) -> str:
    return name if schema == "public" else f"{schema}.{name}"


def type_key(schema: str, name: str) -> str:
    """How a column's type names a user type (format_type: schema only outside public)."""
    return ident(name) if schema == "public" else qualified(schema, name)


def rename_identifier(text: str | None, old: str, new: str) -> str | None:
    """TEXT (an expression or definition as the catalog prints it) with the identifier OLD
    written as NEW; string literals are left alone."""
    if not text or old == new:
        return text
    pattern = (re.escape(ident(old)) if ident(old) != old
               else r'(?<![\w$"])' + re.escape(old) + r'(?![\w$"])')
    pieces = re.split(r"('(?:[^']|'')*')", text)
    return "".join(p if i % 2 else re.sub(pattern, ident(new).replace("\\", r"\\"), p)
                   for i, p in enumerate(pieces))


def _same_index(a: Index, b: Index) -> bool:
    if a.unique != b.unique:
        return False
    if a.definition and b.definition:
        return ddl.index_tail(a) == ddl.index_tail(b)
    return (a.method, a.columns, a.where, a.include) == (b.method, b.columns, b.where, b.include)


def _same_constraint(a: Constraint, b: Constraint) -> bool:
    if a.kind != b.kind:
        return False
    if a.kind in ("c", "x"):
        return a.definition == b.definition
    if a.kind == "f":
        return ((a.columns, a.ref_schema, a.ref_table, a.ref_columns, a.on_delete, a.on_update,
                 a.deferrable, a.initially_deferred)
                == (b.columns, b.ref_schema, b.ref_table, b.ref_columns, b.on_delete, b.on_update,
                    b.deferrable, b.initially_deferred))
    same = a.columns == b.columns
    if a.definition and b.definition:
        same = same and a.definition == b.definition
    return same


def _key_kept(fk: Constraint, before: Table, after: Table) -> bool:
    """Whether the key (or unique index) of BEFORE that FK references is in AFTER as it was."""
    def keys(table: Table) -> set:
        return ({(c.name, tuple(c.columns)) for c in table.constraints if c.kind in "pu"}
                | {(i.name, tuple(i.columns)) for i in table.indexes
                   if i.unique and i.where is None})
    used = {k for k in keys(before) if sorted(k[1]) == sorted(fk.ref_columns)}
    return bool(used) and used <= keys(after)


def _ref_table(constraint: Constraint) -> str:
    return f"{constraint.ref_schema or 'public'}.{constraint.ref_table}"


class _Differ:
    def __init__(self, old: Schema, new: Schema, renames: dict[str, str]):
        self.old, self.new = old, new
        self.renames = renames
        self.changes: list[tuple[int, int, Change]] = []
        self.differences: list[Difference] = []
        self.unsupported: list[str] = sorted(set(old.unsupported) | set(new.unsupported))
        self.sequence = count()
        self.type_changed: set[tuple[str, str]] = set()      # (table, column)
        self.columns_dropped: set[tuple[str, str]] = set()
        self.tables_touched: set[str] = set()   # a view over them must be rebuilt
        self.keys_dropped: set[tuple[str, frozenset[str]]] = set()
        self.replaced_enums: dict[str, str] = {}               # type text -> kind of USING
        self.created: set[tuple[str, str, str]] = set()        # ("index", table, name), ...
        self.remade_definitions: set[tuple[str, str, str]] = set()
        self.renamed: dict[tuple[str, str, str], str] = {}     # the same -> old name
        # functions dropped and made again that a table or domain uses (release_users)
        self.released_functions: set[str] = set()
        self.quiet: set[tuple[str, str]] = set()   # (what, name) made again unchanged

    # -- recording -------------------------------------------------------------------------
    def emit(self, phase: int, kind: str, name: str, sql: str, hazard: str | None = None,
             autocommit: bool = False) -> None:
        if hazard == DROPS_DATA:
            sql = f"{WARNING} ({name})\n{sql}"
        self.changes.append((phase, next(self.sequence),
                             Change(kind, name, sql, hazard, autocommit, phase)))

    def note(self, sign: str, what: str, name: str, detail: str = "") -> None:
        if (what, name) not in self.quiet:
            self.differences.append(Difference(sign, what, name, detail))

    def plan(self) -> Plan:
        self.apply_renames()
        self.release_users()
        self.diff_schemas()
        self.diff_extensions()
        self.diff_enums()
        self.diff_domains()
        self.diff_tables()
        self.diff_sequences()
        self.diff_definitions()
        self.diff_comments()
        self.diff_privileges()
        ordered = [c for _, _, c in sorted(self.changes, key=lambda t: (t[0], t[1]))]
        return Plan(_bodies_unchecked(self.by_dependencies(ordered)), self.differences,
                    self.unsupported)

    def by_dependencies(self, changes: list[Change]) -> list[Change]:
        """Within the phases where domains, tables, types and functions meet, each object
        after what it uses (new side), or dropped before what it uses (old side)."""
        uses_new, uses_old = order.needs(self.new), order.needs(self.old)
        result: list[Change] = []
        at = 0
        while at < len(changes):
            phase = changes[at].phase
            end = at
            while end < len(changes) and changes[end].phase == phase:
                end += 1
            run = changes[at:end]
            if phase in (DOMAINS, TABLES):
                run = order.ordered(run, lambda c: c.name, uses_new)
            elif phase in (DROP_DOMAINS, DROP_TABLES):
                run = order.ordered(run, lambda c: c.name, uses_old, reverse=True)
            result += run
            at = end
        return result

    # -- functions made again --------------------------------------------------------------
    def dropped_functions(self) -> set[str]:
        """The functions (qualified) dropped, and created again when NEW has them: gone
        (another signature), their parameters or return type changed (CREATE OR REPLACE
        cannot), or a function they use is dropped."""
        old = {d.qualified: d for d in self.old.definitions if d.kind == "function"}
        new = {d.qualified: d for d in self.new.definitions if d.kind == "function"}
        dropped = {k for k, d in old.items() if k not in new or (
            not _same_definition(d, new[k]) and not _replaceable(d, new[k]))}
        grown = True
        while grown:
            more = {k for k, d in old.items() if k not in dropped and dropped & set(d.depends_on)}
            dropped |= more
            grown = bool(more)
        return dropped

    def release_users(self) -> None:
        """PostgreSQL refuses to drop a function an index, a column default, a generated
        column or a check (of a table or a domain) uses: around a function dropped (and
        made again, or replaced by another signature), they are dropped before it (in the
        drop phases of indexes, constraints and columns; the function with the tables) and
        made again after it (OLD is rewritten without them, so the diff of tables and
        domains creates them), in UP and in DOWN alike."""
        remade = self.dropped_functions()
        if not remade:
            return
        kept = {t.qualified: t for t in self.new.tables}
        tables = [self.release_table(t, kept[t.qualified], remade)
                  if t.qualified in kept else t for t in self.old.tables]
        domains = [self.release_domain(d, remade) for d in self.old.domains]
        self.old = replace(self.old, tables=tables, domains=domains)

    def release_table(self, table: Table, after: Table, remade: set[str]) -> Table:
        functions = [f for f in remade if not table.uses or f in table.uses]
        if not functions:
            return table
        label, name = table.qualified, ddl.table_name(table)
        shown = display(table.schema, table.name)
        calls = functools.partial(_calls_any, functions)
        generated = {c.name for c in table.columns if calls(c.generated)}
        columns = []
        for c in table.columns:
            if c.name in generated:
                # no way back to generated for a plain column before 17: dropped, added again
                self.emit(DROP_COLUMNS, "drop column", f"{label}.{c.name}",
                          f"ALTER TABLE {name} DROP COLUMN {ident(c.name)};")
                self.type_changed.add((label, c.name))
                self.tables_touched.add(label)
                self.release(c, after.column(c.name), "Column", f"{shown}.{c.name}",
                             "different generated expression")
                continue
            if calls(c.default) and not c.identity:
                self.emit(DROP_COLUMNS, "alter column", f"{label}.{c.name}",
                          f"ALTER TABLE {name} ALTER COLUMN {ident(c.name)} DROP DEFAULT;")
                self.release(c, after.column(c.name), "Column", f"{shown}.{c.name}",
                             "different default")
                c = replace(c, default=None)
            columns.append(c)
        on_generated = functools.partial(_calls_any, [ident(g) for g in generated],
                                         call=False)
        constraints = []
        for c in table.constraints:
            if c.kind == "f" or not (calls(c.definition) or on_generated(c.definition)
                                     or generated & set(c.columns)):
                constraints.append(c)
                continue
            if c.kind in ("p", "u"):
                self.keys_dropped.add((label, frozenset(c.columns)))
            self.emit(DROP_CONSTRAINTS, "drop constraint", f"{label}.{c.name}",
                      f"ALTER TABLE {name} DROP CONSTRAINT {ident(c.name)};")
            self.release(c, next((x for x in after.constraints if x.name == c.name), None),
                         _CONSTRAINT_WORD[c.kind], f"{shown}.{c.name}")
        indexes = []
        for i in table.indexes:
            text = i.definition or " ".join([*i.columns, i.where or ""])
            if not (calls(text) or on_generated(text) or generated & set(i.columns)):
                indexes.append(i)
                continue
            self.emit(DROP_INDEXES, "drop index", f"{table.schema}.{i.name}",
                      ddl.drop_index(i, table))
            self.release(i, next((x for x in after.indexes if x.name == i.name), None),
                         "Index", display(table.schema, i.name))
        if len(columns) + len(constraints) + len(indexes) < len(table.columns) + len(
                table.constraints) + len(table.indexes) or columns != table.columns:
            self.released_functions.update(functions)
        return replace(table, columns=columns, constraints=constraints, indexes=indexes)

    def release_domain(self, domain, remade: set[str]):
        functions = [f for f in remade if not domain.uses or f in domain.uses]
        calls = functools.partial(_calls_any, functions)
        checks = [c for c in domain.checks if not calls(c)]
        default = None if calls(domain.default) else domain.default
        if checks == domain.checks and default == domain.default:
            return domain
        name, label = qualified(domain.schema, domain.name), domain.qualified
        for check in domain.checks:
            if check not in checks:
                self.emit(DROP_CONSTRAINTS, "alter domain", label,
                          f"ALTER DOMAIN {name} DROP CONSTRAINT {ident(_named_check(check)[0])};")
        if default != domain.default:
            self.emit(DROP_CONSTRAINTS, "alter domain", label,
                      f"ALTER DOMAIN {name} DROP DEFAULT;")
        after = next((d for d in self.new.domains if d.qualified == label), None)
        self.release(domain, after, "Domain", display(domain.schema, domain.name))
        self.released_functions.update(functions)
        return replace(domain, checks=checks, default=default)

    def release(self, before, after, what: str, name: str,
                detail: str = "different definition") -> None:
        """BEFORE, dropped around a function, comes back as AFTER (None: it does not): the
        diff of tables and domains, which sees it missing, says nothing of it; this says
        what changed (DETAIL), if anything."""
        if after is None:
            return
        if before != after and what != "Domain":   # diff_domains says what differs
            self.note("~", what, name, detail)
        if before == after or what != "Domain":
            self.quiet.add((what, name))

    def alter_composite(self, before: Definition, after: Definition) -> bool:
        """ALTER TYPE ... DROP / ADD / ALTER ATTRIBUTE for a composite type whose attributes
        change (a column of that type keeps its values); False when that cannot say it and
        no column uses the type (an attribute added elsewhere than at the end: drop and
        create). What a column of the type blocks (an attribute's type, their order) is
        said, as not handled."""
        old, new = _attributes(before), _attributes(after)
        if old is None or new is None:
            return False
        names = dict(new)
        kept = [n for n, _ in old if n in names]
        added = [n for n, _ in new if n not in dict(old)]
        used = [f"{t.qualified}.{c.name}" for t in self.old.tables for c in t.columns
                if c.type.removesuffix("[]") == type_key(before.schema, before.name)]
        blocked = []
        if kept + added != [n for n, _ in new]:
            if not used:
                return False
            blocked.append("the order of its attributes changes")
        steps = [f"DROP ATTRIBUTE {n}" for n, _ in old if n not in names]
        steps += [f"ADD ATTRIBUTE {n} {names[n]}" for n in added]
        changed = [n for n, t in old if n in names and names[n] != t]
        if changed and used:
            blocked.append(f"attribute {', '.join(changed)} changes type")
            changed = []
        if blocked:
            self.unsupported.append(
                f"type {before.qualified} ({' and '.join(blocked)} while column "
                f"{', '.join(used)} uses it: write it by hand)")
        steps += [f"ALTER ATTRIBUTE {n} TYPE {names[n]}" for n in changed]
        if steps:
            self.emit(DOMAINS, "alter type", before.qualified,
                      f"ALTER TYPE {qualified(before.schema, before.name)} "
                      + ",\n    ".join(steps) + ";",
                      hazard=DROPS_DATA if any(x.startswith("DROP") for x in steps) else None)
        return True

    # -- renames ---------------------------------------------------------------------------
    def apply_renames(self) -> None:
        """Rewrite OLD as if the hinted renames had run, and emit them first."""
        old_tables = {t.qualified: t for t in self.old.tables}
        new_tables = {t.qualified: t for t in self.new.tables}
        table_map: dict[str, str] = {}
        column_hints: list[tuple[str, str, str]] = []
        for source, target in self.renames.items():
            if source in old_tables:
                if target in old_tables or target not in new_tables:
                    raise UsageError(f"rename hint {source} -> {target}: {target} must be a table "
                                     "of the new schema only")
                table_map[source] = target
                continue
            table, _, column = source.rpartition(".")
            new_table, _, new_column = target.rpartition(".")
            if table not in old_tables or column not in {c.name for c in old_tables[table].columns}:
                raise UsageError(f"rename hint {source} -> {target}: no table or column {source} "
                                 "in the old schema")
            if new_table not in (table, table_map.get(table, table)):
                raise UsageError(f"rename hint {source} -> {target}: a column keeps its table "
                                 f"(write {table}.{new_column})")
            column_hints.append((table, column, new_column))
        if not table_map and not column_hints:
            return
        tables = dict(old_tables)
        for source, target in table_map.items():
            table = tables.pop(source)
            schema, name = ddl.split_qualified(target)
            tables[target] = replace(table, schema=schema, name=name)
            if schema != table.schema:
                self.emit(RENAMES, "move table", source,
                          f"ALTER TABLE {ddl.table_name(table)} SET SCHEMA {ident(schema)};")
            if name != table.name:
                self.emit(RENAMES, "rename table", source,
                          f"ALTER TABLE {qualified(schema, table.name)} RENAME TO {ident(name)};")
            self.note("~", "Table", display(table.schema, table.name),
                      f"renamed to {display(schema, name)}")
        for table_name, column, new_column in column_hints:
            key = table_map.get(table_name, table_name)
            table = tables[key]
            if new_column not in {c.name for c in new_tables[key].columns}:
                raise UsageError(f"rename hint {table_name}.{column} -> {key}.{new_column}: "
                                 f"no column {new_column} in the new {key}")
            self.emit(RENAMES, "rename column", f"{key}.{column}",
                      f"ALTER TABLE {ddl.table_name(table)} RENAME COLUMN {ident(column)} "
                      f"TO {ident(new_column)};")
            self.note("~", "Column", f"{display(table.schema, table.name)}.{column}",
                      f"renamed to {new_column}")
            tables[key] = _rename_column(table, column, new_column)
            for other_key, other in tables.items():
                if any(c.kind == "f" and _ref_table(c) == key and column in c.ref_columns
                       for c in other.constraints):
                    tables[other_key] = replace(other, constraints=[
                        replace(c, ref_columns=[new_column if r == column else r
                                                for r in c.ref_columns])
                        if c.kind == "f" and _ref_table(c) == key else c
                        for c in tables[other_key].constraints])
        if table_map:
            for key, table in tables.items():
                if any(c.kind == "f" and _ref_table(c) in table_map for c in table.constraints):
                    tables[key] = replace(table, constraints=[
                        _retarget(c, table_map) if c.kind == "f" else c for c in table.constraints])
            self.old = replace(self.old, tables=list(tables.values()), definitions=[
                replace(d, depends_on=[table_map.get(x, x) for x in d.depends_on])
                for d in self.old.definitions])
            self.old = replace(self.old, sequences=[
                replace(s, owned_by=_retarget_owner(s.owned_by, table_map))
                for s in self.old.sequences])
        else:
            self.old = replace(self.old, tables=list(tables.values()))
        columns = {(table_map.get(t, t), c): n for t, c, n in column_hints}
        self.old = replace(self.old, sequences=[
            replace(s, owned_by=_rename_owner(s.owned_by, columns)) for s in self.old.sequences])
        self.rename_owned_sequences(table_map, columns)

    def rename_owned_sequences(self, table_map: dict[str, str],
                               columns: dict[tuple[str, str], str]) -> None:
        """A renamed table's (or column's) serial sequence follows it when the new schema
        names it after the new name (`labels_id_seq` for `labels.id`): renamed, never dropped
        and made again (that would restart the counter behind existing rows)."""
        renamed_tables = set(table_map.values())
        renamed_columns = set(columns)
        new_sequences = {q.qualified: q for q in self.new.sequences}
        old_names = {q.qualified for q in self.old.sequences}
        renames: dict[str, tuple[str, str]] = {}
        for q in self.old.sequences:
            if not q.owned_by:
                continue
            table, _, column = q.owned_by.rpartition(".")
            if table not in renamed_tables and (table, column) not in renamed_columns:
                continue
            target = next((n for n in new_sequences.values() if n.owned_by == q.owned_by
                           and n.qualified not in old_names and n.schema == q.schema), None)
            if target is None or q.qualified in new_sequences:
                continue
            self.emit(RENAMES, "rename sequence", q.qualified,
                      f"ALTER SEQUENCE {qualified(q.schema, q.name)} RENAME TO "
                      f"{ident(target.name)};")
            renames[q.qualified] = (q.schema, target.name)
        if not renames:
            return

        def regclass(schema: str, name: str) -> str:
            return ident(name) if schema == "public" else qualified(schema, name)

        texts = {f"nextval('{regclass(*ddl.split_qualified(old))}'::regclass)":
                 f"nextval('{regclass(*new)}'::regclass)" for old, new in renames.items()}
        self.old = replace(self.old, sequences=[
            replace(q, name=renames[q.qualified][1]) if q.qualified in renames else q
            for q in self.old.sequences], tables=[
            replace(t, columns=[replace(c, default=texts.get(c.default, c.default))
                                for c in t.columns]) for t in self.old.tables])

    # -- schemas, extensions, comments --------------------------------------------------
    def diff_schemas(self) -> None:
        self.diff_names("Schema", self.old.schemas, self.new.schemas, SCHEMAS, DROP_SCHEMAS)

    def diff_extensions(self) -> None:
        self.diff_names("Extension", self.old.extensions, self.new.extensions, EXTENSIONS,
                        DROP_EXTENSIONS)

    def diff_names(self, what: str, old: list[str], new: list[str], create_phase: int,
                   drop_phase: int) -> None:
        """Objects known by name alone (schemas, extensions): CREATE the new, DROP the gone."""
        word = what.lower()
        for name in sorted(set(new) - set(old)):
            self.emit(create_phase, f"create {word}", name,
                      f"CREATE {word.upper()} {ident(name)};")
            self.note("-", what, name)
        for name in sorted(set(old) - set(new)):
            self.emit(drop_phase, f"drop {word}", name, f"DROP {word.upper()} {ident(name)};")
            self.note("+", what, name)

    def diff_comments(self) -> None:
        words = {"schema": "SCHEMA", "extension": "EXTENSION"}
        old, new = self.old.comments, self.new.comments
        for key in sorted(set(old) | set(new)):
            if old.get(key) == new.get(key):
                continue
            kind, _, name = key.partition(":")
            if kind not in words:
                self.unsupported.append(f"comment {key}")
                continue
            self.emit(COMMENTS, "comment", key, ddl.comment(f"{words[kind]} {ident(name)}",
                                                             new.get(key)))
            self.note("~", words[kind].title(), name, "different comment")

    def diff_privileges(self) -> None:
        """Owners and grants (present only when both models were read with grants=True):
        grants only the old side has are revoked first; the new side's statements that the
        old lacks, or whose view was made anew, run after everything was created."""
        old, new = set(self.old.privileges), set(self.new.privileges)
        remade = {qualified(k[1], k[2]) for k in self.remade_definitions
                  if k[0] in ("view", "materialized view")}
        for statement in sorted(old - new):
            found = re.match(r"GRANT (.+) ON (.+) TO (.+?)( WITH GRANT OPTION)?;\Z", statement)
            if found:
                self.emit(REVOKES, "revoke", found.group(2),
                          f"REVOKE {found.group(1)} ON {found.group(2)} FROM {found.group(3)};")
                self.note("+", "Privilege", statement.rstrip(";"))
            elif not statement.startswith("ALTER "):  # an owner is set by the new side's line
                self.unsupported.append(f"privilege statement {statement}")
        for statement in sorted(new):
            target = re.search(r" ON (?:TABLE|SEQUENCE) (.+) TO |^ALTER (?:MATERIALIZED )?VIEW "
                               r"(.+) OWNER TO ", statement)
            again = target is not None and (target.group(1) or target.group(2)) in remade
            if statement not in old or again:
                self.emit(PRIVILEGES, "grant", statement, statement)
                if statement not in old:
                    self.note("-", "Privilege", statement.rstrip(";"))

    # -- types -----------------------------------------------------------------------------
    def diff_enums(self) -> None:
        old = {(e.schema, e.name): e for e in self.old.enums}
        new = {(e.schema, e.name): e for e in self.new.enums}
        for key, enum in new.items():
            name = qualified(*key)
            shown = display(*key)
            before = old.get(key)
            if before is None:
                self.emit(ENUMS, "create enum", f"{key[0]}.{key[1]}", ddl.create_enum(enum))
                if enum.comment:
                    self.emit(COMMENTS, "comment", f"{key[0]}.{key[1]}",
                              ddl.comment(f"TYPE {name}", enum.comment))
                self.note("-", "Enum", shown)
                continue
            if before.values != enum.values:
                kept = set(before.values)
                if [v for v in enum.values if v in kept] == before.values:
                    self.append_values(name, f"{key[0]}.{key[1]}", before.values, enum.values)
                    added = [v for v in enum.values if v not in kept]
                    self.note("~", "Enum", shown, "values added: " + ", ".join(added))
                else:
                    self.replace_enum(key, enum)
                    self.note("~", "Enum", shown, "values removed or reordered")
            if before.comment != enum.comment:
                self.emit(COMMENTS, "comment", f"{key[0]}.{key[1]}",
                          ddl.comment(f"TYPE {name}", enum.comment))
                self.note("~", "Enum", shown, "different comment")
        for key in [k for k in old if k not in new]:
            self.emit(DROP_ENUMS, "drop enum", f"{key[0]}.{key[1]}",
                      f"DROP TYPE {qualified(*key)};")
            self.note("+", "Enum", display(*key))

    def append_values(self, name: str, label: str, before: list[str], after: list[str]) -> None:
        """ALTER TYPE ... ADD VALUE for each new value, BEFORE the next old one when inserted.
        Servers before 12 refuse it in a transaction block, and none lets the same transaction
        use the new value: these changes form a group of their own."""
        kept = set(before)
        for i, value in enumerate(after):
            if value in kept:
                continue
            following = next((v for v in after[i + 1:] if v in kept), None)
            where = f" BEFORE {literal(following)}" if following is not None else ""
            self.emit(ENUM_VALUES, "add enum value", label,
                      f"ALTER TYPE {name} ADD VALUE {literal(value)}{where};", autocommit=True)

    def replace_enum(self, key: tuple[str, str], enum) -> None:
        """Values removed or reordered: rename the type away, create the new one, convert the
        columns through text (later, with the columns), drop the old type last."""
        schema, name = key
        old_name = name[:55] + "__old"
        self.emit(ENUMS, "replace enum", f"{schema}.{name}",
                  f"ALTER TYPE {qualified(schema, name)} RENAME TO {ident(old_name)};\n"
                  f"{ddl.create_enum(enum)}",
                  hazard="enum values removed or reordered: fails if rows hold a removed value")
        self.emit(DROP_REPLACED_TYPES, "drop enum", f"{schema}.{old_name}",
                  f"DROP TYPE {qualified(schema, old_name)};")
        self.replaced_enums[type_key(schema, name)] = "::text::"
        self.replaced_enums[type_key(schema, name) + "[]"] = "::text[]::"

    def diff_domains(self) -> None:
        old = {(d.schema, d.name): d for d in self.old.domains}
        new = {(d.schema, d.name): d for d in self.new.domains}
        for key, domain in new.items():
            name, label, shown = qualified(*key), f"{key[0]}.{key[1]}", display(*key)
            before = old.get(key)
            if before is None:
                self.emit(DOMAINS, "create domain", label, ddl.create_domain(domain))
                if domain.comment:
                    self.emit(COMMENTS, "comment", label, ddl.comment(f"DOMAIN {name}",
                                                                      domain.comment))
                self.note("-", "Domain", shown)
                continue
            if before.type != domain.type:
                self.unsupported.append(f"domain {label} (base type changed: write it by hand)")
                self.note("~", "Domain", shown, "different type")
            old_checks = dict(_named_check(c) for c in before.checks)
            new_checks = dict(_named_check(c) for c in domain.checks)
            for check, text in old_checks.items():
                if new_checks.get(check) != text:
                    self.emit(DOMAINS, "alter domain", label,
                              f"ALTER DOMAIN {name} DROP CONSTRAINT {ident(check)};")
            for check, text in new_checks.items():
                if old_checks.get(check) != text:
                    self.emit(DOMAINS, "alter domain", label,
                              f"ALTER DOMAIN {name} ADD {text};",
                              hazard="fails if a column holds a value it rejects")
            if old_checks != new_checks:
                self.note("~", "Domain", shown, "different checks")
            if before.default != domain.default:
                action = ("DROP DEFAULT" if domain.default is None
                          else f"SET DEFAULT {domain.default}")
                self.emit(DOMAINS, "alter domain", label, f"ALTER DOMAIN {name} {action};")
                self.note("~", "Domain", shown, "different default")
            if before.nullable != domain.nullable:
                action = "DROP NOT NULL" if domain.nullable else "SET NOT NULL"
                self.emit(DOMAINS, "alter domain", label, f"ALTER DOMAIN {name} {action};",
                          hazard=None if domain.nullable else "fails if a column holds NULL")
                self.note("~", "Domain", shown, "different nullability")
            if before.comment != domain.comment:
                self.emit(COMMENTS, "comment", label, ddl.comment(f"DOMAIN {name}", domain.comment))
                self.note("~", "Domain", shown, "different comment")
        for key in [k for k in old if k not in new]:
            self.emit(DROP_DOMAINS, "drop domain", f"{key[0]}.{key[1]}",
                      f"DROP DOMAIN {qualified(*key)};")
            self.note("+", "Domain", display(*key))

    def diff_sequences(self) -> None:
        old = {(s.schema, s.name): s for s in self.old.sequences}
        new = {(s.schema, s.name): s for s in self.new.sequences}
        dropped_tables = ({t.qualified for t in self.old.tables}
                          - {t.qualified for t in self.new.tables})
        for key, sequence in new.items():
            label, shown = f"{key[0]}.{key[1]}", display(*key)
            before = old.get(key)
            if before is None:
                self.emit(SEQUENCES, "create sequence", label, ddl.create_sequence(sequence))
                if sequence.owned_by:
                    self.emit(SEQUENCE_OWNERS, "alter sequence", label, ddl.owned_by(sequence))
                if sequence.comment:
                    self.emit(COMMENTS, "comment", label,
                              ddl.comment(f"SEQUENCE {qualified(*key)}", sequence.comment))
                self.note("-", "Sequence", shown)
                continue
            if before.comment != sequence.comment:
                self.emit(COMMENTS, "comment", label,
                          ddl.comment(f"SEQUENCE {qualified(*key)}", sequence.comment))
                self.note("~", "Sequence", shown, "different comment")
            options = ddl.sequence_options(sequence, before)
            if options:
                self.emit(SEQUENCES, "alter sequence", label,
                          f"ALTER SEQUENCE {qualified(*key)} {options};")
                self.note("~", "Sequence", shown, "different options")
            if before.owned_by != sequence.owned_by:
                # Released before columns are dropped: a sequence goes with its owner column.
                phase = RELEASE_SEQUENCES if sequence.owned_by is None else SEQUENCE_OWNERS
                self.emit(phase, "alter sequence", label, ddl.owned_by(sequence))
                self.note("~", "Sequence", shown, "different owner column")
        for key, sequence in old.items():
            if key in new:
                continue
            self.note("+", "Sequence", display(*key))
            owner = sequence.owned_by
            if owner:
                table, _, column = owner.rpartition(".")
                if table in dropped_tables or (table, column) in self.columns_dropped:
                    continue  # dropped with its owner column
            self.emit(DROP_SEQUENCES, "drop sequence", f"{key[0]}.{key[1]}",
                      f"DROP SEQUENCE {qualified(*key)};")

    # -- tables ----------------------------------------------------------------------------
    def diff_tables(self) -> None:
        old = {t.qualified: t for t in self.old.tables}
        new = {t.qualified: t for t in self.new.tables}
        # sorted() is stable: model order within a partition depth.
        for key in sorted((k for k in new if k not in old), key=lambda k: _depth(new, k)):
            self.create_table(new[key], new)
        for key in sorted((k for k in old if k not in new), key=lambda k: -_depth(old, k)):
            self.drop_table(old[key], old, new)
        for key in (k for k in new if k in old):
            self.alter_table(old[key], new[key], old, new)
        # Foreign keys last: they depend on unique keys and column types changed above.
        for key, table in new.items():
            before = old.get(key)
            self.diff_foreign_keys(before, table, old, new)
        for key, table in new.items():
            self.diff_key_comments(old.get(key), table)
        for key in (k for k in old if k not in new):
            table = old[key]
            for fk in table.constraints:
                ref = _ref_table(fk)
                if fk.kind == "f" and ref in old and ref != key and (
                        ref not in new or not _key_kept(fk, old[ref], new[ref])):
                    # Tables dropped together may reference each other (a cycle), or the key
                    # this table's foreign key uses goes before the table: keys go first.
                    self.emit(DROP_FOREIGN_KEYS, "drop foreign key", f"{key}.{fk.name}",
                              f"ALTER TABLE {ddl.table_name(table)} "
                              f"DROP CONSTRAINT {ident(fk.name)};")

    def create_table(self, table: Table, tables: dict[str, Table]) -> None:
        parent = tables.get(table.partition_of) if table.partition_of else None
        label, shown = table.qualified, display(table.schema, table.name)
        self.emit(TABLES, "create table", label, ddl.create_table(table, parent))
        self.row_security(table)
        self.note("-", "Table", shown)
        name = ddl.table_name(table)
        if table.comment:
            self.emit(COMMENTS, "comment", label, ddl.comment(f"TABLE {name}", table.comment))
        for column in table.columns:
            if column.comment:
                self.emit(COMMENTS, "comment", f"{label}.{column.name}",
                          ddl.comment(f"COLUMN {name}.{ident(column.name)}", column.comment))
        for index in _own_indexes(table, parent):
            self.emit(CONSTRAINTS if key_index(index) else INDEXES, "create index",
                      f"{table.schema}.{index.name}", ddl.create_index(index, table))

    def row_security(self, table: Table, before: Table | None = None) -> None:
        name, label = ddl.table_name(table), table.qualified
        shown = display(table.schema, table.name)
        for field_name, on, off, what in (("row_security", "ENABLE", "DISABLE", "row security"),
                                          ("force_row_security", "FORCE", "NO FORCE",
                                           "forced row security")):
            now = getattr(table, field_name)
            if now != (getattr(before, field_name) if before else False):
                self.emit(TABLES, "alter table", label,
                          f"ALTER TABLE {name} {on if now else off} ROW LEVEL SECURITY;")
                if before:
                    self.note("~", "Table", shown, f"different {what}")

    def drop_table(self, table: Table, old: dict[str, Table], new: dict[str, Table]) -> None:
        parent = old.get(table.partition_of) if table.partition_of else None
        if parent is not None and parent.qualified not in new:
            return  # dropped with its parent
        self.emit(DROP_TABLES, "drop table", table.qualified,
                  f"DROP TABLE {ddl.table_name(table)};", hazard=DROPS_DATA)
        self.note("+", "Table", display(table.schema, table.name))
        self.tables_touched.add(table.qualified)

    def alter_table(self, before: Table, after: Table, old: dict[str, Table],
                    new: dict[str, Table]) -> None:
        label, name = after.qualified, ddl.table_name(after)
        shown = display(after.schema, after.name)
        if (before.partition_of, before.partition_by) != (after.partition_of, after.partition_by):
            self.unsupported.append(f"table {label} (partitioning changed: write it by hand)")
            self.note("~", "Table", shown, "different partitioning")
            return
        parent_before = old.get(before.partition_of) if before.partition_of else None
        parent_after = new.get(after.partition_of) if after.partition_of else None
        if before.partition_bound != after.partition_bound and after.partition_of:
            parent = qualified(*ddl.split_qualified(after.partition_of))
            self.emit(TABLES, "reattach partition", label,
                      f"ALTER TABLE {parent} DETACH PARTITION {name};\n"
                      f"ALTER TABLE {parent} ATTACH PARTITION {name} {after.partition_bound};")
            self.note("~", "Table", shown, "different partition bound")
        if before.comment != after.comment:
            self.emit(COMMENTS, "comment", label, ddl.comment(f"TABLE {name}", after.comment))
            self.note("~", "Table", shown, "different comment")
        self.row_security(after, before)
        if not after.partition_of:  # a partition's columns are its parent's
            self.diff_columns(before, after)
        else:
            self.diff_column_comments(before, after)
        old_constraints = {c.name: c for c in ddl.own_constraints(before, parent_before)
                           if c.kind != "f"}
        new_constraints = {c.name: c for c in ddl.own_constraints(after, parent_after)
                           if c.kind != "f"}
        for old_name, new_name in _renamed(old_constraints, new_constraints, _same_constraint):
            self.emit(CONSTRAINTS, "rename constraint", f"{label}.{old_name}",
                      f"ALTER TABLE {name} RENAME CONSTRAINT {ident(old_name)} "
                      f"TO {ident(new_name)};")
            self.note("~", _CONSTRAINT_WORD[old_constraints.pop(old_name).kind],
                      f"{shown}.{old_name}", f"renamed to {new_name}")
            self.renamed[("constraint", label, new_name)] = old_name
            del new_constraints[new_name]
        for cname, constraint in old_constraints.items():
            other = new_constraints.get(cname)
            if other is not None and _same_constraint(constraint, other):
                continue
            if constraint.kind in ("p", "u"):
                self.keys_dropped.add((label, frozenset(constraint.columns)))
            self.emit(DROP_CONSTRAINTS, "drop constraint", f"{label}.{cname}",
                      f"ALTER TABLE {name} DROP CONSTRAINT {ident(cname)};")
            if other is None:
                self.note("+", _CONSTRAINT_WORD[constraint.kind], f"{shown}.{cname}")
        for cname, constraint in new_constraints.items():
            other = old_constraints.get(cname)
            if other is not None and _same_constraint(other, constraint):
                continue
            self.created.add(("constraint", label, cname))
            self.emit(CONSTRAINTS, "add constraint", f"{label}.{cname}",
                      f"ALTER TABLE {name} ADD CONSTRAINT {ident(cname)} "
                      f"{ddl.constraint_body(constraint)};",
                      hazard="fails if existing rows violate it")
            if other is None:
                self.note("-", _CONSTRAINT_WORD[constraint.kind], f"{shown}.{cname}")
            else:
                self.note("~", _CONSTRAINT_WORD[constraint.kind], f"{shown}.{cname}",
                          "different definition")
        old_indexes = {i.name: i for i in _own_indexes(before, parent_before)}
        new_indexes = {i.name: i for i in _own_indexes(after, parent_after)}
        for old_name, new_name in _renamed(old_indexes, new_indexes, _same_index):
            self.emit(INDEXES, "rename index", f"{after.schema}.{old_name}",
                      f"ALTER INDEX {qualified(after.schema, old_name)} "
                      f"RENAME TO {ident(new_name)};")
            self.note("~", "Index", display(after.schema, old_name), f"renamed to {new_name}")
            self.renamed[("index", label, new_name)] = old_name
            del old_indexes[old_name], new_indexes[new_name]
        for iname, index in old_indexes.items():
            other = new_indexes.get(iname)
            if other is not None and _same_index(index, other):
                continue
            if index.unique:
                self.keys_dropped.add((label, frozenset(index.columns)))
            self.emit(DROP_INDEXES, "drop index", f"{after.schema}.{iname}",
                      ddl.drop_index(index, after))
            self.note("+" if other is None else "~", "Index", display(after.schema, iname),
                      "" if other is None else "different definition")
        for iname, index in new_indexes.items():
            other = old_indexes.get(iname)
            if other is not None and _same_index(other, index):
                continue
            self.created.add(("index", label, iname))
            self.emit(CONSTRAINTS if key_index(index) else INDEXES, "create index",
                      f"{after.schema}.{iname}", ddl.create_index(index, after))
            if other is None:
                self.note("-", "Index", display(after.schema, iname))

    def diff_key_comments(self, before: Table | None, after: Table) -> None:
        """COMMENT ON CONSTRAINT / INDEX where the comment differs or the object was (re)made."""
        label, name = after.qualified, ddl.table_name(after)
        shown = display(after.schema, after.name)
        old_constraints = {c.name: c for c in before.constraints} if before else {}
        old_indexes = {i.name: i for i in before.indexes} if before else {}
        # (kind, the object, the table's objects before by name, emitted as, COMMENT ON what,
        # noted as)
        keys = [("constraint", c, old_constraints, f"{label}.{c.name}",
                 f"CONSTRAINT {ident(c.name)} ON {name}", _CONSTRAINT_WORD[c.kind],
                 f"{shown}.{c.name}") for c in after.constraints]
        keys += [("index", i, old_indexes, f"{after.schema}.{i.name}",
                  f"INDEX {qualified(after.schema, i.name)}", "Index",
                  display(after.schema, i.name)) for i in after.indexes]
        for kind, obj, olds, emitted, target, word, noted in keys:
            key = (kind, label, obj.name)
            previous = olds.get(self.renamed.get(key, obj.name))
            was = None if before is None or key in self.created or previous is None \
                else previous.comment
            if obj.comment != was:
                self.emit(COMMENTS, "comment", emitted, ddl.comment(target, obj.comment))
                if was is not None or (before is not None and key not in self.created):
                    self.note("~", word, noted, "different comment")

    def diff_column_comments(self, before: Table, after: Table) -> None:
        old = {c.name: c for c in before.columns}
        name = ddl.table_name(after)
        for column in after.columns:
            previous = old.get(column.name)
            if previous is not None and previous.comment != column.comment:
                self.emit(COMMENTS, "comment", f"{after.qualified}.{column.name}",
                          ddl.comment(f"COLUMN {name}.{ident(column.name)}", column.comment))
                self.note("~", "Column", f"{display(after.schema, after.name)}.{column.name}",
                          "different comment")

    def column_order(self, before: Table, after: Table, moved: set[str]) -> None:
        """Say so when the columns will not end in AFTER's order: PostgreSQL adds a column
        (or one dropped and added again, MOVED) at the end, and cannot reorder columns."""
        kept = [c.name for c in before.columns
                if after.column(c.name) is not None and c.name not in moved]
        added = [c.name for c in after.columns if c.name not in kept]
        wanted = [c.name for c in after.columns]
        if kept + added == wanted:
            return
        if [n for n in wanted if n in kept] != kept:
            detail = (f"different column order ({', '.join(kept)} against "
                      f"{', '.join(n for n in wanted if n in kept)}): columns cannot be "
                      "reordered, so this stays")
        else:
            detail = (f"column order: {', '.join(added)} will come last "
                      f"({', '.join(kept + added)}): PostgreSQL adds columns at the end")
        self.note("~", "Table", display(after.schema, after.name), detail)

    def diff_columns(self, before: Table, after: Table) -> None:
        label, name = after.qualified, ddl.table_name(after)
        shown = display(after.schema, after.name)
        old = {c.name: c for c in before.columns}
        new_names = {c.name for c in after.columns}
        self.column_order(before, after, {
            c.name for c in after.columns if c.generated and c.name in old
            and old[c.name].generated != c.generated})
        # generated columns first: one may use another column dropped with it
        for column in sorted(before.columns, key=lambda c: c.generated is None):
            if column.name not in new_names:
                self.emit(DROP_COLUMNS, "drop column", f"{label}.{column.name}",
                          f"ALTER TABLE {name} DROP COLUMN {ident(column.name)};",
                          hazard=DROPS_DATA)
                self.note("+", "Column", f"{shown}.{column.name}")
                self.columns_dropped.add((label, column.name))
                self.tables_touched.add(label)
        for column in after.columns:
            previous = old.get(column.name)
            if previous is None:
                self.add_column(after, column)
                self.note("-", "Column", f"{shown}.{column.name}")
            else:
                self.alter_column(after, previous, column)
            if previous is not None and previous.comment != column.comment:
                self.emit(COMMENTS, "comment", f"{label}.{column.name}",
                          ddl.comment(f"COLUMN {name}.{ident(column.name)}", column.comment))
                self.note("~", "Column", f"{shown}.{column.name}", "different comment")

    def add_column(self, table: Table, column: Column) -> None:
        """ADD COLUMN; with a default it fills the rows already there itself. A NOT NULL
        column without one cannot be filled: said in the SQL (a DOWN re-adding a dropped
        column, typically), and as the change's hazard."""
        label, name = f"{table.qualified}.{column.name}", ddl.table_name(table)
        hazard, said = None, ""
        filled = any(d.default is not None and column.type == type_key(d.schema, d.name)
                     for d in self.new.domains)   # its domain's default fills the rows
        if not column.nullable and column.default is None and not column.identity \
                and not column.generated and not filled:
            hazard = NEEDS_A_VALUE
            said = (f"-- WARNING: {label} is NOT NULL and has no default: this fails once "
                    f"{table.qualified} has rows.\n-- Give it a value first: add it without "
                    "NOT NULL, UPDATE the rows, then ALTER COLUMN ... SET NOT NULL.\n")
        self.emit(COLUMNS, "add column", label,
                  f"{said}ALTER TABLE {name} ADD COLUMN {ddl.column_sql(column)};",
                  hazard=hazard)
        if column.comment:
            self.emit(COMMENTS, "comment", label,
                      ddl.comment(f"COLUMN {name}.{ident(column.name)}", column.comment))

    def alter_column(self, table: Table, before: Column, after: Column) -> None:
        label, name = f"{table.qualified}.{after.name}", ddl.table_name(table)
        col = ident(after.name)
        shown = f"{display(table.schema, table.name)}.{after.name}"
        alter = f"ALTER TABLE {name} ALTER COLUMN {col}"

        def step(sql: str, hazard: str | None = None) -> None:
            self.emit(COLUMNS, "alter column", label, sql, hazard=hazard)

        if before.generated != after.generated:
            if after.generated is None:
                step(f"{alter} DROP EXPRESSION;")
                before = replace(before, generated=None)
                self.note("~", "Column", shown, "no longer generated")
            else:
                # No portable way to change the expression (SET EXPRESSION is 17+): drop and add.
                step(f"ALTER TABLE {name} DROP COLUMN {col};\n"
                     f"ALTER TABLE {name} ADD COLUMN {ddl.column_sql(after)};",
                     hazard=DROPS_DATA if before.generated is None else
                     "rewrites the table (the column is computed again)")
                self.note("~", "Column", shown, "different generated expression")
                self.type_changed.add((table.qualified, after.name))
                self.tables_touched.add(table.qualified)
                return
        default_dropped = False
        replaced = self.replaced_enums.get(after.type) if before.type == after.type else None
        if before.type != after.type or before.collation != after.collation or replaced:
            if before.default is not None and not before.identity:
                step(f"{alter} DROP DEFAULT;")
                default_dropped = True
            collate = f" COLLATE {ddl.collation(after.collation)}" if after.collation else ""
            cast = replaced or "::"
            step(f"{alter} TYPE {after.type}{collate} USING {col}{cast}{after.type};",
                 hazard=None if replaced else "the cast may fail on existing values")
            if not replaced:
                self.note("~", "Column", shown, "different type" if before.type != after.type
                          else "different collation")
            self.type_changed.add((table.qualified, after.name))
            self.tables_touched.add(table.qualified)
        if before.identity != after.identity:
            if after.identity is None:
                step(f"{alter} DROP IDENTITY;")
            elif before.identity is None:
                if before.default is not None and not default_dropped:
                    step(f"{alter} DROP DEFAULT;")
                if before.nullable:
                    step(f"{alter} SET NOT NULL;")
                    before = replace(before, nullable=False)
                step(f"{alter} ADD GENERATED {after.identity.upper()} AS IDENTITY;")
            else:
                step(f"{alter} SET GENERATED {after.identity.upper()};")
            self.note("~", "Column", shown, "different identity")
        if after.identity is None and after.generated is None:
            current = None if (default_dropped or before.identity) else before.default
            if current != after.default:
                step(f"{alter} DROP DEFAULT;" if after.default is None
                     else f"{alter} SET DEFAULT {after.default};")
            if before.default != after.default:
                self.note("~", "Column", shown, "different default")
        if before.nullable != after.nullable:
            if after.nullable:
                step(f"{alter} DROP NOT NULL;")
            else:
                step(f"{alter} SET NOT NULL;", hazard="fails if the column holds NULL")
            self.note("~", "Column", shown, "different nullability")

    def diff_foreign_keys(self, before: Table | None, after: Table,
                          old: dict[str, Table], new: dict[str, Table]) -> None:
        parent_before = old.get(before.partition_of) if before and before.partition_of else None
        parent_after = new.get(after.partition_of) if after.partition_of else None
        old_fks = {c.name: c for c in ddl.own_constraints(before, parent_before)
                   if c.kind == "f"} if before else {}
        new_fks = {c.name: c for c in ddl.own_constraints(after, parent_after) if c.kind == "f"}
        label, name = after.qualified, ddl.table_name(after)
        shown = display(after.schema, after.name)
        for old_name, new_name in _renamed(
                old_fks, new_fks,
                lambda a, b: _same_constraint(a, b) and not self.fk_rebuilt(label, a)):
            self.emit(FOREIGN_KEYS, "rename foreign key", f"{label}.{old_name}",
                      f"ALTER TABLE {name} RENAME CONSTRAINT {ident(old_name)} "
                      f"TO {ident(new_name)};")
            self.note("~", "Foreign key", f"{shown}.{old_name}", f"renamed to {new_name}")
            self.renamed[("constraint", label, new_name)] = old_name
            del old_fks[old_name], new_fks[new_name]
        for cname, fk in old_fks.items():
            other = new_fks.get(cname)
            if other is not None and _same_constraint(fk, other) \
                    and not self.fk_rebuilt(label, fk):
                continue
            self.emit(DROP_FOREIGN_KEYS, "drop foreign key", f"{label}.{cname}",
                      f"ALTER TABLE {name} DROP CONSTRAINT {ident(cname)};")
            if other is None:
                self.note("+", "Foreign key", f"{shown}.{cname}")
            elif not _same_constraint(fk, other):
                detail = ("different ON DELETE" if fk.on_delete != other.on_delete
                          else "different definition")
                self.note("~", "Foreign key", f"{shown}.{cname}", detail)
        for cname, fk in new_fks.items():
            other = old_fks.get(cname)
            if other is not None and _same_constraint(other, fk) \
                    and not self.fk_rebuilt(label, other):
                continue
            self.created.add(("constraint", label, cname))
            self.emit(FOREIGN_KEYS, "add foreign key", f"{label}.{cname}",
                      f"ALTER TABLE {name} ADD CONSTRAINT {ident(cname)} "
                      f"{ddl.constraint_body(fk)};",
                      hazard=None if before is None else "fails if existing rows violate it")
            if other is None and before is not None:
                self.note("-", "Foreign key", f"{shown}.{cname}")

    def fk_rebuilt(self, table: str, fk: Constraint) -> bool:
        """An unchanged foreign key is dropped and added again around a change it depends on:
        its key dropped and recreated, or a column type changed on either side."""
        target = _ref_table(fk)
        return ((target, frozenset(fk.ref_columns)) in self.keys_dropped
                or any((table, c) in self.type_changed for c in fk.columns)
                or any((target, c) in self.type_changed for c in fk.ref_columns))

    # -- definitions -----------------------------------------------------------------------
    def diff_definitions(self) -> None:
        old = {}
        new = {}
        for side, store in ((self.old, old), (self.new, new)):
            for d in side.definitions:
                if d.kind not in _DEFINITION_RANK:
                    self.unsupported.append(f"{d.kind} {d.schema}.{d.name}")
                    continue
                store[(d.kind, d.schema, d.name)] = d
        self.unsupported = sorted(set(self.unsupported))
        drop: set = set()
        create: set = set()
        replace_in_place: set = set()
        for key, d in old.items():
            other = new.get(key)
            if other is None:
                drop.add(key)
                self.note("+", _DEFINITION_WORD[d.kind], display(d.schema, d.name))
            elif not _same_definition(d, other):
                self.note("~", _DEFINITION_WORD[d.kind], display(d.schema, d.name),
                          "different definition")
                altered = self.alter_composite(d, other) if d.kind == "type" else False
                if d.kind == "function" and _replaceable(d, other):
                    replace_in_place.add(key)
                elif not altered:
                    drop.add(key)
                    create.add(key)
            elif d.kind not in ("function", "type") and any(
                    t in self.tables_touched for t in d.depends_on):
                drop.add(key)  # over a column whose type changes, or a dropped column/table
                create.add(key)
        for key, d in new.items():
            if key not in old:
                create.add(key)
                self.note("-", _DEFINITION_WORD[d.kind], display(d.schema, d.name))
        # What depends on a dropped definition goes with it and comes back after it.
        names_old = {f"{k[1]}.{k[2]}": k for k in old}
        dependents: dict[tuple, list[tuple]] = defaultdict(list)
        for key, d in old.items():
            for target in d.depends_on:
                if target in names_old:
                    dependents[names_old[target]].append(key)
        pending = list(drop)
        while pending:
            for key in dependents.get(pending.pop(), ()):
                if key not in drop:
                    drop.add(key)
                    pending.append(key)
                    if key in new:
                        create.add(key)
        tables, views = order.relations(self.old)
        kept = {t.qualified for t in self.new.tables}
        used = {x for t in self.old.tables for x in t.uses}
        for key in _topological(old, drop, reverse=True):
            d = old[key]
            place = order.tier(d, tables, views)
            if key in create and d.qualified in self.released_functions:
                place = order.WITH_TABLES  # after what used it was dropped (release_users)
            elif key in create:
                place = order.LATE  # made again: gone before it is created
            elif place == order.WITH_TABLES:
                if d.qualified not in used and any(
                        t in self.tables_touched and t in kept for t in d.depends_on):
                    place = order.LATE  # before the columns its body may use change
                elif all(t in kept for t in d.depends_on if t in tables):
                    place = order.EARLY  # after the defaults and indexes using it changed
            self.emit(_DROP_PHASE[place], f"drop {key[0]}", f"{key[1]}.{key[2]}",
                      ddl.drop_definition(d))
        tables, views = order.relations(self.new)
        self.remade_definitions = create
        for key in _topological(new, create | replace_in_place):
            d = new[key]
            self.emit(_CREATE_PHASE[order.tier(d, tables, views)], f"create {key[0]}",
                      f"{key[1]}.{key[2]}", ddl.create_definition(d))
        for key, d in new.items():
            previous = None if key in create else old[key].comment
            if d.comment != previous:
                self.emit(COMMENTS if key not in create else DEFINITIONS, "comment",
                          f"{key[1]}.{key[2]}", ddl.comment_definition(d))
                if key not in create:
                    self.note("~", _DEFINITION_WORD[d.kind], display(d.schema, d.name),
                              "different comment")


# A function's body may call a function created after it (no catalog dependency says so for
# a body in quotes): as pg_dump does, bodies are checked when they run, not when created.
BODIES_UNCHECKED = ("SET LOCAL check_function_bodies = off;  -- bodies are checked when they "
                    "run (a function may call one created after it)")


def _bodies_unchecked(changes: list[Change]) -> list[Change]:
    """CHANGES, with BODIES_UNCHECKED first in the transaction that creates functions."""
    if not any(c.kind == "create function" for c in changes):
        return changes
    at = next(i for i, c in enumerate(changes) if not c.needs_autocommit)
    return [*changes[:at], Change("set", "check_function_bodies", BODIES_UNCHECKED,
                                  phase=changes[at].phase), *changes[at:]]


def _attributes(definition: Definition) -> list[tuple[str, str]] | None:
    """A composite type's attributes, [(name as SQL writes it, type and collation)], from
    the CREATE TYPE text the catalog prints (one attribute a line); None for another text."""
    found = re.fullmatch(r"CREATE TYPE \S.* AS \((?:\n    (.*)\n)?\)", definition.sql, re.S)
    if found is None:
        return None
    attributes = []
    for line in (found.group(1) or "").split(",\n    ") if found.group(1) else []:
        parts = re.fullmatch(r'("(?:[^"]|"")*"|[^\s"]+) (\S.*)', line, re.S)
        if parts is None:
            return None
        attributes.append((parts.group(1), parts.group(2)))
    return attributes


def _calls_any(functions: list[str], text: str | None, call: bool = True) -> bool:
    """Whether expression TEXT names one of FUNCTIONS ('schema.name(argtypes)'; with CALL
    False, identifiers as written) as a call: by its name, as PostgreSQL prints it."""
    if not text:
        return False
    for function in functions:
        name = ident(function.partition(".")[2].partition("(")[0]) if call else function
        if re.search(r"(?<![\w$])" + re.escape(name) + (r"\s*\(" if call else r"(?![\w$])"),
                     text):
            return True
    return False


def _replaceable(old: Definition, new: Definition) -> bool:
    """Whether CREATE OR REPLACE turns function OLD into NEW: not when its parameters
    (names, defaults) or its return type change (PostgreSQL refuses: drop and create)."""
    def head(text: str) -> str | None:
        found = _FUNCTION_HEAD.match(" ".join(text.split()))
        return found.group(1) if found else None

    return (new.sql.lstrip().upper().startswith("CREATE OR REPLACE")
            and head(old.sql) == head(new.sql))


# The part of a function's definition CREATE OR REPLACE cannot change: its name and
# parameters (names, types, defaults) and what it returns, up to its first attribute.
_FUNCTION_HEAD = re.compile(
    r"(CREATE OR REPLACE \w+ .*?\)(?: RETURNS .*?)?) (?=(?:LANGUAGE|AS|IMMUTABLE|STABLE|"
    r"VOLATILE|STRICT|CALLED|SECURITY|PARALLEL|COST|ROWS|SET|WINDOW|LEAKPROOF|NOT|"
    r"TRANSFORM|SUPPORT|BEGIN|RETURN)\b)", re.I)


def _same_definition(a: Definition, b: Definition) -> bool:
    """Whether two definitions are the same; views are also compared through PostgreSQL's
    parser with the qualifiers of a lone relation dropped, because servers print them
    differently (16 and later omit `posts.` in `SELECT posts.id FROM posts`)."""
    if a.sql == b.sql:
        return True
    if a.kind not in ("view", "materialized view"):
        return False
    return _view_key(a.sql) == _view_key(b.sql)


@functools.lru_cache(maxsize=4096)
def _view_key(text: str) -> str:
    import pglast
    from pglast import ast
    from pglast.stream import RawStream
    from pglast.visitors import Visitor

    class Unqualify(Visitor):
        def visit_SelectStmt(self, _ancestors, node):
            sources = node.fromClause
            if not sources or len(sources) != 1 or not isinstance(sources[0], ast.RangeVar):
                return None
            relation = sources[0]
            names = {relation.relname} | ({relation.alias.aliasname} if relation.alias else set())

            class Refs(Visitor):
                def visit_ColumnRef(self, _ancestors, ref):
                    fields = ref.fields
                    if (len(fields) == 2 and isinstance(fields[0], ast.String)
                            and fields[0].sval in names):
                        return ast.ColumnRef(fields=(fields[1],))
                    return None

            Refs()(node)
            return None

    try:
        tree = pglast.parse_sql(text)
        Unqualify()(tree)
        return RawStream()(tree)
    except Exception:  # not parseable here: compare as written
        return text


def _named_check(text: str) -> tuple[str, str]:
    """A domain check as the model stores it ('CONSTRAINT name CHECK (...)') -> (name, text)."""
    found = re.match(r'CONSTRAINT ("(?:[^"]|"")+"|\S+) ', text)
    if not found:
        return text, text
    name = found.group(1)
    if name.startswith('"'):
        name = name[1:-1].replace('""', '"')
    return name, text


def _renamed(old: dict, new: dict, same) -> list[tuple[str, str]]:
    """Pairs (old name, new name) of objects of one table that differ only by name: renamed
    in place rather than dropped and built again (no data is involved either way)."""
    pairs: list[tuple[str, str]] = []
    old_only = [(k, v) for k, v in old.items() if k not in new]
    new_only = [(k, v) for k, v in new.items() if k not in old]
    taken: set[str] = set()
    for old_name, item in old_only:
        for new_name, other in new_only:
            if new_name not in taken and same(item, other):
                pairs.append((old_name, new_name))
                taken.add(new_name)
                break
    return pairs


def _topological(store: dict[tuple, Definition], keys: set, reverse: bool = False) -> list[tuple]:
    """KEYS ordered so that a definition comes after what it depends on (before, if REVERSE);
    ties by kind, then name, for a stable text."""
    names = {f"{k[1]}.{k[2]}": k for k in keys}
    rank = {k: (_DEFINITION_RANK[k[0]], k[1], k[2]) for k in keys}
    needs = {k: {names[t] for t in store[k].depends_on if t in names and names[t] != k}
             for k in keys}
    done: list[tuple] = []
    placed: set = set()
    remaining = sorted(keys, key=rank.__getitem__)
    while remaining:
        ready = [k for k in remaining if needs[k] <= placed] or remaining[:1]  # a cycle: break it
        for k in ready:
            placed.add(k)
            done.append(k)
        remaining = [k for k in remaining if k not in placed]
    return done[::-1] if reverse else done


def _depth(tables: dict[str, Table], key: str) -> int:
    """How many parents a partition has (0 for a plain table)."""
    depth, table = 0, tables[key]
    while table.partition_of and table.partition_of in tables and depth < 100:
        depth, table = depth + 1, tables[table.partition_of]
    return depth


def _own_indexes(table: Table, parent: Table | None) -> list[Index]:
    """Indexes other than the ones a partition gets from its parent's."""
    if parent is None:
        return list(table.indexes)
    inherited = {(i.unique, ddl.index_tail(i)) for i in parent.indexes}
    return [i for i in table.indexes if (i.unique, ddl.index_tail(i)) not in inherited]


def _rename_column(table: Table, old: str, new: str) -> Table:
    """TABLE as PostgreSQL shows it after RENAME COLUMN: the name follows into keys,
    indexes and expressions."""
    def names(items: list[str]) -> list[str]:
        return [new if x == old else rename_identifier(x, old, new) for x in items]

    columns = [replace(c, name=new) if c.name == old
               else replace(c, generated=rename_identifier(c.generated, old, new))
               for c in table.columns]
    constraints = [replace(c, columns=names(c.columns),
                           definition=rename_identifier(c.definition, old, new) or "")
                   for c in table.constraints]
    indexes = [replace(i, columns=names(i.columns), include=names(i.include),
                       where=rename_identifier(i.where, old, new),
                       definition=_rename_in_index(i.definition, old, new))
               for i in table.indexes]
    # A self-reference names the column on both sides.
    constraints = [replace(c, ref_columns=[new if r == old else r for r in c.ref_columns])
                   if c.kind == "f" and _ref_table(c) == table.qualified else c
                   for c in constraints]
    return replace(table, columns=columns, constraints=constraints, indexes=indexes)


def _rename_in_index(definition: str, old: str, new: str) -> str:
    at = definition.find(" USING ")
    if at < 0:
        return definition
    return definition[:at] + (rename_identifier(definition[at:], old, new) or "")


def _retarget(fk: Constraint, table_map: dict[str, str]) -> Constraint:
    target = table_map.get(_ref_table(fk))
    if target is None:
        return fk
    schema, name = ddl.split_qualified(target)
    return replace(fk, ref_schema=schema, ref_table=name)


def _retarget_owner(owner: str | None, table_map: dict[str, str]) -> str | None:
    if not owner:
        return owner
    table, _, column = owner.rpartition(".")
    return f"{table_map.get(table, table)}.{column}"


def _rename_owner(owner: str | None, columns: dict[tuple[str, str], str]) -> str | None:
    if not owner:
        return owner
    table, _, column = owner.rpartition(".")
    return f"{table}.{columns.get((table, column), column)}"

