"""The one way to empty a database: used by `migrate fresh`, `restore --clean`, `reset` and
`schema import --apply` (`restore --clean` takes it as SQL text, `wipe_statements`, and runs
it in the same transaction as the load).

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
        statements, dropped = _statements(conn)
        for statement in statements:
            conn.execute(statement)
    return dropped


def wipe_statements(conn: psycopg.Connection) -> list[str]:
    """The wipe as SQL text, read from the catalog now, for a caller that runs it in a
    transaction of its own (`restore --clean` sends it to psql ahead of the backup's SQL)."""
    return [statement.as_string(conn) for statement in _statements(conn)[0]]


def _statements(conn: psycopg.Connection) -> tuple[list[sql.Composable], int]:
    """The wipe's statements, and how many schemas and extensions they drop."""
    extensions = catalog.extensions(conn)
    schemas = catalog.user_schemas(conn)
    statements: list[sql.Composable] = [
        sql.SQL("DROP EXTENSION IF EXISTS {} CASCADE").format(sql.Identifier(name))
        for name in extensions]
    statements += [sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name))
                   for name in [*schemas, catalog.NSELF_SCHEMA]]
    return statements + public_statements(conn), len(schemas) + len(extensions)


def public_statements(conn: psycopg.Connection) -> list[sql.Composable]:
    """The statements that make `public` as initdb makes it, for this server's version."""
    major = conn.info.server_version // 10000
    statements = [sql.SQL("CREATE SCHEMA IF NOT EXISTS public")]
    if major >= 15:
        statements.append(sql.SQL("ALTER SCHEMA public OWNER TO pg_database_owner"))
    statements += [sql.SQL("COMMENT ON SCHEMA public IS 'standard public schema'"),
                   sql.SQL("GRANT USAGE ON SCHEMA public TO PUBLIC")]
    if major < 15:
        statements.append(sql.SQL("GRANT CREATE ON SCHEMA public TO PUBLIC"))
    return statements
