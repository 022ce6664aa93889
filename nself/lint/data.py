"""Rules on what a migration does to the data and to the application reading it.

DS: destructive (rows or objects holding rows are lost); BC: backward incompatible (the
running application breaks: a name it uses is gone or changed); MF: data dependent (may
fail on the rows production holds, however well it runs on an empty database); CD: a
constraint's guarantee is dropped. The codes follow Atlas's, the names squawk's where they
have one. A table created in the same migration holds no rows and no application uses it
yet: nothing here is reported on it.
"""

from __future__ import annotations

from collections.abc import Iterator

from nself import sql
from nself.lint.context import object_key, qualified
from nself.lint.rule import TABLE_CHANGES, Finding, Stmt, finding, rule

# Types a column may be declared with that give every row a value without a DEFAULT
FILLED_TYPES = {"serial", "bigserial", "smallserial", "serial2", "serial4", "serial8"}
# Objects whose RENAME or move breaks the application that names them
RENAMED_OBJECTS = {"OBJECT_SCHEMA": "schema", "OBJECT_VIEW": "view",
                   "OBJECT_MATVIEW": "materialized view", "OBJECT_FUNCTION": "function",
                   "OBJECT_PROCEDURE": "procedure", "OBJECT_TYPE": "type",
                   "OBJECT_DOMAIN": "domain", "OBJECT_SEQUENCE": "sequence",
                   "OBJECT_ATTRIBUTE": "attribute", "OBJECT_FOREIGN_TABLE": "foreign table"}
# Dropped objects that are the application's code, not its rows
CODE_OBJECTS = {"OBJECT_VIEW": "VIEW", "OBJECT_FUNCTION": "FUNCTION",
                "OBJECT_PROCEDURE": "PROCEDURE", "OBJECT_TRIGGER": "TRIGGER"}
TYPE_OBJECTS = {"OBJECT_TYPE": "TYPE", "OBJECT_DOMAIN": "DOMAIN"}
# Column types every value of the usual column types fits in unchanged
ROOMY_TYPES = {"text", "bigint", "numeric", "double precision", "character varying"}
HOLDING_OBJECTS = {"OBJECT_SEQUENCE": "SEQUENCE", "OBJECT_MATVIEW": "MATERIALIZED VIEW",
                   "OBJECT_FOREIGN_TABLE": "FOREIGN TABLE"}


# What the context knows of a table ---------------------------------------------------------


def table_name(rel) -> str:
    """A RangeVar as written (`s.t` or `t`)."""
    return f"{rel.schemaname}.{rel.relname}" if rel.schemaname else rel.relname


def key(name: str) -> str:
    """A name as written (`t`, `s.t`) as the context knows tables (`public.t`)."""
    schema, _, table = name.rpartition(".")
    return qualified(schema or None, table)


def same_table(rel, table: str) -> bool:
    """Whether RangeVar `rel` names `table` (as written; no schema means public)."""
    return key(table_name(rel)) == key(table)


def is_new(ctx, table: str) -> bool:
    """Whether `table` (as written) is created earlier in the same migration: it has no
    rows, and no running application uses it yet."""
    return ctx.is_new(key(table))


def rows(ctx, table: str) -> int | None:
    """The table's row count when the context knows it (the live database)."""
    return ctx.rows(key(table))


def found(rule_id: str, stmt: Stmt, ctx, message: str, why: str, safe: str,
          table: str | None = None) -> Finding:
    """`rule.finding` with `table` as written (its size looked up by its schema name)."""
    return finding(rule_id, stmt, ctx, message, why, safe, key(table) if table else None)


def earlier(ctx) -> list:
    """The parse trees of the migration's statements before this one."""
    return [st.node for st in ctx.before if st.node is not None]


def alter_cmds(stmt: Stmt, *subtypes: str) -> Iterator:
    """The ALTER TABLE subcommands of `stmt` of the given kinds (none for other statements
    or an ALTER TYPE's attributes)."""
    node = stmt.node
    if type(node).__name__ != "AlterTableStmt" or node.objtype.name != "OBJECT_TABLE":
        return
    for cmd in node.cmds or ():
        if cmd.subtype.name in subtypes:
            yield cmd


