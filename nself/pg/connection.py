"""Connections to the configured database: reach it, name it, translate its errors
(the session that holds a lock while it works: `nself.pg.session`)."""

from __future__ import annotations

import re
from dataclasses import replace

import psycopg
from psycopg import sql

from nself.config import Database, Environment
from nself.errors import ConfigError, DatabaseUnreachable, NselfError, OperationFailed

APPLICATION_NAME = "nself"
CONNECT_TIMEOUT = 10
# libpq rejects a bad setting (port "x", sslmode "bogus") before it opens any socket:
# 'connection is bad: invalid sslmode value: "bogus"'.
BAD_SETTING_PREFIX = "connection is bad: "


def _bad_setting(message: str) -> str | None:
    """libpq's complaint about a connection setting, if `message` is one."""
    if message.startswith(BAD_SETTING_PREFIX + "invalid "):
        return message[len(BAD_SETTING_PREFIX):]
    return None

# Shown when a statement needs an extension the server lacks (the embedded build has no
# pgcrypto and no uuid-ossp).
EXTENSION_HINT = (
    "The extension {ext!r} is not installed on this server (the embedded PostgreSQL has no "
    "pgcrypto or uuid-ossp). Either point the embedded default at a full installation "
    "(NSELF_POSTGRES_BIN=/usr/lib/postgresql/15/bin) or set DATABASE_URL to a full server."
)


def target(env: Environment) -> Database:
    """The database to talk to; in local with nothing configured, the running embedded server.

    Every command that talks to a database comes here first, so this is THE place that
    refuses a folder nself did not mark (exit 2): no command can start a server, or write
    backups and state, where there is no project (`--url` included: backups and state
    live in the project)."""
    env.require_project()
    db = env.database
    if not db.embedded:
        return db
    # Imported here: nself.pg.embedded and nself.pg.tools cost ~6 ms of start-up that
    # `db status` on a DATABASE_URL never needs.
    from nself.pg.embedded import EmbeddedServer

    server = EmbeddedServer.for_environment(env)
    server.ensure_running()
    return replace(db, params=server.connection_params(db.name))


def connect(db: Database, dbname: str | None = None, autocommit: bool = True,
            create: bool | None = None) -> psycopg.Connection:
    """Open a connection; unreachable servers become `DatabaseUnreachable`, one clean line.

    The embedded default creates its project database on first use; no other database is
    ever created (`db shell --database other` on a missing one fails, exit 4).
    """
    name = dbname or db.name
    if create is None:
        create = db.embedded and name == db.name
    # the configured connect_timeout (DATABASE_URL, PGCONNECT_TIMEOUT; checked at load)
    # wins over ours, as it does for pg_dump and psql
    timeout = {} if db.params.get("connect_timeout") else {"connect_timeout": CONNECT_TIMEOUT}
    try:
        return psycopg.connect(db.conninfo(name), autocommit=autocommit,
                               application_name=APPLICATION_NAME, **timeout)
    except psycopg.OperationalError as exc:
        message = _first_line(db.redact(str(exc)))
        if _bad_setting(message):
            raise ConfigError(f"Cannot connect to {db.display(name)}: {_bad_setting(message)} "
                              "(check DATABASE_URL and the PG* settings).") from None
        if create and "does not exist" in message:
            _create_database(db, name)
            return connect(db, name, autocommit, create=False)
        raise DatabaseUnreachable(
            f"Cannot connect to {db.display(name)}: {message}"
        ) from None


def _create_database(db: Database, name: str) -> None:
    with connect(db, "postgres", create=False) as admin:
        try:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.errors.DuplicateDatabase:
            pass


def _first_line(message: str) -> str:
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    # libpq puts the useful part ("Connection refused", "password authentication failed")
    # on the first line and repeats per address; keep it short.
    return lines[0] if lines else "unknown error"


def server_version(conn: psycopg.Connection) -> str:
    """The server's version string, e.g. '18.1'."""
    return conn.execute("SHOW server_version").fetchone()[0].split()[0]


def server_major(conn: psycopg.Connection) -> int:
    return conn.info.server_version // 10000


def describe_error(exc: psycopg.Error) -> str:
    """PostgreSQL's message for `exc`, with its detail and hint, and the extension hint."""
    diag = exc.diag
    parts = [diag.message_primary or str(exc).strip().splitlines()[0]]
    if diag.message_detail:
        parts.append(f"DETAIL: {diag.message_detail}")
    if diag.message_hint:
        parts.append(f"HINT: {diag.message_hint}")
    text = " ".join(parts)
    missing = missing_extension(exc)
    if missing:
        text += " " + EXTENSION_HINT.format(ext=missing)
    return text


def missing_extension(exc: psycopg.Error) -> str | None:
    """The extension name when `exc` says an extension is not available on this server."""
    return missing_extension_in(exc.diag.message_primary or "", exc.diag.message_detail or "",
                                exc.sqlstate)


def missing_extension_in(message: str, detail: str = "", sqlstate: str | None = None
                         ) -> str | None:
    """The extension a server error message says is missing, if any."""
    match = re.search(r'extension "([^"]+)" is not available', message)
    if match:
        return match.group(1)
    match = re.search(r'could not open extension control file ".*/([^/"]+)\.control"',
                      message + " " + detail)
    if match:
        return match.group(1)
    # gen_random_uuid() is core since PG 13; uuid_generate_v4() etc. need uuid-ossp.
    if sqlstate in ("42883", None):
        for fn, ext in (("uuid_generate_v", "uuid-ossp"), ("crypt(", "pgcrypto"),
                        ("gen_salt(", "pgcrypto"), ("digest(", "pgcrypto")):
            if message.startswith("function " + fn) or f"function {fn}" in message:
                return ext
    return None


def translate_error(exc: psycopg.Error, db: Database | None = None) -> NselfError:
    """The one translation of a driver error into ours: a lost or refused connection is
    DatabaseUnreachable (exit 4), libpq rejecting a connection setting is ConfigError (2),
    any other server error OperationFailed (1) with PostgreSQL's message, detail and hint."""
    redact = db.redact if db is not None else (lambda text: text)
    where = f" to {db.display()}" if db is not None else ""
    if isinstance(exc, psycopg.OperationalError) and exc.sqlstate is None:
        message = _first_line(redact(str(exc)))
        if _bad_setting(message):
            return ConfigError(f"Cannot connect{where}: {_bad_setting(message)} "
                               "(check DATABASE_URL and the PG* settings).")
        return DatabaseUnreachable(f"Lost the connection{where}: {message}")
    if isinstance(exc, psycopg.errors.ConnectionException):
        return DatabaseUnreachable(f"Lost the connection{where}: "
                                   f"{_first_line(redact(str(exc)))}")
    return OperationFailed(redact(describe_error(exc)))

