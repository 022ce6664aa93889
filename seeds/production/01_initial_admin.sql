-- seeds/production/01_initial_admin.sql
-- Production bootstrap: the first admin account, created once and never overwritten.
-- It cannot log in ('!' is no valid hash): set its password through the application's
-- password reset. Change the e-mail address before the first production seed.

INSERT INTO users (email, password_hash, display_name, role, email_verified)
VALUES ('admin@example.com', '!', 'Administrator', 'admin', true)
ON CONFLICT (email) DO NOTHING;
