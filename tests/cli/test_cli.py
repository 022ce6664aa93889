"""The `nself` front end, `db status`, `db shell`, `init` and the exit codes, on real servers."""

import json
import os
import subprocess
import sys

import psycopg
import pytest
from conftest import REPO

from nself import errors
from nself.cli import translate
from nself.config import Database


@pytest.mark.parametrize("argv,expected", [
    (["nself", "db", "status"], ["nself", "db.status"]),
    (["nself", "db", "status", "--json"], ["nself", "db.status", "--json"]),
    (["nself", "db.status", "-j"], ["nself", "db.status", "-j"]),
    (["nself", "db", "shell", "-c", "SELECT 1"], ["nself", "db.shell", "-c", "SELECT 1"]),
    (["nself", "--help", "db", "shell"], ["nself", "--help", "db.shell"]),
    (["nself", "logs", "postgres"], ["nself", "logs", "postgres"]),
    (["nself"], ["nself", "--list", "--list-format", "spaced"]),
    (["nself", "db"], ["nself", "--list", "db", "--list-format", "spaced"]),
    (["nself", "db", "migrate", "--help"], ["nself", "--list", "db.migrate", "--list-format",
                                            "spaced"]),
    (["nself", "db", "migrate:up", "3"], ["nself", "db.migrate.up", "--steps", "3"]),
    (["nself", "db.migrate.down", "2"], ["nself", "db.migrate.down", "--steps", "2"]),
    (["nself", "db", "run"], ["nself", "db.schema.import"]),
    (["nself", "db", "run", "--dry-run"], ["nself", "db.schema.import", "--dry-run"]),
    (["nself", "-f", "x.yaml", "db", "status"], ["nself", "-f", "x.yaml", "db.status"]),
    (["nself", "db", "status", "db.migrate.status"], ["nself", "db.status",
                                                      "db.migrate.status"]),
])
def test_translate_spaced_words(argv, expected):
    """Guide-style words (spaced, colon forms, dotted with a bare number) become invoke's
    dotted task names; `nself db` lists its commands; several dotted tasks pass through."""
    assert translate(argv) == expected


def test_translate_below_a_default_task():
    """A collection without a default inside one with a default (db backup schedule) is a
    place to list, not the outer default task with stray words."""
    from invoke import Collection

    from nself.tasks.base import command

    @command(name="create", default=True)
    def create(c):
        """Test task."""

    @command
    def install(c, print_=False):
        """Test task."""

    backup = Collection("backup", create, Collection("schedule", install))
    ns = Collection(Collection("db", backup))
    assert translate(["nself", "db", "backup"], ns) == ["nself", "db.backup"]
    assert translate(["nself", "db", "backup", "schedule"], ns) == [
        "nself", "--list", "db.backup.schedule", "--list-format", "spaced"]
    assert translate(["nself", "db", "backup", "schedule", "--help"], ns) == [
        "nself", "--list", "db.backup.schedule", "--list-format", "spaced"]
    assert translate(["nself", "db", "backup:schedule:install"], ns) == [
        "nself", "db.backup.schedule.install"]


@pytest.mark.parametrize("argv,named,listed", [
    (["nself", "db", "nonsense"], "'nonsense' in `nself db`", "migrate, mock"),
    (["nself", "nonsense"], "'nonsense' in nself", "db, init, logs"),
    (["nself", "db", "backup", "nonsense"], "'nonsense' in `nself db backup`",
     "create, list, prune"),
    (["nself", "db", "migrate", "up", "3", "4"], "'4' after `nself db migrate up`", "--steps"),
    (["nself", "db", "--json"], "before --json", "migrate, mock"),
])
def test_unknown_word_names_it_and_the_real_ones(project, argv, named, listed):
    """A word that names no command is exit 2, one line naming it and what exists there."""
    from invoke.exceptions import ParseError

    with pytest.raises(ParseError) as raised:
        translate(argv)
    assert named in str(raised.value) and listed in str(raised.value)
    result = project.run(*argv[1:])
    assert result.code == errors.USAGE and result.err.count("\n") == 1, result
    assert named in result.err and "No idea" not in result.err


