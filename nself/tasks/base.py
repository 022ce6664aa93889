"""The task boundary: our exceptions become one stderr line and an exit code."""

from __future__ import annotations

import functools

from invoke import Task
from invoke import task as invoke_task
from invoke.exceptions import Exit, ParseError
from invoke.parser import Argument

from nself import errors


class NselfTask(Task):
    """A Task whose help survives being asked twice (invoke pops help entries while
    building arguments; our front end and in-process tests build them more than once)."""

    positional_flag: str | None = None

    def get_arguments(self, ignore_unknown_help=None):
        saved = dict(self.help)
        try:
            arguments = super().get_arguments(ignore_unknown_help)
        finally:
            self.help = saved
        for argument in arguments:
            if argument.kind in (int, float) and not argument.incrementable:
                argument.__class__ = NumberArgument
        return arguments


class NumberArgument(Argument):
    """A numeric flag whose bad value is a parse error (invoke lets int('x') escape as a
    ValueError traceback, under `inv` too)."""

    def set_value(self, value, cast=True):
        try:
            super().set_value(value, cast)
        except ValueError:
            what = "a whole number" if self.kind is int else "a number"
            flag = self.name.replace("_", "-")
            raise ParseError(f"--{flag} needs {what}, not {value!r}") from None


def command(*args, positional_flag: str | None = None, **kwargs):
    """`invoke.task`, plus error translation; `positional_flag` names the flag that the
    `nself` front end fills from a bare word (`nself db migrate up 3` -> `--steps 3`)."""

    def decorate(body):
        @functools.wraps(body)
        def wrapper(c, *a, **kw):
            try:
                return body(c, *a, **kw)
            except errors.NselfError as exc:
                raise Exit(_one_line(str(exc)), exc.exit_code) from None
            except KeyboardInterrupt:
                raise Exit("Interrupted.", errors.INTERRUPTED) from None
            except BrokenPipeError:
                # `nself db status | head`: the reader left early; that is not a failure.
                _silence_stdout()
                raise Exit(code=errors.SUCCESS) from None
            except Exception as exc:
                translated = _translate_driver_error(exc)
                if translated is None:
                    raise
                raise Exit(_one_line(str(translated)), translated.exit_code) from None

        made = invoke_task(*args, klass=NselfTask, **kwargs)(wrapper)
        made.positional_flag = positional_flag
        return made

    if args and callable(args[0]) and not kwargs:
        body, args = args[0], ()
        return decorate(body)
    return decorate


def _silence_stdout() -> None:
    import os
    import sys

    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass  # captured stdout (tests): nothing to silence


def _translate_driver_error(exc: Exception) -> errors.NselfError | None:
    import psycopg

    if isinstance(exc, psycopg.OperationalError) and exc.sqlstate is None:
        return errors.DatabaseUnreachable(f"Lost the database connection: {exc}".splitlines()[0])
    if isinstance(exc, psycopg.Error):
        from nself.pg.connection import describe_error

        return errors.OperationFailed(describe_error(exc))
    return None


def _one_line(message: str) -> str:
    text = " ".join(part.strip() for part in message.strip().splitlines() if part.strip())
    return f"Error: {text}" if not text.startswith(("Error", "✗")) else text


def environment():
    """The Environment for this invocation (read fresh: tests change cwd and env)."""
    from nself.config import Environment

    return Environment.load()
