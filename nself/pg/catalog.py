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

from nself.pg.scope import Scoped

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

USER_TABLES_SQL = f"""
SELECT n.nspname, c.relname, c.relkind
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
# What an interrupted REINDEX CONCURRENTLY leaves: INVALID `<index>_ccnew[N]` / `_ccold[N]`
# copies, on user tables and on their TOAST tables.
REINDEX_LEFTOVERS_SQL = f"""
SELECT n.nspname, c.relname
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
     JOIN pg_namespace n ON n.oid = c.relnamespace
     JOIN pg_class t ON t.oid = i.indrelid
WHERE NOT i.indisvalid AND c.relname ~ '_cc(new|old)[0-9]*$'
  AND (({USER_SCHEMA_WHERE})
       OR (n.nspname = 'pg_toast' AND EXISTS (
             SELECT 1 FROM pg_class o JOIN pg_namespace n ON n.oid = o.relnamespace
             WHERE o.reltoastrelid = t.oid AND {USER_SCHEMA_WHERE})))
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
SELECT a.pid, coalesce(a.application_name, ''), a.backend_start, a.xact_start
FROM pg_locks l JOIN pg_stat_activity a USING (pid)
WHERE l.locktype = 'advisory' AND l.granted
  AND l.classid = %(classid)s::bigint::oid AND l.objid = %(objid)s::bigint::oid
  AND l.objsubid = %(objsubid)s
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
# The procedures a CALL of `name` may reach: those of that schema, or (unqualified) those the
# search_path makes visible; every overload counts (the engine does not resolve arguments).
PROCEDURES_SQL = """
SELECT l.lanname, pg_get_functiondef(p.oid) FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
WHERE p.prokind = 'p' AND p.proname = %(name)s
  AND CASE WHEN %(schema)s = '' THEN pg_function_is_visible(p.oid)
           ELSE p.pronamespace = (SELECT oid FROM pg_namespace WHERE nspname = %(schema)s) END
"""
ENUM_HAS_VALUE_SQL = """
SELECT EXISTS (SELECT 1 FROM pg_enum WHERE enumtypid = to_regtype(%s) AND enumlabel = %s)
"""


@dataclass(frozen=True)
class Relation:
    """A user table, view or other relation."""

    schema: str
    name: str
    kind: str  # pg_class.relkind

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


def reindex_leftovers(conn: psycopg.Connection) -> list[tuple[str, str]]:
    """(schema, index) of the INVALID copies an interrupted REINDEX CONCURRENTLY left."""
    return conn.execute(REINDEX_LEFTOVERS_SQL).fetchall()


def blocker(conn: psycopg.Connection):
    """(pid, query_start, state, application, query) of the likely blocker, or None."""
    return conn.execute(BLOCKER_SQL).fetchone()


def advisory_holder(conn: psycopg.Connection, classid: int, objid: int, objsubid: int):
    """(pid, application, backend_start, xact_start) of the session holding the advisory
    lock pg_locks shows as (classid, objid, objsubid): 1 for a bigint key, 2 for two ints."""
    return conn.execute(ADVISORY_HOLDER_SQL, {"classid": classid, "objid": objid,
                                              "objsubid": objsubid}).fetchone()


def columns(conn: psycopg.Connection, table: str) -> dict[str, str]:
    """Column name -> formatted type of `table` (empty when it does not exist)."""
    return dict(conn.execute(COLUMNS_SQL, (table,)).fetchall())


def has_primary_key(conn: psycopg.Connection, table: str) -> bool:
    return bool(conn.execute(HAS_PRIMARY_KEY_SQL, (table,)).fetchone()[0])


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


def procedures(conn: psycopg.Connection, name: str) -> list[tuple[str, str]]:
    """(language, CREATE statement) of each procedure a CALL of `name` (dotted) may run."""
    parts = name.split(".")
    schema = parts[-2] if len(parts) > 1 else ""
    return conn.execute(PROCEDURES_SQL, {"name": parts[-1], "schema": schema}).fetchall()


def enum_has_value(conn: psycopg.Connection, type_name: str, label: str) -> bool:
    """Whether the enum type `type_name` (as written in SQL) has the label `label`."""
    try:
        return bool(conn.execute(ENUM_HAS_VALUE_SQL, (type_name, label)).fetchone()[0])
    except (psycopg.errors.InvalidName, psycopg.errors.SyntaxError):
        return False


# -- Schema introspection (nself.schema.introspect): a handful of set-based queries for the
# whole database, run in one snapshot with search_path = public, so that format_type,
# pg_get_expr and friends qualify exactly the names outside public.

# User tables (and partitions) and views: the relations the schema queries below describe.
_USER_RELATIONS_CTE = f"""
rel AS (
  SELECT c.oid, n.nspname, c.relname, c.relkind
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'v', 'm') AND {USER_SCHEMA_WHERE} AND {NOT_EXTENSION_MEMBER_WHERE}
)"""


def _not_member(catalog_table: str, alias: str) -> str:
    """A predicate: no extension owns the row `alias` of `catalog_table`."""
    return (f"NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = '{catalog_table}'::regclass"
            f" AND d.objid = {alias}.oid AND d.deptype = 'e')")


