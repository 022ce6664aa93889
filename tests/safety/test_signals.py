"""Ctrl-C and SIGTERM, in real processes: every interruption is one line and exit 130.

From the first instruction of nself's entry point (`nself/__main__.py`, the installed
script, `tasks.py` under inv) through the imports, the task and the exit: never a Python
traceback, never a death by the signal, never exit 1 for an interruption that a library
error wrapped. (Python's own start-up, before any of nself's code runs, is outside that:
the trials start once the process has installed nself's handlers, read from /proc.)
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, random_seed

from nself import errors

SHADOW_PREFIX = "nself_shadow_"


def _catches_sigterm(pid: int) -> bool:
    """Whether process PID has a handler for SIGTERM (nself's: Python installs none)."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
    except OSError:  # it has exited already
        return True
    return False


def _start(argv: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ))


def _ready(argv: list[str], cwd: Path) -> subprocess.Popen:
    """ARGV started, once it has installed nself's signal handlers (its first instruction)."""
    proc = _start(argv, cwd)
    deadline = time.monotonic() + 30
    while not _catches_sigterm(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.0005)
    return proc


def _trials(request) -> int:
    return 40 if request.config.getoption("--slow") else 6


def _entry_points() -> dict[str, list[str]]:
    """The three ways to start nself: the installed script, `python -m nself`, inv."""
    script = Path(sys.executable).with_name("nself")
    return {"script": [str(script)], "module": [sys.executable, "-m", "nself"],
            "inv": [sys.executable, "-m", "invoke", "--search-root", str(REPO)]}


@pytest.mark.parametrize("entry", ["script", "module", "inv"])
def test_signal_at_a_random_early_moment_is_one_line(project, request, entry):
    """SIGINT or SIGTERM at a random moment of a `db status` run (imports, parse, task,
    exit), once nself's entry point runs: exit 130 with `Interrupted.` (or 0 when it came
    after the end), never a traceback and never death by the signal."""
    seed = random_seed()
    replay = f"replay: NSELF_TEST_SEED={seed} python -m pytest '{request.node.nodeid}'"
    rng = random.Random(seed)
    argv = _entry_points()[entry] + (["db.status"] if entry == "inv" else ["db", "status"])
    spans = []  # from the handlers to the end: where signals land
    for _ in range(2):  # the shorter: the first may write bytecode caches (no trial does)
        proc = _ready(argv, project.root)
        began = time.monotonic()
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == errors.SUCCESS, (out, err)
        spans.append(time.monotonic() - began)
    span = min(spans)
    interrupted = 0
    for trial in range(_trials(request)):
        number = rng.choice([signal.SIGINT, signal.SIGTERM])
        proc = _ready(argv, project.root)
        delay = rng.uniform(0, span * 0.9)
        time.sleep(delay)
        proc.send_signal(number)
        out, err = proc.communicate(timeout=60)
        what = (f"trial {trial}: {number.name} after {delay:.3f} s -> {proc.returncode}, "
                f"stderr {err!r} ({replay})")
        assert "Traceback" not in err and "KeyboardInterrupt" not in err, what
        assert proc.returncode in (errors.INTERRUPTED, errors.SUCCESS), what
        if proc.returncode == errors.INTERRUPTED:
            interrupted += 1
            assert err.endswith("Interrupted.\n") and err.count("\n") == 1, what
    assert interrupted, f"no trial was interrupted (all came too late; {replay})"


