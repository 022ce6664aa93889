CREATE EXTENSION IF NOT EXISTS citext;
CREATE TYPE user_role AS ENUM ('admin', 'moderator', 'user', 'guest');
CREATE TYPE post_status AS ENUM ('draft', 'published', 'archived');
COMMENT ON TYPE post_status IS 'Where a post is';
CREATE DOMAIN positive_int AS integer NOT NULL DEFAULT 1 CONSTRAINT positive CHECK (VALUE > 0);
CREATE SEQUENCE ticket_seq AS integer START WITH 100 INCREMENT BY 5 MAXVALUE 100000 CYCLE;
CREATE TABLE users (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  email varchar(255) NOT NULL UNIQUE,
  password_hash text NOT NULL,
  display_name varchar(100),
  avatar_url text,
  nickname citext,
  role user_role DEFAULT 'user',
  email_verified boolean DEFAULT false,
  created_at timestamptz DEFAULT now(),
  updated_at timestamptz DEFAULT now()
);
COMMENT ON TABLE users IS 'People who sign in';
COMMENT ON COLUMN users.email IS 'Login name; it''s unique';
CREATE INDEX users_created_at_idx ON users (created_at);
CREATE INDEX users_role_idx ON users (role);
CREATE TABLE posts (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  title varchar(255) NOT NULL,
  slug varchar(255) NOT NULL UNIQUE,
  content text,
  status post_status DEFAULT 'draft',
  published_at timestamptz,
  created_at timestamptz DEFAULT now(),
  CONSTRAINT title_not_blank CHECK (length(btrim(title)) > 0)
);
CREATE INDEX posts_user_id_idx ON posts (user_id);
CREATE INDEX posts_published_idx ON posts (published_at DESC) WHERE status = 'published';
CREATE INDEX posts_lower_title_idx ON posts (lower(title)) INCLUDE (slug);
CREATE INDEX posts_slug_hash ON posts USING hash (slug);
CREATE TABLE counters (
  id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  serial_no serial,
  amount numeric(10,2) NOT NULL,
  doubled numeric GENERATED ALWAYS AS (amount * 2) STORED,
  label text COLLATE "C",
  qty positive_int,
  ticket integer DEFAULT nextval('ticket_seq')
);
CREATE TABLE orders (
  region text NOT NULL,
  order_no integer NOT NULL,
  placed daterange,
  PRIMARY KEY (region, order_no),
  CONSTRAINT no_overlap EXCLUDE USING gist (placed WITH &&) DEFERRABLE INITIALLY DEFERRED
);
CREATE TABLE order_lines (
  region text NOT NULL,
  order_no integer NOT NULL,
  line integer NOT NULL,
  PRIMARY KEY (region, order_no, line),
  CONSTRAINT order_lines_order_fk FOREIGN KEY (region, order_no)
    REFERENCES orders (region, order_no) ON UPDATE CASCADE ON DELETE SET NULL (order_no)
);
CREATE TABLE events (
  id bigint NOT NULL,
  happened date NOT NULL,
  payload jsonb,
  PRIMARY KEY (id, happened)
) PARTITION BY RANGE (happened);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE events_rest PARTITION OF events DEFAULT;
CREATE INDEX events_payload_idx ON events USING gin (payload);
CREATE SCHEMA app;
COMMENT ON SCHEMA app IS 'The app''s own';
CREATE TYPE app.mood AS ENUM ('sad', 'happy');
CREATE TABLE app."Audit Log" (
  id bigserial PRIMARY KEY,
  user_id uuid REFERENCES public.users (id),
  mood app.mood,
  at timestamptz NOT NULL DEFAULT now()
);
CREATE VIEW published_posts AS
  SELECT p.id, p.title, u.email FROM posts p JOIN users u ON u.id = p.user_id
  WHERE p.status = 'published';
CREATE VIEW app.recent AS SELECT id, title FROM public.published_posts;
CREATE MATERIALIZED VIEW post_counts AS SELECT user_id, count(*) AS n FROM posts GROUP BY user_id;
COMMENT ON VIEW published_posts IS 'Visible posts';
CREATE FUNCTION touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END $$;
CREATE FUNCTION add(a integer, b integer) RETURNS integer LANGUAGE sql IMMUTABLE
  RETURN a + b;
CREATE TRIGGER users_touch BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
ALTER TABLE posts ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_posts ON posts FOR SELECT USING (user_id = '00000000-0000-0000-0000-000000000000'::uuid);
CREATE COLLATION app.c_copy FROM "C";
CREATE TYPE app.pair AS (a integer, b text);
CREATE UNIQUE INDEX post_counts_user ON post_counts (user_id);
ALTER TABLE order_lines SET (fillfactor = 70);