def on_existing(stmt: Stmt, ctx, *subtypes: str) -> Iterator[tuple[object, str]]:
    """(subcommand, table as written) for `stmt`'s ALTER TABLE subcommands of the given
    kinds, on a table this migration did not create."""
    for cmd in alter_cmds(stmt, *subtypes):
        table = table_name(stmt.node.relation)
        if not is_new(ctx, table):
            yield cmd, table


def drop_names(node) -> list[str]:
    return [sql._dotted(o) for o in node.objects or ()]


def old_drop_names(node, ctx) -> list[str]:
    """The objects DropStmt `node` names (as written) that neither this migration nor an
    earlier pending one of the same run creates."""
    removed = node.removeType.name
    return [sql._dotted(o) for o in node.objects or ()
            if not ctx.is_new_object(removed, object_key(removed, o) or "")]


# DS: destructive -------------------------------------------------------------------------


@rule("DS101", "ban-drop-schema", "error", "DROP SCHEMA deletes every object in it",
      kinds=("DropStmt",))
def drop_schema(stmt: Stmt, ctx) -> Iterator[Finding]:
    if stmt.kind == "DropStmt" and stmt.node.removeType.name == "OBJECT_SCHEMA":
        yield found("DS101", stmt, ctx, f"DROP SCHEMA {', '.join(drop_names(stmt.node))}",
                    "every table of the schema and its rows are gone, with no way back "
                    "but a backup",
                    "stop the application using it, take a backup, then drop it in a "
                    "migration of its own")


@rule("DS102", "ban-drop-table", "error", "DROP TABLE deletes the table's rows",
      kinds=("DropStmt",))
def drop_table(stmt: Stmt, ctx) -> Iterator[Finding]:
    if stmt.kind != "DropStmt" or stmt.node.removeType.name != "OBJECT_TABLE":
        return
    for table in drop_names(stmt.node):
        if not is_new(ctx, table):
            yield found("DS102", stmt, ctx, f"DROP TABLE {table}",
                        "its rows are lost, and the running application still reads "
                        "and writes it",
                        "release the application that no longer uses the table first; "
                        "rename it aside or keep a backup; drop it in a later migration",
                        table=table)


@rule("DS103", "ban-drop-column", "error", "DROP COLUMN deletes the column's values",
      kinds=TABLE_CHANGES)
def drop_column(stmt: Stmt, ctx) -> Iterator[Finding]:
    for cmd, table in on_existing(stmt, ctx, "AT_DropColumn"):
        yield found("DS103", stmt, ctx, f"DROP COLUMN {table}.{cmd.name}",
                    "its values are lost, and the running application may still select "
                    "or insert it (an error on every such query)",
                    "release the application that no longer uses the column, then drop "
                    "it in a later migration", table=table)


@rule("DS104", "ban-drop-database", "error", "DROP DATABASE in a migration",
      kinds=("DropdbStmt",))
def drop_database(stmt: Stmt, ctx) -> Iterator[Finding]:
    if stmt.kind == "DropdbStmt":
        yield found("DS104", stmt, ctx, f"DROP DATABASE {stmt.node.dbname}",
                    "a migration never needs to drop a whole database: everything in it "
                    "is gone",
                    "drop databases by hand, after a backup (nself db backup), never "
                    "in a migration")


@rule("DS105", "ban-truncate", "error", "TRUNCATE deletes every row",
      kinds=("TruncateStmt",))
def truncate(stmt: Stmt, ctx) -> Iterator[Finding]:
    if stmt.kind != "TruncateStmt":
        return
    tables = [table_name(r) for r in stmt.node.relations or ()]
    if all(is_new(ctx, t) for t in tables):
        return
    yield found("DS105", stmt, ctx, f"TRUNCATE {', '.join(tables)}",
                "every row of the table is deleted, at once and for good",
                "DELETE the rows you mean with a WHERE (in batches on a large table), "
                "after a backup", table=tables[0])


@rule("DS112", "ban-drop-cascade", "error", "DROP ... CASCADE",
      kinds=("DropStmt", "AlterTableStmt"))
