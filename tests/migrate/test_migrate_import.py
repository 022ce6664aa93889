"""`db migrate import --from FORMAT DIR`: another tool's folder as nself migrations, and
`--adopt-applied`: what that tool's tracking table says is applied (issue 18 §3).

Each format gets a small project written here, converted, applied, rolled back where it has
DOWN, and adopted from a tracking table created and filled the way that tool does it."""

from __future__ import annotations

import pytest
from conftest import applied

pytestmark = pytest.mark.db


def files(project) -> list[str]:
    return sorted(p.name for p in project.migrations.glob("*.sql"))


# dbmate ------------------------------------------------------------------------------------

DBMATE_TABLE = "CREATE TABLE schema_migrations (version varchar(128) PRIMARY KEY)"


def dbmate_project(project):
    project.write("db/migrations/00009_users.sql", """
        -- migrate:up
        CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL);

        -- migrate:down
        DROP TABLE users;
        """)
    # the numeric-order trap: `11_` sorts before `00009_` by name, but is version 11
    project.write("db/migrations/00010_posts.sql", """
        -- migrate:up
        CREATE TABLE posts (id bigint PRIMARY KEY, user_id bigint REFERENCES users);
        -- migrate:down
        DROP TABLE posts;
        """)
    project.write("db/migrations/11_posts_index.sql", """
        -- migrate:up transaction:false
        CREATE INDEX CONCURRENTLY posts_user ON posts (user_id);
        -- migrate:down
        DROP INDEX CONCURRENTLY posts_user;
        """)


def test_dbmate_converts_applies_and_rolls_back(project):
    dbmate_project(project)
    result = project.run("db", "migrate", "import", "--from", "dbmate", "db/migrations")
    assert result.code == 0, result
    assert files(project) == ["00009_users.sql", "00010_posts.sql", "11_posts_index.sql"]
    text = (project.migrations / "11_posts_index.sql").read_text()
    assert text.startswith("-- Imported from dbmate: 11_posts_index.sql (version 11)\n"
                           "-- nself:no-transaction\n")
    assert "-- UP\nCREATE INDEX CONCURRENTLY" in text
    assert "-- DOWN\nDROP INDEX CONCURRENTLY posts_user;" in text
    assert project.run("db", "migrate", "up").code == 0
    assert applied(project.db) == ["00009", "00010", "11"]
    assert project.run("db", "migrate", "down", "3").code == 0
    assert project.db.tables() == []


def test_dbmate_adopts_what_dbmate_applied(project):
    dbmate_project(project)
    project.db.query(DBMATE_TABLE)
    # dbmate applied the first two (their SQL ran, one row each, the version as written)
    project.db.query("CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL); "
                     "CREATE TABLE posts (id bigint PRIMARY KEY, user_id bigint REFERENCES users);"
                     "INSERT INTO schema_migrations (version) VALUES ('00009'), ('00010')")
    result = project.run("db", "migrate", "import", "--from", "dbmate", "db/migrations",
                         "--adopt-applied")
    assert result.code == 0, result
    assert "Recorded 2 migrations as applied" in result.out
    assert applied(project.db) == ["00009", "00010"]
    result = project.run("db", "migrate", "up")
    assert result.code == 0, result
    assert "1 migration applied" in result.out
    assert applied(project.db) == ["00009", "00010", "11"]
    assert project.run("db", "migrate", "status", "--check").code == 0
