"""Lint rules about locks and transactions (PG1xx, TX1xx): statements that block reads or
writes of a table in use for as long as they scan or rewrite it, and migrations whose
transaction holds such a lock longer than it must.

Each rule skips a table created earlier in the same migration: nobody uses it yet.
"""

from __future__ import annotations

from dataclasses import replace

from nself import sql
from nself.lint.context import Context, of_range, qualified
from nself.lint.rule import COLUMN_DECLARATIONS, TABLE_CHANGES, Stmt, finding, rule
from nself.schema import ddl

NO_TX = "in a migration marked `-- nself:no-transaction` (first line)"
# Functions whose value differs per row: as a column default they make ADD COLUMN write
# every row (on every version); stable ones (now(), current_timestamp) are evaluated once.
VOLATILE = {"random", "gen_random_uuid", "uuid_generate_v1", "uuid_generate_v1mc",
            "uuid_generate_v4", "uuidv4", "uuidv7", "clock_timestamp", "timeofday",
            "nextval", "txid_current", "statement_timestamp", "setseed"}
SERIAL = {"serial", "serial2", "serial4", "serial8", "smallserial", "bigserial"}
# old -> new types a column changes between without rewriting the table (binary-coercible)
NO_REWRITE_BASES = {("character varying", "text"), ("text", "character varying"),
                    ("cidr", "inet"), ("character varying", "character varying"),
                    ("numeric", "numeric"), ("bit varying", "bit varying")}


def _existing(ctx: Context, rel) -> str | None:
    """`rel`'s name when the table exists before this migration (else None)."""
    if rel is None:
        return None
    table = of_range(rel)
    return None if ctx.is_new(table) else table


def _cmds(stmt: Stmt, *subtypes: str):
    if stmt.kind != "AlterTableStmt" or stmt.node.objtype.name != "OBJECT_TABLE":
        return []
    return [c for c in stmt.node.cmds or () if c.subtype.name in subtypes]


def _constraints(stmt: Stmt, contype: str):
    return [c.def_ for c in _cmds(stmt, "AT_AddConstraint")
            if c.def_.contype.name == contype]


@rule("PG101", "require-concurrent-index-creation", "error",
      "CREATE INDEX without CONCURRENTLY on a table that exists before the migration",
      kinds=("IndexStmt",))
def index_create(stmt: Stmt, ctx: Context):
    node = stmt.node
    if stmt.kind == "IndexStmt" and not node.concurrent:
        table = _existing(ctx, node.relation)
        if table:
            yield finding("PG101", stmt, ctx,
                          f"CREATE INDEX {node.idxname or ''} on {table} without CONCURRENTLY"
                          .replace("  ", " "),
                          "The SHARE lock blocks every INSERT, UPDATE and DELETE on the table "
                          "while the whole index is built.",
                          f"CREATE INDEX CONCURRENTLY ... {NO_TX}.", table, scans=True)


@rule("PG102", "require-concurrent-index-deletion", "error",
      "DROP INDEX without CONCURRENTLY",
      kinds=("DropStmt",))
def index_drop(stmt: Stmt, ctx: Context):
    node = stmt.node
    if stmt.kind == "DropStmt" and node.removeType.name == "OBJECT_INDEX" \
            and not node.concurrent:
        names = ", ".join(".".join(p.sval for p in obj) for obj in node.objects or ())
        yield finding("PG102", stmt, ctx, f"DROP INDEX {names} without CONCURRENTLY",
                      "The ACCESS EXCLUSIVE lock on the index's table blocks reads and "
                      "writes, and waits behind every running query on it.",
                      f"DROP INDEX CONCURRENTLY {names} {NO_TX}.")


@rule("PG103", "require-concurrent-reindex", "error", "REINDEX without CONCURRENTLY",
      kinds=("ReindexStmt",))
