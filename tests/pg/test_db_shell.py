"""`db shell`: psql on the project's database (or another on the same server), psql's
exit codes and own options; the password never on psql's command line."""

import os
import subprocess
import sys

import psycopg
import pytest

from nself import errors
from nself.config import Database


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


def test_shell_empty_database_name_is_refused(project):
    """`db shell --database ""` is exit 2, not libpq's default database."""
    result = project.run("db", "shell", "--database", "", "-c", "SELECT 1")
    assert result.code == 2 and "--database" in result.err, result


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