def test_nself_db_lists_commands_in_spaced_words(project):
    """`nself`, `nself db` and `nself db --help` list the commands as the guides spell
    them."""
    bare = project.run()
    assert bare.code == 0 and "nself logs SERVICE" in bare.out and "nself --help" in bare.out
    assert "nself db migrate up [STEPS]" in bare.out, bare
    for argv in (("db",), ("db", "--help"), ("db", "--list")):
        result = project.run(*argv)
        assert result.code == 0, result
        for words in ("nself db status", "nself db migrate up", "nself db backup list",
                      "nself db backup ", "nself db restore", "nself db schema export"):
            assert words in result.out, (argv, result.out)
        assert "db.migrate" not in result.out


def test_translate_fills_the_positional_flag():
    """A bare word after a task with a positional flag fills that flag, around other flags."""
    from invoke import Collection

    from nself.tasks.base import command

    @command(positional_flag="steps")
    def up(c, steps=0, to=None, dry_run=False):
        """Test task."""

    ns = Collection(Collection("db", Collection("migrate", up)))
    assert translate(["nself", "db", "migrate", "up", "3"], ns) == [
        "nself", "db.migrate.up", "--steps", "3"]
    assert translate(["nself", "db", "migrate", "up", "--to", "5", "3"], ns) == [
        "nself", "db.migrate.up", "--to", "5", "--steps", "3"]
    assert translate(["nself", "db", "migrate", "up", "--dry-run", "2"], ns) == [
        "nself", "db.migrate.up", "--dry-run", "--steps", "2"]


def test_help_lists_db_tasks(project):
    """`nself --list` lists the db tasks; every flag of db.status has help."""
    result = project.run("--list")
    assert result.code == 0
    for name in ("db.status", "db.shell", "db.start", "db.stop", "init"):
        assert name in result.out
    result = project.run("db", "status", "--help")
    assert result.code == 0 and "--json" in result.out and "Print the status as JSON" in result.out


def test_every_task_flag_has_help():
    """No task has a flag without help text."""
    from nself.tasks import namespace

    def walk(coll, prefix=""):
        for name, task in coll.tasks.items():
            yield prefix + name, task
        for name, sub in coll.collections.items():
            yield from walk(sub, f"{prefix}{name}.")

    missing = []
    for name, task in walk(namespace):
        assert task.__doc__ or task.body.__doc__, f"{name} has no docstring"
        for arg in task.get_arguments():
            if not arg.help:
                missing.append(f"{name} --{arg.name}")
    assert not missing, missing


def test_status_reports_the_server(project):
    """`db status` shows environment, server version, masked database, tables and migrations."""
    project.db.query("CREATE TABLE t1 (id int); CREATE TABLE t2 (id int)")
    result = project.run("db", "status")
    assert result.code == 0, result
    assert "Environment:  local" in result.out
    major = project.db.scalar("SHOW server_version_num")[:2]
    assert f"PostgreSQL {major}" in result.out
    assert "Tables:       2" in result.out
    assert project.db.name in result.out


def test_status_json(project):
    """`db status --json` prints one JSON object with the same facts."""
    result = project.run("db", "status", "--json")
    assert result.code == 0, result
    facts = json.loads(result.out)
    assert facts["environment"] == "local"
    assert facts["tables"] == 0
    assert set(facts["migrations"]) >= {"applied", "pending"}
    assert facts["server_version"] == project.db.scalar("SHOW server_version").split()[0]
    assert facts["recorded_environment"] is None


def test_status_shows_the_recorded_environment(project):
    """After a migrate run, `db status` shows the environment recorded in the database, in
    text and JSON; status itself records nothing."""
    before = project.run("db", "status")
    assert "Recorded as:  - (not yet" in before.out, before
    assert project.db.scalar("SELECT to_regnamespace('nself')") is None
    project.migration("001_a.sql", "CREATE TABLE a (id int);", "DROP TABLE a;")
    # staging needs --yes without a terminal
    assert project.run_process("db", "migrate", "up", env={"ENV": "staging"}).code == 3
    assert project.run_process("db", "migrate", "up", "--yes", env={"ENV": "staging"}).code == 0
    after = project.run("db", "status")
    assert "Recorded as:  staging" in after.out, after
    assert json.loads(project.run("db", "status", "--json").out)["recorded_environment"] == \
        "staging"


