"""`nself init` and the project root: the scaffold, what a second run keeps, and how
commands find the project from a folder below it."""

import json
import os

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
