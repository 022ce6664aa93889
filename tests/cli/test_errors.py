"""Exit codes and one-line errors at the task boundary: unreachable servers, refused
logins, bad flags and settings, output that cannot be written, internal errors and
signals; never a traceback, never a password."""

import os
import subprocess
import sys

import pytest
from conftest import REPO

from nself import errors
from nself.config import Database


def test_unknown_environment_one_line(project, monkeypatch):
    """ENV=qa exits 2 with one clear line."""
    monkeypatch.setenv("ENV", "qa")
    result = project.run("db", "status")
    assert result.code == errors.USAGE
    assert result.err.strip().count("\n") == 0 and "Unknown environment 'qa'" in result.err


@pytest.mark.parametrize("url", [
    "postgresql://bob:s3cret@127.0.0.1:1/x",
    "postgresql://bob:s3cret@nohost.invalid:5432/x",
])
def test_unreachable_server_exit_4_no_password(project, monkeypatch, url):
    """An unreachable server exits 4 with one line that never shows the password."""
    monkeypatch.setenv("DATABASE_URL", url)
    result = project.run("db", "status")
    assert result.code == errors.UNREACHABLE, result
    assert "s3cret" not in result.err + result.out
    assert "***" in result.err and len(result.err.strip().splitlines()) == 1


def test_authentication_failure_exit_4(project, monkeypatch):
    """A refused login (unknown role) is exit 4 and the password is not echoed.

    Both test servers use trust authentication, so an unknown role is the
    authentication failure we can provoke on them."""

    db = Database({**project.db.params, "user": "no_such_role", "password": "s3cret"})
    monkeypatch.setattr("nself.pg.connection.target", lambda env: db)
    result = project.run("db", "status")
    assert result.code == errors.UNREACHABLE, result
    assert "no_such_role" in result.err and "s3cret" not in result.err


def test_bad_flag_is_usage_error(project):
    """An unknown flag exits 2 without a traceback."""
    result = project.run("db", "status", "--bogus")
    assert result.code == errors.USAGE
    assert "Traceback" not in result.err and "--bogus" in result.err


def test_bad_flag_value_is_usage_error(project):
    """A flag value of the wrong type exits 2 without a traceback."""
    result = project.run("logs", "postgres", "--lines", "many")
    assert result.code == errors.USAGE
    assert "Traceback" not in result.err and "many" in result.err
    result = project.run("db", "migrate", "up", "--lock-timeout", "soon")
    assert result.code == errors.USAGE and "--lock-timeout needs a number" in result.err


# Output failures ------------------------------------------------------------------


def _run_into(project, stdout_target: str, *argv: str) -> subprocess.CompletedProcess:
    """Run `nself ARGV` in a child whose stdout is a closed pipe or /dev/full."""
    env = {**os.environ}
    if stdout_target == "closed-pipe":
        read_end, write_end = os.pipe()
        os.close(read_end)  # the reader is gone before the first byte: EPIPE on write
        try:
            return subprocess.run([sys.executable, "-m", "nself", *argv], cwd=project.root,
                                  env=env, stdout=write_end, stderr=subprocess.PIPE,
                                  stdin=subprocess.DEVNULL, text=True, timeout=120)
        finally:
            os.close(write_end)
    with open("/dev/full", "w") as full:
        return subprocess.run([sys.executable, "-m", "nself", *argv], cwd=project.root,
                              env=env, stdout=full, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, text=True, timeout=120)


@pytest.mark.parametrize("target", ["closed-pipe", "/dev/full"])
@pytest.mark.parametrize("argv", [("db", "status"), ("db", "status", "--json"),
                                  ("db", "migrate", "status"), ("--help",)])
def test_output_failure_is_a_failure(project, target, argv):
    """Output into a closed pipe or a full device exits 1 with one line and no traceback."""
    project.migration("001_a.sql", "CREATE TABLE a (id int);", "DROP TABLE a;")
    proc = _run_into(project, target, *argv)
    assert proc.returncode == errors.FAILED, proc.stderr
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Cannot write to standard output" in proc.stderr


