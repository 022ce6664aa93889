"""`nself init` and the project root: the scaffold, what a second run keeps, and how
commands find the project from a folder below it."""

import json
import os
import subprocess
import sys

from nself import errors


def test_no_project_names_init(tmp_path, monkeypatch, capsys):
    """Outside a project, commands exit 2 and name `nself init`."""
    from nself.cli import program

    monkeypatch.chdir(tmp_path)
    code = program.run(["nself", "db", "status"], exit=False)
    assert code == errors.USAGE
    assert "nself init" in capsys.readouterr().err


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


# tasks.py and other tools' migrations (issue 18) ------------------------------------------

def _child(root, *argv, env=None):
    """ARGV run with this Python in ROOT, without a terminal (as make and CI run it)."""
    proc = subprocess.run([sys.executable, *argv], cwd=root, text=True, capture_output=True,
                          stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})},
                          timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


def test_init_writes_tasks_py_so_inv_runs_in_a_fresh_folder_without_a_terminal(tmp_path, db):
    """In a fresh folder, `nself init` then `inv --list`, `inv db.migrate.up` and, from a
    Makefile, `inv db.update`: all without a terminal (before: "Can't find any collection
    named 'tasks'!")."""
    root = tmp_path / "fresh"
    root.mkdir()
    code, out, err = _child(root, "-m", "nself", "init")
    assert code == 0 and "Created tasks.py" in out, (out, err)
    code, out, err = _child(root, "-m", "invoke", "--list")
    assert code == 0, err
    for name in ("db.migrate.up", "db.update", "db.migrate.baseline", "init"):
        assert name in out
    (root / "migrations" / "001_notes.sql").write_text(
        "-- UP\nCREATE TABLE notes (id int);\n-- DOWN\nDROP TABLE notes;\n")
    url = {"DATABASE_URL": db.url}
    code, out, err = _child(root, "-m", "invoke", "db.migrate.up", env=url)
    assert code == 0 and "1 migration applied" in out, (out, err)
    (root / "migrations" / "002_more.sql").write_text(
        "-- UP\nALTER TABLE notes ADD COLUMN body text;\n-- DOWN\nSELECT 1;\n")
    (root / "Makefile").write_text("update:\n\t$(PYTHON) -m invoke db.update\n")
    proc = subprocess.run(["make", "-s", "update", f"PYTHON={sys.executable}"], cwd=root,
                          text=True, capture_output=True, stdin=subprocess.DEVNULL,
                          env={**os.environ, **url}, timeout=300)
    assert proc.returncode == 0 and "Update complete! 1 migration applied." in proc.stdout, proc
    assert [r[0] for r in db.query("SELECT label FROM nself.migrations ORDER BY 1")] == [
        "001", "002"]


def test_init_keeps_an_existing_tasks_py_and_says_the_two_lines(tmp_path, monkeypatch, capsys):
    """A project's own tasks.py is never overwritten: init names the two lines to add; with
    them, `inv` lists the project's tasks and nself's, and runs the project's."""
    from nself.cli import program
    from nself.scaffold import TASKS_LINES

    own = "from invoke import task\n\n\n@task\ndef hello(c):\n    print('hello from mine')\n"
    (tmp_path / "tasks.py").write_text(own)
    monkeypatch.chdir(tmp_path)
    assert program.run(["nself", "init"], exit=False) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "tasks.py").read_text() == own
    assert "Kept existing tasks.py" in out
    for text in TASKS_LINES:
        assert f"    {text}\n" in out
    (tmp_path / "tasks.py").write_text(own + "\n" + "\n".join(TASKS_LINES) + "\n")
    code, listed, err = _child(tmp_path, "-m", "invoke", "--list")
    assert code == 0 and "hello" in listed and "db.migrate.up" in listed, (listed, err)
    code, said, err = _child(tmp_path, "-m", "invoke", "hello")
    assert code == 0 and said == "hello from mine\n", err
    assert program.run(["nself", "init"], exit=False) == 0
    assert "add these two lines" not in capsys.readouterr().out


