"""SQL text for schema objects: identifier quoting and the statements that create,
alter and drop what nself.schema.model describes. No comparison here (that is
nself.schema.diff); every statement ends with a semicolon."""

from __future__ import annotations

import re

from pglast.keywords import COL_NAME_KEYWORDS, RESERVED_KEYWORDS, TYPE_FUNC_NAME_KEYWORDS

from nself.schema.model import Column, Constraint, Definition, Domain, Enum, Index, Sequence, Table

_PLAIN = re.compile(r"[a-z_][a-z0-9_$]*\Z")
# PostgreSQL's quote_identifier() quotes every keyword that is not unreserved.
_KEYWORDS = frozenset(RESERVED_KEYWORDS | COL_NAME_KEYWORDS | TYPE_FUNC_NAME_KEYWORDS)


def ident(name: str) -> str:
    """NAME as an SQL identifier, quoted only when PostgreSQL would need it."""
    if _PLAIN.match(name) and name not in _KEYWORDS:
        return name
    return '"' + name.replace('"', '""') + '"'


def qualified(schema: str, name: str) -> str:
    """schema.name, each part quoted when needed."""
    return f"{ident(schema)}.{ident(name)}"


def literal(text: str) -> str:
    """TEXT as an SQL string literal (standard_conforming_strings is on since 9.1)."""
    return "'" + text.replace("'", "''") + "'"


def split_qualified(name: str) -> tuple[str, str]:
    """'schema.table' -> ('schema', 'table'); a bare name is in public."""
    schema, dot, rest = name.partition(".")
    return (schema, rest) if dot else ("public", schema)


def table_name(table: Table) -> str:
    return qualified(table.schema, table.name)


def column_sql(column: Column) -> str:
    """A column as written inside CREATE TABLE or after ADD COLUMN."""
    parts = [ident(column.name), column.type]
    if column.collation:
        parts.append(f"COLLATE {collation(column.collation)}")
    if column.generated:
        parts.append(f"GENERATED ALWAYS AS ({column.generated}) STORED")
    if column.identity:
        parts.append(f"GENERATED {column.identity.upper()} AS IDENTITY")
    if column.default is not None and not column.generated and not column.identity:
        parts.append(f"DEFAULT {column.default}")
    if not column.nullable:
        parts.append("NOT NULL")
    return " ".join(parts)


def collation(name: str) -> str:
    """A collation name as the model stores it ('C', 'de_DE', or already qualified/quoted)."""
    if name.startswith('"') or "." in name:
        return name
    return ident(name)


def constraint_body(constraint: Constraint) -> str:
    """What follows CONSTRAINT name: the catalog's definition, or one built from the fields.
    A foreign key names its table qualified whatever the catalog printed (`REFERENCES t`
    is public.t where it was read, and another schema's t under DATABASE_SEARCH_PATH)."""
    if constraint.definition and constraint.kind == "f":
        return _qualified_reference(constraint)
    if constraint.definition:
        return constraint.definition
    columns = ", ".join(ident(c) for c in constraint.columns)
    if constraint.kind == "p":
        return f"PRIMARY KEY ({columns})"
    if constraint.kind == "u":
        return f"UNIQUE ({columns})"
    if constraint.kind == "f":
        target = qualified(constraint.ref_schema or "public", constraint.ref_table or "")
        refs = ", ".join(ident(c) for c in constraint.ref_columns)
        text = f"FOREIGN KEY ({columns}) REFERENCES {target}({refs})"
        if constraint.on_update != "NO ACTION":
            text += f" ON UPDATE {constraint.on_update}"
        if constraint.on_delete != "NO ACTION":
            text += f" ON DELETE {constraint.on_delete}"
        if constraint.deferrable:
            text += " DEFERRABLE"
            if constraint.initially_deferred:
                text += " INITIALLY DEFERRED"
        return text
    raise ValueError(f"constraint {constraint.name} of kind {constraint.kind!r} has no definition")


