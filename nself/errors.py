"""Our exceptions and the one exit-code table every task uses.

Library code raises these; the task boundary (`nself.tasks.base`) turns them
into one line on stderr and the exit code of the class.

| code | meaning                                                            |
|------|--------------------------------------------------------------------|
| 0    | success                                                            |
| 1    | the operation failed (SQL error, verification, output not written)|
| 2    | bad usage or input (unknown flag, bad value, unreadable file, ...) |
| 3    | refused by the safety policy (blocked, or not confirmed)           |
| 4    | database unreachable or authentication failed                      |
| 5    | lock not acquired before the deadline                              |
| 6    | a check found differences (pending/changed migrations, drift)      |
| 130  | interrupted (Ctrl-C or SIGTERM)                                    |
"""

from __future__ import annotations

SUCCESS = 0
FAILED = 1
USAGE = 2
REFUSED = 3
UNREACHABLE = 4
LOCKED = 5
DIFFERENCES = 6
INTERRUPTED = 130


class NselfError(Exception):
    """Base of every error nself reports to a user; `exit_code` says which kind."""

    exit_code = FAILED


class OperationFailed(NselfError):
    """The operation ran and failed (SQL error, tool failure, verification)."""


class UsageError(NselfError):
    """Bad flags, bad values, unreadable or malformed input files."""

    exit_code = USAGE


class ConfigError(UsageError):
    """Settings or project layout are wrong or missing."""


class NoProject(ConfigError):
    """The current folder holds no nself project."""


class Refused(NselfError):
    """The safety policy refused the command (blocked, or not confirmed)."""

    exit_code = REFUSED


class DatabaseUnreachable(NselfError):
    """The server could not be reached or refused the credentials."""

    exit_code = UNREACHABLE


class LockTimeout(NselfError):
    """A lock was not acquired before its deadline."""

    exit_code = LOCKED


class DifferencesFound(NselfError):
    """A check found differences; raised by `--check` style flags."""

    exit_code = DIFFERENCES


class OutputFailed(OperationFailed):
    """Standard output (or error) cannot be written: a closed pipe (`| head`) or a full
    device (`> /dev/full`). The run stops after the unit of work in progress."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, or SIGTERM (which the task boundary turns into the same), with what it left
    behind. A KeyboardInterrupt, not an NselfError: no `except NselfError` or `except
    Exception` on the way up can take an interruption for a failure (exit 1, "... failed:
    Interrupted"); it reaches the task boundary, which exits 130."""

    exit_code = INTERRUPTED


class ToolFailed(OperationFailed):
    """An external PostgreSQL tool (psql, pg_dump, pg_restore) exited non-zero."""

    def __init__(self, message: str, returncode: int = FAILED):
        super().__init__(message)
        self.returncode = returncode


class ToolMissing(ConfigError):
    """No suitable psql / pg_dump / pg_restore binary was found."""
