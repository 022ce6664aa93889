"""Drift without a shadow database: the schema fingerprint recorded by every migrate run in
the newest tracking row, and `db status` / `migrate status` comparing it with the live schema."""

from __future__ import annotations

import json

import pytest

from nself.pg import catalog


def two(project):
    project.migration("001_users.sql", "CREATE TABLE users (id int PRIMARY KEY, name text);",
                      "DROP TABLE users;")
    project.migration("002_posts.sql",
                      "CREATE TABLE posts (id int PRIMARY KEY, user_id int REFERENCES users);",
                      "DROP TABLE posts;")


def drift_of(project) -> tuple[bool | None, bool | None, str]:
    """(db status --json drift, the newest entry's drift in migrate status --json, the text
    line of migrate status)."""
    facts = json.loads(project.run("db", "status", "--json").out)
    entries = json.loads(project.run("db", "migrate", "status", "--json").out)
    flagged = [e["drift"] for e in entries if e["drift"] is not None]
    text = [line for line in project.run("db", "migrate", "status").out.splitlines()
            if line.startswith("Drift:")]
    return facts["drift"], (flagged[0] if flagged else None), text[0]


def test_hand_change_is_drift_until_the_next_migrate_run(project):
    """A column added by hand is reported as drift by db status and migrate status (text and
    JSON, and `--check` exits 6); the next `migrate up` records the new schema: no drift."""
    two(project)
    assert project.run("db", "migrate", "up").code == 0
    assert drift_of(project) == (False, False, "Drift: no")
    assert project.run("db", "status").out.count("Drift:        no") == 1
    project.db.query("ALTER TABLE users ADD COLUMN nickname text")
    facts, entry, text = drift_of(project)
    assert facts is True and entry is True and text.startswith("Drift: yes")
    check = project.run("db", "migrate", "status", "--check")
    assert check.code == 6 and "schema drift" in check.err
    project.migration("003_more.sql", "CREATE TABLE more (id int);", "DROP TABLE more;")
    assert project.run("db", "migrate", "up").code == 0
    assert drift_of(project) == (False, False, "Drift: no")


def test_down_and_fresh_record_the_schema_they_leave(project):
    """After `migrate down` the newest remaining row carries the fingerprint of what is left;
    after `fresh` too; reverting a hand change removes the drift."""
    two(project)
    assert project.run("db", "migrate", "up").code == 0
    assert project.run("db", "migrate", "down", "--no-backup").code == 0
    assert drift_of(project)[0] is False
    project.db.query("CREATE INDEX users_name ON users (name)")
    assert drift_of(project)[0] is True
    project.db.query("DROP INDEX users_name")
    assert drift_of(project)[0] is False
    project.db.query("CREATE TABLE stray (id int)")
    assert project.run("db", "migrate", "fresh", "--no-backup").code == 0
    assert drift_of(project)[0] is False
    newest = project.db.query("SELECT label, schema_fingerprint FROM nself.migrations "
                              "ORDER BY version")
    assert newest[0][1] is None and len(newest[1][1]) == 32


def test_older_layout_reads_as_unknown_and_is_upgraded(project):
    """A tracking table of layout 2 (no fingerprint column) reads as drift unknown, without
    an error; the next run adds the column once (old rows NULL) and records a fingerprint."""
    two(project)
    assert project.run("db", "migrate", "up", "1").code == 0
    project.db.query("ALTER TABLE nself.migrations DROP COLUMN schema_fingerprint; "
                     "UPDATE nself.meta SET value = '2' WHERE key = 'layout_version'")
    facts = json.loads(project.run("db", "status", "--json").out)
    assert facts["drift"] is None and facts["migrations"]["applied"] == 1
    assert "Drift: unknown" in project.run("db", "migrate", "status").out
    assert project.run("db", "migrate", "up").code == 0
    assert project.db.scalar("SELECT value FROM nself.meta WHERE key = 'layout_version'") == "4"
    rows = project.db.query("SELECT label, schema_fingerprint IS NOT NULL FROM nself.migrations "
                            "ORDER BY version")
    assert rows == [("001", False), ("002", True)]
    assert drift_of(project)[0] is False


CHANGES = [
    "ALTER TABLE t ALTER COLUMN e TYPE varchar(20)",
    "ALTER TABLE t ALTER COLUMN b SET DEFAULT 7",
    "ALTER TABLE t ALTER COLUMN b SET NOT NULL",
    "ALTER TABLE t ADD COLUMN c text",
    "ALTER TABLE t RENAME COLUMN e TO ee",
    "CREATE INDEX t_b ON t (b)",
    "CREATE INDEX t_b ON t (b) WHERE b > 0",
    "DROP INDEX t_lower",
    "ALTER TABLE t ADD CONSTRAINT b_positive CHECK (b > 0)",
    "ALTER TABLE t ADD CONSTRAINT b_positive CHECK (b > 0) NOT VALID",
    "ALTER TYPE mood ADD VALUE 'sad'",
    "ALTER DOMAIN pos SET DEFAULT 2",
    "CREATE OR REPLACE VIEW v AS SELECT id, b FROM t WHERE b > 1",
    "CREATE OR REPLACE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql "
    "AS $$BEGIN RETURN OLD; END$$",
    "DROP TRIGGER t_touch ON t",
    "ALTER TABLE t ENABLE ROW LEVEL SECURITY",
    "CREATE POLICY mine ON t USING (b > 0)",
    "CREATE SCHEMA other",
    "CREATE SEQUENCE counter",
    "ALTER TABLE t RENAME TO t2",
]
BASE = """
CREATE TYPE mood AS ENUM ('ok', 'happy');
CREATE DOMAIN pos AS int CHECK (VALUE > 0);
CREATE TABLE t (id int PRIMARY KEY, b int, m mood, p pos, e text);
CREATE INDEX t_lower ON t (lower(e));
CREATE VIEW v AS SELECT id, b FROM t;
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE TRIGGER t_touch BEFORE UPDATE ON t FOR EACH ROW EXECUTE FUNCTION touch();
"""


@pytest.mark.parametrize("change", CHANGES)
def test_fingerprint_sees_each_kind_of_schema_change(db, change):
    """Each kind of change to a user object changes the fingerprint; rows, sequence values,
    nself's own schema and the session's search_path do not."""
    with db.connect() as conn:
        conn.execute(BASE)
        (before,) = catalog.fingerprint(conn)
        conn.execute("INSERT INTO t VALUES (1, 2, 'ok', 3, 'x')")
        conn.execute("CREATE SCHEMA nself; CREATE TABLE nself.scratch (id int)")
        conn.execute("SET search_path = nself, pg_catalog")
        assert catalog.fingerprint(conn) == (before,)
        conn.execute("SET search_path = public")
        conn.execute(change)
        (after,) = catalog.fingerprint(conn)
    assert after != before
