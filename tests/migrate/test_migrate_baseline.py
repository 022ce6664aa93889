"""A baseline migration pasted from `pg_dump --schema-only` of a rich schema applies as written."""

from __future__ import annotations

import subprocess

RICH_SCHEMA = r"""
CREATE SCHEMA app;
CREATE TYPE app.mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN app.email AS text CHECK (VALUE ~ '@');
CREATE TABLE app.users (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  email app.email NOT NULL UNIQUE,
  mood app.mood DEFAULT 'ok',
  name text,
  name_upper text GENERATED ALWAYS AS (upper(name)) STORED,
  created_at timestamptz DEFAULT now()
);
COMMENT ON TABLE app.users IS 'people; with a ; and $$ in the comment';
CREATE TABLE app.events (id bigserial, user_id bigint REFERENCES app.users, at date NOT NULL,
                         payload jsonb DEFAULT '{}', PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE app.events_2026 PARTITION OF app.events
  FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE INDEX events_payload ON app.events USING gin (payload);
CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  NEW.created_at := now();
  RETURN NEW;
END $fn$;
CREATE TRIGGER users_touch BEFORE UPDATE ON app.users FOR EACH ROW EXECUTE FUNCTION app.touch();
CREATE VIEW app.happy AS SELECT id, email FROM app.users WHERE mood = 'happy';
CREATE MATERIALIZED VIEW app.counts AS SELECT mood, count(*) FROM app.users GROUP BY mood;
ALTER TABLE app.users ENABLE ROW LEVEL SECURITY;
CREATE POLICY own ON app.users USING (email = current_user);
CREATE SEQUENCE app.tickets START 100;
"""


def test_pg_dump_schema_as_first_migration(project):
    """pg_dump's schema-only output of a schema with enums, domains, identity and generated
    columns, partitions, triggers, views, policies (and pg_dump's \\restrict lines) applies
    and reproduces the same schema."""
    from nself.pg import tools as pgtools

    source = project.db.create_sibling()
    source.query(RICH_SCHEMA)
    pg_dump = pgtools.find("pg_dump", int(source.scalar("SHOW server_version_num")) // 10000)
    dumped = subprocess.run([pg_dump.path, "--schema-only", "--no-owner"],
                            env=pgtools.tool_env(source.database), capture_output=True,
                            text=True, check=True).stdout
    project.migration("001_baseline.sql", dumped, "DROP SCHEMA app CASCADE;")
    result = project.run("db", "migrate", "up")
    assert result.code == 0, result
    assert project.db.tables("app") == source.tables("app")
    redumped = subprocess.run([pg_dump.path, "--schema-only", "--no-owner", "-n", "app"],
                              env=pgtools.tool_env(project.db.database), capture_output=True,
                              text=True, check=True).stdout
    original = subprocess.run([pg_dump.path, "--schema-only", "--no-owner", "-n", "app"],
                              env=pgtools.tool_env(source.database), capture_output=True,
                              text=True, check=True).stdout

    def body(text):
        return [line for line in text.splitlines() if not line.startswith(("\\", "--"))]

    assert body(redumped) == body(original)
    assert project.run("db", "migrate", "down", "--no-backup").code == 0
    assert project.db.tables("app") == []
