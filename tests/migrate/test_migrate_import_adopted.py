"""After `db migrate import --adopt-applied`, the old tool's tracking table (or schema) stays
in the database as that tool's, and nself leaves it out of its schema: `db update`'s checks,
`schema diff --migrations` and `schema export` see only what the migrations make (issue 18,
found adopting a public project's dbmate and goose folders: `db update` refused with
"+ Table: schema_migrations (missing in migrations)")."""

from __future__ import annotations

import pytest
from conftest import applied

from nself.adopt.graphile_migrate import calculate_hash

pytestmark = pytest.mark.db


def dbmate_project(project) -> None:
    project.write("db/migrations/20240101000001_users.sql", """
        -- migrate:up
        CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL);
        -- migrate:down
        DROP TABLE users;
        """)
    project.write("db/migrations/20240101000002_orders.sql", """
        -- migrate:up
        CREATE TABLE orders (id bigserial PRIMARY KEY, user_id bigint REFERENCES users);
        -- migrate:down
        DROP TABLE orders;
        """)


def adopt_half_applied_dbmate(project):
    """What `dbmate up` leaves after the first migration (its table, its row, the users
    table), adopted by `migrate import --adopt-applied`; the import's result."""
    dbmate_project(project)
    project.db.query("CREATE TABLE schema_migrations (version varchar(128) PRIMARY KEY);"
                     "INSERT INTO schema_migrations VALUES ('20240101000001');"
                     "CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL)")
    result = project.run("db", "migrate", "import", "--from", "dbmate", "db/migrations",
                         "--adopt-applied")
    assert result.code == 0, result
    return result


def test_db_update_after_adopting_dbmate_leaves_its_table_out(project):
    """The adopted dbmate table stays with its rows; db update applies the rest and passes."""
    result = adopt_half_applied_dbmate(project)
    assert "dbmate's own tracking (public.schema_migrations) stays" in result.out
    result = project.run("db", "update")
    assert result.code == 0, result
    assert applied(project.db) == ["20240101000001", "20240101000002"]
    assert project.db.scalar("SELECT count(*) FROM schema_migrations") == 1
    result = project.run("db", "schema", "diff", "--migrations")
    assert result.code == 0, result
    export = project.run("db", "schema", "export", "--format", "sql")
    assert export.code == 0, export
    assert "orders" in export.out and "schema_migrations" not in export.out


def test_without_adoption_the_tool_table_is_named(project):
    """Imported without --adopt-applied, nothing is left out: db update names the table."""
    dbmate_project(project)
    project.db.query("CREATE TABLE schema_migrations (version varchar(128) PRIMARY KEY)")
    result = project.run("db", "migrate", "import", "--from", "dbmate", "db/migrations")
    assert result.code == 0, result
    assert "stays" not in result.out
    result = project.run("db", "update")
    assert result.code == 6, result
    assert "schema_migrations (missing in migrations)" in result.err


def test_an_adopted_tracking_schema_is_left_out_whole(project):
    """graphile-migrate keeps its history in a schema of its own: every object of it is left
    out, and the user's objects are still compared."""
    body = "create table notes (id int primary key);\n"
    digest = calculate_hash(body, None)
    project.write("gm/committed/000001.sql",
                  f"--! Previous: -\n--! Hash: {digest}\n\n{body}")
    project.db.query(
        "create schema graphile_migrate; create table graphile_migrate.migrations (hash text "
        "primary key, previous_hash text references graphile_migrate.migrations, filename "
        "text not null, date timestamptz not null default now());"
        "create function graphile_migrate.noop() returns int language sql as 'select 1';"
        f"insert into graphile_migrate.migrations (hash, filename) values ('{digest}', "
        "'000001.sql'); create table notes (id int primary key)")
    result = project.run("db", "migrate", "import", "--from", "graphile-migrate", "gm",
                         "--adopt-applied")
    assert result.code == 0, result
    assert "(schema graphile_migrate) stays" in result.out
    assert project.run("db", "schema", "diff", "--migrations").code == 0
    project.db.query("create table by_hand (id int)")
    result = project.run("db", "schema", "diff", "--migrations")
    assert result.code != 0 and "by_hand" in result.out + result.err, result


def test_a_role_that_cannot_read_nselfs_schema_still_reads_the_schema(project, monkeypatch):
    """A read-only role with no USAGE on nself's schema exports the schema as before the
    adoption record existed (the record is skipped, not an error), and sees the old tool's
    table: it cannot read what was adopted."""
    import uuid

    adopt_half_applied_dbmate(project)
    role = f"nself_reader_{uuid.uuid4().hex[:8]}"
    project.db.query(f"CREATE ROLE {role} LOGIN; GRANT USAGE ON SCHEMA public TO {role}")
    try:
        monkeypatch.setenv("DATABASE_URL", project.db.url.replace("postgres@", f"{role}@", 1))
        export = project.run("db", "schema", "export", "--format", "sql")
        assert export.code == 0, export
        assert "public.users" in export.out and "schema_migrations" in export.out
    finally:
        project.db.query(f"REVOKE ALL ON SCHEMA public FROM {role}; DROP ROLE {role}")