def test_the_entry_point_handles_signals_before_importing_nself(tmp_path):
    """The console script's target installs the handlers before the ~0.4 s of imports:
    after importing it, SIGTERM is handled and neither invoke nor nself.cli is loaded."""
    from importlib.metadata import entry_points

    (script,) = entry_points(group="console_scripts", name="nself")
    assert script.value == "nself.__main__:main"
    probe = ("import signal, sys; import nself.__main__; "
             "print(signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None), "
             "'invoke' in sys.modules, 'nself.cli' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert done.stdout.split() == ["True", "False", "False"], done


# a KeyboardInterrupt out of text run by exec, as when the signal lands while a module the
# task imports builds a dataclass's methods, and caught there
CAUGHT_IN_EXEC = """
import os, signal, sys
from nself import interrupts
interrupts.stop_at_once()
with interrupts.interruptible():
    try:
        exec("os.kill(os.getpid(), signal.SIGINT)")
    except KeyboardInterrupt:
        pass
sys.exit(130)
"""


def test_an_interrupt_caught_in_exec_text_does_not_kill_by_sigint(tmp_path):
    """Under `python -m` (inv's entry), an interruption nself caught after it left text run
    by exec still exits 130 (CPython remembered it and killed itself by SIGINT at exit)."""
    (tmp_path / "caught_in_exec.py").write_text(CAUGHT_IN_EXEC)
    done = subprocess.run([sys.executable, "-m", "caught_in_exec"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr) == (errors.INTERRUPTED, ""), done


# a task's boundary has said its last line when a second Ctrl-C comes
SECOND_CTRL_C = """
import os, signal, sys, time
from nself import interrupts
interrupts.stop_at_once()
sys.stderr.write("Interrupted while applying 002_b.sql (rolled back).\\n")
interrupts.decided(130)
os.kill(os.getpid(), signal.SIGINT)
time.sleep(30)
"""


def test_a_second_ctrl_c_after_the_last_line_adds_none(tmp_path):
    """Ctrl-C pressed twice: one that lands after the task said how it was interrupted
    ends the run with that line's code and no second line (it added `Interrupted.`)."""
    done = subprocess.run([sys.executable, "-c", SECOND_CTRL_C], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr) == (
        errors.INTERRUPTED, "Interrupted while applying 002_b.sql (rolled back).\n"), done


def _wait_for_query(db, text: str, shadow: bool, timeout: float = 60) -> None:
    """Until a session runs a query containing TEXT (in DB, or in one of its shadow
    databases when SHADOW; never another test's, on a server shared with other runs)."""
    deadline = time.monotonic() + timeout
    where = _own_shadows(db) if shadow else db.name
    while time.monotonic() < deadline:
        found = db.scalar("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                          "AND strpos(query, %s) > 0 AND starts_with(datname, %s) "
                          "AND pid <> pg_backend_pid()", (text, where))
        if found:
            return
        time.sleep(0.05)
    raise AssertionError(f"no session ran {text!r} within {timeout} s")


def _own_shadows(db) -> str:
    """How the names of DB's shadow databases begin (nself_shadow_<its oid>_): other runs
    on the same server make shadows of their own databases at the same time."""
    oid = db.scalar("SELECT oid FROM pg_database WHERE datname = current_database()")
    return f"{SHADOW_PREFIX}{oid}_"


def _shadows_left(db) -> list[str]:
    """The shadow databases of DB's that still exist."""
    return [r[0] for r in db.query("SELECT datname FROM pg_database "
                                   "WHERE starts_with(datname, %s)", (_own_shadows(db),))]


def _signal_during(project, argv: list[str], query: str, number: int) -> tuple[int, str, str]:
    """Run `nself ARGV`, send signal NUMBER once a shadow database runs QUERY; the exit
    code, stdout and stderr."""
    proc = _start([sys.executable, "-m", "nself", *argv], project.root)
    try:
        _wait_for_query(project.db, query, shadow=True)
        proc.send_signal(number)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    return proc.returncode, out, err


def test_interrupt_during_schema_import_shadow_replay(project):
    """SIGTERM while `schema import` replays the migrations into its shadow database: exit
    130 with one line saying so (it said "... failed: Interrupted", exit 1), no shadow left."""
    project.migration("001_slow.sql", "CREATE TABLE a (id int);\nSELECT pg_sleep(60);",
                      "DROP TABLE a;")
    project.write("schema.dbml", "Table a {\n  id int\n}\nTable b {\n  id int\n}\n")
    code, out, err = _signal_during(project, ["db", "schema", "import", "--dry-run"],
                                    "pg_sleep(60)", signal.SIGTERM)
    assert code == errors.INTERRUPTED, (out, err)
    assert err == ("Interrupted while replaying the migrations into a shadow database (it is "
                   "dropped).\n"), err
    assert _shadows_left(project.db) == []


def test_interrupt_during_update_verification(project):
    """Ctrl-C while `db update` verifies (its shadow replay of the migrations): exit 130, the
    update's transaction rolled back (nothing applied), the backup named, one last line."""
    project.migration("001_slow.sql", "CREATE TABLE a (id int);\n"
                      "SELECT pg_sleep(CASE WHEN current_database() LIKE 'nself_shadow_%' "
                      "THEN 60 ELSE 0 END);", "DROP TABLE a;")
    code, out, err = _signal_during(project, ["db", "update", "--yes"], "pg_sleep(CASE",
                                    signal.SIGINT)
    assert code == errors.INTERRUPTED, (out, err)
    assert "Traceback" not in err and "failed: Interrupted" not in out + err, (out, err)
    assert err.strip().splitlines()[-1].startswith("Interrupted"), err
    assert "Backup taken before the update" in out + err
    assert "a" not in project.db.tables()
    assert _shadows_left(project.db) == []


def _on_terminal(argv: list[str], cwd: Path) -> tuple[subprocess.Popen, int]:
    """ARGV on a new pseudo-terminal that is its controlling terminal (so ^C typed there
    sends SIGINT to its foreground processes, as a real one does); returns the process and
    the terminal's other end."""
    import fcntl
    import pty
    import termios

    leader, follower = pty.openpty()

    def own_terminal() -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    env = {**os.environ, "PAGER": "cat", "PSQL_PAGER": "cat"}
    proc = subprocess.Popen(argv, cwd=cwd, stdin=follower, stdout=follower, stderr=follower,
                            preexec_fn=own_terminal, env=env)
    os.close(follower)
    return proc, leader


def _read_until(leader: int, wanted: bytes, timeout: float = 30) -> bytes:
    import select

    seen, deadline = b"", time.monotonic() + timeout
    while wanted not in seen and time.monotonic() < deadline:
        if select.select([leader], [], [], 0.1)[0]:
            try:
                seen += os.read(leader, 65536)
            except OSError:
                break
    return seen


def test_ctrl_c_in_interactive_shell_is_psqls(project):
    """Ctrl-C in `nself db shell` cancels psql's query and the session goes on (nself died
    under it with "Interrupted.", leaving psql behind on the terminal)."""
    proc, leader = _on_terminal([sys.executable, "-m", "nself", "db", "shell"], project.root)
    try:
        assert b"=#" in _read_until(leader, b"=#")
        os.write(leader, b"SELECT pg_sleep(30);\n")
        _wait_for_query(project.db, "pg_sleep(30)", shadow=False)
        os.write(leader, b"\x03")
        assert b"canceling statement due to user request" in _read_until(
            leader, b"user request")
        os.write(leader, b"SELECT 6 * 7 AS answer;\n")
        assert b"42" in _read_until(leader, b"42")
        assert proc.poll() is None
        os.write(leader, b"\\q\n")
        assert proc.wait(timeout=30) == errors.SUCCESS
    finally:
        proc.kill()
        os.close(leader)


def test_sigterm_in_interactive_shell_ends_psql_too(project):
    """SIGTERM to nself while interactive psql runs: psql gets it too and ends, nself exits
    130 with one line (nothing is left on the terminal)."""
    proc, leader = _on_terminal([sys.executable, "-m", "nself", "db", "shell"], project.root)
    try:
        assert b"=#" in _read_until(leader, b"=#")
        with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as handle:
            children = handle.read().split()
        assert children
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == errors.INTERRUPTED
        assert b"Interrupted." in _read_until(leader, b"Interrupted.", timeout=5)
        time.sleep(0.2)
        assert not [pid for pid in children if os.path.exists(f"/proc/{pid}")]
    finally:
        proc.kill()
        os.close(leader)