def test_status_shows_last_backup(project):
    """A backup of this environment shows up as the last backup."""
    made = project.run("db", "backup", "--name", "first")
    assert made.code == 0, made
    result = project.run("db", "status")
    assert "first" in result.out.split("Last backup:")[1], result


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
    from nself.config import Database

    db = Database({**project.db.params, "user": "no_such_role", "password": "s3cret"})
    monkeypatch.setattr("nself.pg.connection.target", lambda env: db)
    result = project.run("db", "status")
    assert result.code == errors.UNREACHABLE, result
    assert "no_such_role" in result.err and "s3cret" not in result.err


def test_no_project_names_init(tmp_path, monkeypatch, capsys):
    """Outside a project, commands exit 2 and name `nself init`."""
    from nself.cli import program

    monkeypatch.chdir(tmp_path)
    code = program.run(["nself", "db", "status"], exit=False)
    assert code == errors.USAGE
    assert "nself init" in capsys.readouterr().err


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


def test_missing_psql_is_one_clean_line(project, monkeypatch):
    """No psql that fits the server: exit 2, one line naming what was found and the fix."""
    from nself.pg import tools as pgtools

    monkeypatch.setattr(pgtools, "_candidates", lambda name, extra=(): iter(()))
    result = project.run("db", "shell", "-c", "SELECT 1")
    assert result.code == errors.USAGE, result
    assert "No psql" in result.err and len(result.err.strip().splitlines()) == 1


def test_shell_command(project):
    """`db shell -c` prints psql's output and exits 0."""
    result = project.run("db", "shell", "-c", "SELECT 1 AS one")
    assert result.code == 0, result
    assert "one" in result.out and "1" in result.out


def test_shell_error_passes_psql_exit_code(project):
    """`db shell -c` with a bad query exits non-zero with psql's own error."""
    result = project.run("db", "shell", "-c", "SELECT nope")
    assert result.code == 1
    assert 'column "nope" does not exist' in result.err


def test_shell_file_stops_at_first_error(project):
    """`db shell -f` runs a file and stops at the first error with psql's exit code 3."""
    project.write("q.sql", "CREATE TABLE a (id int);\nSELECT nope;\nCREATE TABLE b (id int);\n")
    result = project.run("db", "shell", "-f", "q.sql")
    assert result.code == 3, result
    assert project.db.tables() == ["a"]


def test_shell_missing_file(project):
    """`db shell -f` with a missing file is a usage error."""
    result = project.run("db", "shell", "-f", "nope.sql")
    assert result.code == errors.USAGE and "nope.sql" in result.err


def test_shell_other_database(project):
    """`db shell --database` connects to another database on the same server."""
    other = project.db.create_sibling()
    result = project.run("db", "shell", "--database", other.name, "-c",
                         "SELECT current_database()")
    assert result.code == 0 and other.name in result.out


def test_shell_never_puts_password_on_argv(project, monkeypatch):
    """psql gets the password through its environment, not its command line."""
    from nself.pg import tools as pgtools

    seen = {}
    real_run = pgtools.run

    def spy(tool, args, db, dbname=None, **kw):
        seen["args"] = args
        seen["env"] = pgtools.tool_env(db, dbname)
        return real_run(tool, args, db, dbname, **kw)

    monkeypatch.setattr(pgtools, "run", spy)
    db = Database({**project.db.params, "password": "s3cret"})
    monkeypatch.setattr("nself.pg.connection.target", lambda env: db)
    project.run("db", "shell", "-c", "SELECT 1")
    assert "s3cret" not in " ".join(seen["args"])
    assert seen["env"]["PGPASSWORD"] == "s3cret"