def reindex(stmt: Stmt, ctx: Context):
    node = stmt.node
    if stmt.kind == "ReindexStmt" and not any(
            getattr(p, "defname", "") == "concurrently" for p in node.params or ()):
        table = of_range(node.relation) if node.relation is not None else None
        yield finding("PG103", stmt, ctx, "REINDEX without CONCURRENTLY",
                      "It locks the table against writes (and the index against the reads "
                      "that would use it) until every index is rebuilt.",
                      f"REINDEX (CONCURRENTLY) ... (PostgreSQL 12+) {NO_TX}.", table, scans=True)


@rule("TX101", "ban-concurrent-index-creation-in-transaction", "error",
      "A statement that cannot run in a transaction block, in a transactional migration")
def outside_transaction(stmt: Stmt, ctx: Context):
    why = stmt.statement.no_transaction
    if why and (ctx.transactional or stmt.inside):
        where = "a DO block or function" if stmt.inside else "a transactional migration"
        yield finding("TX101", stmt, ctx, f"{why} in {where}",
                      f"PostgreSQL refuses it: {why} cannot run inside a transaction block; "
                      "the migration fails at this statement.",
                      f"Put it alone in its own migration, {NO_TX}.")


@rule("PG104", "adding-foreign-key-constraint", "error",
      "ADD FOREIGN KEY without NOT VALID on an existing table",
      kinds=TABLE_CHANGES)
def foreign_key(stmt: Stmt, ctx: Context):
    table = _existing(ctx, getattr(stmt.node, "relation", None))
    for con in _constraints(stmt, "CONSTR_FOREIGN") if table else ():
        if not con.skip_validation:
            name = con.conname or "..."
            yield finding("PG104", stmt, ctx,
                          f"ADD FOREIGN KEY on {table} without NOT VALID",
                          f"Every row of {table} is checked against {of_range(con.pktable)} "
                          "under a SHARE ROW EXCLUSIVE lock on both tables: writes wait "
                          "for the whole scan.",
                          f"ADD CONSTRAINT {name} FOREIGN KEY ... NOT VALID; then, in a "
                          f"later statement or migration, VALIDATE CONSTRAINT {name} (it "
                          "lets writes run).", table, lock="SHARE ROW EXCLUSIVE", scans=True)


@rule("PG105", "constraint-missing-not-valid", "error",
      "ADD CHECK without NOT VALID on an existing table",
      kinds=TABLE_CHANGES)
def check_constraint(stmt: Stmt, ctx: Context):
    table = _existing(ctx, getattr(stmt.node, "relation", None))
    for con in _constraints(stmt, "CONSTR_CHECK") if table else ():
        if not con.skip_validation:
            name = con.conname or "..."
            yield finding("PG105", stmt, ctx, f"ADD CHECK on {table} without NOT VALID",
                          "Every row is checked under an ACCESS EXCLUSIVE lock: reads and "
                          "writes wait for the whole scan.",
                          f"ADD CONSTRAINT {name} CHECK (...) NOT VALID; then VALIDATE "
                          f"CONSTRAINT {name} (SHARE UPDATE EXCLUSIVE: reads and writes "
                          "go on).", table, scans=True)


@rule("PG106", "adding-not-nullable-field", "error",
      "SET NOT NULL without a validated CHECK (col IS NOT NULL) first",
      kinds=TABLE_CHANGES)
def set_not_null(stmt: Stmt, ctx: Context):
    table = _existing(ctx, getattr(stmt.node, "relation", None))
    for cmd in _cmds(stmt, "AT_SetNotNull") if table else ():
        if (table, cmd.name) in ctx.created.not_null or (table, cmd.name) in \
                ctx.earlier.not_null:
            continue
        yield finding("PG106", stmt, ctx, f"SET NOT NULL on {table}.{cmd.name}",
                      "PostgreSQL scans the whole table under an ACCESS EXCLUSIVE lock to "
                      "prove no row is NULL: reads and writes wait.",
                      f"ADD CONSTRAINT {cmd.name}_not_null CHECK ({cmd.name} IS NOT NULL) "
                      f"NOT VALID; VALIDATE CONSTRAINT {cmd.name}_not_null; then SET NOT "
                      "NULL (PostgreSQL 12+ uses the check, no scan) and drop the check.",
                      table, scans=True)


