-- seeds/local/01_test_users.sql
-- Test users for local development

INSERT INTO users (id, email, password_hash, display_name, role, email_verified)
VALUES
  -- Password for all test users: 'password123' (bcrypt hash)
  ('11111111-1111-1111-1111-111111111111',
   'admin@demo.com',
   '$2b$12$LQv3c1yqBWVHxkd0LHAkCOYz6TtxMQJqhN8/X4c5E5gF6H7I8J9K0',
   'Admin User',
   'admin',
   true),
  ('22222222-2222-2222-2222-222222222222',
   'alice@demo.com',
   '$2b$12$LQv3c1yqBWVHxkd0LHAkCOYz6TtxMQJqhN8/X4c5E5gF6H7I8J9K0',
   'Alice Developer',
   'user',
   true),
  ('33333333-3333-3333-3333-333333333333',
   'bob@demo.com',
   '$2b$12$LQv3c1yqBWVHxkd0LHAkCOYz6TtxMQJqhN8/X4c5E5gF6H7I8J9K0',
   'Bob Tester',
   'user',
   true)
ON CONFLICT (email) DO UPDATE SET
  display_name = EXCLUDED.display_name,
  role = EXCLUDED.role
-- only when something differs: an UPDATE would also move updated_at (its trigger)
WHERE (users.display_name, users.role) IS DISTINCT FROM (EXCLUDED.display_name, EXCLUDED.role);