def test_init_scaffolds_and_keeps(tmp_path, monkeypatch, capsys):
    """`nself init` creates the layout, and a second run keeps every existing file."""
    from nself.cli import program

    monkeypatch.chdir(tmp_path)
    (tmp_path / ".gitignore").write_text("node_modules/\n")
    assert program.run(["nself", "init"], exit=False) == 0
    for rel in ("migrations", "seeds/common", "seeds/local", "seeds/staging", "seeds/production"):
        assert (tmp_path / rel).is_dir()
    for rel in ("config/local.env", "config/staging.env", "config/production.env",
                "schema.dbml", ".env.example"):
        assert (tmp_path / rel).is_file()
    assert "Project" in (tmp_path / "schema.dbml").read_text()
    lines = (tmp_path / ".gitignore").read_text().splitlines()
    assert {"node_modules/", ".env", ".nself/", "**/backups/local/", "**/backups/staging/",
            "**/backups/production/"} <= set(lines)
    (tmp_path / "schema.dbml").write_text("// mine\n")
    capsys.readouterr()
    assert program.run(["nself", "init"], exit=False) == 0
    out = capsys.readouterr().out
    assert "Kept existing schema.dbml" in out
    assert (tmp_path / "schema.dbml").read_text() == "// mine\n"
    assert (tmp_path / ".gitignore").read_text().count(".nself/") == 1
    other = tmp_path / "other"
    other.mkdir()
    (other / ".gitignore").write_text(".env\n.nself/\nbackups/\n")
    monkeypatch.chdir(other)
    assert program.run(["nself", "init"], exit=False) == 0
    assert (other / ".gitignore").read_text() == ".env\n.nself/\nbackups/\n"
    for name in ("local", "staging", "production"):
        text = (tmp_path / "config" / f"{name}.env").read_text()
        assert all(line.startswith("#") or not line.strip() for line in text.splitlines())


def test_installed_command_and_inv_agree(project):
    """The real `nself` process and `inv` (from the repo root) both run the same task."""
    result = project.run_process("db", "status", "--json")
    assert result.code == 0, result
    assert json.loads(result.out)["environment"] == "local"
    repo = str(REPO)
    inv = subprocess.run([sys.executable, "-m", "invoke", "--list"], cwd=repo,
                         capture_output=True, text=True)
    assert inv.returncode == 0 and "db.status" in inv.stdout


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


# Project root ----------------------------------------------------------------------


def test_commands_find_the_project_root_from_a_subfolder(project):
    """From any folder below the project, commands use the project above (as git does)."""
    deeper = project.root / "src" / "app"
    deeper.mkdir(parents=True)
    project.write("nself.toml", "")  # the mark `nself init` writes
    project.migration("001_a.sql", "CREATE TABLE a (id int);", "DROP TABLE a;")
    os.chdir(deeper)
    result = project.run("db", "migrate", "up")
    assert result.code == 0, result
    assert project.db.tables() == ["a"]
    os.chdir(project.migrations)
    result = project.run("db", "status", "--json")
    assert json.loads(result.out)["migrations"]["applied"] == 1


def test_project_root_rule(tmp_path, monkeypatch):
    """The nearest folder with the project's files wins; a Python migrations package does
    not count; NSELF_PROJECT_DIR overrides; with no project anywhere, the cwd is used."""
    from nself.config import Environment, find_project_root

    outer, inner = tmp_path / "outer", tmp_path / "outer" / "svc"
    (outer / "config").mkdir(parents=True)
    (outer / "config" / "staging.env").write_text("")
    (inner / "migrations").mkdir(parents=True)
    (inner / "migrations" / "__init__.py").write_text("")  # a Django app's migrations
    (inner / "nself" / "migrations").mkdir(parents=True)
    assert find_project_root(inner) == inner  # its nself/migrations counts
    (inner / "nself" / "migrations").rmdir()
    assert find_project_root(inner) == outer
    assert find_project_root(tmp_path) == tmp_path
    monkeypatch.chdir(inner)
    assert Environment.load(environ={}).root == outer
    assert Environment.load(environ={"NSELF_PROJECT_DIR": str(inner)}).root == inner
    assert Environment.load(environ={}, search_parents=False).root == inner


