"""`db status`: what the configured database is and where it stands."""

from __future__ import annotations

from nself.pg import connection as database
from nself.config import Environment

FACTS_SQL = """
SELECT pg_database_size(current_database()),
       (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
           AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'nself')
           AND n.nspname NOT LIKE 'pg_toast%%' AND n.nspname NOT LIKE 'pg_temp%%')
"""


def database_status(env: Environment) -> dict:
    """The facts `nself db status` shows, as a dict (its --json output)."""
    env.require_project()
    db = database.target(env)
    with database.connect(db) as conn:
        version = database.server_version(conn)
        size, tables = conn.execute(FACTS_SQL).fetchone()
        from nself.migrations import counts

        migrations = counts(env, conn)
    from nself.backups.store import latest_backup

    last = latest_backup(env)
    return {
        "environment": env.name,
        "server_version": version,
        "database": db.display(),
        "embedded": db.embedded,
        "size_bytes": size,
        "tables": tables,
        "migrations": migrations,
        "last_backup": last,
    }