def _default_problem(col, version: int | None) -> str:
    """Why column definition `col` writes every row ("" when it does not)."""
    base = col.typeName.names[-1].sval if col.typeName is not None else ""
    if base in SERIAL:
        return f"a {base} column gets nextval() for every row"
    for con in col.constraints or ():
        kind = con.contype.name
        if kind == "CONSTR_IDENTITY":
            return "an identity column gets a new value for every row"
        if kind == "CONSTR_DEFAULT" and con.raw_expr is not None:
            called = {n.funcname[-1].sval for n in sql._walk(con.raw_expr)
                      if type(n).__name__ == "FuncCall"}
            volatile = sorted(called & VOLATILE)
            if volatile:
                return f"the default calls {', '.join(volatile)}() (volatile)"
            if version is not None and version < 110000:
                return "before PostgreSQL 11 any default is written into every row"
    return ""


@rule("PG107", "adding-field-with-default", "error",
      "ADD COLUMN whose default rewrites the table (volatile; any default before PG 11)",
      kinds=TABLE_CHANGES)
def volatile_default(stmt: Stmt, ctx: Context):
    table = _existing(ctx, getattr(stmt.node, "relation", None))
    for cmd in _cmds(stmt, "AT_AddColumn") if table else ():
        problem = _default_problem(cmd.def_, ctx.server_version)
        if problem:
            yield finding("PG107", stmt, ctx,
                          f"ADD COLUMN {cmd.def_.colname} on {table}: {problem}",
                          "The table is rewritten under an ACCESS EXCLUSIVE lock: reads and "
                          "writes wait until every row is written again.",
                          "ADD COLUMN without the default (or with a constant one), SET "
                          "DEFAULT for new rows, then fill old rows in batches.", table, scans=True)


@rule("PG108", "adding-stored-generated-column", "error",
      "ADD COLUMN ... GENERATED ALWAYS AS (...) STORED on an existing table",
      kinds=TABLE_CHANGES)
def stored_generated(stmt: Stmt, ctx: Context):
    table = _existing(ctx, getattr(stmt.node, "relation", None))
    for cmd in _cmds(stmt, "AT_AddColumn") if table else ():
        if any(c.contype.name == "CONSTR_GENERATED" and c.generated_kind != "v"
               for c in cmd.def_.constraints or ()):
            yield finding("PG108", stmt, ctx,
                          f"ADD COLUMN {cmd.def_.colname} GENERATED ... STORED on {table}",
                          "Every row is computed and written again under an ACCESS "
                          "EXCLUSIVE lock: reads and writes wait for the rewrite.",
                          "A VIRTUAL generated column (PostgreSQL 18+), or a plain column "
                          "filled in batches and kept by a trigger.", table, scans=True)


def rewrites(old: str | None, new: str, using: bool) -> bool:
    """Whether ALTER COLUMN ... TYPE from `old` (None: unknown) to `new` rewrites the table."""
    if using or old is None:
        return True
    if old == new:
        return False
    old_base, _ = sql._type_parts(old)
    new_base, _ = sql._type_parts(new)
    if (old_base, new_base) not in NO_REWRITE_BASES:
        return True
    if old_base == new_base == "numeric" and sql._type_parts(old)[1] and \
            sql._type_parts(new)[1] and sql._type_parts(old)[1][1:] != \
            sql._type_parts(new)[1][1:]:
        return True  # a new scale rewrites every value
    return not sql.widens(old, new) and not (old_base, new_base) == ("bit varying",) * 2


@rule("PG109", "changing-column-type", "error",
      "ALTER COLUMN TYPE that rewrites the table (or may: the old type is unknown)",
      kinds=TABLE_CHANGES)
