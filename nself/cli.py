"""The `nself` command: an invoke Program over the same namespace as `tasks.py`.

It also accepts the spaced form the user guides use: `nself db migrate up 3`
becomes `nself db.migrate.up --steps 3`. The words are translated here, from
the namespace itself, so no task is defined twice.
"""

from __future__ import annotations

import inspect
import os
import shlex
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field

from invoke import Argument, Collection, Program
from invoke.exceptions import Exit, ParseError
from invoke.parser import Parser, ParserContext

from nself import __version__, config, errors, output, userfile
from nself.config import ENV_FILE_SETTING, URL_SETTING
from nself.tasks import namespace

# Other spellings the guides use for a command's words: a word with colons is the spaced
# words (`nself db migrate:up` is `nself db migrate up`), and these whole sequences. `db run`
# is the migrations guide's "nself db run to generate migration": a migration from
# schema.dbml, which is what `db schema import` writes.
ALIASES: dict[tuple[str, ...], tuple[str, ...]] = {("db", "run"): ("db", "schema", "import")}
# After a collection's words (`nself db --help`), these list its commands.
LISTING_FLAGS = ("--list", "-l", "--help", "-h")
HELP_FLAGS = ("--help", "-h")
# The list format of `nself db`: spaced words (`NselfProgram.list_spaced`).
SPACED = "spaced"
# nself's own options for one run, before the command as dbmate's (`nself --url URL db
# status`): each sets the variable the settings read (nself.config) for that run only.
RUN_OPTIONS = {
    "url": (URL_SETTING, "The database for this run: beats DATABASE_URL and every settings "
                         "file (as NSELF_DATABASE_URL does)."),
    "env-file": (ENV_FILE_SETTING, "Read this settings file instead of .env for this run (as "
                                   "NSELF_ENV_FILE does)."),
}


class UnknownWord(ParseError):
    """A word that names no command (or that a command does not take): said as is, exit 2."""


@dataclass
class _Walk:
    """Where the leading command words lead in the namespace."""

    words: list[str]        # the command line after nself's own flags, aliases expanded
    path: list[str] = field(default_factory=list)  # names walked through
    used: int = 0           # words that named the command
    task: str | None = None  # the dotted task they name (a collection's default counts)
    collection: Collection | None = None  # the deepest collection reached


def _walk(collection: Collection, words: list[str]) -> _Walk:
    """Follow the leading words through the namespace, expanding colon forms and ALIASES."""
    words = list(words)
    if words and "." in words[0] and not words[0].startswith(("-", ".")):
        words[:1] = words[0].split(".")  # invoke's dotted name: the same walk
    walk = _Walk(words, collection=collection)
    i = 0
    while i < len(words):
        word = words[i]
        if not word or word.startswith("-"):
            break
        if ":" in word and not word.startswith(":"):
            words[i:i + 1] = [part for part in word.split(":") if part]
            continue
        name = word.replace("_", "-")
        alias = ALIASES.get((*walk.path, name))
        if alias is not None:
            words[:i + 1] = alias
            walk, i = _Walk(words, collection=collection), 0
            continue
        current = walk.collection
        if name in current.collections:
            walk.path.append(name)
            walk.collection = current.collections[name]
            # a collection runs its default task; one without a default names no task yet
            walk.task, walk.used = ((".".join(walk.path), i + 1) if walk.collection.default
                                    else (None, 0))
        elif name in current.tasks:
            walk.path.append(name)
            walk.task, walk.used = ".".join(walk.path), i + 1
            break
        else:
            break
        i += 1
    return walk


def spaced_commands(collection: Collection, prefix: tuple[str, ...] = ()):
    """(words, task) for every task under `collection`, in the guides' spelling: a
    collection's default task is the collection's own words (`db backup`)."""
    found = []
    for name, task in collection.tasks.items():
        found.append(((*prefix, name) if name != collection.default else prefix, task))
    for name, sub in collection.collections.items():
        found += spaced_commands(sub, (*prefix, name))
    return sorted(found, key=lambda item: item[0])