def drop_cascade(stmt: Stmt, ctx) -> Iterator[Finding]:
    node = stmt.node
    if stmt.kind == "DropStmt" and node.behavior.name == "DROP_CASCADE":
        names = drop_names(node)
        if node.removeType.name == "OBJECT_TABLE" and all(is_new(ctx, n) for n in names):
            return
        noun = node.removeType.name.removeprefix("OBJECT_").replace("_", " ")
        what = f"DROP {noun} {', '.join(names)} CASCADE"
    else:
        cascading = [cmd for cmd, _ in on_existing(stmt, ctx, "AT_DropColumn",
                                                   "AT_DropConstraint")
                     if cmd.behavior.name == "DROP_CASCADE"]
        if not cascading:
            return
        what = f"ALTER TABLE {table_name(node.relation)} DROP {cascading[0].name} CASCADE"
    yield found("DS112", stmt, ctx, what,
                "CASCADE also drops what depends on it, unnamed: views, foreign keys, "
                "defaults, triggers, and with a type or domain the columns of that type",
                "drop the dependent objects by name first (the error without CASCADE "
                "lists them), then this one without CASCADE")


@rule("DS106", "ban-truncate-cascade", "error", "TRUNCATE ... CASCADE",
      kinds=("TruncateStmt",))
def truncate_cascade(stmt: Stmt, ctx) -> Iterator[Finding]:
    if stmt.kind == "TruncateStmt" and stmt.node.behavior.name == "DROP_CASCADE":
        tables = [table_name(r) for r in stmt.node.relations or ()]
        yield found("DS106", stmt, ctx, f"TRUNCATE {', '.join(tables)} CASCADE",
                    "CASCADE also empties every table with a foreign key to it, and "
                    "their referrers in turn: tables the statement does not name",
                    "name every table to empty, without CASCADE: PostgreSQL then "
                    "refuses when another table still refers to them")


# the last statement's run nodes: DS107 and DS108 walk the same statement in turn
_last_run: list = [None, ()]


def _run_nodes(stmt: Stmt, kind: str) -> Iterator:
    if _last_run[0] is not stmt:
        _last_run[:] = [stmt, tuple(sql._run_nodes(stmt.node)) if stmt.node is not None
                        else ()]
    for node in _last_run[1]:
        if type(node).__name__ == kind:
            yield node


@rule("DS107", "ban-delete-without-where", "error", "DELETE without WHERE")
def delete_all(stmt: Stmt, ctx) -> Iterator[Finding]:
    for node in _run_nodes(stmt, "DeleteStmt"):
        table = table_name(node.relation)
        if node.whereClause is None and not is_new(ctx, table):
            yield found("DS107", stmt, ctx, f"DELETE FROM {table} without WHERE",
                        "every row of the table is deleted",
                        "add the WHERE that names the rows to delete (WHERE true says "
                        "you mean all of them); batch it on a large table", table=table)


@rule("DS108", "ban-update-without-where", "warning", "UPDATE without WHERE")
def update_all(stmt: Stmt, ctx) -> Iterator[Finding]:
    for node in _run_nodes(stmt, "UpdateStmt"):
        table = table_name(node.relation)
        if node.whereClause is None and not is_new(ctx, table):
            yield found("DS108", stmt, ctx, f"UPDATE {table} without WHERE",
                        "every row is overwritten (the old values are lost) and locked "
                        "until the transaction ends; on a large table that is one long "
                        "write lock on every row",
                        "add the WHERE that names the rows (a backfill: WHERE col IS "
                        "NULL), in batches of a few thousand rows", table=table)


@rule("DS109", "ban-drop-data-object", "warning",
      "DROP SEQUENCE / MATERIALIZED VIEW / FOREIGN TABLE",
      kinds=("DropStmt",))
def drop_holding(stmt: Stmt, ctx) -> Iterator[Finding]:
    if stmt.kind != "DropStmt":
        return
    noun = HOLDING_OBJECTS.get(stmt.node.removeType.name)
    names = old_drop_names(stmt.node, ctx)
    if noun and names:
        yield found("DS109", stmt, ctx, f"DROP {noun} {', '.join(names)}",
                    "a sequence's counter (ids handed out again from the start when it "
                    "is made anew) or a materialized view's rows are lost",
                    "drop it once nothing uses it; for a sequence, keep its last value "
                    "(SELECT last_value) to restart a new one from there")


@rule("DS110", "ban-drop-owned", "error", "DROP OWNED BY",
      kinds=("DropOwnedStmt",))
def drop_owned(stmt: Stmt, ctx) -> Iterator[Finding]:
    if stmt.kind == "DropOwnedStmt":
        yield found("DS110", stmt, ctx, "DROP OWNED",
                    "every object the roles own in this database is dropped, tables "
                    "and their rows included",
                    "REASSIGN OWNED BY the role TO another first, then DROP OWNED only "
                    "removes its privileges")


