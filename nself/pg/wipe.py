"""The one way to empty a database: used by `migrate fresh`, `restore --clean`, `reset` and
`schema import --apply`.

Everything the user made goes (every user schema, `public` included, and every extension
but plpgsql), and so does nself's bookkeeping schema; `public` comes back as `initdb` makes
it. All in one transaction: a wipe that fails leaves the database as it was. The caller
re-records the database's environment afterwards (`nself.pg.meta`).
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from nself.pg import catalog


def wipe(conn: psycopg.Connection) -> int:
    """Drop every user object (see `nself.pg.catalog`) and nself's schema; return how many
    schemas and extensions were dropped. Runs in one transaction (a savepoint when one is open).
    """
    with conn.transaction():
        extensions = catalog.extensions(conn)
        for name in extensions:
            conn.execute(sql.SQL("DROP EXTENSION IF EXISTS {} CASCADE").format(
                sql.Identifier(name)))
        schemas = catalog.user_schemas(conn)
        for name in [*schemas, catalog.NSELF_SCHEMA]:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                sql.Identifier(name)))
        recreate_public(conn)
    return len(schemas) + len(extensions)


def recreate_public(conn: psycopg.Connection) -> None:
    """`public` as initdb makes it (owner, comment and the version's default grants)."""
    major = conn.info.server_version // 10000
    conn.execute("CREATE SCHEMA IF NOT EXISTS public")
    if major >= 15:
        conn.execute("ALTER SCHEMA public OWNER TO pg_database_owner")
    conn.execute("COMMENT ON SCHEMA public IS 'standard public schema'")
    conn.execute("GRANT USAGE ON SCHEMA public TO PUBLIC")
    if major < 15:
        conn.execute("GRANT CREATE ON SCHEMA public TO PUBLIC")