# public's comment only when it is not the one initdb gives it.
SCHEMA_NAMESPACES_SQL = f"""
SELECT n.nspname, CASE WHEN n.nspname <> 'public'
                         OR obj_description(n.oid, 'pg_namespace') <> 'standard public schema'
                       THEN obj_description(n.oid, 'pg_namespace') END
FROM pg_namespace n WHERE {USER_SCHEMA_WHERE} ORDER BY 1
"""
# An extension's comment only when it is not the one CREATE EXTENSION gives it.
SCHEMA_EXTENSIONS_SQL = """
SELECT e.extname, nullif(obj_description(e.oid, 'pg_extension'), a.comment)
FROM pg_extension e LEFT JOIN pg_available_extensions a ON a.name = e.extname
WHERE e.extname <> 'plpgsql' ORDER BY 1
"""
SCHEMA_ENUMS_SQL = f"""
SELECT n.nspname, t.typname,
       array(SELECT e.enumlabel FROM pg_enum e WHERE e.enumtypid = t.oid
             ORDER BY e.enumsortorder)::text[],
       obj_description(t.oid, 'pg_type')
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE t.typtype = 'e' AND {USER_SCHEMA_WHERE} AND {_not_member('pg_type', 't')}
ORDER BY 1, 2
"""
SCHEMA_DOMAINS_SQL = f"""
SELECT n.nspname, t.typname, format_type(t.typbasetype, t.typtypmod), NOT t.typnotnull,
       pg_get_expr(t.typdefaultbin, 0),
       array(SELECT 'CONSTRAINT ' || quote_ident(k.conname) || ' ' || pg_get_constraintdef(k.oid)
             FROM pg_constraint k WHERE k.contypid = t.oid AND k.contype = 'c'
             ORDER BY k.conname)::text[],
       obj_description(t.oid, 'pg_type'),
       (SELECT cl.collname FROM pg_collation cl
        WHERE cl.oid = t.typcollation AND t.typcollation <> bt.typcollation)
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
     JOIN pg_type bt ON bt.oid = t.typbasetype
WHERE t.typtype = 'd' AND {USER_SCHEMA_WHERE} AND {_not_member('pg_type', 't')}
ORDER BY 1, 2
"""
# Sequences that no identity column owns; owned_by from the OWNED BY (auto) dependency.
SCHEMA_SEQUENCES_SQL = f"""
SELECT n.nspname, c.relname, format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement,
       s.seqmin, s.seqmax, s.seqcycle,
       (SELECT tn.nspname || '.' || tc.relname || '.' || a.attname
        FROM pg_depend d JOIN pg_class tc ON tc.oid = d.refobjid
             JOIN pg_namespace tn ON tn.oid = tc.relnamespace
             JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
        WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
          AND d.refclassid = 'pg_class'::regclass AND d.deptype = 'a' AND d.refobjsubid > 0
        LIMIT 1),
       obj_description(c.oid, 'pg_class')
FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid
     JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE {USER_SCHEMA_WHERE} AND {NOT_EXTENSION_MEMBER_WHERE}
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'i')
ORDER BY 1, 2
"""
SCHEMA_TABLES_SQL = f"""
WITH {_USER_RELATIONS_CTE}
SELECT r.oid, r.nspname, r.relname, obj_description(r.oid, 'pg_class'),
       CASE WHEN r.relkind = 'p' THEN pg_get_partkeydef(r.oid) END,
       (SELECT pn.nspname || '.' || pc.relname FROM pg_inherits i
        JOIN pg_class pc ON pc.oid = i.inhparent JOIN pg_namespace pn ON pn.oid = pc.relnamespace
        WHERE i.inhrelid = r.oid AND c.relispartition),
       CASE WHEN c.relispartition THEN pg_get_expr(c.relpartbound, r.oid) END,
       c.relrowsecurity, c.relforcerowsecurity,
       NOT c.relispartition AND EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = r.oid)
FROM rel r JOIN pg_class c ON c.oid = r.oid
WHERE r.relkind IN ('r', 'p')
ORDER BY 2, 3
"""
SCHEMA_COLUMNS_SQL = f"""
WITH {_USER_RELATIONS_CTE}
SELECT a.attrelid, a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull,
       CASE WHEN a.attgenerated = '' THEN pg_get_expr(ad.adbin, ad.adrelid) END,
       CASE a.attidentity WHEN 'a' THEN 'always' WHEN 'd' THEN 'by default' END,
       CASE WHEN a.attgenerated <> '' THEN pg_get_expr(ad.adbin, ad.adrelid) END,
       CASE WHEN a.attcollation <> t.typcollation THEN
         CASE WHEN cn.nspname = 'pg_catalog' THEN quote_ident(co.collname)
              ELSE quote_ident(cn.nspname) || '.' || quote_ident(co.collname) END END,
       col_description(a.attrelid, a.attnum)
FROM rel r JOIN pg_attribute a ON a.attrelid = r.oid
     JOIN pg_type t ON t.oid = a.atttypid
     LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
     LEFT JOIN pg_collation co ON co.oid = a.attcollation
     LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
WHERE r.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum
"""
# A table's own constraints: NOT NULL rows (PostgreSQL 18) are the columns' nullability;
# copies a partition receives from its parent (conparentid, inherited checks) are the parent's.
SCHEMA_CONSTRAINTS_SQL = f"""
WITH {_USER_RELATIONS_CTE}
SELECT k.conrelid, k.conname, k.contype,
       array(SELECT a.attname FROM unnest(k.conkey) WITH ORDINALITY AS x(num, ord)
             JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = x.num
             ORDER BY x.ord)::text[],
       pg_get_constraintdef(k.oid),
       fn.nspname, fc.relname,
       array(SELECT a.attname FROM unnest(k.confkey) WITH ORDINALITY AS x(num, ord)
             JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = x.num
             ORDER BY x.ord)::text[],
       k.confdeltype, k.confupdtype, k.condeferrable, k.condeferred,
       obj_description(k.oid, 'pg_constraint')
FROM rel r JOIN pg_constraint k ON k.conrelid = r.oid
     LEFT JOIN pg_class fc ON fc.oid = k.confrelid
     LEFT JOIN pg_namespace fn ON fn.oid = fc.relnamespace
WHERE r.relkind IN ('r', 'p') AND k.contype IN ('p', 'u', 'c', 'x', 'f')
  AND k.conparentid = 0 AND k.conislocal
ORDER BY k.conrelid, k.conname
"""
# Indexes that back no constraint and are not a partition's copy of its parent's index.
SCHEMA_INDEXES_SQL = f"""
WITH {_USER_RELATIONS_CTE}
SELECT i.indrelid, ic.relname, i.indisunique, am.amname,
       array(SELECT pg_get_indexdef(i.indexrelid, k, true)
             FROM generate_series(1, i.indnkeyatts) AS k ORDER BY k)::text[],
       array(SELECT pg_get_indexdef(i.indexrelid, k, true)
             FROM generate_series(i.indnkeyatts + 1, i.indnatts) AS k ORDER BY k)::text[],
       pg_get_expr(i.indpred, i.indrelid), pg_get_indexdef(i.indexrelid),
       obj_description(i.indexrelid, 'pg_class')
FROM rel r JOIN pg_index i ON i.indrelid = r.oid
     JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_am am ON am.oid = ic.relam
WHERE NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid
                  AND k.conrelid = i.indrelid AND k.contype IN ('p', 'u', 'x'))
  AND NOT EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = i.indexrelid)
ORDER BY i.indrelid, ic.relname
"""
# Views and materialized views, functions and procedures, triggers, policies: each with the
# statement that recreates it, its comment and (from pg_depend/pg_rewrite) what it uses.
SCHEMA_DEFINITIONS_SQL = f"""
WITH {_USER_RELATIONS_CTE},
fun AS (
  SELECT p.oid, n.nspname, p.proname || '(' || oidvectortypes(p.proargtypes) || ')' AS name
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
  WHERE p.prokind IN ('f', 'p') AND {USER_SCHEMA_WHERE} AND {_not_member('pg_proc', 'p')}
)
SELECT CASE r.relkind WHEN 'v' THEN 'view' ELSE 'materialized view' END, r.nspname, r.relname,
       'CREATE ' || CASE r.relkind WHEN 'v' THEN 'VIEW ' ELSE 'MATERIALIZED VIEW ' END
         || quote_ident(r.nspname) || '.' || quote_ident(r.relname)
         || coalesce(' WITH (' || array_to_string(c.reloptions, ', ') || ')', '')
         || E' AS\\n' || rtrim(pg_get_viewdef(r.oid, true), E'; \\n'),
       obj_description(r.oid, 'pg_class'), 'pg_class'::regclass::oid, r.oid
FROM rel r JOIN pg_class c ON c.oid = r.oid WHERE r.relkind IN ('v', 'm')
UNION ALL
SELECT 'function', f.nspname, f.name, rtrim(pg_get_functiondef(f.oid), E' \\n'),
       obj_description(f.oid, 'pg_proc'), 'pg_proc'::regclass::oid, f.oid
FROM fun f
UNION ALL
SELECT 'trigger', r.nspname, r.relname || '.' || t.tgname, pg_get_triggerdef(t.oid),
       obj_description(t.oid, 'pg_trigger'), 'pg_trigger'::regclass::oid, t.oid
FROM rel r JOIN pg_trigger t ON t.tgrelid = r.oid
WHERE NOT t.tgisinternal AND t.tgparentid = 0
UNION ALL
SELECT 'policy', r.nspname, r.relname || '.' || p.polname,
       'CREATE POLICY ' || quote_ident(p.polname) || ' ON '
         || quote_ident(r.nspname) || '.' || quote_ident(r.relname)
         || CASE WHEN p.polpermissive THEN '' ELSE ' AS RESTRICTIVE' END
         || CASE p.polcmd WHEN 'r' THEN ' FOR SELECT' WHEN 'a' THEN ' FOR INSERT'
                          WHEN 'w' THEN ' FOR UPDATE' WHEN 'd' THEN ' FOR DELETE' ELSE '' END
         || CASE WHEN p.polroles = '{{0}}' THEN ''
                 ELSE ' TO ' || array_to_string(array(
                   SELECT CASE WHEN x = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(x)) END
                   FROM unnest(p.polroles) AS x ORDER BY 1), ', ') END
         || coalesce(' USING (' || pg_get_expr(p.polqual, p.polrelid) || ')', '')
         || coalesce(' WITH CHECK (' || pg_get_expr(p.polwithcheck, p.polrelid) || ')', ''),
       obj_description(p.oid, 'pg_policy'), 'pg_policy'::regclass::oid, p.oid
FROM rel r JOIN pg_policy p ON p.polrelid = r.oid
UNION ALL
SELECT 'type', n.nspname, t.typname,
       'CREATE TYPE ' || quote_ident(n.nspname) || '.' || quote_ident(t.typname) || ' AS ('
         || coalesce(E'\n    ' || array_to_string(array(
              SELECT quote_ident(a.attname) || ' ' || format_type(a.atttypid, a.atttypmod)
                     || CASE WHEN a.attcollation <> at.typcollation THEN ' COLLATE '
                          || quote_ident(cn.nspname) || '.' || quote_ident(co.collname)
                        ELSE '' END
              FROM pg_attribute a JOIN pg_type at ON at.oid = a.atttypid
                   LEFT JOIN pg_collation co ON co.oid = a.attcollation
                   LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
              WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped
              ORDER BY a.attnum), E',\n    ') || E'\n', '') || ')',
       obj_description(t.oid, 'pg_type'), 'pg_class'::regclass::oid, t.typrelid
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
     JOIN pg_class c ON c.oid = t.typrelid AND c.relkind = 'c'
WHERE t.typtype = 'c' AND {USER_SCHEMA_WHERE} AND {_not_member('pg_type', 't')}
UNION ALL
SELECT 'statistics', n.nspname, x.stxname,
       -- its table qualified whatever the search path (the catalog prints `FROM t`)
       CASE WHEN right(x.def, length(quote_ident(r.relname)) + 6) = ' FROM '
                      || quote_ident(r.relname)
            THEN left(x.def, length(x.def) - length(quote_ident(r.relname)))
                 || quote_ident(r.nspname) || '.' || quote_ident(r.relname)
            ELSE x.def END
         || CASE WHEN coalesce(x.stxstattarget, -1) >= 0  -- -1 before 17, NULL since
                 THEN E';\nALTER STATISTICS ' || quote_ident(n.nspname) || '.'
                      || quote_ident(x.stxname) || ' SET STATISTICS ' || x.stxstattarget
                 ELSE '' END,
       obj_description(x.oid, 'pg_statistic_ext'), 'pg_statistic_ext'::regclass::oid, x.oid
FROM (SELECT s.*, pg_get_statisticsobjdef(s.oid) AS def FROM pg_statistic_ext s) x
     JOIN rel r ON r.oid = x.stxrelid JOIN pg_namespace n ON n.oid = x.stxnamespace
WHERE {USER_SCHEMA_WHERE}
"""
# The qualified name of the type d.refobjid: an array type is named by its element, and a
# table's row type by the table.
_TYPE_NAME = """
SELECT n.nspname || '.' || coalesce(c.relname, t.typname)
FROM pg_type t0 JOIN pg_type t ON t.oid = CASE WHEN t0.typcategory = 'A' AND t0.typelem <> 0
                                               THEN t0.typelem ELSE t0.oid END
     JOIN pg_namespace n ON n.oid = t.typnamespace
     LEFT JOIN pg_class c ON c.oid = t.typrelid
WHERE t0.oid = d.refobjid"""
# What definitions use, in one pass over pg_depend (a view's uses hang off its _RETURN rule):
# (catalog, oid of the definition) -> the qualified name of a relation, type or function.
SCHEMA_DEPENDENCIES_SQL = f"""
WITH {_USER_RELATIONS_CTE},
owner AS (
  SELECT d.refclassid AS classid, d.refobjid AS objid, 'pg_rewrite'::regclass AS via, w.oid
  FROM pg_rewrite w JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = w.oid
       AND d.refclassid = 'pg_class'::regclass AND d.refobjid = w.ev_class AND d.deptype = 'i'
  WHERE w.ev_class IN (SELECT oid FROM rel WHERE relkind IN ('v', 'm'))
)
SELECT coalesce(o.classid, d.classid), coalesce(o.objid, d.objid),
       CASE d.refclassid
         WHEN 'pg_class'::regclass THEN
           (SELECT n.nspname || '.' || c.relname FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = d.refobjid)
         WHEN 'pg_proc'::regclass THEN
           (SELECT n.nspname || '.' || p.proname || '(' || oidvectortypes(p.proargtypes) || ')'
            FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE p.oid = d.refobjid)
         WHEN 'pg_type'::regclass THEN ({_TYPE_NAME})
       END
FROM pg_depend d LEFT JOIN owner o ON d.classid = o.via AND d.objid = o.oid
WHERE (d.classid IN ('pg_rewrite'::regclass, 'pg_proc'::regclass, 'pg_trigger'::regclass,
                     'pg_policy'::regclass, 'pg_statistic_ext'::regclass)
       OR d.classid = 'pg_class'::regclass AND d.objid IN (
         SELECT c.oid FROM pg_class c WHERE c.relkind = 'c'))
  AND d.refclassid IN ('pg_class'::regclass, 'pg_proc'::regclass, 'pg_type'::regclass)
  -- a statistics object's table is an automatic dependency
  AND (d.deptype = 'n' OR d.deptype = 'a' AND d.classid = 'pg_statistic_ext'::regclass)
  AND (d.classid <> 'pg_rewrite'::regclass OR o.oid IS NOT NULL)
"""
# What a table (its columns' types, defaults, generated expressions, constraints, indexes)
# or a domain (its base type, default, checks) uses: (kind, qualified, function or type).
SCHEMA_USES_SQL = f"""
WITH {_USER_RELATIONS_CTE},
part AS (
  SELECT 'table' AS kind, r.oid AS owner, 'pg_class'::regclass AS classid, r.oid AS objid
  FROM rel r WHERE r.relkind IN ('r', 'p')
  UNION ALL
  SELECT 'table', ad.adrelid, 'pg_attrdef'::regclass, ad.oid
  FROM pg_attrdef ad JOIN rel r ON r.oid = ad.adrelid WHERE r.relkind IN ('r', 'p')
  UNION ALL
  SELECT 'table', k.conrelid, 'pg_constraint'::regclass, k.oid
  FROM pg_constraint k JOIN rel r ON r.oid = k.conrelid WHERE r.relkind IN ('r', 'p')
  UNION ALL
  SELECT 'table', i.indrelid, 'pg_class'::regclass, i.indexrelid
  FROM pg_index i JOIN rel r ON r.oid = i.indrelid WHERE r.relkind IN ('r', 'p')
  UNION ALL
  SELECT 'domain', t.oid, 'pg_type'::regclass, t.oid
  FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
  WHERE t.typtype = 'd' AND {USER_SCHEMA_WHERE}
  UNION ALL
  SELECT 'domain', k.contypid, 'pg_constraint'::regclass, k.oid
  FROM pg_constraint k JOIN pg_type t ON t.oid = k.contypid
       JOIN pg_namespace n ON n.oid = t.typnamespace
  WHERE t.typtype = 'd' AND {USER_SCHEMA_WHERE}
)
SELECT DISTINCT p.kind,
       CASE p.kind WHEN 'table' THEN
         (SELECT n.nspname || '.' || c.relname FROM pg_class c
          JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = p.owner)
       ELSE (SELECT n.nspname || '.' || t.typname FROM pg_type t
             JOIN pg_namespace n ON n.oid = t.typnamespace WHERE t.oid = p.owner) END,
       CASE d.refclassid
         WHEN 'pg_proc'::regclass THEN
           (SELECT n.nspname || '.' || x.proname || '(' || oidvectortypes(x.proargtypes) || ')'
            FROM pg_proc x JOIN pg_namespace n ON n.oid = x.pronamespace
            WHERE x.oid = d.refobjid)
         ELSE ({_TYPE_NAME}) END
FROM part p JOIN pg_depend d ON d.classid = p.classid AND d.objid = p.objid
WHERE d.refclassid IN ('pg_proc'::regclass, 'pg_type'::regclass) AND d.deptype = 'n'
"""
# Objects in user schemas that the schema model does not describe, by kind and name.
# Objects of a schema known only by their name: (what, catalog, name column, schema column).
_NAMED_KINDS = (
    ("operator class", "pg_opclass", "opcname", "opcnamespace"),
    ("operator family", "pg_opfamily", "opfname", "opfnamespace"),
    ("text search configuration", "pg_ts_config", "cfgname", "cfgnamespace"),
    ("text search dictionary", "pg_ts_dict", "dictname", "dictnamespace"),
    ("text search parser", "pg_ts_parser", "prsname", "prsnamespace"),
    ("text search template", "pg_ts_template", "tmplname", "tmplnamespace"),
    ("conversion", "pg_conversion", "conname", "connamespace"),
)
_NAMED_UNSUPPORTED = "\nUNION ALL\n".join(
    f"SELECT '{what} ' || n.nspname || '.' || x.{name}\n"
    f"FROM {table} x JOIN pg_namespace n ON n.oid = x.{namespace}\n"
    f"WHERE {USER_SCHEMA_WHERE} AND {_not_member(table, 'x')}"
    for what, table, name, namespace in _NAMED_KINDS)