def column_type(stmt: Stmt, ctx: Context):
    if stmt.kind != "AlterTableStmt":
        return  # a DO block's type_changes are its ALTERs', each linted by itself
    for change in stmt.statement.type_changes:
        table = qualified(change.schema, change.table)
        if ctx.is_new(table):
            continue
        old = ctx.column_type(table, change.column)
        if rewrites(old, change.new_type, change.using):
            was = f" from {old}" if old else ""
            yield finding("PG109", stmt, ctx,
                          f"{change}{was}" + ("" if old else " (old type unknown)"),
                          "Changing the type rewrites the table and its indexes under an "
                          "ACCESS EXCLUSIVE lock: reads and writes wait until it is done.",
                          "Add a new column of the new type, fill it in batches (and a "
                          "trigger), then switch the application and drop the old one.",
                          table, scans=True)


@rule("PG110", "disallowed-unique-constraint", "error",
      "ADD UNIQUE / PRIMARY KEY that builds its index under the table lock (not USING INDEX)",
      kinds=TABLE_CHANGES)
def unique_constraint(stmt: Stmt, ctx: Context):
    table = _existing(ctx, getattr(stmt.node, "relation", None))
    for kind in ("CONSTR_UNIQUE", "CONSTR_PRIMARY"):
        for con in _constraints(stmt, kind) if table else ():
            if not con.indexname:
                word = "UNIQUE" if kind == "CONSTR_UNIQUE" else "PRIMARY KEY"
                yield finding("PG110", stmt, ctx, f"ADD {word} on {table} without USING INDEX",
                              "The index is built under an ACCESS EXCLUSIVE lock: reads and "
                              "writes wait for the whole build.",
                              f"CREATE UNIQUE INDEX CONCURRENTLY idx ON {table} (...) {NO_TX}; "
                              f"then ALTER TABLE {table} ADD CONSTRAINT name {word} USING "
                              "INDEX idx.", table, scans=True)


@rule("PG111", "ban-vacuum-full", "error", "VACUUM FULL",
      kinds=("VacuumStmt",))
def vacuum_full(stmt: Stmt, ctx: Context):
    node = stmt.node
    if stmt.kind == "VacuumStmt" and any(getattr(o, "defname", "") == "full"
                                         for o in node.options or ()):
        rels = [of_range(r.relation) for r in node.rels or () if r.relation is not None]
        if rels and all(ctx.is_new(t) for t in rels):
            return
        yield finding("PG111", stmt, ctx, "VACUUM FULL " + ", ".join(rels),
                      "It rewrites each table under an ACCESS EXCLUSIVE lock: reads and "
                      "writes wait for the whole copy.",
                      "Plain VACUUM (no lock on reads or writes), or pg_repack / "
                      "pg_squeeze to give space back online.", rels[0] if rels else None,
                      scans=True)


@rule("PG112", "ban-cluster", "error", "CLUSTER",
      kinds=("ClusterStmt",))
def cluster(stmt: Stmt, ctx: Context):
    if stmt.kind == "ClusterStmt":
        table = of_range(stmt.node.relation) if stmt.node.relation is not None else None
        if table and ctx.is_new(table):
            return
        yield finding("PG112", stmt, ctx, f"CLUSTER {table or '(every clustered table)'}",
                      "It rewrites the table in index order under an ACCESS EXCLUSIVE lock: "
                      "reads and writes wait for the whole copy.",
                      "pg_repack --order-by (online), outside migrations.", table, scans=True)


@rule("PG113", "ban-lock-table", "warning", "LOCK TABLE",
      kinds=("LockStmt",))
def lock_table(stmt: Stmt, ctx: Context):
    if stmt.kind == "LockStmt":
        tables = [of_range(r) for r in stmt.node.relations or ()]
        if all(ctx.is_new(t) for t in tables):
            return
        yield finding("PG113", stmt, ctx, f"LOCK TABLE {', '.join(tables)} IN {stmt.lock} MODE",
                      "The lock is held until the migration's transaction ends: everything "
                      "it conflicts with waits for the rest of the migration.",
                      "Let each statement take the lock it needs; if a lock is needed, take "
                      "it last, with lock_timeout set.", tables[0] if tables else None)


