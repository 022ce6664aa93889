"""`nself db reset`: safety backup, the one wipe, every migration, the seeds; blocked in
production and on a database recorded as production, confirmed in staging."""

from __future__ import annotations

import json


def app(project):
    project.migration("001_create_users.sql",
                      "CREATE TABLE users (id int PRIMARY KEY, email text UNIQUE);",
                      "DROP TABLE users;")
    project.migration("002_create_posts.sql",
                      "CREATE TABLE posts (id int PRIMARY KEY, user_id int REFERENCES users);",
                      "DROP TABLE posts;")
    project.write("seeds/common/01_users.sql",
                  "INSERT INTO users VALUES (1, 'admin@example.com');")
    project.write("seeds/local/01_posts.sql", "INSERT INTO posts VALUES (1, 1), (2, 1);")


def test_reset_rebuilds_from_migrations_and_seeds(project):
    """Everything made by hand goes (after a safety backup that holds it), every migration is
    applied once, common/ then local/ seeds run, and the schema is recorded (no drift)."""
    app(project)
    assert project.run("db", "migrate", "up").code == 0
    project.db.query("INSERT INTO users VALUES (7, 'old@example.com'); "
                     "CREATE TABLE handmade (id int); CREATE SCHEMA extra")
    result = project.run("db", "reset")
    assert result.code == 0, result
    made = sorted((project.root / "backups" / "local").glob("*_before_reset.dump"))
    assert len(made) == 1 and f"Backup created: backups/local/{made[0].name}" in result.out
    assert result.out.index("Backup created") < result.out.index("001_create_users")
    assert project.db.tables() == ["posts", "users"]
    assert project.db.scalar("SELECT to_regnamespace('extra')") is None
    assert project.db.query("SELECT id, email FROM users") == [(1, "admin@example.com")]
    assert project.db.scalar("SELECT count(*) FROM posts") == 2
    assert [r[0] for r in project.db.query("SELECT label FROM nself.migrations")] == [
        "001", "002"]
    assert "applied 2 migrations, ran 2 seed files" in result.out
    assert json.loads(project.run("db", "status", "--json").out)["drift"] is False


def test_reset_is_blocked_in_production_and_on_a_production_database(project, monkeypatch):
    """ENV=production is refused whatever the flags; so is a database recorded as
    production, even with --allow-env-mismatch; nothing is dropped."""
    app(project)
    monkeypatch.setenv("ENV", "production")
    blocked = project.run("db", "reset", "--yes", "--no-backup")
    assert blocked.code == 3 and "blocked in production" in blocked.err
    assert project.run("db", "migrate", "up", "--yes", "--no-backup").code == 0
    monkeypatch.setenv("ENV", "local")
    recorded = project.run("db", "reset", "--yes", "--no-backup", "--allow-env-mismatch")
    assert recorded.code == 3 and "recorded as production" in recorded.err
    assert project.db.tables() == ["posts", "users"]


def test_reset_in_staging_needs_confirmation(project, monkeypatch):
    """In staging, without a terminal reset is refused naming --yes; with --yes it runs the
    staging seeds."""
    app(project)
    project.write("seeds/staging/01_posts.sql", "INSERT INTO posts VALUES (5, 1);")
    monkeypatch.setenv("ENV", "staging")
    refused = project.run("db", "reset", "--no-backup")
    assert refused.code == 3 and "--yes" in refused.err and project.db.tables() == []
    done = project.run("db", "reset", "--no-backup", "--yes")
    assert done.code == 0, done
    assert project.db.query("SELECT id FROM posts") == [(5,)]


def test_broken_migration_file_refuses_before_anything_is_dropped(project):
    """A malformed migration file is refused (exit 2) before the wipe: the data stays."""
    app(project)
    assert project.run("db", "migrate", "up").code == 0
    project.db.query("INSERT INTO users VALUES (3, 'kept@example.com')")
    (project.migrations / "003_bad.sql").write_text("-- UP\nBEGIN;\nVACUUM;\n")
    result = project.run("db", "reset", "--no-backup")
    assert result.code == 2, result
    assert project.db.scalar("SELECT count(*) FROM users") == 1