SCHEMA_UNSUPPORTED_SQL = f"""
SELECT 'collation ' || n.nspname || '.' || x.collname
FROM pg_collation x JOIN pg_namespace n ON n.oid = x.collnamespace
WHERE {USER_SCHEMA_WHERE} AND {_not_member('pg_collation', 'x')}
UNION ALL
SELECT 'operator ' || n.nspname || '.' || x.oprname || '('
       || coalesce(format_type(x.oprleft, NULL), 'NONE') || ', '
       || coalesce(format_type(x.oprright, NULL), 'NONE') || ')'
FROM pg_operator x JOIN pg_namespace n ON n.oid = x.oprnamespace
WHERE {USER_SCHEMA_WHERE} AND {_not_member('pg_operator', 'x')}
UNION ALL
{_NAMED_UNSUPPORTED}
UNION ALL
SELECT CASE x.prokind WHEN 'a' THEN 'aggregate ' ELSE 'window function ' END
       || n.nspname || '.' || x.proname || '(' || oidvectortypes(x.proargtypes) || ')'
FROM pg_proc x JOIN pg_namespace n ON n.oid = x.pronamespace
WHERE x.prokind IN ('a', 'w') AND {USER_SCHEMA_WHERE} AND {_not_member('pg_proc', 'x')}
UNION ALL
SELECT CASE x.typtype WHEN 'c' THEN 'composite type ' WHEN 'r' THEN 'range type '
                      ELSE 'type ' END || n.nspname || '.' || x.typname
FROM pg_type x JOIN pg_namespace n ON n.oid = x.typnamespace
WHERE (x.typtype IN ('r', 'p') OR x.typtype = 'b' AND x.typelem = 0)
  AND {USER_SCHEMA_WHERE} AND {_not_member('pg_type', 'x')}
UNION ALL
SELECT CASE c.relkind WHEN 'f' THEN 'foreign table ' ELSE 'table inheritance ' END
       || n.nspname || '.' || c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE (c.relkind = 'f' OR c.relkind = 'r' AND NOT c.relispartition
       AND EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid))
  AND {USER_SCHEMA_WHERE} AND {NOT_EXTENSION_MEMBER_WHERE}
UNION ALL
SELECT 'rule ' || n.nspname || '.' || c.relname || '.' || w.rulename
FROM pg_rewrite w JOIN pg_class c ON c.oid = w.ev_class
     JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE w.rulename <> '_RETURN' AND {USER_SCHEMA_WHERE} AND {NOT_EXTENSION_MEMBER_WHERE}
UNION ALL
SELECT 'event trigger ' || x.evtname FROM pg_event_trigger x
WHERE {_not_member('pg_event_trigger', 'x')}
UNION ALL
SELECT 'storage parameters of ' || n.nspname || '.' || c.relname || ' ('
       || array_to_string(c.reloptions, ', ') || ')'
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.reloptions IS NOT NULL AND c.relkind IN ('r', 'p', 'm')
  AND {USER_SCHEMA_WHERE} AND {NOT_EXTENSION_MEMBER_WHERE}
UNION ALL
SELECT 'unlogged table ' || n.nspname || '.' || c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relpersistence = 'u' AND c.relkind IN ('r', 'p')
  AND {USER_SCHEMA_WHERE} AND {NOT_EXTENSION_MEMBER_WHERE}
ORDER BY 1
"""
# Owners and explicit privileges (introspect(grants=True)) as the statements that set them:
# the owner's own privileges are implied and left out.
SCHEMA_PRIVILEGES_SQL = f"""
WITH obj AS (
  SELECT 'SCHEMA' AS word, quote_ident(n.nspname) AS target, n.nspowner AS owner,
         n.nspacl AS acl
  FROM pg_namespace n WHERE {USER_SCHEMA_WHERE}
  UNION ALL
  SELECT CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'
                        WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END,
         quote_ident(n.nspname) || '.' || quote_ident(c.relname), c.relowner, c.relacl
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S') AND {USER_SCHEMA_WHERE}
    AND {NOT_EXTENSION_MEMBER_WHERE}
    AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                    AND d.objid = c.oid AND d.deptype = 'i')
  UNION ALL
  SELECT CASE p.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END,
         quote_ident(n.nspname) || '.' || quote_ident(p.proname)
           || '(' || oidvectortypes(p.proargtypes) || ')', p.proowner, p.proacl
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
  WHERE p.prokind IN ('f', 'p') AND {USER_SCHEMA_WHERE} AND {_not_member('pg_proc', 'p')}
  UNION ALL
  SELECT CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END,
         quote_ident(n.nspname) || '.' || quote_ident(t.typname), t.typowner, t.typacl
  FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
  WHERE t.typtype IN ('e', 'd') AND {USER_SCHEMA_WHERE} AND {_not_member('pg_type', 't')}
)
SELECT 'ALTER ' || CASE word WHEN 'PROCEDURE' THEN 'ROUTINE' ELSE word END || ' ' || target
       || ' OWNER TO ' || quote_ident(pg_get_userbyid(owner)) || ';'
FROM obj
UNION ALL
SELECT 'GRANT ' || a.privilege_type || ' ON '
       || CASE WHEN word IN ('VIEW', 'MATERIALIZED VIEW') THEN 'TABLE' ELSE word END || ' '
       || target || ' TO '
       || CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END
       || CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END || ';'
FROM obj, aclexplode(obj.acl) AS a
WHERE a.grantee <> obj.owner
ORDER BY 1
"""