def _foreign_keys(stmt: Stmt):
    """(table, referencing columns) of each foreign key `stmt` adds."""
    node = stmt.node
    if stmt.kind == "CreateStmt":
        table = of_range(node.relation)
        for elt in node.tableElts or ():
            if type(elt).__name__ == "Constraint" and elt.contype.name == "CONSTR_FOREIGN":
                yield table, tuple(a.sval for a in elt.fk_attrs or ())
            elif type(elt).__name__ == "ColumnDef":
                for con in elt.constraints or ():
                    if con.contype.name == "CONSTR_FOREIGN":
                        yield table, (elt.colname,)
    elif stmt.kind == "AlterTableStmt":
        table = of_range(node.relation)
        for cmd in _cmds(stmt, "AT_AddConstraint", "AT_AddColumn"):
            if cmd.subtype.name == "AT_AddConstraint":
                if cmd.def_.contype.name == "CONSTR_FOREIGN":
                    yield table, tuple(a.sval for a in cmd.def_.fk_attrs or ())
            else:
                for con in cmd.def_.constraints or ():
                    if con.contype.name == "CONSTR_FOREIGN":
                        yield table, (cmd.def_.colname,)


@rule("PG114", "foreign-key-without-index", "warning",
      "A foreign key without an index on its referencing columns",
      kinds=COLUMN_DECLARATIONS)
def foreign_key_index(stmt: Stmt, ctx: Context):
    for table, columns in _foreign_keys(stmt):
        if columns and not ctx.has_index(table, columns):
            shown = ", ".join(columns)
            yield finding("PG114", stmt, ctx, f"foreign key {table} ({shown}) has no index",
                          "Every DELETE or key UPDATE on the referenced table scans "
                          f"{table} to find referencing rows, under a lock, and joins on it "
                          "are slow.",
                          f"CREATE INDEX CONCURRENTLY ON "
                          f"{ddl.qualified(*ddl.split_qualified(table))} "
                          f"({', '.join(map(ddl.ident, columns))}) (in this "
                          "migration when the table is new).", table, lock="")


def _locked_tables(stmt: Stmt) -> list[str]:
    node = stmt.node
    if stmt.kind in ("AlterTableStmt", "IndexStmt", "ClusterStmt", "RenameStmt") and \
            getattr(node, "relation", None) is not None:
        return [of_range(node.relation)]
    if stmt.kind == "DropStmt" and node.removeType.name == "OBJECT_TABLE":
        return [qualified(*(p.sval for p in obj)) if len(obj) == 2 else
                qualified(None, obj[-1].sval) for obj in node.objects or ()]
    if stmt.kind in ("TruncateStmt", "LockStmt"):
        return [of_range(r) for r in node.relations or ()]
    if stmt.kind == "VacuumStmt":
        return [of_range(r.relation) for r in node.rels or () if r.relation is not None]
    return []


def takes_exclusive(stmt: Stmt, ctx: Context) -> bool:
    """Whether `stmt` takes ACCESS EXCLUSIVE on a table that exists before the migration."""
    if stmt.lock != "ACCESS EXCLUSIVE":
        return False
    tables = _locked_tables(stmt)
    return not tables or any(not ctx.is_new(t) for t in tables)


@rule("TX102", "require-lock-timeout", "error",
      "No lock_timeout before the first statement that takes ACCESS EXCLUSIVE")
def lock_timeout(stmt: Stmt, ctx: Context):
    if ctx.lock_timeout_set or ctx.lock_timeout_ms or ctx.exclusive_at is not None:
        return
    if takes_exclusive(stmt, ctx):
        tables = _locked_tables(stmt)
        yield finding("TX102", stmt, ctx, "ACCESS EXCLUSIVE lock taken without lock_timeout",
                      "While it waits for a long query to finish, every read and write of "
                      "the table queues behind it: the application stops.",
                      "SET LOCAL lock_timeout = '5s'; before it (and retry on failure), or "
                      "NSELF_LOCK_TIMEOUT_MS for nself's runner.",
                      tables[0] if tables else None)


@rule("TX103", "statements-after-access-exclusive", "warning",
      "More statements after an ACCESS EXCLUSIVE lock in the same transaction")