def _qualified_reference(constraint: Constraint) -> str:
    """A foreign key's catalog definition with the table it references schema-qualified."""
    text, table = constraint.definition, constraint.ref_table or ""
    head = f"FOREIGN KEY ({', '.join(ident(c) for c in constraint.columns)}) REFERENCES "
    target = qualified(constraint.ref_schema or "public", table)
    for printed in (ident(table), target):
        if text.startswith(head + printed + "("):
            return head + target + text[len(head + printed):]
    return text


def create_table(table: Table, parent: Table | None = None) -> str:
    """CREATE TABLE with its columns and constraints other than foreign keys; a partition
    is created as PARTITION OF its parent (its columns come from the parent)."""
    name = table_name(table)
    tail = f" PARTITION BY {table.partition_by}" if table.partition_by else ""
    if table.partition_of:
        parent_schema, parent_name = split_qualified(table.partition_of)
        bound = table.partition_bound or "DEFAULT"
        inline, after = _inline_constraints(own_constraints(table, parent))
        items = [f"CONSTRAINT {ident(c.name)} {constraint_body(c)}" for c in inline]
        body = (" (\n    " + ",\n    ".join(items) + "\n)") if items else ""
        return (f"CREATE TABLE {name} PARTITION OF {qualified(parent_schema, parent_name)}"
                f"{body} {bound}{tail};" + _added(name, after))
    inline, after = _inline_constraints(table.constraints)
    items = [column_sql(c) for c in table.columns]
    items += [f"CONSTRAINT {ident(c.name)} {constraint_body(c)}" for c in inline]
    return f"CREATE TABLE {name} (\n    " + ",\n    ".join(items) + f"\n){tail};" + _added(
        name, after)


def _inline_constraints(constraints: list[Constraint]) -> tuple[list[Constraint],
                                                                 list[Constraint]]:
    """The constraints (other than foreign keys) CREATE TABLE holds, and the keys added
    after it: inside one CREATE TABLE, PostgreSQL merges a primary key or UNIQUE on the
    columns of an earlier one into it (one index, one name), while ALTER TABLE adds both."""
    inline, after, seen = [], [], set()
    for c in constraints:
        if c.kind == "f":
            continue
        if c.kind in ("p", "u") and c.columns:
            if tuple(c.columns) in seen:
                after.append(c)
                continue
            seen.add(tuple(c.columns))
        inline.append(c)
    return inline, after


def _added(name: str, constraints: list[Constraint]) -> str:
    return "".join(f"\nALTER TABLE {name} ADD CONSTRAINT {ident(c.name)} {constraint_body(c)};"
                   for c in constraints)


def own_constraints(table: Table, parent: Table | None) -> list[Constraint]:
    """A partition's constraints that its parent does not give it."""
    if parent is None:
        return list(table.constraints)
    inherited = {(c.name, c.kind) for c in parent.constraints}
    inherited |= {(None, c.kind, tuple(c.columns), c.definition) for c in parent.constraints}
    return [c for c in table.constraints
            if (c.name, c.kind) not in inherited
            and (None, c.kind, tuple(c.columns), c.definition) not in inherited]


def index_tail(index: Index) -> str:
    """An index definition from USING on, the part that does not name the index or table."""
    if index.definition:
        at = index.definition.find(" USING ")
        if at >= 0:
            return index.definition[at + 1:]
    text = f"USING {index.method} ({', '.join(index_column(c) for c in index.columns)})"
    if index.include:
        text += f" INCLUDE ({', '.join(ident(c) for c in index.include)})"
    if index.where:
        text += f" WHERE {index.where}"
    return text


def index_expression(text: str) -> bool:
    """Whether an index column text is an expression (or already quoted), not a column's
    name: "created at" is a name (two words are no expression), lower(name) is one."""
    return bool(re.search(r"[()\"',:]", text) or re.search(
        r"\s(asc|desc|nulls\s+(first|last)|collate\s.*)\s*\Z", text, re.I))


def index_column(text: str) -> str:
    """A plain column name is quoted when needed; expressions are kept as written."""
    return text if index_expression(text) else ident(text.strip())


def create_index(index: Index, table: Table) -> str:
    unique = "UNIQUE " if index.unique else ""
    return f"CREATE {unique}INDEX {ident(index.name)} ON {table_name(table)} {index_tail(index)};"


