"""The `nself` front end, `db status`, `db shell`, `init` and the exit codes, on real servers."""

import json
import os
import subprocess
import sys

import pytest

from nself import errors
from nself.cli import translate


@pytest.mark.parametrize("argv,expected", [
    (["nself", "db", "status"], ["nself", "db.status"]),
    (["nself", "db", "status", "--json"], ["nself", "db.status", "--json"]),
    (["nself", "db.status", "-j"], ["nself", "db.status", "-j"]),
    (["nself", "db", "shell", "-c", "SELECT 1"], ["nself", "db.shell", "-c", "SELECT 1"]),
    (["nself", "--help", "db", "shell"], ["nself", "--help", "db.shell"]),
    (["nself", "logs", "postgres"], ["nself", "logs", "postgres"]),
    (["nself", "db", "nonsense"], ["nself", "db", "nonsense"]),
    (["nself", "db"], ["nself", "--list", "db"]),
])
def test_translate_spaced_words(argv, expected):
    """Guide-style words become invoke's dotted task names; unknown words pass through."""
    assert translate(argv) == expected


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

    monkeypatch.setattr(pgtools, "candidates", lambda name, extra=(): [])
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
    from nself.config import Database

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
    assert {"node_modules/", "/.env", "/.nself/", "/backups/"} <= set(lines)
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
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    inv = subprocess.run([sys.executable, "-m", "invoke", "--list"], cwd=repo,
                         capture_output=True, text=True)
    assert inv.returncode == 0 and "db.status" in inv.stdout