def after_exclusive(stmt: Stmt, ctx: Context):
    if ctx.transactional and ctx.exclusive_at is not None and not ctx.exclusive_followed \
            and not stmt.inside and stmt.kind not in ("VariableSetStmt",):
        yield finding("TX103", stmt, ctx,
                      f"statement after the ACCESS EXCLUSIVE lock taken on line "
                      f"{ctx.exclusive_at}",
                      "The lock is held until COMMIT: this statement (and every one after "
                      "it) lengthens the time reads and writes of that table wait.",
                      "Move the statement that takes ACCESS EXCLUSIVE into its own "
                      "migration, or make it the last one.", lock="")


def _string(node) -> str | None:
    """The text of a string constant (None for any other node)."""
    if type(node).__name__ == "A_Const" and type(node.val).__name__ == "String":
        return node.val.sval
    return None


def _short(type_name: str | None) -> str:
    return (type_name or "").rsplit(".", 1)[-1].strip('"')


def _column_types(node, ctx: Context) -> dict[str, str | None]:
    """The columns statement `node` writes or compares, by name, with their types as the
    migrations so far left them (None: unknown), for the table it works on."""
    rel = getattr(node, "relation", None)
    table = of_range(rel) if type(rel).__name__ == "RangeVar" else None
    if table is None:
        return {}
    found = dict(ctx.created.columns.get(table, {}))
    for column, kind in ctx.earlier.columns.get(table, {}).items():
        found.setdefault(column, kind)
    return found


def _bound_strings(node, ctx: Context):
    """(string, the enum type it is read as, or None when unknown) for each string constant
    statement `node` casts to a type or binds to a column (SET col = 'x', WHERE col = 'x',
    col IN ('x'), INSERT's VALUES, a column DEFAULT); other strings (a message, a function
    argument, SELECT 'x') are text."""
    types = _column_types(node, ctx)

    def of_column(ref) -> tuple[bool, str | None]:
        if type(ref).__name__ != "ColumnRef" or not ref.fields or \
                type(ref.fields[-1]).__name__ != "String":
            return False, None
        return True, types.get(ref.fields[-1].sval)

    for n in sql._walk(node):
        kind = type(n).__name__
        if kind == "TypeCast" and _string(n.arg) is not None:
            yield _string(n.arg), _short(sql.type_name(n.typeName))
        elif kind == "A_Expr":
            for ref, value in ((n.lexpr, n.rexpr), (n.rexpr, n.lexpr)):
                is_column, column_type = of_column(ref)
                values = value if isinstance(value, (tuple, list)) else (value,)
                for v in values if is_column else ():
                    if _string(v) is not None:
                        yield _string(v), _short(column_type) or None
        elif kind == "UpdateStmt":
            for target in n.targetList or ():
                if _string(target.val) is not None:
                    yield _string(target.val), _short(types.get(target.name)) or None
        elif kind == "InsertStmt" and n.selectStmt is not None:
            names = [c.name for c in n.cols or ()]
            for row in getattr(n.selectStmt, "valuesLists", None) or ():
                for i, v in enumerate(row):
                    if _string(v) is not None:
                        column = names[i] if i < len(names) else None
                        yield _string(v), _short(types.get(column)) or None
        elif kind == "ColumnDef":
            for con in n.constraints or ():
                if con.contype.name == "CONSTR_DEFAULT" and _string(con.raw_expr) is not None:
                    yield _string(con.raw_expr), _short(sql.type_name(n.typeName)) \
                        if n.typeName is not None else None
        elif kind == "AlterTableCmd" and n.subtype.name == "AT_ColumnDefault" and \
                _string(n.def_) is not None:
            yield _string(n.def_), _short(types.get(n.name)) or None


@rule("TX104", "enum-value-used-in-same-transaction", "error",
      "ALTER TYPE ... ADD VALUE, then the new value used in the same transaction")
