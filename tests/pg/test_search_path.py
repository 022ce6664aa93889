"""DATABASE_SEARCH_PATH: the schemas unqualified names resolve to, set for every migration
session (a migration's own SET does not outlive it), the shadow replay, `db update`, seeds and
`db shell`; drift and `schema diff` read qualified names, so they agree; a value that is not
a list of schema names is refused at load, in one line."""

from __future__ import annotations

import pytest

from nself import errors
from nself.config import Environment

SCHEMAS = "CREATE SCHEMA app;\nCREATE SCHEMA extensions;"


def where(project, table: str) -> list[str]:
    return [r[0] for r in project.db.query(
        "SELECT table_schema FROM information_schema.tables WHERE table_name = %s ORDER BY 1",
        (table,))]


def configure(project, value: str = "app, extensions, public") -> None:
    project.write("config/local.env", f"DATABASE_SEARCH_PATH='{value}'\n")


@pytest.mark.parametrize(("value", "shown"), [
    ("app, extensions, public", "app,extensions,public"),
    ('"$user", public', "$user,public"),
    ('App,"My Schema"', 'app,"My Schema"'),
])
def test_value_is_read_as_postgresql_reads_it(tmp_path, value, shown):
    """Plain names are lower-cased, quoted ones kept; the value is what SHOW search_path says."""
    (tmp_path / "nself.toml").write_text("")
    env = Environment.load(tmp_path, {"DATABASE_SEARCH_PATH": value})
    assert env.search_path == shown
    if " " in shown:  # libpq's options: a space inside a value is escaped
        options = env.database.with_search_path(env.search_path).params["options"]
        assert options == '-c search_path=app,"My\\ Schema"'


@pytest.mark.parametrize("value", ["app;drop table x", "app,", "app, ,public", '"unclosed',
                                   "a" * 64])
def test_invalid_value_is_refused_at_load_in_one_line(tmp_path, monkeypatch, capsys, value):
    """A value that is not a list of schema names stops every command at load: exit 2, one
    line naming the setting and where it came from, with an example."""
    from nself.cli import program

    (tmp_path / "nself.toml").write_text("")
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "local.env").write_text(f"DATABASE_SEARCH_PATH='{value}'\n")
    monkeypatch.chdir(tmp_path)
    code = program.run(["nself", "db", "migrate", "status"], exit=False)
    err = capsys.readouterr().err
    assert code == errors.USAGE, err
    assert len(err.strip().splitlines()) == 1, err
    assert "DATABASE_SEARCH_PATH" in err and "config/local.env" in err
    assert "DATABASE_SEARCH_PATH=app,extensions,public" in err


def test_migrations_shadow_and_drift_use_the_search_path(project):
    """Unqualified tables land in the first schema of the path, in every migration of a run
    (one that SETs its own search_path does not move the next), no-transaction ones included;
    the shadow replay builds the same schema (`schema diff --migrations` is empty) and the
    drift check sees none."""
    configure(project)
    project.migration("001_schemas.sql", SCHEMAS, "DROP SCHEMA app, extensions;")
    project.migration("002_own_set.sql", "SET search_path = public;\nCREATE TABLE p (id int);",
                      "DROP TABLE public.p;")
    project.migration("003_items.sql", "CREATE TABLE items (id int PRIMARY KEY, v int);",
                      "DROP TABLE items;")
    project.migration("004_index.sql", "CREATE INDEX CONCURRENTLY items_v ON items (v);",
                      "DROP INDEX CONCURRENTLY items_v;", header="-- nself:no-transaction\n")
    r = project.run("db", "migrate", "up")
    assert r.code == 0, r
    assert where(project, "items") == ["app"]
    assert where(project, "p") == ["public"]
    assert project.db.scalar("SELECT to_regclass('app.items_v') IS NOT NULL")
    status = project.run("db", "migrate", "status", "--check")
    assert status.code == 0, status
    same = project.run("db", "schema", "diff", "--migrations")
    assert same.code == 0, same
    assert "No schema differences" in same.out
    down = project.run("db", "migrate", "down", "--steps", "2")
    assert down.code == 0, down
    assert where(project, "items") == []


def test_update_and_seeds_use_the_search_path(project):
    """`db update` (its checks replay into a shadow) applies unqualified names in the
    configured schema, and a seed's unqualified INSERT reaches that table."""
    configure(project, "app,public")
    project.migration("001_schemas.sql", SCHEMAS, "DROP SCHEMA app, extensions;")
    project.migration("002_items.sql", "CREATE TABLE items (id int PRIMARY KEY);",
                      "DROP TABLE items;")
    r = project.run("db", "update")
    assert r.code == 0, r
    assert where(project, "items") == ["app"]
    project.write("seeds/common/01_items.sql", "INSERT INTO items VALUES (1), (2);\n")
    seeded = project.run("db", "seed")
    assert seeded.code == 0, seeded
    assert project.db.scalar("SELECT count(*) FROM app.items") == 2


def test_shell_has_the_search_path(project):
    """`db shell` starts psql with the same search_path (PGOPTIONS): SHOW says it, and an
    unqualified name finds the configured schema's table."""
    configure(project, 'app, "$user", public')
    project.db.query("CREATE SCHEMA app; CREATE TABLE app.items (id int)")
    r = project.run("db", "shell", "-c", "SHOW search_path")
    assert r.code == 0, r
    assert "app,$user,public" in r.out, r.out
    r = project.run("db", "shell", "-c", "SELECT count(*) AS n FROM items")
    assert r.code == 0, r