OTHER_TOOLS = {
    "db/migrations/20240101000000_users.sql": "-- migrate:up\nCREATE TABLE u (id int);\n",
    "flyway/sql/V1__users.sql": "CREATE TABLE u (id int);\n",
    "prisma/migrations/20240101000000_init/migration.sql": "CREATE TABLE u (id int);\n",
    "alembic/env.py": "",
    "alembic/versions/1a2b_users.py": "revision = '1a2b'\n",
    "site/manage.py": "",
    "site/shop/migrations/__init__.py": "",
    "site/shop/migrations/0001_initial.py": "operations = []\n",
    "gm/1_users.up.sql": "CREATE TABLE u (id int);\n",
    "gm/1_users.down.sql": "DROP TABLE u;\n",
    "goose/00001_users.sql": "-- +goose Up\nCREATE TABLE u (id int);\n",
    "node_modules/pkg/db/migrations/1_x.sql": "-- migrate:up\nSELECT 1;\n",
}


def test_init_names_other_tools_migrations_and_the_adopt_command(tmp_path, monkeypatch, capsys):
    """A repository with dbmate, Flyway, Prisma, Alembic, Django, golang-migrate and goose
    migrations: init says each folder and the command that adopts it (node_modules is not
    searched)."""
    from nself.cli import program

    for rel, text in OTHER_TOOLS.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    monkeypatch.chdir(tmp_path)
    assert program.run(["nself", "init"], exit=False) == 0
    out = capsys.readouterr().out
    found = {line.split(" migrations in ")[0].removeprefix("Found "): line
             for line in out.splitlines() if line.startswith("Found ")}
    assert set(found) == {"dbmate", "flyway", "prisma", "alembic", "django", "golang-migrate",
                          "goose"}
    for kind, folder in (("dbmate", "db/migrations"), ("flyway", "flyway/sql"),
                         ("prisma", "prisma/migrations"), ("golang-migrate", "gm"),
                         ("goose", "goose")):
        assert (f"`nself db migrate import --from {kind} {folder} --adopt-applied`"
                in found[kind])
    # Python migrations: the SQL the tool prints is what nself imports
    assert found["alembic"].startswith("Found alembic migrations in alembic")
    assert found["django"].startswith("Found django migrations in site")
    for kind in ("alembic", "django"):
        assert f"--from {kind} FOLDER --adopt-applied" in found[kind]
    assert "node_modules" not in out


def test_init_uses_the_importers_detection_for_every_format(tmp_path, monkeypatch, capsys):
    """init names the formats only the importers knew (Sqitch, graphile-migrate, Hasura,
    node-pg-migrate, postgrator) with the same detection as `migrate import`; build output
    and a FIFO named like a migration are passed over, not waited on."""
    from nself import adopt
    from nself.cli import program

    for rel, text in {
        "db/sqitch.plan": "%project=shop\n",
        "gm/committed/000001.sql": "--! Previous: -\n--! Hash: sha1:0\n\nselect 1;\n",
        "hasura/migrations/default/1700000000000_init/up.sql": "CREATE TABLE u (id int);\n",
        "pgm/1700000000000_init.sql": "-- Up Migration\nCREATE TABLE u (id int);\n",
        "pg/001.do.users.sql": "CREATE TABLE u (id int);\n",
        "build/db/migrations/1_x.sql": "-- migrate:up\nSELECT 1;\n",
    }.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    os.mkfifo(tmp_path / "pgm" / "1700000000001_pipe.sql")
    monkeypatch.chdir(tmp_path)
    assert program.run(["nself", "init"], exit=False) == 0
    out = capsys.readouterr().out
    said = {(line.split(" migrations in ")[0].removeprefix("Found "),
             line.split(" migrations in ")[1].split("/:")[0])
            for line in out.splitlines() if line.startswith("Found ")}
    assert said == {(kind, folder.relative_to(tmp_path).as_posix())
                    for kind, folder in adopt.detect(tmp_path)}
    assert {kind for kind, _ in said} == {"sqitch", "graphile-migrate", "hasura",
                                          "node-pg-migrate", "postgrator"}
    assert "build" not in out