def takes(task) -> tuple[str, ...]:
    """The words a task takes after its name, as placeholders: `SERVICE`, `[STEPS]`."""
    required = tuple(arg.name.upper() for arg in task.get_arguments() if arg.positional)
    flag = getattr(task, "positional_flag", None)
    return required + ((f"[{flag.upper()}]",) if flag else ())


def summary(task) -> str:
    """A task's docstring up to the end of its first sentence, on one line."""
    text = " ".join((inspect.getdoc(task) or "").split("\n\n", 1)[0].split())
    first, stop, _ = text.partition(". ")
    return first + ("." if stop else "")


def command_names(collection: Collection, path: list[str]) -> list[str]:
    """The words that can follow `nself PATH`: its tasks, collections and aliases."""
    names = set(collection.tasks) | set(collection.collections)
    names |= {key[-1] for key in ALIASES if list(key[:-1]) == path}
    return sorted(names)


def _unknown(word: str, collection: Collection, path: list[str]) -> UnknownWord:
    where = f"`nself {' '.join(path)}`" if path else "nself"
    listing = f"`nself {' '.join(path)}`" if path else "`nself --list`"
    return UnknownWord(f"Unknown command {word!r} in {where}. Its commands: "
                       f"{', '.join(command_names(collection, path))} ({listing} lists them).")


def core_flags(program: Program | None = None) -> dict[str, bool]:
    """nself's own flags (invoke's core flags), each with whether it takes the next word as
    its value (`-f FILE`); an optional value (`--help TASK`) does not count."""
    args = (program or Program(namespace=Collection())).core_args()
    return {("-" if len(n) == 1 else "--") + n: a.kind is not bool and not a.optional
            for a in args for n in a.names}


def _own_flag(task, flag: str) -> bool:
    """Whether FLAG (`-h`, `--help`) is one of the task's own flags."""
    name = flag.lstrip("-")
    return any(name in arg.names or name.replace("-", "_") in arg.names
               for arg in task.get_arguments())


def _task_flag(task, flag: str, core: dict[str, bool]) -> bool | None:
    """Whether FLAG takes the next word as its value; None when neither the task nor nself
    knows it (invoke then reports it)."""
    spelled, has_value = flag.split("=", 1)[0], "=" in flag
    name = spelled.lstrip("-")
    for arg in task.get_arguments():
        if name in arg.names or name.replace("-", "_") in arg.names:
            return not has_value and arg.kind is not bool
    if spelled in core:
        return core[spelled] and not has_value
    return None


def translate(argv: list[str], collection: Collection = namespace,
              core: dict[str, bool] | None = None) -> list[str]:
    """Rewrite the guides' words (`db migrate up 3`, `db migrate:up`, `db run`) into invoke's
    (`db.migrate.up --steps 3`); `nself db` lists its commands. A word that names no command
    raises UnknownWord, naming it and the commands at that level. A task may set
    `rewrite_words(words) -> words` to turn the words after it into flags it declares
    (`db mock --users 100` -> `--rows users=100`) before they are read here."""
    if len(argv) < 2:
        return argv + ["--list", "--list-format", SPACED]  # bare `nself`: every command
    core = core_flags() if core is None else core
    head, rest = argv[:1], argv[1:]
    # Leave invoke's own leading flags (--help, --list, -f FILE, ...) alone.
    i = 0
    while i < len(rest) and rest[i].startswith("-") and rest[i] != "--":
        i += 2 if core.get(rest[i]) and i + 1 < len(rest) else 1
    head, rest = head + rest[:i], rest[i:]
    if not rest or rest[0] == "--":
        return head + rest
    walk = _walk(collection, rest)
    words = walk.words
    if walk.task is None:
        after = words[len(walk.path):]
        if walk.path and (not after or after[0] in LISTING_FLAGS):
            # `nself db`, `nself db migrate --help`: the commands in there, spaced
            listing = [w for w in head if w not in LISTING_FLAGS]
            return listing + ["--list", ".".join(walk.path), "--list-format", SPACED]
        if walk.path and after[0].startswith("-"):
            raise UnknownWord(f"`nself {' '.join(walk.path)}` needs a command before "
                              f"{after[0]}: {', '.join(command_names(walk.collection, walk.path))}"
                              f" (`nself {' '.join(walk.path)}` lists them).")
        raise _unknown(after[0], walk.collection, walk.path)
    task = collection[walk.task]
    remaining = words[walk.used:]
    rewrite = getattr(task, "rewrite_words", None)  # a task's own words (db mock --users 100)
    if rewrite is not None:
        remaining = list(rewrite(remaining))
    try:
        return head + [walk.task] + _task_words(task, walk, remaining, collection, core)
    except _HelpAsked:
        # `nself logs --help`: invoke would take --help for the SERVICE word a task still
        # needs; asked before the task, it is invoke's help for that task
        return [w for w in head if w not in LISTING_FLAGS] + ["--help", walk.task]


