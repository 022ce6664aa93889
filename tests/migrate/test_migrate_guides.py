"""Every migration example of the user guides applies and rolls back as written.

The SQL between the markers is copied verbatim from the guides; only setup
migrations (tables the examples assume) and DOWN sections the guides leave out
are ours.
"""

from __future__ import annotations

GUIDE_000 = {
    "001_create_users.sql": """\
-- Migration: 001_create_users
-- Created: 2026-01-22
-- UP
CREATE TABLE users (
id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
email TEXT UNIQUE NOT NULL,
created_at TIMESTAMPTZ DEFAULT NOW()
);
-- DOWN
DROP TABLE IF EXISTS users;
""",
    "002_add_posts_table.sql": """\
-- Migration: 001_add_posts_table
-- Created: 2026-01-22
-- UP
CREATE TABLE posts (
id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
user_id UUID NOT NULL REFERENCES users(id),
title VARCHAR(255) NOT NULL,
content TEXT,
created_at TIMESTAMPTZ DEFAULT NOW(),
updated_at TIMESTAMPTZ DEFAULT NOW()
);
CREATE INDEX idx_posts_user_id ON posts(user_id);
-- DOWN
DROP TABLE IF EXISTS posts;
""",
    "003_create_categories.sql": """\
-- UP
-- Adding a new table
CREATE TABLE categories (
id UUID DEFAULT gen_random_uuid() PRIMARY KEY,
name VARCHAR(255) NOT NULL UNIQUE,
slug VARCHAR(255) NOT NULL UNIQUE,
description TEXT,
created_at TIMESTAMP DEFAULT now() NOT NULL
);
-- Adding indexes
CREATE INDEX idx_categories_slug ON categories(slug);
CREATE INDEX idx_categories_created_at ON categories(created_at);
ALTER TABLE posts ADD COLUMN category_id UUID REFERENCES categories(id);
ALTER TABLE users ADD COLUMN updated_at TIMESTAMPTZ DEFAULT NOW();
-- DOWN
ALTER TABLE users DROP COLUMN updated_at;
ALTER TABLE posts DROP COLUMN category_id;
DROP TABLE categories;
""",
    "004_populate_categories.sql": """\
-- UP
-- Populate default categories
INSERT INTO categories (name, slug, description) VALUES
('Technology', 'technology', 'Technology related posts'),
('Business', 'business', 'Business and entrepreneurship'),
('Lifestyle', 'lifestyle', 'Lifestyle and personal development');
-- Update existing posts with default category
UPDATE posts
SET category_id = (SELECT id FROM categories WHERE slug = 'technology')
WHERE category_id IS NULL;
-- DOWN
UPDATE posts SET category_id = NULL;
DELETE FROM categories;
""",
    "005_timestamp_triggers.sql": """\
-- UP
-- Create updated_at trigger function
CREATE OR REPLACE FUNCTION trigger_set_timestamp()
RETURNS TRIGGER AS $$
BEGIN
NEW.updated_at = NOW();
RETURN NEW;
END;
$$ LANGUAGE plpgsql;
-- Apply trigger to tables
CREATE TRIGGER set_timestamp
BEFORE UPDATE ON users
FOR EACH ROW
EXECUTE FUNCTION trigger_set_timestamp();
CREATE TRIGGER set_timestamp
BEFORE UPDATE ON posts
FOR EACH ROW
EXECUTE FUNCTION trigger_set_timestamp();
-- DOWN
DROP TRIGGER set_timestamp ON posts;
DROP TRIGGER set_timestamp ON users;
DROP FUNCTION trigger_set_timestamp();
""",
    "006_add_phone.sql": """\
-- UP
-- Check if column exists before adding
DO $$
BEGIN
IF NOT EXISTS (
SELECT 1 FROM information_schema.columns
WHERE table_name = 'users' AND column_name = 'phone'
) THEN
ALTER TABLE users ADD COLUMN phone VARCHAR(20);
END IF;
END $$;
-- DOWN
ALTER TABLE users DROP COLUMN IF EXISTS phone;
""",
    "007_batch_tables.sql": """\
-- UP
CREATE TABLE old_table (id int PRIMARY KEY, data text, created_at timestamptz DEFAULT now());
CREATE TABLE new_table (id int PRIMARY KEY, data text, created_at timestamptz);
INSERT INTO old_table (id, data) SELECT g, 'row ' || g FROM generate_series(1, 2500) g;
-- DOWN
DROP TABLE new_table;
DROP TABLE old_table;
""",
    "008_batch_copy.sql": """\
-- UP
-- Migrate data in batches to avoid locks
DO $$
DECLARE
batch_size INTEGER := 1000;
total_rows INTEGER;
processed INTEGER := 0;
BEGIN
SELECT COUNT(*) INTO total_rows FROM old_table;
WHILE processed < total_rows LOOP
INSERT INTO new_table (id, data, created_at)
SELECT id, data, created_at
FROM old_table
WHERE id > processed
ORDER BY id
LIMIT batch_size;
processed := processed + batch_size;
RAISE NOTICE 'Processed % of % rows', processed, total_rows;
-- Allow other queries to run
PERFORM pg_sleep(0.1);
END LOOP;
END $$;
-- DOWN
DELETE FROM new_table;
""",
    "20250806140000_create_users_table.sql": """\
-- UP
CREATE TABLE app_users (id UUID DEFAULT gen_random_uuid() PRIMARY KEY);
-- DOWN
DROP TABLE app_users;
""",
    "20250806150000_create_user_profiles.sql": """\
-- depends_on: 20250806140000_create_users_table
-- UP
CREATE TABLE user_profiles (
id UUID DEFAULT gen_random_uuid() PRIMARY KEY,
user_id UUID NOT NULL REFERENCES users(id),
bio TEXT,
created_at TIMESTAMP DEFAULT now() NOT NULL
);
-- DOWN
DROP TABLE user_profiles;
""",
}