def test_init_initialises_the_current_folder(project):
    """`nself init` below a project scaffolds the current folder, not the project above."""
    sub = project.root / "tools"
    sub.mkdir()
    os.chdir(sub)
    result = project.run("init")
    assert result.code == 0, result
    assert (sub / "migrations").is_dir() and (sub / "config" / "local.env").is_file()
    assert not (project.root / "config" / "local.env").exists()


def test_no_project_anywhere_names_init(tmp_path, monkeypatch, capsys):
    """With no project in the folder or above it, the error says so and names init."""
    from nself.cli import program

    monkeypatch.chdir(tmp_path)
    assert program.run(["nself", "db", "migrate", "status"], exit=False) == errors.USAGE
    assert "nself init" in capsys.readouterr().err


# db shell --database ---------------------------------------------------------------


@pytest.fixture
def embedded_project(tmp_path, monkeypatch, capsys, embedded_server):
    """A project on the session's embedded server (no DATABASE_URL), with its own database
    name; the database is dropped afterwards."""
    import uuid

    from conftest import Project, TestDatabase, _drop

    root = tmp_path / "emb"
    (root / "migrations").mkdir(parents=True)
    monkeypatch.chdir(root)
    name = f"nself_t_emb_{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("NSELF_STATE_DIR", str(embedded_server.home.parent))
    monkeypatch.setenv("NSELF_PROJECT_NAME", name)
    admin = embedded_server.connection_params("postgres")
    yield Project(root=root, db=TestDatabase("embedded", {**admin, "dbname": name}, admin),
                  capsys=capsys)
    _drop(admin, name)
    _drop(admin, f"{name}_other")


def test_shell_database_never_creates_one(embedded_project):
    """`db shell --database missing` fails (exit 4) naming it, and creates nothing; the
    project's own embedded database is still created on first use."""
    p = embedded_project
    missing = f"{p.db.name}_other"
    result = p.run("db", "shell", "--database", missing, "-c", "SELECT 1")
    assert result.code == errors.UNREACHABLE, result
    assert missing in result.err
    exists = "SELECT count(*) FROM pg_database WHERE datname = %s"
    with psycopg.connect(Database(p.db.admin).conninfo(), autocommit=True) as conn:
        assert conn.execute(exists, (missing,)).fetchone()[0] == 0
    result = p.run("db", "shell", "-c", "SELECT current_database()")
    assert result.code == 0 and p.db.name in result.out


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


def test_shell_empty_database_name_is_refused(project):
    """`db shell --database ""` is exit 2, not libpq's default database."""
    result = project.run("db", "shell", "--database", "", "-c", "SELECT 1")
    assert result.code == 2 and "--database" in result.err, result


# Help after a task's words, psql's own options (issue 15) ---------------------------------


def _spaced_tasks():
    from nself.cli import spaced_commands
    from nself.tasks import namespace

    return [words for words, _ in spaced_commands(namespace)]


def _help(capsys, *argv: str):
    """`nself ARGV` in-process (help needs no project or database): code, stdout, stderr."""
    from nself.cli import program

    capsys.readouterr()
    code = program.run(["nself", *argv], exit=False)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("words", _spaced_tasks(), ids=" ".join)
def test_help_after_any_task_is_its_help(capsys, words):
    """`nself <command> --help` shows that command's help, exit 0, for every command
    (`nself logs --help` took --help for the SERVICE word: exit 2)."""
    code, out, err = _help(capsys, *words, "--help")
    assert code == 0, (out, err)
    assert out.startswith("Usage: nself") and err == "", (out, err)


@pytest.mark.parametrize("argv", [("logs", "-h"), ("restart", "postgres", "--help")])
def test_short_help_and_help_after_the_word(capsys, argv):
    """`-h` and a help flag after the task's word ask for help too."""
    code, out, err = _help(capsys, *argv)
    assert code == 0 and "The service: postgres." in out, (out, err)


