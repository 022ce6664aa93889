-- seeds/staging/01_demo_data.sql
-- One demo account and a published post, so a staging deploy has something to show.
-- The demo account cannot log in ('!' is no valid hash): set its password in the app.

INSERT INTO users (id, email, password_hash, display_name, role, email_verified)
VALUES ('44444444-4444-4444-4444-444444444444', 'demo@demo.com', '!', 'Demo User', 'user',
        true)
ON CONFLICT (email) DO NOTHING;

INSERT INTO posts (id, user_id, title, slug, content, status, published_at, category_id)
VALUES ('bbbbbbbb-0000-0000-0000-000000000001',
        (SELECT id FROM users WHERE email = 'demo@demo.com'),
        'Welcome to the demo', 'welcome-to-the-demo', 'This post comes from the staging seeds.',
        'published', '2026-01-24 09:00:00+00',
        (SELECT id FROM categories WHERE slug = 'technology'))
ON CONFLICT (id) DO NOTHING;
