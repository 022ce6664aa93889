"""Schema model -> text: a complete SQL script (`to_sql`) and DBML (`to_dbml`).

Both render the normalised model in a fixed order, so the same schema gives the same
bytes every time. SQL statements come from nself.schema.ddl (one spelling for the
differ and the export). What DBML cannot carry (views, functions, triggers, policies,
check and exclusion constraints, partitions, domains, sequences, ...) is written as a
`// not in DBML: ...` line, never dropped silently."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import replace

from nself.schema import ddl, order, types
from nself.schema.ddl import ident, qualified
from nself.schema.model import DEFINITION_KINDS, Constraint, Definition, Index, Schema, Table

# -- SQL ---------------------------------------------------------------------------------

_COMMENT_WORD = {"type": "TYPE", "view": "VIEW", "materialized view": "MATERIALIZED VIEW",
                 "function": "ROUTINE", "trigger": "TRIGGER", "policy": "POLICY",
                 "statistics": "STATISTICS"}


# As pg_dump does: a function body is checked when it runs, not when it is created (a
# function may call one created after it, or use a table created after it).
SCRIPT_HEADER = "SET check_function_bodies = off;"


def to_sql(schema: Schema) -> str:
    """A CREATE script for an empty database that `psql -v ON_ERROR_STOP=1 -f` runs as
    written, in dependency order (nself.schema.order): schemas, extensions, enums,
    sequences, domains with the composite types and functions that use no table, tables
    (partitions after their parent, without foreign keys) with the types and functions that
    use a table, sequence owners, foreign keys, indexes, row security, the other
    definitions (each after what it uses), comments, privileges."""
    s = schema.normalised()
    tables = {t.qualified: t for t in s.tables}
    uses = order.needs(s)
    names, views = order.relations(s)
    tiers = {d.qualified: order.tier(d, names, views) for d in s.definitions}
    sections: list[list[str]] = [[SCRIPT_HEADER]]
    sections.append([f"CREATE SCHEMA {ident(n)};" for n in s.schemas if n != "public"])
    sections.append([f"CREATE EXTENSION IF NOT EXISTS {ident(n)};" for n in s.extensions])
    sections.append([ddl.create_enum(e) for e in s.enums])
    sections.append([ddl.create_sequence(q) for q in s.sequences])
    early = [d for d in s.definitions if tiers[d.qualified] == order.EARLY]
    first = [(d.qualified, ddl.create_domain(d)) for d in s.domains] + [
        (d.qualified, ddl.create_definition(d)) for d in definition_order(early)]
    sections.append([text for _, text in order.ordered(first, lambda x: x[0], uses)])
    ordered = sorted(s.tables, key=lambda t: (_depth(tables, t), t.schema, t.name))
    middle = [d for d in s.definitions if tiers[d.qualified] == order.WITH_TABLES]
    built = [(t.qualified, ddl.create_table(t, tables.get(t.partition_of or "")))
             for t in ordered] + [(d.qualified, ddl.create_definition(d))
                                  for d in definition_order(middle)]
    sections.append([text for _, text in order.ordered(built, lambda x: x[0], uses)])
    sections.append([ddl.owned_by(q) for q in s.sequences if q.owned_by])
    # a unique index on plain columns may be what a foreign key refers to: before them
    sections.append([ddl.create_index(i, t) for t in ordered for i in t.indexes
                     if key_index(i)])
    sections.append([f"ALTER TABLE {ddl.table_name(t)} ADD CONSTRAINT {ident(c.name)} "
                     f"{ddl.constraint_body(c)};"
                     for t in ordered for c in t.constraints if c.kind == "f"])
    sections.append([ddl.create_index(i, t) for t in ordered for i in t.indexes
                     if not key_index(i)])
    security = []
    for t in ordered:
        if t.row_security:
            security.append(f"ALTER TABLE {ddl.table_name(t)} ENABLE ROW LEVEL SECURITY;")
        if t.force_row_security:
            security.append(f"ALTER TABLE {ddl.table_name(t)} FORCE ROW LEVEL SECURITY;")
    sections.append(security)
    late = [d for d in s.definitions if tiers[d.qualified] == order.LATE]
    sections.append([ddl.create_definition(d) for d in definition_order(late)])
    sections.append(_sql_comments(s, ordered))
    sections.append(list(s.privileges))
    sections.append([f"-- not modelled (not in this script): {u}" for u in s.unsupported])
    if not any(sections[1:]):
        return "\n"
    return "\n\n".join("\n".join(part) for part in sections if part) + "\n"


def definition_order(definitions: list[Definition]) -> list[Definition]:
    """DEFINITIONS with each after the ones it depends on; ties by kind (functions, views,
    materialized views, triggers, policies), schema, name; a cycle is broken by that order."""
    rank = {d.qualified: (DEFINITION_KINDS.index(d.kind), d.schema, d.name) for d in definitions}
    by_name = {d.qualified: d for d in definitions}
    remaining = sorted(definitions, key=lambda d: rank[d.qualified])
    placed: set[str] = set()
    done: list[Definition] = []
    while remaining:
        ready = [d for d in remaining
                 if all(x in placed or x not in by_name or x == d.qualified
                        for x in d.depends_on)] or remaining[:1]
        for d in ready:
            placed.add(d.qualified)
            done.append(d)
        remaining = [d for d in remaining if d.qualified not in placed]
    return done


def _depth(tables: dict[str, Table], table: Table) -> int:
    depth = 0
    while table.partition_of and table.partition_of in tables and depth < 100:
        depth, table = depth + 1, tables[table.partition_of]
    return depth


def _sql_comments(s: Schema, tables: list[Table]) -> list[str]:
    out = []
    for key, text in s.comments.items():
        kind, _, name = key.partition(":")
        out.append(ddl.comment(f"{kind.upper()} {ident(name)}", text))
    for word, named in (("TYPE", s.enums), ("DOMAIN", s.domains), ("SEQUENCE", s.sequences)):
        out += [ddl.comment(f"{word} {qualified(o.schema, o.name)}", o.comment)
                for o in named if o.comment is not None]
    for t in tables:
        name = ddl.table_name(t)
        if t.comment is not None:
            out.append(ddl.comment(f"TABLE {name}", t.comment))
        out += [ddl.comment(f"COLUMN {name}.{ident(c.name)}", c.comment)
                for c in t.columns if c.comment is not None]
        out += [ddl.comment(f"CONSTRAINT {ident(c.name)} ON {name}", c.comment)
                for c in t.constraints if c.comment is not None]
        out += [ddl.comment(f"INDEX {qualified(t.schema, i.name)}", i.comment)
                for i in t.indexes if i.comment is not None]
    out += [ddl.comment(f"{_COMMENT_WORD[d.kind]} {ddl.definition_target(d)}", d.comment)
            for d in definition_order(s.definitions) if d.comment is not None]
    return out


# -- DBML --------------------------------------------------------------------------------

_DBML_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# format_type spellings -> the short names DBML files use (all PostgreSQL aliases).
_DBML_TYPES = [
    (re.compile(r"character varying(\(\d+\))?"), r"varchar\1"),
    (re.compile(r"character(\(\d+\))?"), r"char\1"),
    (re.compile(r"timestamp(\(\d+\))? with time zone"), r"timestamptz\1"),
    (re.compile(r"timestamp(\(\d+\))? without time zone"), r"timestamp\1"),
    (re.compile(r"time(\(\d+\))? with time zone"), r"timetz\1"),
    (re.compile(r"time(\(\d+\))? without time zone"), r"time\1"),
    (re.compile(r"double precision"), "float8"),
    (re.compile(r"bit varying(\(\d+\))?"), r"varbit\1"),
]
_ACTION_WORDS = {"CASCADE": "cascade", "RESTRICT": "restrict", "SET NULL": "set null",
                 "SET DEFAULT": "set default", "NO ACTION": "no action"}
_SERIAL = {"integer": "serial", "bigint": "bigserial", "smallint": "smallserial"}
# the sticky note that carries what DBML cannot express, as SQL (nself.schema.dbml reads it)
SQL_NOTE = "nself_sql"
# lines of that note that shape the DBML's tables (DBML cannot say these): the table is
# created PARTITION BY ..., the column is created GENERATED ALWAYS AS (...) STORED
PARTITION_BY = "-- nself:partition-by"
GENERATED = "-- nself:generated"


def directive(word: str, **fields: str) -> str:
    """A note line `-- nself:WORD {json}` (names may hold spaces, dots and quotes)."""
    import json

    return f"{word} {json.dumps(fields, ensure_ascii=False)}"


def dbml_name(name: str) -> str:
    """A DBML identifier, double-quoted only when it is not a plain word."""
    if _DBML_PLAIN.match(name):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dbml_table_name(schema: str, name: str) -> str:
    """`name` in public, `schema.name` elsewhere, each part quoted when needed."""
    return dbml_name(name) if schema == "public" else f"{dbml_name(schema)}.{dbml_name(name)}"


def dbml_string(text: str) -> str:
    """A DBML string: '...' on one line, '''...''' when it spans lines."""
    escaped = text.replace("\\", "\\\\")
    if "\n" in text:
        return "'''" + escaped.replace("'''", "\\'''") + "'''"
    return "'" + escaped.replace("'", "\\'") + "'"


def dbml_type(type_: str) -> str:
    for pattern, short in _DBML_TYPES:
        match = pattern.fullmatch(type_.removesuffix("[]"))
        if match:
            return match.expand(short) + ("[]" if type_.endswith("[]") else "")
    if re.fullmatch(r"[A-Za-z0-9_.\[\]]+(\(\d+(,\s*\d+)?\))?(\[\])*", type_):
        return type_
    # a user type whose name needs quotes, as format_type prints it: "Sales Dept"."State"
    if re.fullmatch(r'(?:"(?:[^"]|"")+"|\w+)(?:\.(?:"(?:[^"]|"")+"|\w+))?(?:\[\])*', type_):
        return type_
    return '"' + type_.replace('"', '\\"') + '"'


def dbml_default(expression: str, column_type: str) -> str:
    """A column default as DBML writes it: number, true/false/null, 'string' or `expr`."""
    text = expression.strip()
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return text
    if text.lower() in ("true", "false"):
        return text.lower()
    if re.fullmatch(r"NULL(::[\w .\"\[\]()]+)?", text):
        return "null"
    literal = re.fullmatch(r"'((?:[^']|'')*)'(?:::(.+))?", text)
    if literal:
        value, cast = literal.group(1).replace("''", "'"), literal.group(2)
        number = re.fullmatch(r"-?\d+(\.\d+)?", value)
        if number and cast in ("integer", "bigint", "smallint", "numeric"):
            return value
        # schema import casts a string to the column's type: only a literal printed so
        # is one (a domain's prints its base type: 's'::text, kept as the expression)
        if cast is None or cast in (column_type, types.unmodified(column_type)):
            return dbml_string(value)
    return "`" + text + "`"


def to_dbml(schema: Schema) -> str:
    """The model as DBML (dbdiagram.io's dialect), without a Project block: enums, tables
    (columns, indexes, notes), references; then a `// not in DBML:` line for each object
    DBML cannot carry (the SQL export keeps them); last, the `// nself export` line
    (`export_mark`) by which schema import checks that it reproduces this schema."""
    s = schema.normalised()
    tables = {t.qualified: t for t in s.tables}
    blocks: list[str] = []
    missing: list[str] = []
    fixes: list[str] = []   # SQL for what the DBML of a table cannot carry (see _sql_note)
    for e in s.enums:
        values = "\n".join(f"  {dbml_name(v)}" for v in e.values)
        blocks.append(f"Enum {dbml_table_name(e.schema, e.name)} {{\n{values}\n}}")
        if e.comment is not None:
            missing.append(f"comment on enum {e.qualified}")
            fixes.append(ddl.comment(f"TYPE {qualified(e.schema, e.name)}", e.comment))
    refs: list[str] = []
    for t in s.tables:
        if t.partition_of:
            missing.append(f"partition {t.qualified} of {t.partition_of} "
                           f"({t.partition_bound or 'DEFAULT'})")
            continue
        blocks.append(_dbml_table(t, s, missing, fixes))
        refs += [_dbml_ref(t, c, missing, fixes) for c in t.foreign_keys]
    used = {e.schema for e in s.enums} | {t.schema for t in s.tables}
    extra = Schema(
        schemas=[n for n in s.schemas if n not in used and n != "public"],
        extensions=s.extensions, domains=s.domains,
        sequences=[q for q in s.sequences if not _serial_sequence(q, tables)],
        tables=[t for t in s.tables if t.partition_of], definitions=s.definitions,
        comments=s.comments, privileges=s.privileges)
    missing += [f"schema {n}" for n in extra.schemas]
    missing += [f"comment on {k.replace(':', ' ', 1)}" for k in s.comments]
    missing += [f"extension {n}" for n in s.extensions]
    missing += [f"domain {d.qualified} ({d.type})" for d in s.domains]
    missing += [f"sequence {q.qualified}" for q in extra.sequences]
    missing += [f"{d.kind} {d.qualified}" for d in definition_order(s.definitions)]
    missing += [f"privileges: {p}" for p in s.privileges]
    parts = blocks + (["\n".join(refs)] if refs else [])
    notes = [f"// not in DBML: {m} (kept in SQL)" for m in missing]
    notes += [f"// not modelled by nself (neither in DBML nor in SQL): {u}"
              for u in s.unsupported]
    if notes:
        parts.append("\n".join(notes))
    note = _sql_note(extra, fixes, set(tables))
    if note:
        parts.append(note)
    text = "\n\n".join(parts) + "\n"
    return text + export_mark(text, s) if parts else text


# The last line of a DBML export: the hash of the text above it (so that an edited file is
# known) and, per kind of object, a hash of what the export says of the schema
# (`export_facts`). schema import, given the file unedited, checks that what it builds from
# it has the same facts: an export -> import that loses anything is caught there.
EXPORT_MARK = "// nself export "


def export_mark(text: str, schema: Schema) -> str:
    return EXPORT_MARK + json.dumps({"file": digest(text), "schema": export_facts(schema)},
                                    sort_keys=True, separators=(",", ":")) + "\n"


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def export_facts(schema: Schema) -> dict[str, str]:
    """Per kind of object, a hash of what every server version prints alike: tables and
    their columns, keys and constraints (by name, kind and columns), indexes, enums,
    domains, sequences, composite types and functions (their whole text: a function body
    is kept byte for byte), the names of views, triggers and policies."""
    s = schema.normalised()
    facts = {
        "tables": [(t.qualified, t.partition_of, t.partition_by, t.comment,
                    [(c.name, c.type, c.nullable, c.default, c.identity, c.generated,
                      c.collation, c.comment) for c in t.columns]) for t in s.tables],
        "constraints": [(t.qualified, c.name, c.kind, c.columns, c.ref_qualified,
                         c.ref_columns, c.on_delete, c.on_update, c.deferrable)
                        for t in s.tables for c in t.constraints],
        "indexes": [(t.qualified, i.name, i.unique, i.method, i.columns, i.include)
                    for t in s.tables for i in t.indexes],
        "types": [(e.qualified, e.values) for e in s.enums]
                 + [(d.qualified, d.type, d.nullable, d.default) for d in s.domains]
                 + [(d.qualified, d.sql) for d in s.definitions if d.kind == "type"],
        "sequences": [(q.qualified, q.type, q.increment, q.owned_by) for q in s.sequences],
        "functions": [(d.qualified, d.sql) for d in s.definitions if d.kind == "function"],
        "definitions": [(d.kind, d.qualified) for d in s.definitions
                        if d.kind not in ("type", "function")],
    }
    return {kind: digest(repr(items)) for kind, items in facts.items()}


def exported_facts(text: str) -> dict[str, str] | None:
    """The facts the `// nself export` line of an unedited DBML export records; None when
    there is none, or the text above it was changed since."""
    at = text.rfind("\n" + EXPORT_MARK)
    if at < 0:
        return None
    body, line = text[:at + 1], text[at + 1:].strip()
    try:
        data = json.loads(line[len(EXPORT_MARK):])
        facts = data["schema"]
        if data["file"] != digest(body) or not isinstance(facts, dict):
            return None
    except (ValueError, KeyError, TypeError):
        return None
    return facts


def _any(schema: Schema) -> bool:
    return any((schema.schemas, schema.extensions, schema.domains, schema.sequences,
                schema.tables, schema.definitions, schema.comments, schema.privileges))


def _sql_note(extra: Schema, fixes: list[str], tables: set[str]) -> str:
    """What DBML cannot express but SQL can, in a sticky note (`Note nself_sql`) that
    `schema import` builds together with the tables: an export imported into an empty
    project gives back the same schema. "" when there is nothing of the kind. TABLES: the
    qualified names of all the schema's tables."""
    # what the tables need first (and partitions; the types and functions that use no table,
    # in dependency order with the domains), then the tables' own fixes, then what uses
    # them (views, triggers, policies: they may depend on a fixed column)
    views = {d.qualified for d in extra.definitions if d.kind in ("view", "materialized view")}
    first = [d for d in extra.definitions if order.tier(d, tables, views) == order.EARLY]
    before = replace(extra, definitions=first, comments={}, privileges=[])
    after = Schema(definitions=[d for d in extra.definitions if d not in first],
                   comments=extra.comments, privileges=extra.privileges)

    def script(part: Schema) -> str:  # schema import sets check_function_bodies itself
        return to_sql(part).removeprefix(SCRIPT_HEADER + "\n\n").rstrip("\n")

    statements = [script(part) for part in (before,) if _any(part)]
    if fixes:
        statements.append("\n".join(fixes))
    if _any(after):
        statements.append(script(after))
    if not statements:
        return ""
    text = "\n\n".join([
        "-- What DBML cannot express, as SQL (written by nself db schema export).\n"
        "-- nself db schema import builds it with the tables: keep this note's name.",
        *statements])
    # inside DBML's ''' string a backslash, and a quote that would start ''', are escaped
    text = re.sub(r"'(?='')", lambda m: "\\'", text.replace("\\", "\\\\"))
    return f"Note {SQL_NOTE} {{\n'''\n{text}\n'''\n}}"


def _serial_sequence(sequence, tables: dict[str, Table]) -> bool:
    """Whether SEQUENCE is a serial column's own (DBML writes that column as serial)."""
    if not sequence.owned_by:
        return False
    table_name, _, column_name = sequence.owned_by.rpartition(".")
    table = tables.get(table_name)
    column = table.column(column_name) if table else None
    return column is not None and _serial_of(table, column, sequence.qualified)


def _serial_of(table: Table, column, sequence_qualified: str) -> bool:
    """Whether COLUMN of TABLE is a serial one: an integer type defaulting to the nextval of
    the sequence serial would make, <table>_<column>_seq in the table's schema (a table
    renamed since keeps its old sequence: that one is no serial's, it is kept by name)."""
    schema, _, name = sequence_qualified.partition(".")
    regclass = ident(name) if schema == "public" else qualified(schema, name)
    return (column.type in _SERIAL and column.default == f"nextval('{regclass}'::regclass)"
            and schema == table.schema and name == f"{table.name}_{column.name}_seq")


def _dbml_table(t: Table, s: Schema, missing: list[str], fixes: list[str]) -> str:
    label = dbml_table_name(t.schema, t.name)
    name = ddl.table_name(t)
    names = {c.name for c in t.columns}
    pk = t.primary_key
    single_pk = pk.columns[0] if pk and len(pk.columns) == 1 and _default_name(
        pk, t, "pkey") else None
    # (not on the primary key's column: `[pk, unique]` is one key, as PRIMARY KEY UNIQUE)
    single_unique = {c.columns[0] for c in t.constraints
                     if c.kind == "u" and len(c.columns) == 1 and _default_name(c, t, "key")
                     and c.definition == f"UNIQUE ({ident(c.columns[0])})"
                     and c.columns[0] != single_pk}
    owned = {q.owned_by.rpartition(".")[2]: q for q in s.sequences
             if q.owned_by and q.owned_by.rpartition(".")[0] == t.qualified}
    late = _late_functions(t, s)
    lines = []
    for c in t.columns:
        settings = []
        type_ = dbml_type(c.type)
        default = c.default
        if c.name in owned and _serial_of(t, c, owned[c.name].qualified):
            type_, default = _SERIAL[c.type], None
        if c.name == single_pk:
            settings.append("pk")
        if c.identity:
            settings.append("increment")
        if not c.nullable and c.name != single_pk:
            settings.append("not null")
        if c.name in single_unique:
            settings.append("unique")
        if default is not None and not c.generated and any(f in default for f in late):
            # it calls a function that needs tables: set once the tables and it exist
            missing.append(f"default of {t.qualified}.{c.name}: {default}")
            fixes.append(f"ALTER TABLE {name} ALTER COLUMN {ident(c.name)} SET DEFAULT "
                         f"{default};")
        elif default is not None and not c.generated:
            settings.append(f"default: {dbml_default(default, c.type)}")
        if c.comment is not None:
            settings.append(f"note: {dbml_string(c.comment)}")
        tail = f" [{', '.join(settings)}]" if settings else ""
        lines.append(f"  {dbml_name(c.name)} {type_}{tail}")
        column = f"ALTER TABLE {name} ALTER COLUMN {ident(c.name)}"
        if c.generated:
            missing.append(f"generated column {t.qualified}.{c.name} "
                           f"GENERATED ALWAYS AS ({c.generated}) STORED")
            # a line schema import reads: the column is created generated, in its place
            fixes.insert(0, directive(GENERATED, table=t.qualified, column=c.name,
                                      expression=c.generated))
        elif c.collation:
            fixes.append(f"{column} TYPE {c.type} COLLATE {ddl.collation(c.collation)};")
        if c.collation:
            missing.append(f"collation {c.collation} of {t.qualified}.{c.name}")
        if c.identity == "always":
            missing.append(f"identity {t.qualified}.{c.name} is GENERATED ALWAYS")
            fixes.append(f"{column} SET GENERATED ALWAYS;")
    indexes = []
    for c in t.constraints:
        if c.kind in ("p", "u") and c.columns and (
                len(c.columns) > 1 or not _default_name(c, t, "pkey" if c.kind == "p" else "key")
                or (c.kind == "u" and c.columns[0] not in single_unique)):
            word = "pk" if c.kind == "p" else "unique"
            indexes.append(f"    {_dbml_index_columns(c.columns, names)} [{word}, "
                           f"name: {dbml_string(c.name)}]")
            if c.kind == "u":
                # DBML's indexes make a unique index: schema import turns it back into the
                # constraint it was (as declared, when DBML cannot say all of it)
                missing.append(f"unique constraint {t.qualified}.{c.name}: {c.definition}")
                if c.definition in ("", "UNIQUE (" + ", ".join(ident(x) for x in c.columns)
                                    + ")"):
                    fixes.append(f"ALTER TABLE {name} ADD CONSTRAINT {ident(c.name)} UNIQUE "
                                 f"USING INDEX {ident(c.name)};")
                else:
                    fixes.append(f"DROP INDEX {qualified(t.schema, c.name)};")
                    fixes.append(f"ALTER TABLE {name} ADD CONSTRAINT {ident(c.name)} "
                                 f"{ddl.constraint_body(c)};")
        elif c.kind in ("c", "x"):
            word = "check" if c.kind == "c" else "exclusion"
            missing.append(f"{word} constraint {t.qualified}.{c.name}: {c.definition}")
            fixes.append(f"ALTER TABLE {name} ADD CONSTRAINT {ident(c.name)} "
                         f"{ddl.constraint_body(c)};")
        if c.comment is not None:
            missing.append(f"comment on constraint {t.qualified}.{c.name}")
            fixes.append(ddl.comment(f"CONSTRAINT {ident(c.name)} ON {name}", c.comment))
    for i in t.indexes:
        if _dbml_index_ok(i):
            settings = (["unique"] if i.unique else []) + [f"name: {dbml_string(i.name)}"]
            if i.method != "btree":
                settings.append(f"type: {i.method}")
            if i.comment is not None:
                settings.append(f"note: {dbml_string(i.comment)}")
            indexes.append(f"    {_dbml_index_columns(i.columns, names)} "
                           f"[{', '.join(settings)}]")
        else:
            missing.append(f"index {t.schema}.{i.name}: {ddl.create_index(i, t)}")
            fixes.append(ddl.create_index(i, t))
    if indexes:
        lines += ["", "  indexes {", *indexes, "  }"]
    if t.comment is not None:
        lines += ["", f"  Note: {dbml_string(t.comment)}"]
    if t.partition_by:
        missing.append(f"partitioning of {t.qualified}: PARTITION BY {t.partition_by}")
        # before the statements: the table must be created partitioned (schema import
        # reads this line)
        fixes.insert(0, directive(PARTITION_BY, table=t.qualified, by=t.partition_by))
    if t.row_security or t.force_row_security:
        missing.append(f"row level security of {t.qualified}")
        if t.row_security:
            fixes.append(f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY;")
        if t.force_row_security:
            fixes.append(f"ALTER TABLE {name} FORCE ROW LEVEL SECURITY;")
    return f"Table {label} {{\n" + "\n".join(lines) + "\n}"


def _late_functions(t: Table, s: Schema) -> list[str]:
    """How a default calls the functions T uses that need a table themselves ('b_next(',
    'app.f('): the note creates them after the tables."""
    if not t.uses:
        return []
    names, views = order.relations(s)
    found = []
    for d in s.definitions:
        if d.qualified in t.uses and order.tier(d, names, views) != order.EARLY:
            name = d.name.partition("(")[0]
            found.append((ident(name) if d.schema == "public"
                          else qualified(d.schema, name)) + "(")
    return found


def _default_name(c: Constraint, t: Table, suffix: str) -> bool:
    """Whether C has the name PostgreSQL gives it unnamed (so DBML need not carry it)."""
    if suffix == "pkey":
        return c.name == f"{t.name}_pkey"
    return c.name == f"{t.name}_{'_'.join(c.columns)}_{suffix}"


def _dbml_index_columns(columns: list[str], names: set[str]) -> str:
    """Index or key columns: a column of the table by its (quoted if need be) name, an
    expression in backticks."""
    items = [dbml_name(_unquoted(c, names)) if c in names or _DBML_PLAIN.match(c)
             or not is_expression(c) else f"`{c}`" for c in columns]
    return items[0] if len(items) == 1 else f"({', '.join(items)})"


def _unquoted(text: str, names: set[str]) -> str:
    """An index column as pg_get_indexdef prints it ('"userId"') -> the column's name
    ('userId'), so that DBML quotes it once; anything else as it is."""
    if text not in names and re.fullmatch(r'"(?:[^"]|"")+"', text):
        name = text[1:-1].replace('""', '"')
        if name in names:
            return name
    return text


def key_index(index: Index) -> bool:
    """Whether a foreign key may refer to INDEX's columns (unique, plain columns, no
    WHERE): such an index is created before the foreign keys (SQL and migrations)."""
    return index.unique and index.where is None and not any(
        is_expression(c) for c in index.columns)


def is_expression(text: str) -> bool:
    """Whether an index column text is an expression rather than a column name."""
    return ddl.index_expression(text) and not text.startswith('"')


def _dbml_index_ok(i: Index) -> bool:
    """Whether DBML can carry index I (btree or hash, no WHERE, INCLUDE, ordering, opclass
    or collation)."""
    if i.method not in ("btree", "hash") or i.where or i.include:
        return False
    tail = ddl.index_tail(i)
    return not re.search(r"\b(DESC|NULLS FIRST|NULLS LAST|COLLATE)\b|_ops\b", tail)


def _dbml_ref(t: Table, c: Constraint, missing: list[str], fixes: list[str]) -> str:
    source = dbml_table_name(t.schema, t.name)
    target = dbml_table_name(c.ref_schema or "public", c.ref_table or "")
    settings = []
    if c.on_delete != "NO ACTION":
        settings.append(f"delete: {_ACTION_WORDS[c.on_delete]}")
    if c.on_update != "NO ACTION":
        settings.append(f"update: {_ACTION_WORDS[c.on_update]}")
    tail = f" [{', '.join(settings)}]" if settings else ""
    name = "" if _default_name(c, t, "fkey") else f" {dbml_name(c.name)}"
    rebuilt = ddl.constraint_body(replace(c, definition="", deferrable=False,
                                          initially_deferred=False))
    if c.definition and _normal_fk(c.definition) != _normal_fk(rebuilt):
        missing.append(f"foreign key details {t.qualified}.{c.name}: {c.definition}")
        fixes.append(f"ALTER TABLE {ddl.table_name(t)} DROP CONSTRAINT {ident(c.name)};")
        fixes.append(f"ALTER TABLE {ddl.table_name(t)} ADD CONSTRAINT {ident(c.name)} "
                     f"{ddl.constraint_body(c)};")
    return (f"Ref{name}: {source}.{_ref_columns(c.columns)} > "
            f"{target}.{_ref_columns(c.ref_columns)}{tail}")


def _normal_fk(text: str) -> str:
    """An FK definition without the parts DBML does carry spelled differently."""
    return re.sub(r"\s+", " ", re.sub(r"REFERENCES \S+?\(", "REFERENCES (", text)).strip()


def _ref_columns(columns: list[str]) -> str:
    names = [dbml_name(c) for c in columns]
    return names[0] if len(names) == 1 else f"({', '.join(names)})"
