"""The task boundary: our exceptions become one stderr line and an exit code.

Every task is wrapped by `command`, for `nself` and `inv` alike. Around the body it:
- turns Ctrl-C and SIGTERM into KeyboardInterrupt (`nself.interrupts`), so `kill` stops
  a run the way Ctrl-C does: the library rolls back the unit in progress and its children
  die with it; every interruption exits 130 with one line, also one that a library error
  wrapped on its way up (`interrupted_within`);
- maps every exception to the exit-code table of `nself.errors`, as ONE line on stderr,
  never a traceback (NSELF_DEBUG=1 lets an unexpected one through, for bug reports);
- redacts the configured passwords from that line (`output.hide`/`output.redact`), a
  last net behind the masking each message already does;
- fails a run whose output could not be written (`output.check_failed`).
"""

from __future__ import annotations

import functools
import logging
import os

import psycopg
from invoke import Task
from invoke import task as invoke_task
from invoke.exceptions import Exit, ParseError
from invoke.parser import Argument

from nself import errors, interrupts, output
from nself.config import Environment
from nself.pg.connection import translate_error

# psycopg logs a warning when a Ctrl-C lands while it cancels a query; Python would print it
# on stderr (no logging is configured) beside the one line the boundary prints
logging.getLogger("psycopg").addHandler(logging.NullHandler())


class NselfTask(Task):
    """A Task whose help survives being asked twice (invoke pops help entries while
    building arguments; our front end and in-process tests build them more than once)."""

    positional_flag: str | None = None
    passes_on: str | None = None  # the program that gets the words after `--` (`psql`)

    def arg_opts(self, name, default, taken_names):
        # invoke takes the next character of a flag's name as its short flag, a dash too once
        # the letters before it are taken (`--, --no-backup`): never a dash
        return super().arg_opts(name, default, taken_names | {"-"})

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

    def __call__(self, *args, **kwargs):
        if any(kwargs.get(name) in HELP_WORDS for name in self.positional):
            # `inv logs --help`: invoke's parser gave --help to the SERVICE word the task
            # still needed (the `nself` front end moves it before the task instead)
            return print_help(self)
        return super().__call__(*args, **kwargs)


HELP_WORDS = ("--help", "-h")


def print_help(task: Task) -> None:
    """`inv --help TASK` for this task (found by identity in the namespace)."""
    from invoke import Program

    from nself.tasks import namespace

    name = next((n for n in namespace.task_names if namespace[n] is task), task.name)
    Program(namespace=namespace, binary="inv").run(["inv", "--help", name], exit=False)


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


def command(*args, positional_flag: str | None = None, passes_on: str | None = None,
            **kwargs):
    """`invoke.task`, plus the task boundary; `positional_flag` names the flag that the
    `nself` front end fills from a bare word (`nself db migrate up 3` -> `--steps 3`);
    `passes_on` names the program that gets the words that are not the task's own (the
    front end puts them after `--`: `c.remainder`)."""

    def decorate(body):
        @functools.wraps(body)
        def wrapper(c, *a, **kw):
            output.reset()
            try:
                with interrupts.interruptible():
                    try:
                        result = body(c, *a, **kw)
                        output.check_failed()
                        return result
                    except Exit:
                        raise  # a task's own exit code (db shell passes psql's through)
                    except Exception as exc:
                        error = as_nself_error(exc)
                        if error is None:
                            raise
                        line, code = one_line(str(error)), error.exit_code
                        if interrupted_within(exc):
                            code = errors.INTERRUPTED
                        del error  # with `exc`: what an interruption left half-built goes now
            except KeyboardInterrupt as exc:  # the body's, or one while the handlers were
                # put in place or back, or an error mapped: invoke would exit 1, no line
                line, code = interruption_line(exc), errors.INTERRUPTED
            output.error_line(line)
            interrupts.decided(code)
            raise Exit(code=code) from None

        made = invoke_task(*args, klass=NselfTask, **kwargs)(wrapper)
        made.positional_flag = positional_flag
        made.passes_on = passes_on
        return made

    if args and callable(args[0]) and not kwargs:
        body, args = args[0], ()
        return decorate(body)
    return decorate


def as_nself_error(exc: Exception) -> errors.NselfError | None:
    """`exc` as one of our errors (the one exception-to-exit-code mapping); None only for
    an unexpected exception when NSELF_DEBUG asks for its traceback."""
    if isinstance(exc, errors.NselfError):
        return exc
    if output.is_output_error(exc):
        return output.output_failed(exc)
    if isinstance(exc, psycopg.Error):
        return translate_error(exc)
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        return errors.OperationFailed(f"{exc.strerror or exc}{where}")
    if os.environ.get("NSELF_DEBUG"):
        return None
    # the last line: some exceptions (sh's ForkException) carry a whole traceback as text
    lines = [text.strip() for text in str(exc).splitlines() if text.strip()]
    reason = lines[-1][:300] if lines else ""
    return errors.OperationFailed(
        f"internal error: {type(exc).__name__}: {reason} (this is a bug in nself; run again "
        "with NSELF_DEBUG=1 for the traceback and report it)")


def interrupted_within(exc: BaseException) -> bool:
    """Whether an interruption caused EXC: raised while one was being handled (a rollback
    that failed after Ctrl-C, a Ctrl-C at a prompt said as "Cancelled.")."""
    todo, seen = [exc], set()
    while todo:
        link = todo.pop()
        if link is None or id(link) in seen:
            continue
        if isinstance(link, KeyboardInterrupt):
            return True
        seen.add(id(link))
        todo += [link.__cause__, link.__context__]
    return False


def interruption_line(exc: KeyboardInterrupt) -> str:
    """The one line an interruption ends with: what the library said it left behind
    (`errors.Interrupted`), else `Interrupted.`."""
    text = " ".join(str(exc).split()) if isinstance(exc, errors.Interrupted) else ""
    return text or "Interrupted."


def one_line(message: str) -> str:
    """`message` on one line, starting with `Error:` unless it already says what it is."""
    text = " ".join(part.strip() for part in message.strip().splitlines() if part.strip())
    return f"Error: {text}" if not text.startswith(("Error", "✗")) else text


def environment(search_parents: bool = True) -> Environment:
    """The Environment for this invocation (read fresh: tests change cwd and env); its
    passwords are hidden from every error line from here on."""
    env = Environment.load(search_parents=search_parents)
    for secret in env.secrets():
        output.hide(secret)
    return env