GUIDE_001 = {
    "001_create_users.sql": """\
-- Migration: 001_create_users
-- Created: 2026-01-24
-- Description: Create users table with authentication fields

-- UP
CREATE TYPE user_role AS ENUM ('admin', 'moderator', 'user', 'guest');

CREATE TABLE users (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  email VARCHAR(255) NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  display_name VARCHAR(100),
  avatar_url TEXT,
  role user_role DEFAULT 'user',
  email_verified BOOLEAN DEFAULT FALSE,
  created_at TIMESTAMPTZ DEFAULT NOW(),
  updated_at TIMESTAMPTZ DEFAULT NOW()
);

CREATE INDEX idx_users_email ON users(email);
CREATE INDEX idx_users_role ON users(role);
CREATE INDEX idx_users_created_at ON users(created_at);

-- Create updated_at trigger
CREATE OR REPLACE FUNCTION trigger_set_timestamp()
RETURNS TRIGGER AS $$
BEGIN
  NEW.updated_at = NOW();
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER set_users_timestamp
  BEFORE UPDATE ON users
  FOR EACH ROW
  EXECUTE FUNCTION trigger_set_timestamp();

-- DOWN
DROP TRIGGER IF EXISTS set_users_timestamp ON users;
DROP TABLE IF EXISTS users;
DROP TYPE IF EXISTS user_role;
DROP FUNCTION IF EXISTS trigger_set_timestamp();
""",
    "002_seed_users.sql": """\
-- UP
INSERT INTO users (email, password_hash) VALUES ('a@example.com', 'x'), ('b@example.com', 'y');
-- DOWN
DELETE FROM users;
""",
    "003_preferences.sql": """\
-- Migration with explicit transaction handling
-- UP
BEGIN;

-- Add new column
ALTER TABLE users ADD COLUMN preferences JSONB DEFAULT '{}';

-- Migrate existing data
UPDATE users SET preferences = jsonb_build_object(
  'theme', 'light',
  'notifications', true
) WHERE preferences = '{}';

-- Add constraint after data migration
ALTER TABLE users ADD CONSTRAINT check_preferences_format
  CHECK (preferences ? 'theme' AND preferences ? 'notifications');

COMMIT;

-- DOWN
BEGIN;
ALTER TABLE users DROP CONSTRAINT check_preferences_format;
ALTER TABLE users DROP COLUMN preferences;
COMMIT;
""",
    "004_old_name.sql": """\
-- UP
ALTER TABLE users ADD COLUMN old_name TEXT;
-- DOWN
ALTER TABLE users DROP COLUMN old_name;
""",
    "005_zero_downtime.sql": """\
-- UP
-- Adding a column with default (safe)
ALTER TABLE users ADD COLUMN status VARCHAR(20) DEFAULT 'active';

-- Adding NOT NULL constraint safely
-- Step 1: Add column as nullable
ALTER TABLE users ADD COLUMN new_field TEXT;

-- Step 2: Backfill data (in application or migration)
UPDATE users SET new_field = 'default_value' WHERE new_field IS NULL;

-- Step 3: Add constraint (after all data is filled)
ALTER TABLE users ALTER COLUMN new_field SET NOT NULL;

-- Renaming with alias (keeps old name working)
ALTER TABLE users RENAME COLUMN old_name TO new_name;
CREATE VIEW users_compat AS SELECT *, new_name AS old_name FROM users;
-- DOWN
DROP VIEW users_compat;
ALTER TABLE users RENAME COLUMN new_name TO old_name;
ALTER TABLE users DROP COLUMN new_field;
ALTER TABLE users DROP COLUMN status;
""",
    "006_large_table.sql": """\
-- UP
CREATE TABLE large_table (id serial PRIMARY KEY, old_column text, new_column text,
                          migrated boolean NOT NULL DEFAULT false);
INSERT INTO large_table (old_column) SELECT 'v' || g FROM generate_series(1, 15000) g;
CREATE FUNCTION transform_function(text) RETURNS text LANGUAGE sql IMMUTABLE
  AS $$ SELECT upper($1) $$;
-- DOWN
DROP FUNCTION transform_function(text);
DROP TABLE large_table;
""",
    "007_large_data_migration.sql": """\
-- UP
-- Batch processing for large tables
DO $$
DECLARE
  batch_size INTEGER := 10000;
  processed INTEGER := 0;
  total_rows INTEGER;
BEGIN
  SELECT COUNT(*) INTO total_rows FROM large_table WHERE migrated = FALSE;

  WHILE processed < total_rows LOOP
    UPDATE large_table
    SET
      new_column = transform_function(old_column),
      migrated = TRUE
    WHERE id IN (
      SELECT id FROM large_table
      WHERE migrated = FALSE
      LIMIT batch_size
    );

    processed := processed + batch_size;
    RAISE NOTICE 'Processed % of % rows', LEAST(processed, total_rows), total_rows;

    -- Allow other queries to run
    PERFORM pg_sleep(0.5);
  END LOOP;
END $$;
-- DOWN
UPDATE large_table SET new_column = NULL, migrated = FALSE;
""",
}


