"""`db shell`: psql on the configured database (or another on the same server), the psql
that fits the server's version, with nself's connection and the user's own psql options.

Imported only by `db shell`: nself.pg.tools and its sh cost every command's start-up
(`db status` included) a few milliseconds that only this command needs.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from nself import userfile
from nself.errors import ToolFailed, UsageError
from nself.pg import connection, tools


class PsqlExited(ToolFailed):
    """psql ended with a non-zero exit code, after printing its own error on stderr; `hint`
    is nself's one line to add (the extension to install), or ""."""

    def __init__(self, returncode: int, hint: str = ""):
        super().__init__(f"psql exited with code {returncode}", returncode)
        self.hint = hint


def psql(env, command: str | None = None, file: str | None = None,
         database: str | None = None, options: list[str] | tuple[str, ...] = (),
         out=None, err: Callable[[str], None] | None = None) -> None:
    """Run psql: interactive on this terminal without `command` or `file`, else `-c COMMAND`
    or `-f FILE` (`-` or a pipe: read as psql's standard input), stopping at the first error;
    `options` are the user's own psql options (those that pick the server, user or database
    are refused: nself connects). `out`/`err` receive psql's output when not interactive."""
    if command is not None and file is not None:
        raise UsageError("Give either -c or -f, not both.")
    if database is not None and not database.strip():
        raise UsageError("--database needs a database name.")
    piped = file == "-" or (file is not None and userfile.is_pipe(file))
    if file is not None and not piped:
        # psql reads it as it streams (a pipe too); a device or folder is refused
        userfile.check_regular(file, "an SQL file for -f")
    extra = tools.psql_options(list(options))
    # psql gets DATABASE_SEARCH_PATH as PGOPTIONS, as the migrations' sessions get it
    db = connection.target(env).with_search_path(env.search_path)
    with connection.connect(db, database) as conn:
        major = connection.server_major(conn)
    tool = tools.find("psql", major, tools.extra_dirs(env), at_least=0)
    args = ["-X", "-v", "ON_ERROR_STOP=1", *extra]
    if command is None and file is None:
        _run(lambda: tools.run(tool, args, db, database, foreground=True))
        return
    if command is not None:
        args += ["-c", command]
    else:
        # psql reads a pipe as its standard input (a `<(...)` path is one of nself's file
        # descriptors, which psql would not inherit)
        args += ["-f", "-" if piped else file]
    missing: list[str] = []

    def relay_error(text: str) -> None:
        if err is not None:
            err(text)
        ext = connection.missing_extension_in(text)
        if ext:
            missing.append(ext)

    stdin = None
    if piped:
        stdin = sys.stdin.buffer if file == "-" else open(file, "rb")  # noqa: SIM115
    try:
        _run(lambda: tools.run(tool, args, db, database, out=out, err=relay_error,
                               stdin=stdin), missing)
    finally:
        if stdin is not None and stdin is not sys.stdin.buffer:
            stdin.close()


def _run(call: Callable[[], object], missing: list[str] = ()) -> None:
    try:
        call()
    except ToolFailed as exc:
        hint = connection.EXTENSION_HINT.format(ext=missing[0]) if missing else ""
        raise PsqlExited(exc.returncode, hint) from None
