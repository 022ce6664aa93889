-- Migration: 005_create_categories
-- Created: 2026-11-23
-- Description: Post categories; a post may have one
-- depends_on: 002_create_posts

-- UP
CREATE TABLE categories (
  id UUID DEFAULT gen_random_uuid() PRIMARY KEY,
  name VARCHAR(255) NOT NULL UNIQUE,
  slug VARCHAR(255) NOT NULL UNIQUE,
  description TEXT,
  created_at TIMESTAMP DEFAULT now() NOT NULL
);

CREATE INDEX idx_categories_created_at ON categories(created_at);

ALTER TABLE posts ADD COLUMN category_id UUID REFERENCES categories(id) ON DELETE SET NULL;
CREATE INDEX idx_posts_category_id ON posts(category_id);

-- DOWN
ALTER TABLE posts DROP COLUMN IF EXISTS category_id;
DROP TABLE IF EXISTS categories;
