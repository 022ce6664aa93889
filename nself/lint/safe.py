"""Generated migrations in their safe forms, and the acknowledgements of what stays.

`schema import` and `schema diff --generate-migration` write migrations nobody typed: they
should pass `nself db migrate lint` as they are. `safe_parts` rewrites the statements that
have a safe form which keeps their meaning (a plain index on an existing table is built
CONCURRENTLY in a no-transaction part after its own; a foreign key or CHECK added to an
existing table is added NOT VALID, and validated after it in that no-transaction part,
so writes go on during the scan); `acknowledgements` names, as `-- nself:allow RULE reason` lines,
each error-level finding left (a dropped column the DBML no longer declares: the change
asked for, there is no safer way to make it).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from nself import sql
from nself.lint import lint_statements
from nself.lint.context import of_range
from nself.lint.rule import Finding
from nself.schema import ddl

# `CREATE INDEX name` as the schema differ writes it (never UNIQUE here: see _moved_index)
_CREATE_INDEX = re.compile(r"^(\s*CREATE\s+INDEX)\s+(?!CONCURRENTLY\b)", re.IGNORECASE)


def safe_parts(ups: list[tuple[str, bool]],
               plain: Callable[[str], bool] = lambda table: True) -> list[tuple[str, bool]]:
    """`ups` ([(SQL, autocommit)], in order) with each transactional part's plain indexes
    on tables that exist before the migration (and are `plain`: PostgreSQL builds no
    index CONCURRENTLY, and before 18 adds no NOT VALID foreign key, on a partitioned
    table) moved to a no-transaction part right after
    it (CREATE INDEX CONCURRENTLY IF NOT EXISTS), and its foreign keys and CHECKs on such
    tables added NOT VALID, then validated in that no-transaction part (after the
    indexes)."""
    created: set[str] = set()
    result: list[tuple[str, bool]] = []
    for text, autocommit in ups:
        try:
            statements = sql.split(text, parse=True)
        except sql.SqlSyntaxError:
            result.append((text, autocommit))
            continue
        if autocommit:
            result.append((text, autocommit))
            created.update(_creates(st.node) for st in statements)
            continue
        kept, indexes, validations, at = [], [], [], 0
        for st in statements:
            node = st.node
            moved = _moved_index(node, created, plain)
            not_valid = _not_valid(node, created, plain)
            if moved is not None or not_valid is not None:
                kept.append(text[at:st.start])
                end = _statement_end(text, st.end)
                if moved is not None:
                    indexes.append(_CREATE_INDEX.sub(r"\1 CONCURRENTLY IF NOT EXISTS ",
                                                     st.text.strip(), count=1) + ";")
                else:
                    kept.append(st.text.rstrip() + " NOT VALID;")
                    validations.append(not_valid)
                at = end
            created.add(_creates(node))
        kept.append(text[at:])
        result.append(("".join(kept), False))
        if indexes or validations:  # each statement its own transaction: none waits
            result.append(("\n".join(indexes + validations) + "\n", True))
    return [(text, autocommit) for text, autocommit in result if text.strip()]


NOTHING_TO_UNDO = "SELECT 1;  -- VALIDATE CONSTRAINT only checked the rows: nothing to undo\n"


def down_of(up: str, down: str) -> str:
    """A part's DOWN: `down`, or for a part that only validates constraints (its DOWN is
    empty: there is no un-validating) a statement that does nothing, so that `migrate
    down` can pass over it."""
    if down.strip():
        return down
    try:
        statements = sql.split(up, parse=True)
    except sql.SqlSyntaxError:
        return down
    only_validates = statements and all(
        type(st.node).__name__ == "AlterTableStmt" and st.node.cmds and all(
            c.subtype.name == "AT_ValidateConstraint" for c in st.node.cmds)
        for st in statements)
    return NOTHING_TO_UNDO if only_validates else down


def _creates(node) -> str:
    kind = type(node).__name__
    if kind == "CreateStmt":
        return of_range(node.relation)
    if kind == "CreateTableAsStmt":
        return of_range(node.into.rel)
    return ""


def _moved_index(node, created: set[str], plain: Callable[[str], bool]) -> str | None:
    """The table of a plain CREATE INDEX (named, not UNIQUE: no constraint can depend on
    it, so it may come later) on a table this migration did not create."""
    if type(node).__name__ != "IndexStmt" or node.concurrent or node.unique or \
            not node.idxname or node.relation is None:
        return None
    table = of_range(node.relation)
    return None if table in created or not plain(table) else table


def _not_valid(node, created: set[str], plain: Callable[[str], bool]) -> str | None:
    """For an ALTER TABLE that only adds one named FOREIGN KEY or CHECK constraint, with
    validation, to a table this migration did not create: its VALIDATE statement."""
    if type(node).__name__ != "AlterTableStmt" or node.objtype.name != "OBJECT_TABLE" or \
            len(node.cmds or ()) != 1:
        return None
    cmd = node.cmds[0]
    con = cmd.def_ if cmd.subtype.name == "AT_AddConstraint" else None
    if con is None or con.contype.name not in ("CONSTR_FOREIGN", "CONSTR_CHECK") or \
            con.skip_validation or not con.conname or of_range(node.relation) in created \
            or not plain(of_range(node.relation)):
        return None
    rel = node.relation
    table = ddl.qualified(rel.schemaname, rel.relname) if rel.schemaname else \
        ddl.ident(rel.relname)
    only = "" if rel.inh else "ONLY "
    return f"ALTER TABLE {only}{table} VALIDATE CONSTRAINT {ddl.ident(con.conname)};"


def _statement_end(text: str, end: int) -> int:
    """The offset just past the `;` that ends the statement ending at `end` (or `end`)."""
    semicolon = text.find(";", end)
    return semicolon + 1 if semicolon >= 0 and not text[end:semicolon].strip() else end


def acknowledgements(path: Path, text: str, autocommit: bool, project,
                     source: str) -> list[str]:
    """The `-- nself:allow RULE reason` lines (once per rule) of the error-level findings
    of a generated migration written as `path` (UP `text`), as `nself db migrate lint`
    finds them without a database (every table may be a large one in use). `project`
    (pending) learns it: the next part sees what this one creates."""
    try:
        statements = sql.split(text, parse=True)
    except sql.SqlSyntaxError:
        return []
    found: dict[str, Finding] = {}
    for f in lint_statements(statements, project.context(path, text, not autocommit)):
        if f.level == "error":
            found.setdefault(f.rule, f)
    project.learned(path, statements)
    return [f"-- nself:allow {rule} {source} asks for it: {f.message}"
            for rule, f in sorted(found.items())]