@rule("DS111", "lossy-column-type", "warning",
      "ALTER COLUMN ... TYPE that may change or drop values",
      kinds=TABLE_CHANGES)
def lossy_type(stmt: Stmt, ctx) -> Iterator[Finding]:
    if stmt.node is None or stmt.kind != "AlterTableStmt":
        return
    for change in stmt.statement.type_changes:
        table = f"{change.schema}.{change.table}" if change.schema else change.table
        if is_new(ctx, table):
            continue
        old = ctx.earlier.columns.get(key(table), {}).get(change.column)
        if old is None and not change.using and change.new_type in ROOMY_TYPES:
            continue  # the usual types all fit in these
        if not change.loses_data(old):
            continue
        how = " USING an expression" if change.using else f" (from {old})" if old else ""
        yield found("DS111", stmt, ctx, f"{change}{how}",
                  "values that do not fit the new type are cut, rounded or refused (the "
                  "migration fails on production's rows), and the change cannot be "
                  "undone from the data",
                  "add a column of the new type, backfill it in batches, switch the "
                  "application, drop the old column later", table=table)


# BC: backward incompatible ---------------------------------------------------------------


@rule("BC101", "renaming-table", "error", "RENAME of a table",
      kinds=("RenameStmt",))
def rename_table(stmt: Stmt, ctx) -> Iterator[Finding]:
    node = stmt.node
    if stmt.kind != "RenameStmt" or node.renameType.name not in ("OBJECT_TABLE",):
        return
    table = table_name(node.relation)
    if not is_new(ctx, table):
        yield found("BC101", stmt, ctx, f"ALTER TABLE {table} RENAME TO {node.newname}",
                    "the running application still queries the old name: every query "
                    "fails from the moment the migration commits until the new release "
                    "is out",
                    f"create the new table (or a view {node.newname} over the old one), "
                    "switch the application, drop the old name in a later migration",
                    table=table)


@rule("BC102", "renaming-column", "error", "RENAME of a column",
      kinds=("RenameStmt",))
def rename_column(stmt: Stmt, ctx) -> Iterator[Finding]:
    node = stmt.node
    if stmt.kind != "RenameStmt" or node.renameType.name != "OBJECT_COLUMN" \
            or node.relationType.name != "OBJECT_TABLE":
        return
    table = table_name(node.relation)
    if not is_new(ctx, table):
        yield found("BC102", stmt, ctx,
                    f"RENAME COLUMN {table}.{node.subname} TO {node.newname}",
                    "the running application still selects and inserts the old name: "
                    "those queries fail until the new release is out",
                    f"add the column {node.newname}, backfill it (and keep both in step "
                    "with a trigger), switch the application, drop the old column later",
                    table=table)


@rule("BC103", "ban-drop-not-null", "warning", "ALTER COLUMN ... DROP NOT NULL",
      kinds=TABLE_CHANGES)
def drop_not_null(stmt: Stmt, ctx) -> Iterator[Finding]:
    for cmd, table in on_existing(stmt, ctx, "AT_DropNotNull"):
        yield found("BC103", stmt, ctx, f"ALTER COLUMN {table}.{cmd.name} DROP NOT NULL",
                    "code reading the column never expected a NULL; the first one written "
                    "breaks it",
                    "release readers that handle NULL first, then drop the constraint",
                    table=table)


@rule("BC104", "renaming-object", "warning",
      "RENAME of a schema, view, function, type, sequence or enum value",
      kinds=("AlterEnumStmt", "RenameStmt"))
def rename_other(stmt: Stmt, ctx) -> Iterator[Finding]:
    node = stmt.node
    if stmt.kind == "AlterEnumStmt" and node.oldVal is not None:
        yield found("BC104", stmt, ctx, f"RENAME VALUE {node.oldVal!r} TO {node.newVal!r}",
                    "rows keep the value but the application still writes and compares "
                    "the old label: those statements fail",
                    "add the new value, move rows and the application to it, stop "
                    "using the old one")
        return
    if stmt.kind != "RenameStmt":
        return
    noun = RENAMED_OBJECTS.get(node.renameType.name)
    if noun is None:
        return
    old = table_name(node.relation) if node.relation is not None else \
        sql._dotted(node.object) if node.object is not None else node.subname
    if node.relation is not None and is_new(ctx, old):
        return
    yield found("BC104", stmt, ctx, f"RENAME {noun} {old} TO {node.newname}",
                f"the running application (and other objects' SQL text: functions "
                f"are stored as text) still name the {noun} by its old name",
                f"create the {noun} under its new name beside the old one, switch the "
                "application, drop the old one later")


