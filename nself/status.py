"""`db status`: what the configured database is and where it stands."""

from __future__ import annotations

from nself.config import Environment
from nself.pg import catalog, meta
from nself.pg import connection as database


def database_status(env: Environment) -> dict:
    """The facts `nself db status` shows, as a dict (its --json output).

    A malformed migrations folder is an error (exit 2) here as in `migrate status`, in
    text and JSON alike: a report that says "0 pending" over a broken folder would lie.
    """
    # Imported here, not at the top: `db status` is the start-up benchmark, and these pull
    # in the migrations and backups packages only once the connection is up.
    from nself.backups.store import latest_backup
    from nself.migrations.history import drift
    from nself.migrations.status import counts, read_status

    env.require_project()
    db = database.target(env)
    with database.connect(db) as conn:
        version = database.server_version(conn)
        size, tables = catalog.database_facts(conn)
        recorded = meta.recorded_environment(conn)
        entries = read_status(env, conn)
        found = drift(conn)
    since = found.version if found else None
    return {
        "environment": env.name,
        "recorded_environment": recorded,
        "server_version": version,
        "database": db.display(),
        "database_source": env.address_source(),
        "notes": env.address_notes(),
        "embedded": db.embedded,
        "size_bytes": size,
        "tables": tables,
        "migrations": counts(entries),
        "drift": found.drifted if found else None,
        # the newest applied migration as files and `migrate status` name it ("003")
        "drift_since": next((e.label for e in entries if e.version == since), None),
        "drift_since_version": since,
        "last_backup": latest_backup(env),
    }
