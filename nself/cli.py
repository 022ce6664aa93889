"""The `nself` command: an invoke Program over the same namespace as `tasks.py`.

It also accepts the spaced form the user guides use: `nself db migrate up 3`
becomes `nself db.migrate.up --steps 3`. The words are translated here, from
the namespace itself, so no task is defined twice.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager

from invoke import Collection, Program
from invoke.exceptions import Exit, ParseError

from nself import __version__, errors, output
from nself.tasks import namespace


def _resolve(collection: Collection, words: list[str]) -> tuple[str | None, int, str]:
    """The longest task path spelled by the leading `words`, how many words it used, and
    the deepest collection path they reached."""
    best, used = None, 0
    path: list[str] = []
    current: Collection | None = collection
    for i, word in enumerate(words):
        if current is None or word.startswith("-"):
            break
        name = word.replace("_", "-")
        if name in current.collections:
            path.append(name)
            current = current.collections[name]
            if current.default:
                best, used = ".".join(path), i + 1
            continue
        if name in current.tasks:
            path.append(name)
            return ".".join(path), i + 1, ".".join(path[:-1])
        break
    return best, used, ".".join(path)


def _flag_takes_value(task, flag: str) -> bool:
    name = flag.lstrip("-").split("=", 1)[0]
    for arg in task.get_arguments():
        if name in arg.names or name.replace("-", "_") in arg.names:
            return "=" not in flag and arg.kind is not bool
    return False


def translate(argv: list[str], collection: Collection = namespace) -> list[str]:
    """Rewrite guide-style words (`db migrate up 3`) into invoke's (`db.migrate.up --steps 3`)."""
    if len(argv) < 2:
        return argv
    head, rest = argv[:1], argv[1:]
    # Leave invoke's own leading flags (--help, --list, ...) alone.
    i = 0
    while i < len(rest) and rest[i].startswith("-"):
        i += 1
    head, rest = head + rest[:i], rest[i:]
    if not rest or "." in rest[0]:
        return head + rest
    name, used, reached = _resolve(collection, rest)
    if name is None:
        if reached and len(rest) == len(reached.split(".")):
            # `nself db`, `nself db migrate`: show what is in there
            return head + ["--list", reached]
        return head + rest
    task = collection[name]
    remaining = rest[used:]
    flag = getattr(task, "positional_flag", None)
    if flag:
        out, j, filled = [], 0, False
        while j < len(remaining):
            word = remaining[j]
            if word.startswith("-") and len(word) > 1:
                out.append(word)
                if _flag_takes_value(task, word) and j + 1 < len(remaining):
                    out.append(remaining[j + 1])
                    j += 1
            elif not filled:
                out += [f"--{flag}", word]
                filled = True
            else:
                out.append(word)
            j += 1
        remaining = out
    return head + [name] + remaining


class NselfProgram(Program):
    """invoke's Program with guide-style words and our exit-code table.

    invoke's `run` does the work; we only widen the hooks it calls: `normalize_argv`
    translates the guides' words, and the parse and execute steps map what escapes them
    (a bad flag, Ctrl-C, a closed stdout under --help) to one stderr line and our code.
    """

    def run(self, argv=None, exit: bool = True) -> int:
        output.reset()
        try:
            super().run(argv, exit=True)
            code = errors.SUCCESS
        except SystemExit as exc:  # invoke ends every failure with sys.exit(code)
            code = exc.code if isinstance(exc.code, int) else errors.FAILED
        if exit:
            sys.exit(code)
        return code

    def normalize_argv(self, argv) -> None:
        super().normalize_argv(argv)
        for word in self.argv:
            try:
                word.encode("utf-8")
            except UnicodeEncodeError:
                # bytes that are not UTF-8 reach Python as lone surrogates, which no file
                # name, SQL text or output line can carry further on
                shown = word.encode("utf-8", "backslashreplace").decode()
                raise ParseError(f"the argument {shown!r} is not valid UTF-8") from None
        self.argv = translate(list(self.argv), self.namespace)

    def parse_core(self, argv) -> None:
        with _front_end_errors():
            super().parse_core(argv)

    def parse_collection(self) -> None:
        with _front_end_errors():
            super().parse_collection()

    def parse_tasks(self) -> None:
        with _front_end_errors():
            super().parse_tasks()

    def parse_cleanup(self) -> None:
        with _front_end_errors():
            super().parse_cleanup()

    def update_config(self, merge: bool = True) -> None:
        # `-f FILE` (invoke's config file): a missing, unknown or malformed file is bad input
        try:
            super().update_config(merge)
        except Exception as exc:  # UnknownFileType, YAML/JSON errors, OSError, ...
            shown = self.args["config"].value if "config" in self.args else None
            reason = " ".join(str(exc).split())[:200] or type(exc).__name__
            output.error_line(f"Error: cannot read the config file {shown or ''} given with -f "
                              f"({reason}). See `nself --help`.")
            raise Exit(code=errors.USAGE) from None

    def execute(self) -> None:
        with _front_end_errors():
            super().execute()


@contextmanager
def _front_end_errors():
    """What escapes invoke's own steps, as our one line and exit code (tasks map their
    errors themselves, in `nself.tasks.base.command`)."""
    try:
        yield
    except ParseError as exc:
        output.error_line(f"Error: {str(exc).rstrip('.!')}. See `nself --help`.")
        raise Exit(code=errors.USAGE) from None
    except KeyboardInterrupt:
        output.error_line("Interrupted.")
        raise Exit(code=errors.INTERRUPTED) from None
    except OSError as exc:  # invoke printing --help or --list into a closed or full stdout
        output.error_line(f"Error: {output.output_failed(exc)}")
        raise Exit(code=errors.FAILED) from None


program = NselfProgram(
    name="nself",
    binary="nself",
    version=__version__,
    namespace=namespace,
)