class _HelpAsked(Exception):
    """`--help` (or `-h`) among a task's words, where it is not the task's own flag."""


def _task_words(task, walk: _Walk, remaining: list[str], collection: Collection,
                core: dict[str, bool]) -> list[str]:
    """The words after a task: flags as given, the first bare word into its positional flag,
    invoke's own positional arguments in order; any other word is unknown. A task that
    `passes_on` words to a program (`db shell` to psql) gets every word that is not its own
    flag after `--`, each quoted (invoke joins them into `c.remainder` with spaces)."""
    flag = getattr(task, "positional_flag", None)
    passes_on = getattr(task, "passes_on", None)
    positional = [arg.name for arg in task.get_arguments() if arg.positional]
    slots = len(positional)
    out, j, filled, extra = [], 0, False, []
    while j < len(remaining):
        word = remaining[j]
        if word == "--":
            if passes_on:
                extra += remaining[j + 1:]
                break
            return out + remaining[j:]
        if word in HELP_FLAGS and not _own_flag(task, word):
            raise _HelpAsked
        if word.startswith("-") and len(word) > 1:
            takes = _task_flag(task, word, {} if passes_on else core)
            if takes is None and passes_on:  # psql's own (-At, -v x=1, -l)
                extra.append(word)
                j += 1
                continue
            if takes is None:  # unknown flag: invoke names it
                return out + remaining[j:]
            out.append(word)
            if takes and j + 1 < len(remaining):
                out.append(remaining[j + 1])
                j += 1
        elif passes_on:
            extra.append(word)  # the value of the program's flag before it
        elif flag and (not filled or flag in (getattr(task, "iterable", None) or ())):
            out += [f"--{flag}", word]  # an iterable flag takes every bare word
            filled = True
        elif slots:
            out.append(word)
            slots -= 1
        elif _is_task_name(collection, word):
            return out + remaining[j:]  # invoke's several tasks on one line
        elif task.name == walk.collection.default and walk.path[-1] != task.name \
                and not out and not filled:
            raise _unknown(word, walk.collection, walk.path)
        else:
            spelled = " ".join(walk.path)
            named = ([f"--{flag}"] if flag else []) + positional
            takes_words = (f"{len(named)} word{'s' if len(named) > 1 else ''} "
                           f"({', '.join(named)})" if named else "no words, only flags")
            raise UnknownWord(f"Unexpected {word!r} after `nself {spelled}`: it takes "
                              f"{takes_words}. See `nself {spelled} --help`.")
        j += 1
    return out + (["--", *map(shlex.quote, extra)] if extra else [])


def _is_task_name(collection: Collection, word: str) -> bool:
    try:
        collection[word]
    except (KeyError, ValueError, TypeError):
        return False
    return "." in word or word in collection.tasks