def test_inv_help_after_a_task_with_a_word(tmp_path):
    """Under inv, `inv logs --help` is logs' help too (invoke gave --help to SERVICE)."""
    repo = str(REPO)
    done = subprocess.run([sys.executable, "-m", "invoke", "--search-root", repo, "logs",
                           "--help"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done
    assert "Usage: inv" in done.stdout and "The service: postgres." in done.stdout


def test_translate_puts_psql_options_after_double_dash():
    """`db shell`'s words that are not its own go after `--`, each quoted, in order."""
    assert translate(["nself", "db", "shell", "-At", "-c", "SELECT 1", "-v", "x=a b", "-l"]) \
        == ["nself", "db.shell", "-c", "SELECT 1", "--", "-At", "-v", "'x=a b'", "-l"]


def test_shell_passes_psql_options(project):
    """psql's own flags reach psql: `db shell -At -c` prints bare rows (invoke refused -At)."""
    result = project.run("db", "shell", "-At", "-c", "SELECT 1, 2")
    assert result.code == 0, result
    assert result.out == "1|2\n"


def test_shell_passes_psql_options_with_values(project):
    """A psql flag's value word goes with it (`-P footer=off`), as does `--csv`."""
    result = project.run("db", "shell", "-c", "SELECT 1 AS x", "--csv", "-P", "footer=off")
    assert result.code == 0, result
    assert result.out == "x\n1\n"


@pytest.mark.parametrize("words", [("-p", "5433"), ("-Upostgres",), ("--host=elsewhere",),
                                   ("otherdb",)])
def test_shell_refuses_psql_connection_options(project, words):
    """psql options that would pick another server, user or database are one line, exit 2."""
    result = project.run("db", "shell", "-c", "SELECT 1", *words)
    assert result.code == errors.USAGE, result
    assert "is not passed on" in result.err and result.err.count("\n") == 1


def test_shell_file_can_be_a_fifo(project):
    """`db shell -f FIFO` runs what is written into the pipe (it said "no such file")."""
    import threading

    fifo = project.root / "q.fifo"
    os.mkfifo(fifo)

    def write():
        with open(fifo, "w") as handle:
            handle.write("SELECT 40 + 2;\n")

    writer = threading.Thread(target=write)
    writer.start()
    result = project.run("db", "shell", "-At", "-f", str(fifo))
    writer.join(timeout=10)
    assert result.code == 0, result
    assert result.out == "42\n"


def test_shell_file_dash_reads_standard_input(project):
    """`db shell -f -` runs standard input (psql's own convention)."""
    done = subprocess.run([sys.executable, "-m", "nself", "db", "shell", "-At", "-f", "-"],
                          cwd=project.root, input="SELECT 6 * 7;\n", capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done
    assert done.stdout == "42\n"


def test_a_flag_word_is_never_a_commands_positional_word():
    """After every command that takes a positional word (seed FILE, migrate up N, mock's
    --TABLE N, logs SERVICE), another command's flag (--yes, --confirm WORD) stays a flag:
    invoke names it or the command takes it, never as a file, a step count or a table."""
    from nself.cli import UnknownWord, namespace, spaced_commands

    checked = 0
    for words, task in spaced_commands(namespace):
        positional = getattr(task, "positional_flag", None) or any(
            arg.positional for arg in task.get_arguments())
        if not (positional or getattr(task, "rewrite_words", None)):
            continue
        for flags in (["--yes"], ["--confirm", "yes-destroy-production"]):
            try:
                line = translate(["nself", *words, *flags])
            except UnknownWord as exc:
                assert f"has no {flags[0]} flag" in str(exc), (words, exc)
            else:
                assert line[-len(flags):] == flags, (words, line)
            checked += 1
    assert checked >= 16  # create, down, up, mock, restore, diff, import, seed, logs, restart


def test_readme_says_where_the_interrupt_guarantee_starts():
    """The README promises exit 130 from nself's first instruction on, and says what a
    signal in Python's own start-up before it does (it once promised 130 "also while it
    starts")."""

    readme = (REPO / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| 130 |"))
    assert "also while it starts" not in row and "before that instruction" in row
    assert "**Before nself's first line runs.**" in readme
    assert "KeyboardInterrupt" in readme and "143" in readme
