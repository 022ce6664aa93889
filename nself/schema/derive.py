"""The DBML's schema as PostgreSQL prints it, without building it from scratch (issue 17).

`schema import` compares the migrations' schema (OLD, replayed into shadow A) with the
DBML's as PostgreSQL prints it back (NEW), so that both sides are spelled alike. The plain
way to get NEW builds the whole DESIRED schema in a second shadow database (and, for
expressions PostgreSQL reprints differently, part of it in a third): PostgreSQL builds
the schema twice per import, and every shadow costs a DROP DATABASE (a checkpoint).

`derived(a, old, desired, renames)` gets NEW in shadow A itself: the changes the model
diff finds from OLD to DESIRED are applied to A in one transaction, A is introspected, and
the transaction is rolled back (A holds OLD again, for the verification). What A then
printed is NEW only when it is DESIRED exactly, by the same comparison the verification
makes (`diff(NEW, DESIRED)` has nothing to change and nothing to say): every table, column,
type, default, constraint, index and definition the DBML asks for, as written. Otherwise
(an expression PostgreSQL prints otherwise, `now() + interval '1 day'` printed
`(now() + '1 day'::interval)`; a column the file puts before others, which ALTER TABLE
adds at the end; a change that must run outside a transaction; anything the model diff
cannot write; a statement PostgreSQL refuses) it returns None and the import builds NEW
the plain way. Either way the verification that follows is the same: the migration
written from diff(OLD, NEW), applied to A, must reach NEW, and each DOWN must return.
"""

from __future__ import annotations

import psycopg

from nself.schema.diff import diff
from nself.schema.introspect import introspect
from nself.schema.model import Schema


def derived(a, old: Schema, desired: Schema, renames: dict[str, str]) -> Schema | None:
    """DESIRED as PostgreSQL prints it, read from shadow A (which holds OLD, and holds it
    again on return), or None when it cannot be had that way (see the module text)."""
    plan = diff(old, desired, renames)
    if plan.unsupported or any(c.needs_autocommit for c in plan.changes):
        return None
    if _same(old, desired):  # the file says what the migrations made, as PostgreSQL prints it
        return old
    conn = a.conn
    new = None
    try:
        with conn.transaction():
            conn.execute(plan.up_sql())
            new = introspect(conn)
            raise psycopg.Rollback()
    except psycopg.Error:
        return None
    return new if new is not None and _same(new, desired) else None


def _same(one: Schema, other: Schema) -> bool:
    """Nothing to change and nothing to say (a column order that differs is said, not
    changed: a table built from the file has the file's order)."""
    plan = diff(one, other)
    return plan.empty and not plan.differences and not plan.unsupported