def drop_index(index: Index, table: Table) -> str:
    return f"DROP INDEX {qualified(table.schema, index.name)};"


def create_enum(enum: Enum) -> str:
    values = ", ".join(literal(v) for v in enum.values)
    return f"CREATE TYPE {qualified(enum.schema, enum.name)} AS ENUM ({values});"


def create_domain(domain: Domain) -> str:
    text = f"CREATE DOMAIN {qualified(domain.schema, domain.name)} AS {domain.type}"
    if domain.default is not None:
        text += f" DEFAULT {domain.default}"
    if not domain.nullable:
        text += " NOT NULL"
    for check in domain.checks:
        text += f" {check}"
    return text + ";"


def sequence_options(sequence: Sequence, old: Sequence | None = None) -> str:
    """Options of CREATE SEQUENCE, or of ALTER SEQUENCE for what differs from OLD."""
    parts = []
    if old is None or old.type != sequence.type:
        parts.append(f"AS {sequence.type}")
    if old is None or old.start != sequence.start:
        parts.append(f"START WITH {sequence.start}")
    if old is None or old.increment != sequence.increment:
        parts.append(f"INCREMENT BY {sequence.increment}")
    if old is None or old.min_value != sequence.min_value:
        parts.append("NO MINVALUE" if sequence.min_value is None
                     else f"MINVALUE {sequence.min_value}")
    if old is None or old.max_value != sequence.max_value:
        parts.append("NO MAXVALUE" if sequence.max_value is None
                     else f"MAXVALUE {sequence.max_value}")
    if old is None or old.cycle != sequence.cycle:
        parts.append("CYCLE" if sequence.cycle else "NO CYCLE")
    return " ".join(parts)


def create_sequence(sequence: Sequence) -> str:
    name = qualified(sequence.schema, sequence.name)
    return f"CREATE SEQUENCE {name} {sequence_options(sequence)};"


def owned_by(sequence: Sequence) -> str:
    """ALTER SEQUENCE ... OWNED BY the column the model names (or NONE)."""
    target = "NONE"
    if sequence.owned_by:
        schema, _, rest = sequence.owned_by.partition(".")
        table, _, column = rest.rpartition(".")
        target = f"{qualified(schema, table)}.{ident(column)}"
    return f"ALTER SEQUENCE {qualified(sequence.schema, sequence.name)} OWNED BY {target};"


def definition_target(definition: Definition) -> str:
    """The name DROP and COMMENT take for a carried definition."""
    if definition.kind in ("trigger", "policy"):
        table, _, name = definition.name.rpartition(".")
        return f"{ident(name)} ON {qualified(definition.schema, table)}"
    if definition.kind == "function":
        name, paren, args = definition.name.partition("(")
        return f"{qualified(definition.schema, name)}{paren}{args}"
    return qualified(definition.schema, definition.name)


_DROP_WORD = {"type": "TYPE", "view": "VIEW", "materialized view": "MATERIALIZED VIEW",
              "function": "ROUTINE", "trigger": "TRIGGER", "policy": "POLICY",
              "statistics": "STATISTICS"}


def drop_definition(definition: Definition) -> str:
    return f"DROP {_DROP_WORD[definition.kind]} {definition_target(definition)};"


def create_definition(definition: Definition) -> str:
    text = definition.sql.rstrip()
    return text if text.endswith(";") else text + ";"


_COMMENT_WORD = {"type": "TYPE", "view": "VIEW", "materialized view": "MATERIALIZED VIEW",
                 "function": "ROUTINE", "trigger": "TRIGGER", "policy": "POLICY",
                 "statistics": "STATISTICS"}


def comment_definition(definition: Definition) -> str:
    return comment(f"{_COMMENT_WORD[definition.kind]} {definition_target(definition)}",
                   definition.comment)


def comment(target: str, text: str | None) -> str:
    """COMMENT ON TARGET (e.g. 'TABLE public.users') IS the text, or NULL to remove it."""
    return f"COMMENT ON {target} IS {'NULL' if text is None else literal(text)};"