class NselfProgram(Program):
    """invoke's Program with guide-style words and our exit-code table.

    invoke's `run` does the work; we only widen the hooks it calls: `normalize_argv`
    translates the guides' words, and the parse and execute steps map what escapes them
    (a bad flag, Ctrl-C, a closed stdout under --help) to one stderr line and our code.
    """

    def run(self, argv=None, exit: bool = True) -> int:
        output.reset()
        saved = {var: os.environ.get(var) for var, _ in RUN_OPTIONS.values()}
        config.given_by_flag.clear()
        try:
            super().run(argv, exit=True)
            code = errors.SUCCESS
        except SystemExit as exc:  # invoke ends every failure with sys.exit(code)
            code = exc.code if isinstance(exc.code, int) else errors.FAILED
        finally:  # --url / --env-file hold for one run (in-process callers run many)
            for var, value in saved.items():
                os.environ.pop(var, None) if value is None else os.environ.update({var: value})
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
        self.argv = translate(list(self.argv), self.namespace, core_flags(self))

    def list_tasks(self) -> None:
        if not callable(getattr(self, f"list_{self.list_format}", None)):
            raise ParseError(f"--list-format must be flat, nested, json or {SPACED}, not "
                             f"{self.list_format!r}")
        super().list_tasks()

    def list_spaced(self) -> None:
        """`nself db`: the commands in there, in the guides' spaced words."""
        prefix = ("nself", *(self.list_root or "").split(".")) if self.list_root else ("nself",)
        pairs = [(" ".join(prefix + words + takes(task)), summary(task))
                 for words, task in spaced_commands(self.scoped_collection)]
        path = list(prefix[1:])
        for alias, target in ALIASES.items():
            if list(alias[:len(path)]) == path and len(alias) > len(path):
                try:
                    task = self.namespace[".".join(target)]
                except (KeyError, ValueError):
                    continue  # not built: no alias to show
                pairs.append((" ".join(("nself", *alias, *takes(task))),
                              f"Same as `nself {' '.join(target)}`."))
        pairs.sort()
        print(f"Commands of `{' '.join(prefix)}`:\n")
        self.print_columns(pairs)
        print("Colon forms work too (`nself db migrate:up` is `nself db migrate up`); "
              "`nself COMMAND --help` explains a command's flags"
              + ("." if path else ", `nself --help` nself's own options."))

    def core_args(self) -> list[Argument]:
        return super().core_args() + [Argument(names=(name,), help=text)
                                      for name, (_, text) in RUN_OPTIONS.items()]

    def parse_core(self, argv) -> None:
        with _front_end_errors():
            super().parse_core(argv)
        for name, (var, _) in RUN_OPTIONS.items():
            if self.args[name].value is not None:
                os.environ[var] = self.args[name].value
                config.given_by_flag.add(var)  # labelled `from --url`, not the shell

    def parse_collection(self) -> None:
        with _front_end_errors():
            super().parse_collection()

    def parse_tasks(self) -> None:
        with _front_end_errors():
            super().parse_tasks()

    def _make_parser(self) -> Parser:
        """The parser over the tasks the command line names, not every task: invoke builds
        and deep-copies a context per task (~5 ms of each start, 30 tasks; `db status` has
        a start-up budget). A word that names no task finds no context either way, so the
        parse is the same; completion (`--complete`) gets them all."""
        if any(word.startswith("--complete") for word in self.argv):
            return super()._make_parser()
        words = {part for word in self.argv for part in word.split("=")}
        unknown_help = self.config.tasks.ignore_unknown_help
        contexts = [ParserContext(name=name, aliases=aliases,
                                  args=self.collection[name].get_arguments(
                                      ignore_unknown_help=unknown_help))
                    for name, aliases in self.collection.task_names.items()
                    if name in words or words.intersection(aliases)]
        return Parser(initial=self.initial_context, contexts=contexts)

    def parse_cleanup(self) -> None:
        with _front_end_errors():
            super().parse_cleanup()

    def update_config(self, merge: bool = True) -> None:
        # `-f FILE` (invoke's config file): a missing, unknown or malformed file is bad input
        shown = self.args["config"].value if "config" in self.args else None
        try:
            if shown:
                # invoke skips a runtime config file that does not exist, silently; a FIFO
                # or a device it would read without end
                userfile.check_regular(shown, "the config file given with -f",
                                       limit=userfile.SETTINGS_LIMIT)
            super().update_config(merge)
        except errors.UsageError as exc:
            output.error_line(f"Error: {str(exc).rstrip('.')}. See `nself --help`.")
            raise Exit(code=errors.USAGE) from None
        except Exception as exc:  # UnknownFileType, YAML/JSON errors, OSError, ...
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
    except UnknownWord as exc:
        output.error_line(f"Error: {exc}")
        raise Exit(code=errors.USAGE) from None
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