@rule("BC105", "ban-drop-type", "warning", "DROP TYPE / DOMAIN",
      kinds=("DropStmt",))
def drop_type(stmt: Stmt, ctx) -> Iterator[Finding]:
    if stmt.kind == "DropStmt" and stmt.node.removeType.name in TYPE_OBJECTS:
        noun = TYPE_OBJECTS[stmt.node.removeType.name]
        yield found("BC105", stmt, ctx, f"DROP {noun} {', '.join(drop_names(stmt.node))}",
                    "the application may cast to it or call functions taking it; with "
                    "CASCADE the columns of that type are dropped too",
                    "drop the columns and functions using it first, each once nothing "
                    "uses them, and the type last, without CASCADE")


@rule("BC106", "ban-drop-code-object", "warning", "DROP VIEW / FUNCTION / PROCEDURE / TRIGGER",
      kinds=("DropStmt",))
def drop_code(stmt: Stmt, ctx) -> Iterator[Finding]:
    if stmt.kind == "DropStmt" and stmt.node.removeType.name in CODE_OBJECTS:
        noun = CODE_OBJECTS[stmt.node.removeType.name]
        names = old_drop_names(stmt.node, ctx)
        if not names:
            return
        yield found("BC106", stmt, ctx, f"DROP {noun} {', '.join(names)}",
                    "the running application may still query or call it (a trigger: "
                    "what it kept in step stops being kept)",
                    "release the application that no longer uses it, then drop it in a "
                    "later migration; to change it, CREATE OR REPLACE it")


@rule("BC107", "ban-set-schema", "warning", "ALTER ... SET SCHEMA",
      kinds=("AlterObjectSchemaStmt",))
def set_schema(stmt: Stmt, ctx) -> Iterator[Finding]:
    node = stmt.node
    if stmt.kind != "AlterObjectSchemaStmt":
        return
    name = table_name(node.relation) if node.relation is not None else sql._dotted(node.object)
    if node.relation is not None and is_new(ctx, name):
        return
    yield found("BC107", stmt, ctx, f"SET SCHEMA {node.newschema} on {name}",
                "the application finds it through its search_path or a schema-qualified "
                "name: after the move it is no longer there",
                "create it in the new schema (or a view there), switch the application, "
                "drop the old one later")


@rule("BC108", "ban-drop-default", "warning", "ALTER COLUMN ... DROP DEFAULT / DROP IDENTITY",
      kinds=TABLE_CHANGES)
def drop_default(stmt: Stmt, ctx) -> Iterator[Finding]:
    for cmd, table in on_existing(stmt, ctx, "AT_ColumnDefault", "AT_DropIdentity"):
        if cmd.subtype.name == "AT_ColumnDefault" and cmd.def_ is not None:
            continue  # SET DEFAULT
        what = "DROP IDENTITY" if cmd.subtype.name == "AT_DropIdentity" else "DROP DEFAULT"
        yield found("BC108", stmt, ctx, f"ALTER COLUMN {table}.{cmd.name} {what}",
                    "inserts that leave the column out now write NULL, or fail on a NOT "
                    "NULL column: the running application's inserts break",
                    "release an application that always gives the column a value, then "
                    "drop the default", table=table)


# MF: data dependent -----------------------------------------------------------------------


def _unique_target(stmt: Stmt) -> tuple[str, str, list[str]] | None:
    """(table, what, columns) when `stmt` makes columns of a table unique."""
    node = stmt.node
    if stmt.kind == "IndexStmt" and node.unique:
        return table_name(node.relation), f"UNIQUE INDEX {node.idxname or ''}".rstrip(), \
            [e.name for e in node.indexParams or () if e.name]
    for cmd in alter_cmds(stmt, "AT_AddConstraint"):
        con = cmd.def_
        if con.contype.name in ("CONSTR_UNIQUE", "CONSTR_PRIMARY") and not con.indexname:
            noun = "PRIMARY KEY" if con.contype.name == "CONSTR_PRIMARY" else "UNIQUE"
            return table_name(node.relation), noun, [k.sval for k in con.keys or ()]
    return None


