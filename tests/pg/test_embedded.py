"""The embedded default: started on first use, per project, managed by db start/stop,
logs postgres and restart postgres."""

import json

import pytest

from nself import errors

pytestmark = pytest.mark.db  # every test here starts an embedded server of its own


@pytest.fixture
def bare_project(tmp_path, monkeypatch, capsys):
    """Two project folders with no database configured (the embedded default)."""
    from tests.conftest import Project

    projects = []
    for name in ("alpha", "beta"):
        root = tmp_path / name
        (root / "migrations").mkdir(parents=True)
        projects.append(Project(root=root, db=None, capsys=capsys))
    monkeypatch.chdir(projects[0].root)
    yield projects
    from nself.config import Environment
    from nself.pg.embedded import EmbeddedServer

    for p in projects:
        EmbeddedServer.for_environment(Environment.load(p.root, {})).stop()


def test_first_use_starts_the_embedded_server(bare_project):
    """`db status` with nothing configured starts PostgreSQL 18 and uses a database named
    after the project."""
    alpha = bare_project[0]
    result = alpha.run("db", "status", "--json")
    assert result.code == 0, result
    facts = json.loads(result.out)
    assert facts["embedded"] is True
    assert facts["server_version"].startswith("18")
    assert "/alpha" in facts["database"]
    assert (alpha.root / ".nself" / "postgres" / "18" / "PG_VERSION").is_file()


def test_two_projects_do_not_clash(bare_project, monkeypatch):
    """Two projects run their own servers side by side, each with its own socket."""
    alpha, beta = bare_project
    assert alpha.run("db", "start").code == 0
    monkeypatch.chdir(beta.root)
    assert beta.run("db", "start").code == 0
    a = json.loads(alpha.run_process("db", "status", "--json").out)
    b = json.loads(beta.run_process("db", "status", "--json").out)
    assert a["database"] != b["database"]
    assert "/alpha" in a["database"] and "/beta" in b["database"]


def test_start_stop_logs_restart(bare_project):
    """db start / stop, logs postgres and restart postgres manage the server."""
    alpha = bare_project[0]
    result = alpha.run("db", "start")
    assert result.code == 0 and "PostgreSQL 18" in result.out, result
    assert "already running" in alpha.run("db", "start").out
    result = alpha.run("logs", "postgres", "--lines", "5")
    assert result.code == 0 and 0 < len(result.out.splitlines()) <= 5
    result = alpha.run("restart", "postgres")
    assert result.code == 0 and "restarted" in result.out
    assert alpha.run("db", "stop").code == 0
    assert "was not running" in alpha.run("db", "stop").out
    assert alpha.run("db", "status").code == 0  # started again on demand


def test_unknown_service(bare_project):
    """`logs` of an unknown service is a usage error naming the known ones."""
    result = bare_project[0].run("logs", "redis")
    assert result.code == errors.USAGE and "postgres" in result.err


def test_start_refuses_external_database(bare_project, monkeypatch):
    """db start says the database is external when DATABASE_URL is set, masked (db stop
    still stops the project's own server: tests/pg/test_address.py)."""
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:s3cret@db.example.com/app")
    result = bare_project[0].run("db", "start")
    assert result.code == errors.USAGE
    assert "external" in result.err and "s3cret" not in result.err


@pytest.mark.parametrize("name", ["staging", "production"])
def test_remote_environments_never_start_it(bare_project, monkeypatch, name):
    """Staging and production with no database configured exit 2; no server is started."""
    monkeypatch.setenv("ENV", name)
    alpha = bare_project[0]
    result = alpha.run("db", "status")
    assert result.code == errors.USAGE and f"config/{name}.env names no database" in result.err
    assert not (alpha.root / ".nself" / "postgres").exists()


def test_missing_extension_names_both_ways_out(bare_project):
    """An extension the embedded build lacks fails with a hint naming NSELF_POSTGRES_BIN
    and DATABASE_URL."""
    result = bare_project[0].run_process("db", "shell", "-c", "CREATE EXTENSION pgcrypto")
    assert result.code != 0
    assert "NSELF_POSTGRES_BIN" in result.err and "DATABASE_URL" in result.err


PG15_BIN = "/usr/lib/postgresql/15/bin"


@pytest.mark.skipif(not __import__("os").path.exists(f"{PG15_BIN}/postgres"),
                    reason="this machine has no PostgreSQL 15 server binaries")
def test_postgres_bin_points_embedded_at_another_installation(bare_project, monkeypatch):
    """NSELF_POSTGRES_BIN runs the embedded default from another installation, in a data
    folder of its own major version, with that installation's extensions."""
    monkeypatch.setenv("NSELF_POSTGRES_BIN", PG15_BIN)
    alpha = bare_project[0]
    facts = json.loads(alpha.run("db", "status", "--json").out)
    assert facts["server_version"].startswith("15")
    assert (alpha.root / ".nself" / "postgres" / "15" / "PG_VERSION").is_file()
    result = alpha.run_process("db", "shell", "-c", "CREATE EXTENSION pgcrypto",
                               env={"NSELF_POSTGRES_BIN": PG15_BIN})
    assert result.code == 0, result
    assert alpha.run("db", "stop").code == 0


def test_embedded_runs_programs_only_through_pg_tools():
    """The embedded server starts initdb, pg_ctl, postgres and useradd through pg.tools (one
    runner, one failure translation), never subprocess."""
    import inspect

    from nself.pg import embedded

    source = inspect.getsource(embedded)
    assert "subprocess" not in source and "tools.execute(" in source


def test_status_of_a_running_server_spawns_nothing(bare_project, monkeypatch):
    """With the server up, `db status` only reads postmaster.pid: no program is started."""
    from nself.pg import tools

    alpha = bare_project[0]
    assert alpha.run("db", "start").code == 0
    started = []
    real = tools.execute
    monkeypatch.setattr(tools, "execute", lambda *a, **k: started.append(a) or real(*a, **k))
    result = alpha.run("db", "status")
    assert result.code == 0, result
    assert started == []


def test_failing_server_program_is_one_line(tmp_path):
    """A broken server binary gives one clean ConfigError line, not a traceback."""
    from nself.pg.embedded import EmbeddedServer

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    postgres = bin_dir / "postgres"
    postgres.write_text("#!/bin/sh\necho 'broken install' >&2\nexit 1\n")
    postgres.chmod(0o755)
    server = EmbeddedServer(tmp_path / "state", bin_dir)
    with pytest.raises(errors.ConfigError) as info:
        assert server.major
    assert "broken install" in str(info.value) and "\n" not in str(info.value)