@dataclass(frozen=True)
class SchemaRows:
    """The raw rows of the schema queries above, read in one snapshot."""

    namespaces: list[tuple]
    extensions: list[tuple]
    enums: list[tuple]
    domains: list[tuple]
    sequences: list[tuple]
    tables: list[tuple]
    columns: list[tuple]
    constraints: list[tuple]
    indexes: list[tuple]
    definitions: list[tuple]
    dependencies: list[tuple]
    uses: list[tuple]
    unsupported: list[tuple]
    privileges: list[tuple]


def schema_rows(conn: psycopg.Connection, privileges: bool = False) -> SchemaRows:
    """Every row the schema model is built from: one snapshot (REPEATABLE READ, read only,
    when the connection is idle), search_path = public for the printed names."""
    from psycopg.pq import TransactionStatus

    idle = conn.info.transaction_status == TransactionStatus.IDLE
    with conn.transaction():
        if idle:
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        previous = conn.execute("SHOW search_path").fetchone()[0]
        conn.execute("SELECT set_config('search_path', 'public', true)")
        try:
            def rows(text: str) -> list[tuple]:
                return conn.execute(text).fetchall()

            definitions = rows(SCHEMA_DEFINITIONS_SQL)
            domains = rows(SCHEMA_DOMAINS_SQL)
            return SchemaRows(
                namespaces=rows(SCHEMA_NAMESPACES_SQL),
                extensions=rows(SCHEMA_EXTENSIONS_SQL),
                enums=rows(SCHEMA_ENUMS_SQL),
                domains=domains,
                sequences=rows(SCHEMA_SEQUENCES_SQL),
                tables=rows(SCHEMA_TABLES_SQL),
                columns=rows(SCHEMA_COLUMNS_SQL),
                constraints=rows(SCHEMA_CONSTRAINTS_SQL),
                indexes=rows(SCHEMA_INDEXES_SQL),
                definitions=definitions,
                # only definitions have dependencies: no scan of pg_depend without one
                dependencies=rows(SCHEMA_DEPENDENCIES_SQL) if definitions else [],
                # tables and domains on functions and types: only when there are some
                uses=rows(SCHEMA_USES_SQL) if domains or any(
                    r[0] in ("function", "type") for r in definitions) else [],
                unsupported=rows(SCHEMA_UNSUPPORTED_SQL),
                privileges=rows(SCHEMA_PRIVILEGES_SQL) if privileges else [],
            )
        finally:
            if not idle:
                conn.execute("SELECT set_config('search_path', %s, true)", (previous,))


