"""`db` tasks: status, shell, start, stop."""

from __future__ import annotations

import shlex
import sys

from invoke.exceptions import Exit

from nself import output
from nself.errors import ConfigError
from nself.status import database_status
from nself.tasks.base import command, environment
from nself.tasks.library import embedded
from nself.tasks.library import shell as psql_shell


@command(help={"json": "Print the status as JSON (database_source: where the address came "
                       "from; notes: surprises in it; drift_since: the migration label)."})
def status(c, json=False):
    """Show database status: environment, the database and where its address came from,
    server, size, tables, migrations, drift, last backup."""
    env = environment()
    if not json:
        for note in env.address_notes():  # first: they matter most when the connection fails
            output.line(note)
    facts = database_status(env)
    if json:
        output.as_json(facts)
        return
    m = facts["migrations"]
    last = facts["last_backup"]
    output.heading("Database Status")
    rows = [
        ("Environment", facts["environment"]),
        ("Recorded as", facts["recorded_environment"]
         or "- (not yet: recorded by the first migrate or restore)"),
        ("Server", f"PostgreSQL {facts['server_version']}"
                   + (" (embedded)" if facts["embedded"] else "")),
        ("Database", facts["database"]),
        ("Address from", facts["database_source"]),
        ("Size", output.size(facts["size_bytes"])),
        ("Tables", facts["tables"]),
        ("Migrations", f"{m['applied']} applied, {m['pending']} pending"
                       + (f", {m['changed']} changed" if m.get("changed") else "")
                       + (f", {m['missing']} missing" if m.get("missing") else "")),
        ("Drift", drift_text(facts["drift"])),
        ("Last backup", f"{last['file']} ({last['created']:%Y-%m-%d %H:%M:%S}, "
                        f"{output.size(last['size_bytes'])})" if last else "none"),
    ]
    for label, value in rows:
        output.line(f"{label + ':':<13} {value}")


def drift_text(drifted: bool | None) -> str:
    """`Drift:` as `db status` and `migrate status` show it."""
    if drifted is None:
        return "unknown (no schema fingerprint recorded yet: the next migrate run records one)"
    if drifted:
        return "yes (the schema was changed outside migrations since the last migrate run)"
    return "no"


@command(
    passes_on="psql",
    help={
        "command": "Run this SQL and exit (psql -c).",
        "file": "Run the SQL in this file (or pipe: -f <(...), - for standard input) and exit "
                "(psql -f); stops at the first error.",
        "database": "Connect to this existing database on the same server instead of the "
                    "configured one (never created: a missing one is exit 4).",
    },
)
def shell(c, command=None, file=None, database=None):
    """Open psql on the configured database; psql's exit code is passed through.

    psql's own options go along: `nself db shell -At -c "SELECT 1"` (under inv, after
    `--`: `inv db.shell -c "SELECT 1" -- -At`); those that pick the server, user or
    database (-h, -p, -U, -d, a bare name) are refused: nself connects."""
    words = shlex.split(getattr(c, "remainder", "") or "")
    try:
        psql_shell.psql(environment(), command, file, database, words, out=sys.stdout,
                        err=lambda text: sys.stderr is not None and sys.stderr.write(text))
    except psql_shell.PsqlExited as exc:
        # psql already printed its error on stderr; add our hint, pass its exit code through.
        if exc.hint:
            output.error_line(exc.hint)
        raise Exit(code=exc.returncode) from None


@command
def start(c):
    """Start the embedded PostgreSQL (local only; it keeps running until `db stop`)."""
    server = embedded_server(environment())
    started = server.ensure_running()
    info = server.info()
    output.ok(f"PostgreSQL {server.major} {'started' if started else 'already running'} "
              f"(pid {info.pid}, socket {info.socket_dir}, data {server.pgdata})")


@command
def stop(c):
    """Stop the embedded PostgreSQL."""
    server = embedded.EmbeddedServer.of_project(environment())
    if server.stop():
        output.ok(f"PostgreSQL {server.major} stopped")
    else:
        output.line(f"PostgreSQL {server.major} was not running")


def embedded_server(env):
    """The project's embedded server; a ConfigError when the database is external."""
    env.require_project()
    if not env.database.embedded:
        raise ConfigError(
            f"The database is external ({env.database.display()}): nself only starts and stops "
            "its embedded server (local, no DATABASE_URL/PGHOST set)."
        )
    return embedded.EmbeddedServer.for_environment(env)
