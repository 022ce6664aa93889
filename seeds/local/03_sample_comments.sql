-- seeds/local/03_sample_comments.sql
-- A short thread on the first sample post (02_sample_posts.sql).

INSERT INTO comments (id, post_id, user_id, content)
VALUES
  ('cccccccc-0000-0000-0000-000000000001', 'aaaaaaaa-0000-0000-0000-000000000001',
   '33333333-3333-3333-3333-333333333333', 'Does it work with PostgreSQL 15?'),
  ('cccccccc-0000-0000-0000-000000000002', 'aaaaaaaa-0000-0000-0000-000000000001',
   '22222222-2222-2222-2222-222222222222', 'Yes: the tests run on 15 and 18.')
ON CONFLICT (id) DO UPDATE SET
  content = EXCLUDED.content
WHERE comments.content IS DISTINCT FROM EXCLUDED.content;