# -- Drift fingerprint (nself.migrations.history): one md5 over the ordered facts of every user
# object, computed by the server in one query. Names are printed as the search path of the
# caller's transaction makes them (`fingerprint` sets it to pg_catalog, so every user name is
# qualified): the same schema always gives the same text on the same server. Grants, owners,
# statistics and sequence values are not part of it; comments are not either. Indexes are
# described by their catalog row (columns, operator classes, collations, options, expressions
# and predicate) rather than pg_get_indexdef, which costs 5x more (62 vs 13 ms for 4,000
# indexes, measured): the fingerprint is taken after every migrate run.
SCHEMA_FINGERPRINT_SQL = Scoped(f"""
WITH rel AS (
  SELECT c.oid, quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name, c.relkind,
         c.relpersistence, c.relispartition
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') AND {USER_SCHEMA_WHERE}
    AND {NOT_EXTENSION_MEMBER_WHERE}
),
fact AS (
  SELECT 1 AS kind, quote_ident(n.nspname) AS name, 0 AS pos, '' AS text
  FROM pg_namespace n WHERE {USER_SCHEMA_WHERE}
  UNION ALL
  SELECT 2, e.extname, 0, e.extversion FROM pg_extension e WHERE e.extname <> 'plpgsql'
  UNION ALL
  SELECT 3, r.name, 0, r.relkind::text || r.relpersistence::text
         || coalesce(' ' || pg_get_partkeydef(r.oid), '')
         || CASE WHEN r.relispartition THEN ' ' || (SELECT i.inhparent::regclass::text
                 || ' ' || pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i, pg_class c
                 WHERE i.inhrelid = r.oid AND c.oid = r.oid) ELSE '' END
         || coalesce(' ' || (SELECT array_agg(x)::text FROM unnest(c.reloptions) x), '')
         || CASE WHEN c.relrowsecurity THEN ' rls' ELSE '' END
         || CASE WHEN c.relforcerowsecurity THEN ' force' ELSE '' END
  FROM rel r JOIN pg_class c ON c.oid = r.oid
  UNION ALL
  SELECT 4, r.name, a.attnum, a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
         || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
         || coalesce(' default ' || pg_get_expr(ad.adbin, ad.adrelid), '')
         || CASE WHEN a.attidentity <> '' THEN ' identity ' || a.attidentity::text ELSE '' END
         || CASE WHEN a.attgenerated <> '' THEN ' generated ' || a.attgenerated::text ELSE '' END
         || CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation
                 THEN ' collate ' || a.attcollation::regcollation::text ELSE '' END
  FROM rel r JOIN pg_attribute a ON a.attrelid = r.oid
       JOIN pg_type t ON t.oid = a.atttypid
       LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
  WHERE a.attnum > 0 AND NOT a.attisdropped AND r.relkind <> 'S'
  UNION ALL
  SELECT 5, r.name, 0, k.conname || ' ' || pg_get_constraintdef(k.oid)
  FROM rel r JOIN pg_constraint k ON k.conrelid = r.oid
  UNION ALL
  SELECT 6, r.name, 0, ic.relname || ' ' || am.amname || ' ' || i.indisunique::text
         || i.indisprimary::text || i.indisexclusion::text || i.indimmediate::text
         || i.indisvalid::text || ' ' || i.indnkeyatts || ' ' || i.indkey::text || ' '
         || i.indclass::text || ' ' || i.indcollation::text || ' ' || i.indoption::text
         || coalesce(' ' || pg_get_expr(i.indexprs, i.indrelid), '')
         || coalesce(' where ' || pg_get_expr(i.indpred, i.indrelid), '')
         || coalesce(' ' || array_to_string(ic.reloptions, ','), '')
  FROM rel r JOIN pg_index i ON i.indrelid = r.oid JOIN pg_class ic ON ic.oid = i.indexrelid
       JOIN pg_am am ON am.oid = ic.relam
  UNION ALL
  SELECT 7, quote_ident(n.nspname) || '.' || quote_ident(t.typname), 0,
         t.typtype::text || ' ' || CASE t.typtype
           WHEN 'e' THEN (SELECT array_agg(e.enumlabel ORDER BY e.enumsortorder)::text
                          FROM pg_enum e WHERE e.enumtypid = t.oid)
           ELSE format_type(t.typbasetype, t.typtypmod)
                || CASE WHEN t.typnotnull THEN ' not null' ELSE '' END
                || coalesce(' default ' || pg_get_expr(t.typdefaultbin, 0), '')
                || coalesce(' ' || (SELECT array_agg(k.conname || ' ' || pg_get_constraintdef(k.oid)
                                     ORDER BY k.conname)::text
                                    FROM pg_constraint k WHERE k.contypid = t.oid), '') END
  FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
  WHERE t.typtype IN ('e', 'd') AND {USER_SCHEMA_WHERE} AND {_not_member('pg_type', 't')}
  UNION ALL
  SELECT 8, r.name, 0, format_type(s.seqtypid, NULL) || ' ' || s.seqstart || ' '
         || s.seqincrement || ' ' || s.seqmin || ' ' || s.seqmax || ' ' || s.seqcycle
  FROM rel r JOIN pg_sequence s ON s.seqrelid = r.oid
  UNION ALL
  SELECT 9, r.name, 0, pg_get_viewdef(r.oid) FROM rel r WHERE r.relkind IN ('v', 'm')
  UNION ALL
  SELECT 10, p.oid::regprocedure::text, 0,
         CASE WHEN p.prokind IN ('f', 'p') THEN pg_get_functiondef(p.oid)
              ELSE p.prokind::text END
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
  WHERE {USER_SCHEMA_WHERE} AND {_not_member('pg_proc', 'p')}
  UNION ALL
  SELECT 11, r.name, 0, pg_get_triggerdef(t.oid) || ' ' || t.tgenabled::text
  FROM rel r JOIN pg_trigger t ON t.tgrelid = r.oid WHERE NOT t.tgisinternal
  UNION ALL
  SELECT 12, r.name, 0, p.polname || ' ' || p.polpermissive::text || ' ' || p.polcmd::text || ' '
         || p.polroles::text || coalesce(' using ' || pg_get_expr(p.polqual, p.polrelid), '')
         || coalesce(' check ' || pg_get_expr(p.polwithcheck, p.polrelid), '')
  FROM rel r JOIN pg_policy p ON p.polrelid = r.oid
)
SELECT md5(coalesce(string_agg(kind || ' ' || name || ' ' || text, E'\\n'
                               ORDER BY kind, name COLLATE "C", pos, text COLLATE "C"), ''))
FROM fact
""")