def _has_rows(ctx, table: str) -> bool:
    return not is_new(ctx, table) and rows(ctx, table) != 0


@rule("MF101", "unique-may-fail", "warning",
      "UNIQUE index or constraint on a table that has rows",
      kinds=("IndexStmt", "AlterTableStmt"))
def unique_may_fail(stmt: Stmt, ctx) -> Iterator[Finding]:
    target = _unique_target(stmt)
    if target is None or not _has_rows(ctx, target[0]) or _was_dropped_index(stmt, ctx):
        return
    table, what, columns = target
    cols = ", ".join(columns)
    yield found("MF101", stmt, ctx, f"{what} on {table} ({cols})",
                "it fails on the first duplicate production holds, however well it runs "
                "on a development database",
                f"look first: SELECT {cols}, count(*) FROM {table} GROUP BY {cols} "
                "HAVING count(*) > 1; clean the duplicates in an earlier migration",
                table=table)


def _was_dropped_index(stmt: Stmt, ctx) -> bool:
    return _dropped_before(stmt, ctx) is not None


def _dropped_before(stmt: Stmt, ctx) -> str | None:
    """The name of the index this unique index replaces: one dropped earlier in the
    migration under the same name."""
    if stmt.kind != "IndexStmt" or not stmt.node.unique or not stmt.node.idxname:
        return None
    for node in earlier(ctx):
        if type(node).__name__ == "DropStmt" and node.removeType.name == "OBJECT_INDEX":
            for name in drop_names(node):
                if name.rpartition(".")[2] == stmt.node.idxname:
                    return name
    return None


@rule("MF102", "index-made-unique", "warning", "a non-unique index made unique",
      kinds=("IndexStmt",))
def made_unique(stmt: Stmt, ctx) -> Iterator[Finding]:
    dropped = _dropped_before(stmt, ctx)
    if dropped is None:
        return
    table = table_name(stmt.node.relation)
    yield found("MF102", stmt, ctx, f"index {dropped} dropped and created again UNIQUE",
                "the build fails on the first duplicate production holds, and then the "
                "table is left without the index it had",
                "create the unique index under a new name (CONCURRENTLY) beside the old "
                "one; drop the old one once it is built", table=table)


def _fills_itself(column) -> bool:
    """Whether a new column gets a value in every row without a DEFAULT clause."""
    names = [n.sval for n in column.typeName.names] if column.typeName is not None else []
    if names and names[-1] in FILLED_TYPES:
        return True
    return any(c.contype.name in ("CONSTR_DEFAULT", "CONSTR_IDENTITY", "CONSTR_GENERATED")
               for c in column.constraints or ())


def _not_null(column) -> bool:
    return column.is_not_null or any(c.contype.name in ("CONSTR_NOTNULL", "CONSTR_PRIMARY")
                                     for c in column.constraints or ())


@rule("MF103", "adding-required-field", "error",
      "ADD COLUMN ... NOT NULL without a DEFAULT on a table with rows",
      kinds=TABLE_CHANGES)
def add_required(stmt: Stmt, ctx) -> Iterator[Finding]:
    for cmd in alter_cmds(stmt, "AT_AddColumn"):
        column = cmd.def_
        table = table_name(stmt.node.relation)
        if not _not_null(column) or _fills_itself(column) or not _has_rows(ctx, table):
            continue
        yield found("MF103", stmt, ctx, f"ADD COLUMN {table}.{column.colname} NOT NULL "
                    "without a DEFAULT",
                    "it fails on a table with rows (\"column contains null values\"), "
                    "and the running application's inserts, which do not name it yet, "
                    "would fail too",
                    "add it with a DEFAULT (no rewrite since PostgreSQL 11), or add it "
                    "nullable, backfill, then set NOT NULL through a validated CHECK",
                    table=table)


def _backfilled(ctx, table: str, column: str) -> bool:
    """Whether an UPDATE earlier in the migration sets `column` of `table`."""
    for node in earlier(ctx):
        if type(node).__name__ == "UpdateStmt" and same_table(node.relation, table) and \
                any(t.name == column for t in node.targetList or ()):
            return True
    return False


@rule("MF104", "set-not-null-may-fail", "warning",
      "ALTER COLUMN ... SET NOT NULL on a table that has rows",
      kinds=TABLE_CHANGES)
