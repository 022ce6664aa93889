-- Migration: 003_add_user_preferences
-- Created: 2026-11-23
-- Description: Per-user preferences as JSON, filled for existing users, then required
-- depends_on: 001_create_users
-- The file's own BEGIN/COMMIT are fine: nself runs the migration in one transaction with
-- its tracking row either way.

-- UP
BEGIN;

-- Add new column
ALTER TABLE users ADD COLUMN preferences JSONB DEFAULT '{}';

-- Migrate existing data
UPDATE users SET preferences = jsonb_build_object(
  'theme', 'light',
  'notifications', true
) WHERE preferences = '{}';

-- New rows get the same defaults, so the constraint below holds for them too
ALTER TABLE users ALTER COLUMN preferences
  SET DEFAULT '{"theme": "light", "notifications": true}';

-- Add constraint after data migration
ALTER TABLE users ADD CONSTRAINT check_preferences_format
  CHECK (preferences ? 'theme' AND preferences ? 'notifications');

COMMIT;

-- DOWN
BEGIN;
ALTER TABLE users DROP CONSTRAINT check_preferences_format;
ALTER TABLE users DROP COLUMN preferences;
COMMIT;