def enum_value_used(stmt: Stmt, ctx: Context):
    if not ctx.transactional or not ctx.enum_values or stmt.kind == "AlterEnumStmt":
        return
    used = set()
    for label, as_type in _bound_strings(stmt.node, ctx):
        # a string read as the enum's type, or bound to a column whose type no migration
        # before tells (it may be that enum); not one read as another type
        if label in ctx.enum_values and (as_type is None or as_type in ctx.enum_types[label]):
            used.add(label)
    for label in sorted(used):
        yield finding("TX104", stmt, ctx,
                      f"enum value '{label}' (added on line {ctx.enum_values[label]}) used "
                      "in the same transaction",
                      "PostgreSQL refuses it (\"unsafe use of new value\") until the "
                      "transaction that added it commits: the migration fails.",
                      "Add the value in one migration and use it in a later one.", lock="")


@rule("TX105", "transaction-nesting", "error",
      "BEGIN / COMMIT / ROLLBACK inside a migration nself runs in a transaction",
      kinds=("TransactionStmt",))
def transaction_nesting(stmt: Stmt, ctx: Context):
    kind = stmt.statement.kind
    if ctx.transactional and not stmt.inside and kind.startswith("TransactionStmt:") and \
            not any(w in kind for w in ("SAVEPOINT", "RELEASE", "ROLLBACK_TO")):
        word = kind.split(":", 1)[1].removeprefix("TRANS_STMT_")
        found = finding("TX105", stmt, ctx, f"{word} inside a transactional migration",
                        "Another tool would commit part of the migration here (a later "
                        "failure leaves half of it applied); nself blanks a top-level BEGIN "
                        "and COMMIT and refuses the others.",
                        "Remove the transaction statements; for statements that need their "
                        f"own transactions, use a migration {NO_TX}.", lock="")
        stripped = word in ("BEGIN", "START", "COMMIT")
        yield replace(found, level="warning") if stripped else found


@rule("PG115", "require-concurrent-partition-detach", "error",
      "DETACH PARTITION without CONCURRENTLY on a table that exists before the migration",
      kinds=TABLE_CHANGES)
def detach_partition(stmt: Stmt, ctx: Context):
    table = _existing(ctx, getattr(stmt.node, "relation", None))
    for cmd in _cmds(stmt, "AT_DetachPartition") if table else ():
        if not cmd.def_.concurrent:
            part = of_range(cmd.def_.name)
            yield finding("PG115", stmt, ctx,
                          f"DETACH PARTITION {part} from {table} without CONCURRENTLY",
                          f"The ACCESS EXCLUSIVE lock on {table} blocks every read and write "
                          "of every partition, and waits behind each running query on it.",
                          f"ALTER TABLE {table} DETACH PARTITION {part} CONCURRENTLY "
                          f"(PostgreSQL 14+; a table without a DEFAULT partition) {NO_TX}.",
                          table, lock="ACCESS EXCLUSIVE")


# a transaction block's end: COMMIT (END), ROLLBACK, PREPARE TRANSACTION
_ENDS = ("TransactionStmt:TRANS_STMT_COMMIT", "TransactionStmt:TRANS_STMT_ROLLBACK",
         "TransactionStmt:TRANS_STMT_PREPARE")


@rule("TX106", "ban-uncommitted-transaction", "warning",
      "BEGIN without a COMMIT or ROLLBACK after it in the migration",
      kinds=("TransactionStmt",))
def uncommitted(stmt: Stmt, ctx: Context):
    if stmt.inside or stmt.statement.kind not in ("TransactionStmt:TRANS_STMT_BEGIN",
                                                  "TransactionStmt:TRANS_STMT_START"):
        return
    if any(st.kind in _ENDS for st in ctx.top[stmt.index + 1:]):
        return
    found = finding("TX106", stmt, ctx, "transaction begun and never committed or rolled back",
                    "What follows runs in a transaction nothing ends: the session's end "
                    "rolls it all back (a no-transaction migration then loses its work), or "
                    "a tool that commits by itself keeps locks held until it does.",
                    "End it with COMMIT; or, in a migration nself runs in a transaction, "
                    "leave BEGIN/COMMIT out.", lock="")
    # nself blanks a transactional migration's top-level BEGIN; without one it matters
    yield found if ctx.transactional else replace(found, level="error")
