"""Live database -> schema model, from the system catalogs.

All the SQL is in nself.pg.catalog (`schema_rows`): a dozen set-based queries for the
whole database in one snapshot, never one per table; this module only assembles the rows.
What lives in a user schema but is not modelled (collations, operators, text search
objects, aggregates, other kinds of types, rules, ...) is listed by name in
`Schema.unsupported`. Owners and grants are read only with `grants=True`. The tracking
tables and schemas of another tool whose history nself adopted (`nself.pg.meta.other_tracking`)
are that tool's, not the user's: left out."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

import psycopg

from nself.pg import catalog, meta
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

FK_ACTIONS = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL",
              "d": "SET DEFAULT"}
# The bounds CREATE SEQUENCE gives each type when MINVALUE/MAXVALUE are not written.
_TYPE_BOUNDS = {"smallint": 2**15 - 1, "integer": 2**31 - 1, "bigint": 2**63 - 1}
_SYSTEM_PREFIXES = ("pg_catalog.", "information_schema.", "pg_toast.")


def introspect(conn: psycopg.Connection, *, grants: bool = False) -> Schema:
    """The user objects of the connected database as a normalised Schema."""
    rows = catalog.schema_rows(conn, privileges=grants)
    comments: dict[str, str] = {}
    for name, comment in rows.namespaces:
        if comment is not None:
            comments[f"schema:{name}"] = comment
    for name, comment in rows.extensions:
        if comment is not None:
            comments[f"extension:{name}"] = comment
    unsupported = [r[0] for r in rows.unsupported]
    tables = _tables(rows)
    uses: dict[tuple[str, str], list[str]] = defaultdict(list)
    for kind, owner, target in rows.uses:
        if target and owner and target != owner and not target.startswith(_SYSTEM_PREFIXES):
            uses[(kind, owner)].append(target)
    for t in tables:
        t.uses = sorted(set(uses[("table", t.qualified)]))
    schema = Schema(
        schemas=[r[0] for r in rows.namespaces],
        extensions=[r[0] for r in rows.extensions],
        enums=[Enum(s, n, list(values), comment) for s, n, values, comment in rows.enums],
        domains=[replace(d, uses=sorted(set(uses[("domain", d.qualified)])))
                 for d in map(_domain, rows.domains)],
        sequences=[_sequence(r) for r in rows.sequences],
        tables=tables,
        definitions=_definitions(rows),
        comments=comments,
        unsupported=unsupported,
        privileges=[r[0] for r in rows.privileges],
    )
    tracking, tracking_schemas = meta.other_tracking(conn)
    if tracking or tracking_schemas:
        schema = _without(schema, tracking, tracking_schemas)
    return schema.normalised()


def _without(schema: Schema, tables: set[str], schemas: set[str]) -> Schema:
    """`schema` without the tables `tables` (their sequences and triggers too) and every
    object of the schemas `schemas`."""
    def kept(item) -> bool:
        return item.schema not in schemas

    def trigger_of(d: Definition) -> bool:
        return (d.kind in ("trigger", "policy")
                and f"{d.schema}.{d.name.split('.')[0]}" in tables)

    return replace(
        schema,
        schemas=[s for s in schema.schemas if s not in schemas],
        enums=[e for e in schema.enums if kept(e)],
        domains=[d for d in schema.domains if kept(d)],
        sequences=[s for s in schema.sequences if kept(s) and not (
            s.owned_by and s.owned_by.rsplit(".", 1)[0] in tables)],
        tables=[t for t in schema.tables if kept(t) and t.qualified not in tables],
        definitions=[d for d in schema.definitions if kept(d) and not trigger_of(d)],
        comments={k: v for k, v in schema.comments.items()
                  if not (k.startswith("schema:") and k[7:] in schemas)},
        unsupported=[u for u in schema.unsupported
                     if not any(word.split(".")[0] in schemas for word in u.split()
                                if "." in word)])


def _domain(row: tuple) -> Domain:
    schema, name, base, nullable, default, checks, comment, collation = row
    if collation is not None:
        base = f'{base} COLLATE "{collation}"'
    return Domain(schema, name, base, nullable, default, list(checks), comment)


def _sequence(row: tuple) -> Sequence:
    schema, name, type_, start, increment, low, high, cycle, owned_by, comment = row
    top = _TYPE_BOUNDS.get(type_, 2**63 - 1)
    default_low, default_high = (1, top) if increment > 0 else (-top - 1, -1)
    return Sequence(schema, name, type_, start, increment,
                    None if low == default_low else low,
                    None if high == default_high else high,
                    cycle, owned_by, comment)


def _tables(rows: catalog.SchemaRows) -> list[Table]:
    columns: dict[int, list[Column]] = defaultdict(list)
    for relid, name, type_, nullable, default, identity, generated, collation, comment in (
            rows.columns):
        columns[relid].append(Column(name, type_, nullable, default, identity, generated,
                                     collation, comment))
    constraints: dict[int, list[Constraint]] = defaultdict(list)
    for (relid, name, kind, keys, definition, ref_schema, ref_table, ref_keys, on_delete,
         on_update, deferrable, deferred, comment) in rows.constraints:
        foreign = kind == "f"
        constraints[relid].append(Constraint(
            name, kind, list(keys), definition,
            ref_schema if foreign else None, ref_table if foreign else None,
            list(ref_keys or []) if foreign else [],
            FK_ACTIONS[on_delete] if foreign else "NO ACTION",
            FK_ACTIONS[on_update] if foreign else "NO ACTION",
            deferrable, deferred, comment))
    indexes: dict[int, list[tuple]] = defaultdict(list)
    for relid, *index in rows.indexes:
        indexes[relid].append(index)
    tables = []
    for (relid, schema, name, comment, partition_by, parent, bound, row_security,
         force_row_security, _inherits) in rows.tables:
        tables.append(Table(
            schema, name, columns[relid], constraints[relid],
            [Index(index_name, name, list(keys), unique, method, where, list(include),
                   definition, index_comment)
             for index_name, unique, method, keys, include, where, definition, index_comment
             in indexes[relid]],
            comment, partition_by, parent, bound, row_security, force_row_security))
    return tables


def _definitions(rows: catalog.SchemaRows) -> list[Definition]:
    uses: dict[tuple[int, int], set[str]] = defaultdict(set)
    for classid, objid, target in rows.dependencies:
        if target and not target.startswith(_SYSTEM_PREFIXES):
            uses[(classid, objid)].add(target)
    # A materialized view's indexes go and come back with it: they are part of its text.
    view_indexes: dict[int, list[str]] = defaultdict(list)
    for relid, _name, _unique, _method, _keys, _include, _where, definition, _comment in (
            rows.indexes):
        view_indexes[relid].append(definition)
    definitions = []
    for kind, schema, name, sql, comment, classid, objid in rows.definitions:
        if kind == "materialized view" and view_indexes[objid]:
            sql = ";\n".join([sql, *view_indexes[objid]])
        needs = uses[(classid, objid)]
        if kind in ("trigger", "policy"):
            needs = needs | {f"{schema}.{name.rpartition('.')[0]}"}
        needs.discard(f"{schema}.{name}")
        definitions.append(Definition(kind, schema, name, sql, sorted(needs), comment))
    return definitions