def fingerprint(conn: psycopg.Connection, extra: str = "") -> tuple:
    """(md5 of the user schema, *the values of `extra`): one query, in one snapshot, names
    printed with search_path = pg_catalog. `extra` is more select items for the same round
    (e.g. the fingerprint last recorded)."""
    idle = conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    with conn.transaction():
        previous = None if idle else conn.execute("SHOW search_path").fetchone()[0]
        conn.execute("SELECT set_config('search_path', 'pg_catalog', true)")
        try:
            query = SCHEMA_FINGERPRINT_SQL if not extra else (
                f"SELECT ({SCHEMA_FINGERPRINT_SQL}), {extra}")
            return tuple(conn.execute(query).fetchone())
        finally:
            if previous is not None:
                conn.execute("SELECT set_config('search_path', %s, true)", (previous,))


# CHECK and FOREIGN KEY constraints added NOT VALID (not yet checked against existing rows), on
# user tables and domains: `db update` refuses to leave new ones behind.
NOT_VALID_CONSTRAINTS_SQL = f"""
SELECT quote_ident(n.nspname) || '.' || quote_ident(coalesce(c.relname, t.typname))
       || ' ' || quote_ident(k.conname)
FROM pg_constraint k JOIN pg_namespace n ON n.oid = k.connamespace
     LEFT JOIN pg_class c ON c.oid = k.conrelid LEFT JOIN pg_type t ON t.oid = k.contypid
WHERE NOT k.convalidated AND {USER_SCHEMA_WHERE}
ORDER BY 1
"""


