-- seeds/common/01_categories.sql
-- The default post categories, in every environment (common/ runs first).
-- Idempotent: a second run changes nothing (the WHERE skips rows already equal).

INSERT INTO categories (name, slug, description)
VALUES
  ('Technology', 'technology', 'Technology related posts'),
  ('Business', 'business', 'Business and entrepreneurship'),
  ('Lifestyle', 'lifestyle', 'Lifestyle and personal development')
ON CONFLICT (slug) DO UPDATE SET
  name = EXCLUDED.name,
  description = EXCLUDED.description
WHERE (categories.name, categories.description)
  IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.description);
