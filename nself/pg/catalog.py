"""Every question nself asks the system catalogs, with one definition of a "user object".

A *user schema* is any schema but PostgreSQL's own (`pg_catalog`, `information_schema`,
`pg_toast*`, `pg_temp*`), nself's bookkeeping schema `nself`, and schemas an extension
owns. `public` is a user schema. A *user object* lives in a user schema and is not owned
by an extension (`pg_depend.deptype = 'e'`). Fresh, restore --clean, reset, `db status`
and the schema tools all count and drop by this one definition.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

NSELF_SCHEMA = "nself"

# A predicate on a pg_namespace row aliased `n`: the schema is the user's.
USER_SCHEMA_WHERE = r"""
n.nspname NOT IN ('pg_catalog', 'information_schema', 'nself')
AND n.nspname NOT LIKE 'pg\_%'
AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_namespace'::regclass
                AND d.objid = n.oid AND d.deptype = 'e')
"""
# A predicate on a pg_class row aliased `c`: no extension owns the relation.
NOT_EXTENSION_MEMBER_WHERE = """
NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
            AND d.objid = c.oid AND d.deptype = 'e')
"""

USER_SCHEMAS_SQL = f"SELECT n.nspname FROM pg_namespace n WHERE {USER_SCHEMA_WHERE} ORDER BY 1"
EXTENSIONS_SQL = "SELECT extname FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY 1"

# relkind -> the word a message uses
RELATION_KINDS = {"r": "table", "p": "table", "v": "view", "m": "materialized view",
                  "f": "foreign table", "S": "sequence"}

USER_TABLES_SQL = f"""
SELECT n.nspname, c.relname, c.relkind, greatest(c.reltuples, 0)::bigint
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition
  AND {USER_SCHEMA_WHERE} AND {NOT_EXTENSION_MEMBER_WHERE}
ORDER BY 1, 2
"""
DATABASE_FACTS_SQL = f"""
SELECT pg_database_size(current_database()),
       (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
           AND {USER_SCHEMA_WHERE} AND {NOT_EXTENSION_MEMBER_WHERE})
"""
# A relation a `--tables` flag may name, as a quoted pg_dump pattern, and its kind.
RELATION_SQL = """
SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname), c.relkind
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = to_regclass(%s)
"""
INDEX_STATE_SQL = """
SELECT n.nspname, c.relname, i.indisvalid
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     JOIN pg_index i ON i.indexrelid = c.oid
WHERE c.relkind IN ('i', 'I') AND c.relname = %(name)s
  AND (%(schema)s = '' AND n.nspname = ANY (current_schemas(false)) OR n.nspname = %(schema)s)
ORDER BY array_position(current_schemas(false), n.nspname) NULLS LAST
LIMIT 1
"""
INVALID_INDEXES_SQL = f"""
SELECT n.nspname, c.relname
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
     JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE NOT i.indisvalid AND {USER_SCHEMA_WHERE}
ORDER BY 1, 2
"""
INVALID_INDEXES_ON_SQL = """
SELECT n.nspname, c.relname
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
     JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE NOT i.indisvalid AND i.indrelid = to_regclass(%s)
ORDER BY 1, 2
"""
# The session most likely to block a migration: the oldest transaction holding relation locks.
BLOCKER_SQL = r"""
SELECT a.pid, a.query_start, a.state,
       coalesce(nullif(a.application_name, ''), 'no application name'),
       left(regexp_replace(coalesce(a.query, ''), '\s+', ' ', 'g'), 80)
FROM pg_stat_activity a
WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
  AND EXISTS (SELECT 1 FROM pg_locks l
              WHERE l.pid = a.pid AND l.granted AND l.locktype = 'relation'
                AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()))
ORDER BY a.xact_start NULLS LAST
LIMIT 1
"""
ADVISORY_HOLDER_SQL = """
SELECT a.pid, coalesce(a.application_name, ''), a.backend_start, a.state
FROM pg_locks l JOIN pg_stat_activity a USING (pid)
WHERE l.locktype = 'advisory' AND l.granted
  AND l.classid = (%(key)s >> 32)::int::oid AND l.objid = (%(key)s & 4294967295)::oid
  AND l.objsubid = 1
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
LIMIT 1
"""
COLUMNS_SQL = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod)
FROM pg_attribute a
WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""
HAS_PRIMARY_KEY_SQL = """
SELECT EXISTS (SELECT 1 FROM pg_index WHERE indrelid = to_regclass(%s) AND indisprimary)
"""
DATABASE_EXISTS_SQL = "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = %s)"
ENUM_HAS_VALUE_SQL = """
SELECT EXISTS (SELECT 1 FROM pg_enum WHERE enumtypid = to_regtype(%s) AND enumlabel = %s)
"""
RELATIONS_EXIST_SQL = "SELECT to_regclass(x) IS NOT NULL FROM unnest(%s::text[]) AS x"


@dataclass(frozen=True)
class Relation:
    """A user table, view or other relation, with the planner's row estimate."""

    schema: str
    name: str
    kind: str  # pg_class.relkind
    estimated_rows: int = 0

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def is_table(self) -> bool:
        return self.kind in ("r", "p")