def not_valid_constraints(conn: psycopg.Connection) -> list[str]:
    """`schema.table constraint` of every user constraint still marked NOT VALID."""
    return [r[0] for r in conn.execute(NOT_VALID_CONSTRAINTS_SQL).fetchall()]


# -- Seeds (nself.seeds): rows changed per table, sequences to catch up after a file --------
# Per user table (partitions rolled up to their root): rows inserted, updated, deleted in
# this transaction so far (plus this session's unflushed earlier ones: take differences).
TABLE_CHANGES_SQL = f"""
SELECT s.relid::oid::bigint, n.nspname, c.relname, s.n_tup_ins, s.n_tup_upd, s.n_tup_del
FROM pg_stat_xact_user_tables s
     JOIN pg_class c ON c.oid = coalesce(pg_partition_root(s.relid), s.relid)
     JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE s.n_tup_ins + s.n_tup_upd + s.n_tup_del > 0
  AND {USER_SCHEMA_WHERE} AND {NOT_EXTENSION_MEMBER_WHERE}
"""
# Sequences owned (serial: 'a', identity: 'i') by an integer column of the given tables or
# of their ancestors, in user schemas. (It takes a parameter: the predicates' `%` doubled.)
_USER_TABLE_WHERE = f"{USER_SCHEMA_WHERE} AND {NOT_EXTENSION_MEMBER_WHERE}".replace("%", "%%")
OWNED_SEQUENCES_SQL = f"""
SELECT sc.oid::bigint, sn.nspname, sc.relname, n.nspname, c.relname, a.attname,
       q.seqincrement, q.seqmin, q.seqmax
FROM pg_depend d
     JOIN pg_class sc ON sc.oid = d.objid AND sc.relkind = 'S'
     JOIN pg_namespace sn ON sn.oid = sc.relnamespace
     JOIN pg_sequence q ON q.seqrelid = sc.oid
     JOIN pg_class c ON c.oid = d.refobjid
     JOIN pg_namespace n ON n.oid = c.relnamespace
     JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
     JOIN pg_type t ON t.oid = a.atttypid
WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
  AND d.deptype IN ('a', 'i') AND d.refobjsubid > 0
  AND d.refobjid IN (SELECT x FROM unnest(%(relids)s::oid[]) AS x
                     UNION SELECT pg_partition_ancestors(x) FROM unnest(%(relids)s::oid[]) AS x)
  AND (CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END)
      IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype)
  AND {_USER_TABLE_WHERE}
ORDER BY 2, 3
"""