def write_all(project, files: dict[str, str]) -> None:
    for name, text in files.items():
        (project.migrations / name).write_text(text)


def test_guide_000_examples_apply_and_roll_back(project):
    """The first guide's examples (users, posts, categories, data changes, trigger function, DO
    block, batch copy with RAISE NOTICE, depends_on) apply in order and all roll back."""
    write_all(project, GUIDE_000)
    result = project.run("db", "migrate", "up")
    assert result.code == 0, result
    assert "NOTICE: Processed 1000 of 2500 rows" in result.out
    assert result.out.index("Processed 3000 of 2500") < result.out.index("✓ 008_batch_copy")
    assert project.db.scalar("SELECT count(*) FROM new_table") == 2500
    assert project.db.scalar("SELECT count(*) FROM posts") == 0
    assert project.db.scalar("SELECT count(*) FROM information_schema.columns "
                             "WHERE table_name = 'users' AND column_name = 'phone'") == 1
    down = project.run("db", "migrate", "down", "--no-backup", "--to", "0")
    assert down.code == 0, down
    assert project.db.tables() == []
    assert project.db.scalar("SELECT count(*) FROM pg_proc WHERE proname = "
                             "'trigger_set_timestamp'") == 0


def test_guide_001_examples_apply_and_roll_back(project):
    """The second guide's examples (file format with enum and trigger, BEGIN/COMMIT preferences,
    zero-downtime steps, large batched data migration) apply and roll back as written."""
    write_all(project, GUIDE_001)
    result = project.run("db", "migrate", "up")
    assert result.code == 0, result
    assert "NOTICE: Processed 10000 of 15000 rows" in result.out
    assert "NOTICE: Processed 15000 of 15000 rows" in result.out
    assert project.db.scalar("SELECT count(*) FROM large_table WHERE migrated") == 15000
    assert project.db.scalar("SELECT preferences->>'theme' FROM users LIMIT 1") == "light"
    assert project.db.scalar("SELECT count(*) FROM users_compat") == 2
    down = project.run("db", "migrate", "down", "--no-backup", "--to", "0")
    assert down.code == 0, down
    assert project.db.tables() == []
    assert project.db.scalar("SELECT to_regtype('user_role')") is None


def test_guide_transaction_example_stays_atomic(project):
    """The guides' BEGIN … COMMIT migration whose constraint fails leaves no column and no row."""
    write_all(project, {k: GUIDE_001[k] for k in ("001_create_users.sql", "002_seed_users.sql")})
    assert project.run("db", "migrate", "up").code == 0
    broken = GUIDE_001["003_preferences.sql"].replace("'notifications', true", "'x', true")
    (project.migrations / "003_preferences.sql").write_text(broken)
    result = project.run("db", "migrate", "up")
    assert result.code == 1 and "check_preferences_format" in result.err, result
    assert "003_preferences.sql line 15" in result.err
    assert project.db.scalar("SELECT count(*) FROM information_schema.columns WHERE "
                             "table_name = 'users' AND column_name = 'preferences'") == 0
    assert project.db.scalar("SELECT count(*) FROM nself.migrations") == 2