def test_output_failure_with_stderr_gone_too(project):
    """With stdout and stderr both a closed pipe, the exit code still says it failed."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run([sys.executable, "-m", "nself", "db", "status"], cwd=project.root,
                              stdout=write_end, stderr=write_end, stdin=subprocess.DEVNULL,
                              timeout=120)
    finally:
        os.close(write_end)
    assert proc.returncode == errors.FAILED


class _BrokenStdout:
    """A stdout whose reader left."""

    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self):
        pass


def test_output_failure_is_remembered(monkeypatch, capsys):
    """After a write failed, every writer raises it again; `notice` only remembers it, and
    `check_failed` raises it later."""
    from nself import output

    output.reset()
    monkeypatch.setattr(sys, "stdout", _BrokenStdout())
    output.notice("NOTICE: from the server")
    with pytest.raises(errors.OutputFailed, match="closed the pipe"):
        output.check_failed()
    with pytest.raises(errors.OutputFailed):
        output.line("more")
    output.reset()
    output.check_failed()


def test_output_failure_in_process_exits_1(project, monkeypatch):
    """In-process, a task whose output fails exits 1 with one stderr line."""
    monkeypatch.setattr(sys, "stdout", _BrokenStdout())
    result = project.run("db", "status")
    assert result.code == errors.FAILED
    assert "Cannot write to standard output" in result.err and "Traceback" not in result.err


# The task boundary ----------------------------------------------------------------


def _program_with(body):
    """A Program over one task `t` whose body is `body` (to test the boundary alone)."""
    from invoke import Collection

    from nself.cli import NselfProgram
    from nself.tasks.base import command

    @command
    def t(c):
        """Test task."""
        return body()

    return NselfProgram(name="nself", binary="nself", namespace=Collection(t))


def test_sigterm_interrupts_every_task(capsys):
    """SIGTERM during any task is an interrupt: exit 130, one line; the handler is restored."""
    import signal

    before = signal.getsignal(signal.SIGTERM)

    def body():
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("SIGTERM did not interrupt")

    assert _program_with(body).run(["nself", "t"], exit=False) == errors.INTERRUPTED
    assert capsys.readouterr().err == "Interrupted.\n"
    assert signal.getsignal(signal.SIGTERM) is before


def test_unexpected_exception_is_one_line(capsys, monkeypatch):
    """A bug surfaces as one line (exit 1) naming NSELF_DEBUG, which shows the traceback."""
    def body():
        raise ZeroDivisionError("boom")

    assert _program_with(body).run(["nself", "t"], exit=False) == errors.FAILED
    err = capsys.readouterr().err
    assert "internal error: ZeroDivisionError: boom" in err and "NSELF_DEBUG" in err
    assert err.count("\n") == 1
    monkeypatch.setenv("NSELF_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        _program_with(body).run(["nself", "t"], exit=False)


def test_os_error_is_one_line(capsys):
    """An OSError reaching the boundary (a full disk) is exit 1 with its reason and file."""
    import errno

    def body():
        raise OSError(errno.ENOSPC, "No space left on device", "/backups/x.dump")

    assert _program_with(body).run(["nself", "t"], exit=False) == errors.FAILED
    assert capsys.readouterr().err == "Error: No space left on device: /backups/x.dump\n"


def test_error_lines_never_show_the_configured_password(project, monkeypatch):
    """Whatever message a library error carries, the configured password is blanked."""
    monkeypatch.setenv("DATABASE_URL", project.db.url.replace(
        "://postgres@", "://postgres:Sup3r%2Fsecret@"))
    project.write(".env", "PGPASSWORD=an0ther-secret\n")

    def leaky(env):
        raise errors.OperationFailed("failed: Sup3r/secret Sup3r%2Fsecret an0ther-secret")

    monkeypatch.setattr("nself.tasks.db.database_status", leaky)
    result = project.run("db", "status")
    assert result.code == errors.FAILED
    assert "secret" not in result.err and result.err.count("***") == 3, result


# Bad settings: one line, exit 2, no password ---------------------------------------


@pytest.mark.parametrize("url", [
    "postgresql://u:PASSWORD@[::1",
    "postgresql://u:PASSWORD@[::1]:notaport/db",
    "postgresql://u:PASSWORD@h:notaport/db",
    "postgresql://u:PASSWORD@h:99999/db",
    "postgresql://u:PASS%zzWORD@h/db",
    "postgresql://u:PASSWORD@h/d%00b",
    "postgresql://u:PASSWORDé@h/db?bogus=1",
    "postgresql://u:PASSWORD@127.0.0.1:1/db?sslmode=bogus",
    "mysql://u:PASSWORD@h/db",
    "host=h password=PASSWORD port=x",
    "host=127.0.0.1 port=1 password='PASS WORD' sslmode=bogus",
    "postgresql://u:PASSWORD\x01@h/db",
])
def test_malformed_database_url(project, monkeypatch, url):
    """A malformed DATABASE_URL is one line, exit 2, and never shows the password."""
    monkeypatch.setenv("DATABASE_URL", url)
    result = project.run("db", "status")
    assert result.code == errors.USAGE, result
    assert "PASS" not in result.err + result.out and "Traceback" not in result.err
    assert result.err.count("\n") == 1


def test_malformed_database_url_in_a_real_process(project):
    """The issue's URL, in the installed command: one line, exit 2, no password."""
    result = project.run_process("db", "status",
                                 env={"DATABASE_URL": "postgresql://u:PASSWORD@[::1"})
    assert result.code == errors.USAGE, result
    assert "PASSWORD" not in result.err + result.out and result.err.count("\n") == 1