def user_schemas(conn: psycopg.Connection) -> list[str]:
    return [r[0] for r in conn.execute(USER_SCHEMAS_SQL).fetchall()]


def extensions(conn: psycopg.Connection) -> list[str]:
    """Installed extensions, except plpgsql (every database has it)."""
    return [r[0] for r in conn.execute(EXTENSIONS_SQL).fetchall()]


def user_relations(conn: psycopg.Connection) -> list[Relation]:
    """Every user table, view, materialized view and foreign table (partitions excluded)."""
    return [Relation(*row) for row in conn.execute(USER_TABLES_SQL).fetchall()]


def row_counts(conn: psycopg.Connection, relations: list[Relation]) -> dict[str, int]:
    """Exact row counts of the given tables, in one query."""
    from psycopg import sql

    tables = [r for r in relations if r.is_table]
    if not tables:
        return {}
    parts = [sql.SQL("SELECT {}, count(*) FROM {}").format(
        sql.Literal(r.qualified), sql.Identifier(r.schema, r.name)) for r in tables]
    rows = conn.execute(sql.SQL(" UNION ALL ").join(parts)).fetchall()
    return {name: count for name, count in rows}


def database_facts(conn: psycopg.Connection) -> tuple[int, int]:
    """(size in bytes, number of user tables)."""
    size, tables = conn.execute(DATABASE_FACTS_SQL).fetchone()
    return size, tables


def relation(conn: psycopg.Connection, name: str) -> tuple[str, str] | None:
    """(quoted qualified name, relkind) of the relation `name` resolves to, or None."""
    try:
        row = conn.execute(RELATION_SQL, (name,)).fetchone()
    except psycopg.errors.InvalidName:
        return None
    return (row[0], row[1]) if row else None


def index_state(conn: psycopg.Connection, name: str, schema: str = "") -> str | None:
    """"valid", "invalid", or None when no index of that name is visible."""
    row = conn.execute(INDEX_STATE_SQL, {"name": name, "schema": schema}).fetchone()
    if row is None:
        return None
    return "valid" if row[2] else "invalid"


def invalid_indexes(conn: psycopg.Connection, table: str | None = None) -> list[tuple[str, str]]:
    """(schema, index) of INVALID indexes: on `table`, or in every user schema."""
    if table is None:
        return conn.execute(INVALID_INDEXES_SQL).fetchall()
    try:
        return conn.execute(INVALID_INDEXES_ON_SQL, (table,)).fetchall()
    except psycopg.errors.InvalidName:
        return []


def blocker(conn: psycopg.Connection):
    """(pid, query_start, state, application, query) of the likely blocker, or None."""
    return conn.execute(BLOCKER_SQL).fetchone()


def advisory_holder(conn: psycopg.Connection, key: int):
    """(pid, application, backend_start, state) of the session holding advisory lock `key`."""
    return conn.execute(ADVISORY_HOLDER_SQL, {"key": key}).fetchone()


def columns(conn: psycopg.Connection, table: str) -> dict[str, str]:
    """Column name -> formatted type of `table` (empty when it does not exist)."""
    return dict(conn.execute(COLUMNS_SQL, (table,)).fetchall())


def has_primary_key(conn: psycopg.Connection, table: str) -> bool:
    return bool(conn.execute(HAS_PRIMARY_KEY_SQL, (table,)).fetchone()[0])


def relations_exist(conn: psycopg.Connection, names: list[str]) -> list[bool]:
    return [r[0] for r in conn.execute(RELATIONS_EXIST_SQL, (names,)).fetchall()]


# Every relation outside PostgreSQL's own schemas, nself's and extension-owned ones included:
# the names a restore (without --clean) could collide with. Not "user objects": a collision
# with nself's own tables matters as much as one with the user's.
RELATION_NAMES_SQL = r"""
SELECT n.nspname || '.' || c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'
"""


def relation_names(conn: psycopg.Connection) -> set[str]:
    """`schema.name` of every relation a restore could collide with (see RELATION_NAMES_SQL)."""
    return {r[0] for r in conn.execute(RELATION_NAMES_SQL).fetchall()}


def database_exists(conn: psycopg.Connection, name: str) -> bool:
    return bool(conn.execute(DATABASE_EXISTS_SQL, (name,)).fetchone()[0])


def enum_has_value(conn: psycopg.Connection, type_name: str, label: str) -> bool:
    """Whether the enum type `type_name` (as written in SQL) has the label `label`."""
    try:
        return bool(conn.execute(ENUM_HAS_VALUE_SQL, (type_name, label)).fetchone()[0])
    except (psycopg.errors.InvalidName, psycopg.errors.SyntaxError):
        return False
