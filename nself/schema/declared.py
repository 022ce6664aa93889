"""What a DBML file declares, recorded in each migration `schema import` writes, so that an
import drops only what the DBML declared before and no longer declares.

The rule: the DBML manages only what it declares. OLD (the schema the migrations produce)
holds objects of three kinds:
- declared now (in the file): the DBML's definition wins;
- declared at the previous import (in the newest migration that carries a record) and no
  longer in the file: dropped, the file says so by leaving them out;
- never declared (made by hand-written migrations): kept as they are, and listed once;
  `--drop-undeclared` drops them.

The record is a few header lines of the migration, one per table or enum (and, for a file
with a `Note nself_sql`, per other object), each `-- nself:declared {json}`:
    -- nself:declared {"table": "public.users", "columns": ["id", "email"],
                       "constraints": ["users_pkey"], "indexes": ["users_email_idx"]}
    -- nself:declared {"enum": "public.mood", "values": ["happy", "sad"]}
    -- nself:declared {"view": "public.active_users"}
Migrations written before records existed carry none: then nothing counts as declared
before, so nothing the file does not declare is dropped (it is listed as kept)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from nself.schema.diff import display, type_key
from nself.schema.model import Column, Constraint, Definition, Index, Schema, Table

RECORD = "-- nself:declared"
_RECORD_LINE = re.compile(r"^--\s*nself:declared\s+(\{.*\})\s*$")
_UP = re.compile(r"(?im)^--\s*UP\s*$")
# objects a file with a Note nself_sql declares besides tables and enums
OTHER_KINDS = ("schema", "extension", "domain", "sequence", "type", "function", "view",
               "materialized view", "trigger", "policy", "statistics")


@dataclass
class DeclaredTable:
    columns: set[str] = field(default_factory=set)
    constraints: set[str] = field(default_factory=set)
    indexes: set[str] = field(default_factory=set)
    # what its keys and indexes are, whatever their names (the file's only, not recorded):
    # a hand-written migration's "PK_users" is the key the file declares as users_pkey
    shapes: set[tuple] = field(default_factory=set)


@dataclass
class Declared:
    """The objects a DBML file declared, by qualified name."""

    tables: dict[str, DeclaredTable] = field(default_factory=dict)
    enums: dict[str, list[str]] = field(default_factory=dict)
    others: set[tuple[str, str]] = field(default_factory=set)     # (kind, qualified)

    @classmethod
    def of(cls, schema: Schema, everything: bool = False) -> Declared:
        """What SCHEMA (a DBML file's) declares: its tables with their columns, keys and
        indexes, and its enums; EVERYTHING (a file with the SQL note) adds the rest."""
        declared = cls()
        for t in schema.tables:
            declared.tables[t.qualified] = DeclaredTable(
                {c.name for c in t.columns}, {c.name for c in t.constraints},
                {i.name for i in t.indexes if everything or not i.where},
                {_shape(k) for k in t.constraints} | {_shape(i) for i in t.indexes})
        declared.enums = {e.qualified: list(e.values) for e in schema.enums}
        if everything:
            declared.others = {(kind, name) for kind, name, _ in _others(schema)}
        return declared

    def lines(self) -> list[str]:
        """The record, as header lines of a migration (stable order)."""
        lines = []
        for name, t in sorted(self.tables.items()):
            lines.append({"table": name, "columns": sorted(t.columns),
                          "constraints": sorted(t.constraints), "indexes": sorted(t.indexes)})
        for name, values in sorted(self.enums.items()):
            lines.append({"enum": name, "values": values})
        for kind, name in sorted(self.others):
            lines.append({kind: name})
        return [f"{RECORD} {json.dumps(item, ensure_ascii=False)}" for item in lines]

    @classmethod
    def parse(cls, text: str) -> Declared | None:
        """The record in a migration's header (before `-- UP`); None when it has none."""
        head = _UP.split(text, 1)[0]
        found = None
        for line in head.splitlines():
            m = _RECORD_LINE.match(line.strip())
            if not m:
                continue
            try:
                item = json.loads(m.group(1))
            except ValueError:
                continue  # a damaged line: that object counts as never declared (kept)
            found = found or cls()
            if not isinstance(item, dict):
                continue
            if isinstance(item.get("table"), str):
                found.tables[item["table"]] = DeclaredTable(
                    *(set(_strings(item.get(k))) for k in ("columns", "constraints",
                                                           "indexes")))
            elif isinstance(item.get("enum"), str):
                found.enums[item["enum"]] = _strings(item.get("values"))
            else:
                found.others |= {(k, v) for k, v in item.items()
                                 if k in OTHER_KINDS and isinstance(v, str)}
        return found


def _shape(item: Constraint | Index, renamed: dict[str, str] | None = None) -> tuple:
    """What a key or index is, without its name: a primary key is the table's one (the
    file's replaces another), a unique key or plain index its columns, a foreign key its
    columns and target (RENAMED: old table name -> new, for an old schema's key)."""
    if isinstance(item, Index):
        return ("index", item.unique, item.method, tuple(item.columns), item.where)
    if item.kind == "p":
        return ("p",)
    if item.kind == "f":
        target = item.ref_qualified or ""
        return ("f", tuple(item.columns), (renamed or {}).get(target, target),
                tuple(item.ref_columns))
    return (item.kind, tuple(item.columns)) if item.kind == "u" else (item.kind, item.name)


def _strings(value) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def previous(texts: Iterable[str]) -> Declared | None:
    """The record of the newest migration that has one (TEXTS: the migrations' texts,
    oldest first); None when none has."""
    for text in reversed(list(texts)):
        found = Declared.parse(text)
        if found is not None:
            return found
    return None


def _others(schema: Schema):
    """(kind, qualified name, object) of what is neither a table nor an enum."""
    for name in schema.schemas:
        yield "schema", name, name
    for name in schema.extensions:
        yield "extension", name, name
    for d in schema.domains:
        yield "domain", d.qualified, d
    for s in schema.sequences:
        if s.owned_by is None:
            yield "sequence", s.qualified, s
    for d in schema.definitions:
        yield d.kind, d.qualified, d


# ------------------------------------------------------------------------------ undeclared

@dataclass
class Undeclared:
    """Objects of OLD that neither the file nor the previous record declares."""

    tables: list[Table] = field(default_factory=list)
    # (table, column, the table's column names in OLD's order)
    columns: list[tuple[str, Column, list[str]]] = field(default_factory=list)
    constraints: list[tuple[str, Constraint]] = field(default_factory=list)
    indexes: list[tuple[str, Index]] = field(default_factory=list)
    enums: list[str] = field(default_factory=list)
    values: list[tuple[str, str]] = field(default_factory=list)          # (enum, value)
    others: list[tuple[str, str]] = field(default_factory=list)          # (kind, qualified)

    def __bool__(self) -> bool:
        return any((self.tables, self.columns, self.constraints, self.indexes, self.enums,
                    self.values, self.others))

    def names(self) -> list[str]:
        """For messages: tables by name, the rest with their kind (a key or index of a
        listed column goes with it, unsaid)."""
        def short(qualified: str) -> str:
            schema, _, name = qualified.partition(".")
            return display(schema, name)

        columns: dict[str, set[str]] = {}
        for t, c, _ in self.columns:
            columns.setdefault(t, set()).add(c.name)

        def alone(table: str, mentioned: set[str]) -> bool:
            return not mentioned & columns.get(table, set())

        return ([short(t.qualified) for t in self.tables]
                + [f"column {short(t)}.{c.name}" for t, c, _ in self.columns]
                + [f"constraint {short(t)}.{c.name}" for t, c in self.constraints
                   if alone(t, set(c.columns) | _mentions(_constraint_sql(c)))]
                + [f"index {short(t)}.{i.name}" for t, i in self.indexes
                   if alone(t, _mentions(i.definition))]
                + [f"enum {short(e)}" for e in self.enums]
                + [f"enum value {short(e)}.{v}" for e, v in self.values]
                + [f"{kind} {short(name)}" for kind, name in self.others])


def undeclared(old: Schema, now: Declared, before: Declared | None,
               renames: dict[str, str], everything: bool = False) -> Undeclared:
    """What OLD holds that NOW (the file) does not declare, BEFORE (the previous record)
    did not declare either, and no rename hint names: what an import keeps."""
    before = before or Declared()
    found = Undeclared()
    renamed = {k: v for k, v in renames.items() if k.count(".") == 1}
    for t in old.tables:
        name = t.qualified
        target = renamed.get(name, name)
        mine, earlier = now.tables.get(target), before.tables.get(name)
        if mine is None:
            if earlier is None and name not in renamed and not _child(t, old):
                found.tables.append(t)
            continue
        earlier = earlier or DeclaredTable()
        for c in t.columns:
            if (c.name not in mine.columns | earlier.columns
                    and f"{name}.{c.name}" not in renames):
                found.columns.append((target, c, [x.name for x in t.columns]))
        for k in t.constraints:
            if (k.name not in mine.constraints | earlier.constraints | mine.indexes
                    and _shape(k, renamed) not in mine.shapes):
                found.constraints.append((target, k))
        for i in t.indexes:
            if (i.name not in mine.indexes | earlier.indexes | mine.constraints
                    and _shape(i) not in mine.shapes
                    and (everything or not i.where)):  # partial ones: carry_over keeps them
                found.indexes.append((target, i))
    if everything:  # a hand-made partition of a declared table (else carry_over's or
        # keep()'s, with its kept parent)
        found.tables += [t for t in old.tables if _child(t, old) and t.partition_of in now.tables
                         and t.qualified not in now.tables and t.qualified not in renamed
                         and t.qualified not in before.tables]
    _without_orphans(found, now)
    for e in old.enums:
        mine, earlier = now.enums.get(e.qualified), before.enums.get(e.qualified)
        if mine is None:
            if earlier is None:
                found.enums.append(e.qualified)
            continue
        found.values += [(e.qualified, v) for v in e.values
                         if v not in mine and v not in (earlier or [])]
    if everything:
        kept_tables = {t.qualified for t in old.tables if t.qualified not in renamed} & (
            set(now.tables) | {t.qualified for t in found.tables})
        for kind, name, _ in _others(old):
            if (kind, name) in now.others or (kind, name) in before.others:
                continue
            if kind in ("trigger", "policy") and _owner(name) not in kept_tables:
                continue  # goes with its table
            found.others.append((kind, name))
    return found


def _without_orphans(found: Undeclared, now: Declared) -> None:
    """Leave out the kept keys and indexes that need a column (or a foreign key's
    target) the import drops: PostgreSQL drops them with it, so they are not kept."""
    columns = {name: set(t.columns) for name, t in now.tables.items()}
    for t in found.tables:
        columns[t.qualified] = {c.name for c in t.columns}
    for table, column, _ in found.columns:
        columns[table].add(column.name)
    found.constraints = [
        (t, k) for t, k in found.constraints
        if set(k.columns) | _mentions(_constraint_sql(k)) <= columns[t]
        and (k.kind != "f" or _target_there(k, columns))]
    found.indexes = [(t, i) for t, i in found.indexes if _mentions(i.definition) <= columns[t]]


def _child(table: Table, old: Schema) -> bool:
    """A partition: it follows its parent."""
    return bool(table.partition_of) and old.table(table.partition_of) is not None


def _owner(qualified: str) -> str:
    """The table of a trigger or policy ('schema.table.name')."""
    return qualified.rsplit(".", 1)[0]


# ------------------------------------------------------------------------------------ keep

def keep(desired: Schema, old: Schema, kept: Undeclared) -> Schema:
    """DESIRED with KEPT taken from OLD as they are. A kept table's foreign key to a table
    DESIRED no longer has goes (PostgreSQL would drop it with the table); an enum a kept
    column uses stays."""
    tables = {t.qualified: replace(t, columns=list(t.columns), constraints=list(t.constraints),
                                   indexes=list(t.indexes)) for t in desired.tables}
    for t in kept.tables:
        tables[t.qualified] = replace(t, constraints=list(t.constraints))
        for child in old.tables:  # its partitions with it
            if child.partition_of == t.qualified and child.qualified not in tables:
                tables[child.qualified] = child
    for table, column, order in kept.columns:
        _insert(tables[table].columns, [c.name for c in tables[table].columns], order,
                column.name, column)
    names = {q: {c.name for c in t.columns} for q, t in tables.items()}
    for t in kept.tables:
        tables[t.qualified].constraints[:] = [
            k for k in t.constraints if k.kind != "f" or _target_there(k, names)]
    for table, constraint in kept.constraints:  # `undeclared` left out the orphans
        tables[table].constraints.append(constraint)
    for table, index in kept.indexes:
        tables[table].indexes.append(index)
    enums = {e.qualified: replace(e, values=list(e.values)) for e in desired.enums}
    old_enums = {e.qualified: e for e in old.enums}
    used = {c.type.removesuffix("[]") for t in tables.values() for c in t.columns}
    for e in old.enums:
        if e.qualified in kept.enums or (e.qualified not in enums
                                         and type_key(e.schema, e.name) in used):
            enums.setdefault(e.qualified, e)
    for enum, value in kept.values:
        values = enums[enum].values
        _insert(values, list(values), old_enums[enum].values, value, value)
    owners = {f"{t.qualified}.{c.name}" for t in kept.tables for c in t.columns} | {
        f"{t}.{c.name}" for t, c, _ in kept.columns}
    have = {s.qualified for s in desired.sequences}
    sequences = list(desired.sequences) + [
        s for s in old.sequences if s.owned_by in owners and s.qualified not in have]
    result = replace(desired, tables=list(tables.values()), enums=list(enums.values()),
                     sequences=sequences)
    if kept.others:
        objects = {(kind, name): item for kind, name, item in _others(old)}
        chosen = {kind: [objects[(k, n)] for k, n in kept.others if k == kind]
                  for kind in OTHER_KINDS}
        result.schemas = sorted(set(desired.schemas) | set(chosen["schema"]))
        result.extensions = sorted(set(desired.extensions) | set(chosen["extension"]))
        result.domains = list(desired.domains) + chosen["domain"]
        result.sequences = sequences + chosen["sequence"]
        result.definitions = list(desired.definitions) + [
            item for kind in OTHER_KINDS[4:] for item in chosen[kind]]
    return result


def _insert(items: list, names: list[str], order: list[str], name: str, item) -> None:
    """Put ITEM (called NAME) back into ITEMS (called NAMES) right after the one it
    followed in ORDER (the old order), or first."""
    at = 0
    for previous in reversed(order[:order.index(name)]):
        if previous in names:
            at = names.index(previous) + 1
            break
    items.insert(at, item)
    names.insert(at, name)


def _target_there(fk: Constraint, names: dict[str, set[str]]) -> bool:
    return set(fk.ref_columns) <= names.get(fk.ref_qualified or "", set())


def _constraint_sql(constraint: Constraint) -> str:
    return f"ALTER TABLE t ADD {constraint.definition}" if constraint.definition else ""


def _mentions(sql: str) -> set[str]:
    """Column names a statement's expressions mention (plain index columns included)."""
    import pglast

    if not sql.strip():
        return set()
    try:
        tree = json.loads(pglast.parser.parse_sql_json(sql))
    except (pglast.parser.ParseError, ValueError):
        return set()
    names: set[str] = set()

    def walk(node) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "ColumnRef":
                    last = (value.get("fields") or [{}])[-1]
                    if "String" in last:
                        names.add(last["String"]["sval"])
                elif key == "IndexElem" and value.get("name"):
                    names.add(value["name"])
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(tree)
    return names


# ------------------------------------------------------------------------------ dependents

def dependents(desired: Schema, old: Schema, renames: dict[str, str],
               declared_now: Declared | None = None,
               column_users: dict[str, set[tuple[str, str]]] | None = None
               ) -> dict[str, list[Definition]]:
    """The definitions DESIRED still holds (kept from the migrations, not declared by the
    file) that use a table of OLD that DESIRED no longer has, or a dropped column
    (COLUMN_USERS: 'schema.table.column' -> the (kind, qualified name) of the definitions
    the catalog says use it), directly or through one another (a view on such a view):
    what is dropped -> them. PostgreSQL cannot build them without it; the import must
    name them, or drop them first (--drop-undeclared)."""
    renamed = {k: v for k, v in renames.items() if k.count(".") == 1}
    have = {t.qualified for t in desired.tables}
    roots: dict[str, set[tuple[str, str]]] = {
        t.qualified: set() for t in old.tables
        if t.qualified not in have and renamed.get(t.qualified) not in have}
    roots.update(column_users or {})
    own = (declared_now or Declared()).others
    candidates = [d for d in desired.definitions if (d.kind, d.qualified) not in own]
    found: dict[str, list[Definition]] = {}
    taken: set[str] = set()
    for root, users in roots.items():
        using, reach = [], {root}
        while True:
            more = [d for d in candidates if d.qualified not in taken
                    and (reach.intersection(d.depends_on) or (d.kind, d.qualified) in users)]
            if not more:
                break
            using += more
            taken |= {d.qualified for d in more}
            reach |= {d.qualified for d in more}
        if using:
            found[root] = using
    return found


def dropped_columns(desired: Schema, old: Schema, renames: dict[str, str]
                    ) -> list[tuple[str, str, str]]:
    """(schema, table, column) of OLD's columns whose table DESIRED keeps without them
    (and no rename hint names them)."""
    renamed = {k: v for k, v in renames.items() if k.count(".") == 1}
    found = []
    for t in old.tables:
        kept = desired.table(renamed.get(t.qualified, t.qualified))
        if kept is None:
            continue
        found += [(t.schema, t.name, c.name) for c in t.columns
                  if kept.column(c.name) is None and f"{t.qualified}.{c.name}" not in renames]
    return found


def without(schema: Schema, definitions: list[Definition]) -> Schema:
    """SCHEMA without DEFINITIONS (and the triggers of the views among them)."""
    names = {(d.kind, d.qualified) for d in definitions}
    views = {d.qualified for d in definitions if d.kind in ("view", "materialized view")}
    return replace(schema, definitions=[
        d for d in schema.definitions if (d.kind, d.qualified) not in names
        and not (d.kind in ("trigger", "policy") and _owner(d.qualified) in views)])


def describe(definition: Definition) -> str:
    """'view big_orders', 'function app.total(integer)' (public unsaid)."""
    shown = definition.name if definition.schema == "public" else definition.qualified
    return f"{definition.kind} {shown}"