def test_bad_pgport_is_usage_error(project, monkeypatch):
    """PGPORT that is not a port is a usage error naming it, not an unreachable server."""
    monkeypatch.delenv("DATABASE_URL")
    monkeypatch.setenv("PGHOST", "127.0.0.1")
    monkeypatch.setenv("PGPORT", "fivefour")
    result = project.run("db", "status")
    assert result.code == errors.USAGE and "PGPORT 'fivefour'" in result.err


@pytest.mark.parametrize("where", [".env", "config/local.env"])
@pytest.mark.parametrize("kind", ["folder", "bad-bytes", "nul", "bad-line"])
def test_unreadable_settings_file(project, where, kind):
    """A settings file that is a folder, not UTF-8, holds a NUL or a line that is not
    NAME=value is one line, exit 2, naming it (and the line, never its text)."""
    path = project.root / where
    if kind == "folder":
        path.mkdir(parents=True)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes({"bad-bytes": b"A=1\nDATABASE_URL=\xff\xfe\n",
                          "nul": b"A=1\nB=\x00\n",
                          "bad-line": b"A=1\nDATABASE_URL='postgresql://u:s3cret@h\n"}[kind])
    result = project.run("db", "status")
    assert result.code == errors.USAGE, result
    assert where in result.err and result.err.count("\n") == 1
    assert "s3cret" not in result.err
    if kind != "folder":
        assert "line 2" in result.err


def test_arguments_that_are_not_utf8(project):
    """An argument with bytes that are not UTF-8 is a usage error (exit 2), not a crash."""
    result = project.run("db", "backup", "--name", "x\udcff")
    assert result.code == errors.USAGE and "not valid UTF-8" in result.err, result
    proc = subprocess.run([os.fsencode(sys.executable), b"-m", b"nself", b"db", b"migrate",
                           b"create", b"bad\xff"], cwd=project.root, capture_output=True)
    assert proc.returncode == errors.USAGE and b"Traceback" not in proc.stderr
    assert list(project.migrations.iterdir()) == []


@pytest.mark.parametrize("argv", [("db", "status"), ("db", "migrate", "status"),
                                  ("db", "migrate", "up"), ("db", "backup")])
def test_closed_stdout_is_an_output_failure(project, argv):
    """Started with stdout closed (`>&-`), a command fails as an output failure (exit 1,
    one line), never an internal error."""
    project.migration("001_a.sql", "CREATE TABLE a (id int);", "DROP TABLE a;")
    command = " ".join([sys.executable, "-m", "nself", *argv]) + " >&-"
    proc = subprocess.run(["bash", "-c", command], cwd=project.root, capture_output=True,
                          text=True, timeout=120, env={**os.environ})
    assert proc.returncode == 1, proc
    assert "Cannot write to standard output" in proc.stderr, proc
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("content,name", [(None, "missing.yaml"), ("x: [", "bad.yaml"),
                                          ("", "noext")])
def test_bad_config_file_flag_is_one_line(project, content, name):
    """invoke's `-f FILE` with a missing, malformed or unknown-type file: exit 2, one line."""
    path = project.root / name
    if content is not None:
        path.write_text(content)
    result = project.run_process("-f", str(path), "db", "status")
    assert result.code == 2, result
    assert "Traceback" not in result.err and len(result.err.strip().splitlines()) == 1


def test_readme_says_where_the_interrupt_guarantee_starts():
    """The README promises exit 130 from nself's first instruction on, and says what a
    signal in Python's own start-up before it does (it once promised 130 "also while it
    starts")."""

    readme = (REPO / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| 130 |"))
    assert "also while it starts" not in row and "before that instruction" in row
    assert "**Before nself's first line runs.**" in readme
    assert "KeyboardInterrupt" in readme and "143" in readme
