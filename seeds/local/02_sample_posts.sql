-- seeds/local/02_sample_posts.sql
-- Sample posts by the test users (01_test_users.sql), in the default categories.

INSERT INTO posts (id, user_id, title, slug, content, excerpt, status, published_at,
                   category_id)
VALUES
  ('aaaaaaaa-0000-0000-0000-000000000001', '22222222-2222-2222-2222-222222222222',
   'Hello, nself', 'hello-nself', 'Migrations, seeds and backups in one tool.',
   'Migrations, seeds and backups.', 'published', '2026-01-20 10:00:00+00',
   (SELECT id FROM categories WHERE slug = 'technology')),
  ('aaaaaaaa-0000-0000-0000-000000000002', '22222222-2222-2222-2222-222222222222',
   'Working as a team', 'working-as-a-team', 'Pull, then `nself db update`.',
   NULL, 'draft', NULL,
   (SELECT id FROM categories WHERE slug = 'business')),
  ('aaaaaaaa-0000-0000-0000-000000000003', '33333333-3333-3333-3333-333333333333',
   'Testing notes', 'testing-notes', 'Every seed runs twice without a change.',
   NULL, 'published', '2026-01-21 14:15:00+00',
   (SELECT id FROM categories WHERE slug = 'lifestyle'))
ON CONFLICT (id) DO UPDATE SET
  title = EXCLUDED.title,
  slug = EXCLUDED.slug,
  content = EXCLUDED.content,
  excerpt = EXCLUDED.excerpt,
  status = EXCLUDED.status,
  published_at = EXCLUDED.published_at,
  category_id = EXCLUDED.category_id
WHERE (posts.title, posts.slug, posts.content, posts.excerpt, posts.status,
       posts.published_at, posts.category_id)
  IS DISTINCT FROM (EXCLUDED.title, EXCLUDED.slug, EXCLUDED.content, EXCLUDED.excerpt,
                    EXCLUDED.status, EXCLUDED.published_at, EXCLUDED.category_id);
