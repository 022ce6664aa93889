"""`nself db schema export` and `sync` end to end on real servers: stdout, --output written
atomically, formats, grants, and the errors (exit codes per nself.errors)."""

import os

import pytest
from conftest import REPO
from invoke import Collection
from test_schema_introspect import RICH_SQL

from nself.cli import NselfProgram
from nself.schema.export import write_atomically
from nself.schema.introspect import introspect
from nself.schema.render import to_dbml, to_sql
from nself.tasks import namespace, schema


def _namespace() -> Collection:
    """The real namespace once `db schema` is registered there; until then db + schema."""
    db = namespace.collections["db"]
    if "schema" in db.collections:
        return namespace
    return Collection(Collection("db", schema.collection))


def run(project, *argv):
    """`nself ARGV` in-process over a namespace with `db schema`, captured."""
    from conftest import Result

    program = NselfProgram(name="nself", binary="nself", namespace=_namespace())
    project.capsys.readouterr()
    code = program.run(["nself", *argv], exit=False)
    captured = project.capsys.readouterr()
    return Result(code, captured.out, captured.err)


def _model(project):
    with project.db.connect() as conn:
        return introspect(conn)


def test_export_prints_dbml_by_default(project):
    """Without flags the schema goes to stdout as DBML, exactly the renderer's text."""
    project.db.query(RICH_SQL)
    result = run(project, "db", "schema", "export")
    assert result.code == 0, result
    assert result.out == to_dbml(_model(project))
    assert "Table users {" in result.out and result.err == ""


def test_export_sql_recreates_the_schema(project):
    """--format sql prints a script that builds an equal schema in an empty database."""
    project.db.query(RICH_SQL)
    result = run(project, "db", "schema", "export", "--format", "sql")
    assert result.code == 0, result
    assert result.out == to_sql(_model(project))
    other = project.db.create_sibling()
    other.query(result.out)
    with other.connect() as conn:
        rebuilt = introspect(conn)
    expected = _model(project)
    expected.unsupported = []
    assert rebuilt == expected


def test_export_output_replaces_the_file_only_on_success(project, monkeypatch):
    """--output writes the whole export then renames it over the file (keeping its mode);
    when the export fails the old file is untouched and no temporary file is left."""
    project.db.query(RICH_SQL)
    target = project.root / "schema.dbml"
    target.write_text("old\n")
    target.chmod(0o640)
    result = run(project, "db", "schema", "export", "--output", "schema.dbml")
    assert result.code == 0, result
    assert target.read_text() == to_dbml(_model(project))
    assert target.stat().st_mode & 0o777 == 0o640
    assert result.out.startswith("✓ Schema exported: schema.dbml (DBML, 7 tables)")
    target.write_text("old\n")
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/nothing")
    result = run(project, "db", "schema", "export", "--output", "schema.dbml")
    assert result.code == 4, result
    assert len(result.err.strip().splitlines()) == 1
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in project.root.iterdir() if p.name.startswith(".")) == []


def test_a_new_output_file_gets_the_usual_mode(project):
    """A file --output creates has the mode a shell redirection would give it."""
    result = run(project, "db", "schema", "export", "-o", "fresh.sql", "--format", "sql")
    assert result.code == 0, result
    umask = os.umask(0)
    os.umask(umask)
    assert (project.root / "fresh.sql").stat().st_mode & 0o777 == 0o666 & ~umask
    assert (project.root / "fresh.sql").read_text() == "\n"


def test_write_failure_leaves_the_old_file(tmp_path, monkeypatch):
    """A write that fails midway (disk full) removes the temporary file, keeps the old one
    and raises the OSError (the task boundary makes it one line, exit 1)."""
    target = tmp_path / "schema.sql"
    target.write_text("old\n")

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError):
        write_atomically(target, "new text\n")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["schema.sql"]


@pytest.mark.parametrize("argv, message", [
    (("--format", "yaml"), "--format must be dbml or sql, not 'yaml'."),
    (("--output", "no/such/folder/x.dbml"), "the folder no/such/folder does not exist"),
    (("--output", "."), "it is a folder"),
])
def test_bad_flags_are_usage_errors(project, argv, message):
    """A bad --format or an --output that cannot be written is one line, exit 2, and
    nothing is written."""
    before = sorted(p.name for p in project.root.iterdir())
    result = run(project, "db", "schema", "export", *argv)
    assert result.code == 2, result
    assert message in result.err and len(result.err.strip().splitlines()) == 1
    assert result.out == ""
    assert sorted(p.name for p in project.root.iterdir()) == before


def test_grants_only_with_the_flag(project):
    """Owners and grants appear in the SQL export only with --grants."""
    project.db.query("CREATE TABLE t (id int); GRANT SELECT ON t TO PUBLIC;")
    plain = run(project, "db", "schema", "export", "--format", "sql")
    assert "GRANT" not in plain.out and "OWNER TO" not in plain.out
    full = run(project, "db", "schema", "export", "--format", "sql", "--grants")
    assert "GRANT SELECT ON TABLE public.t TO PUBLIC;" in full.out
    assert "ALTER TABLE public.t OWNER TO " in full.out


def test_export_of_an_empty_database(project):
    """An empty database exports as an empty DBML text (one newline) and exit 0."""
    result = run(project, "db", "schema", "export")
    assert (result.code, result.out) == (0, "\n")


def test_sync_says_it_is_not_available(project):
    """`schema sync --token X` is one line naming the by-hand commands, exit 2."""
    result = run(project, "db", "schema", "sync", "--token", "abc")
    assert result.code == 2
    lines = result.err.strip().splitlines()
    assert len(lines) == 1
    assert "not available" in lines[0]
    assert "schema export --format dbml" in lines[0] and "schema import" in lines[0]
    assert result.out == ""


def test_every_flag_has_help():
    """Each flag of export and sync has help text."""
    for task in schema.collection.tasks.values():
        names = {a.name for a in task.get_arguments()}
        assert names and all(task.help.get(n) for n in names), task.name


def test_schema_tasks_do_not_import_pglast_at_start_up():
    """Importing the task module (as `nself` start-up does) loads neither pglast nor pydbml."""
    import subprocess
    import sys

    code = ("import sys, nself.tasks.schema; "
            "print(any(m.split('.')[0] in ('pglast', 'pydbml') for m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO)
    assert proc.stdout.strip() == "False", proc.stderr