def set_not_null(stmt: Stmt, ctx) -> Iterator[Finding]:
    for cmd in alter_cmds(stmt, "AT_SetNotNull"):
        table = table_name(stmt.node.relation)
        if not _has_rows(ctx, table) or _backfilled(ctx, table, cmd.name):
            continue
        yield found("MF104", stmt, ctx, f"SET NOT NULL on {table}.{cmd.name}",
                    "it fails on the first NULL production holds in that column",
                    f"backfill first (UPDATE {table} SET {cmd.name} = ... WHERE "
                    f"{cmd.name} IS NULL, in batches), in an earlier migration or just "
                    "before", table=table)


def _created_columns(ctx, stmt: Stmt, table: str) -> dict[str, bool]:
    """The columns of `table` as a CREATE TABLE in this migration (this statement or an
    earlier one) declares them: name -> NOT NULL."""
    for node in [stmt.node, *earlier(ctx)]:
        if type(node).__name__ == "CreateStmt" and same_table(node.relation, table):
            columns = {e.colname: _not_null(e) for e in node.tableElts or ()
                       if type(e).__name__ == "ColumnDef"}
            for e in node.tableElts or ():
                if type(e).__name__ == "Constraint" and e.contype.name == "CONSTR_PRIMARY":
                    columns.update({k.sval: True for k in e.keys or ()})
            return columns
    return {}


def _unique_column_sets(stmt: Stmt) -> Iterator[tuple[str, list[str], bool]]:
    """(table, columns, NULLS NOT DISTINCT) for each UNIQUE the statement declares."""
    node = stmt.node
    if stmt.kind == "CreateStmt":
        table = table_name(node.relation)
        for e in node.tableElts or ():
            if type(e).__name__ == "ColumnDef":
                for c in e.constraints or ():
                    if c.contype.name == "CONSTR_UNIQUE":
                        yield table, [e.colname], c.nulls_not_distinct
            elif type(e).__name__ == "Constraint" and e.contype.name == "CONSTR_UNIQUE":
                yield table, [k.sval for k in e.keys or ()], e.nulls_not_distinct
    elif stmt.kind == "IndexStmt" and node.unique:
        yield table_name(node.relation), [e.name for e in node.indexParams or () if e.name], \
            node.nulls_not_distinct
    else:
        for cmd in alter_cmds(stmt, "AT_AddConstraint"):
            if cmd.def_.contype.name == "CONSTR_UNIQUE":
                yield table_name(node.relation), [k.sval for k in cmd.def_.keys or ()], \
                    cmd.def_.nulls_not_distinct


@rule("MF105", "unique-on-nullable", "warning", "UNIQUE over nullable columns",
      kinds=("CreateStmt", "IndexStmt", "AlterTableStmt"))
def unique_nullable(stmt: Stmt, ctx) -> Iterator[Finding]:
    if stmt.node is None:
        return
    for table, columns, not_distinct in _unique_column_sets(stmt):
        declared = _created_columns(ctx, stmt, table)
        nullable = [c for c in columns if c in declared and not declared[c]]
        if not_distinct or not nullable:
            continue
        yield found("MF105", stmt, ctx,
                    f"UNIQUE ({', '.join(columns)}) on {table}: {', '.join(nullable)} "
                    "may be NULL",
                    "NULLs are distinct from each other: any number of rows with a NULL "
                    "there pass the constraint, which is rarely what the key means",
                    "declare the columns NOT NULL, or add NULLS NOT DISTINCT "
                    "(PostgreSQL 15+)")


# CD: constraint drops -----------------------------------------------------------------


@rule("CD101", "ban-drop-constraint", "warning",
      "DROP CONSTRAINT (a foreign key, unique, check or primary key)",
      kinds=TABLE_CHANGES)
def drop_constraint(stmt: Stmt, ctx) -> Iterator[Finding]:
    for cmd, table in on_existing(stmt, ctx, "AT_DropConstraint"):
        if ctx.is_new_constraint(key(table), cmd.name):
            continue  # a helper of the same migration (a CHECK before SET NOT NULL)
        yield found("CD101", stmt, ctx, f"DROP CONSTRAINT {cmd.name} on {table}",
                    "the guarantee it gave is gone: rows that break it (orphans, "
                    "duplicates, bad values) can be written from now on, and adding it "
                    "back fails on them",
                    "drop it only once nothing relies on it; to change it, add the new "
                    "one (NOT VALID, then VALIDATE) before dropping the old",
                    table=table)