# -- Mock data (nself.mock): what the bulk path may drop and rebuild -------------------------
# Indexes the bulk path may drop and build again: not backing a constraint (a unique
# index that backs none is fine: building it checks the uniqueness of every row at once),
# not clustered or the replica identity, nothing depending on them (a foreign key may
# reference a unique index), not a partition's.
DROPPABLE_INDEXES_SQL = """
SELECT quote_ident(n.nspname) || '.' || quote_ident(ic.relname), pg_get_indexdef(i.indexrelid),
       obj_description(i.indexrelid, 'pg_class'), ts.spcname
FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
     JOIN pg_namespace n ON n.oid = ic.relnamespace
     JOIN pg_class tc ON tc.oid = i.indrelid
     LEFT JOIN pg_tablespace ts ON ts.oid = ic.reltablespace
WHERE i.indrelid = %s::regclass AND tc.relkind = 'r'
  AND NOT i.indisclustered AND NOT i.indisreplident AND i.indisvalid
  AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.refclassid = 'pg_class'::regclass
                  AND d.refobjid = i.indexrelid)
  AND NOT EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = i.indexrelid)
ORDER BY 1
"""
DROPPABLE_FKS_SQL = """
SELECT k.conname, pg_get_constraintdef(k.oid), obj_description(k.oid, 'pg_constraint')
FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
WHERE k.conrelid = %s::regclass AND k.contype = 'f' AND c.relkind = 'r'
  AND k.conparentid = 0 AND k.convalidated AND NOT k.condeferrable AND k.conname = ANY(%s)
ORDER BY 1
"""
ESTIMATE_SQL = "SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = %s::regclass"
