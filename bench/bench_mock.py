#!/usr/bin/env python3
"""`nself db mock --users 200000 --posts 800000` on the guides' schema, against its peers
measured in the same run on the same database:

- naive:   Faker + executemany, the way a hand-written script does it (a sample of
           --naive-rows rows; its rows/s is the figure);
- series:  INSERT ... SELECT generate_series, the server making its own rows (and again
           with the indexes and the foreign key dropped and rebuilt around it, by hand:
           the trick mock's bulk path plays, to see what is left of the difference);
- mock:    `nself db mock` as a user runs it (a child process; its wall time, start-up
           and introspection included), and the library call again for where time goes;
- mock, row by row: the same without the bulk path (indexes and foreign keys kept).

The guides' schema, as the repo's migrations 001 and 002 write it: users and posts with
uuid keys (gen_random_uuid() defaults), a unique email (constraint) and a unique slug
(index), two enum columns, the posts -> users foreign key, five more indexes and the
updated_at triggers. Each method starts from empty tables and commits;
a CHECKPOINT runs before each so none pays for another's dirty pages.

    python bench/bench_mock.py [--url postgresql://postgres@127.0.0.1:5432/postgres]
                               [--users 200000 --posts 800000] [--naive-rows 20000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from nself.mock.fill import Loader  # noqa: E402
from nself.mock.plan import build  # noqa: E402
from nself.pg import layout  # noqa: E402
from nself.schema.introspect import introspect  # noqa: E402


def guides_schema() -> str:
    """The guides' users and posts, as the repo's own first two migrations write them."""
    from nself.migrations.files import read_folder

    return "\n".join(m.sections.up.text for m in read_folder(REPO / "migrations")[:2])


EMPTY = "TRUNCATE posts, users; DELETE FROM nself.mock_runs; DELETE FROM nself.mock_counters"

# The server makes its rows: values as close to mock's as SQL makes them cheaply.
SERIES_USERS = """
INSERT INTO users (email, password_hash, display_name, avatar_url, role, email_verified,
                   created_at, updated_at)
SELECT 'user' || i || '@example.com', '$2b$12$' || md5(i::text) || md5((i + 1)::text),
       'User ' || i, 'https://i.pravatar.cc/150?u=' || i,
       (ARRAY['admin', 'moderator', 'user', 'guest'])[1 + (random() * 3)::int]::user_role,
       random() < 0.85, t, t + random() * interval '90 days'
FROM generate_series(1, %(n)s) AS i,
     LATERAL (SELECT timestamptz '2024-01-01' + random() * interval '730 days' AS t) AS x
"""
SERIES_POSTS = """
INSERT INTO posts (user_id, title, slug, content, excerpt, status, published_at, created_at,
                   updated_at)
SELECT u.id, 'Post title ' || i, 'post-title-' || i,
       repeat(md5(i::text) || ' ', 5), 'Excerpt of post ' || i,
       (ARRAY['draft', 'published', 'archived'])[1 + (random() * 2)::int]::post_status,
       t + interval '1 day', t, t + random() * interval '90 days'
FROM generate_series(1, %(n)s) AS i
     JOIN (SELECT id, row_number() OVER () AS rn FROM users) AS u
       ON u.rn = 1 + (i::bigint * 7919) %% %(users)s,
     LATERAL (SELECT timestamptz '2024-01-01' + random() * interval '730 days' AS t) AS x
"""


def naive(conn: psycopg.Connection, rows: int) -> float:
    """Faker + executemany: rows/s over `rows` rows (a fifth users, the rest posts)."""
    from faker import Faker

    fake = Faker()
    Faker.seed(1)
    n_users = max(rows // 5, 1)
    started = time.perf_counter()
    with conn.transaction(), conn.cursor() as cur:
        users = [(fake.unique.email(), fake.sha256(), fake.name(), fake.image_url(),
                  fake.random_element(["admin", "moderator", "user", "guest"]),
                  fake.boolean(), fake.date_time_this_year(tzinfo=None)) for _ in range(n_users)]
        cur.executemany("INSERT INTO users (email, password_hash, display_name, avatar_url, "
                        "role, email_verified, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s) "
                        "RETURNING id", users, returning=True)
        ids = []
        while True:
            ids.append(cur.fetchone()[0])
            if not cur.nextset():
                break
        posts = []
        for _ in range(rows - n_users):
            title = fake.sentence()
            posts.append((fake.random_element(ids), title, fake.unique.slug(), fake.paragraph(),
                          fake.sentence(), fake.random_element(["draft", "published",
                                                                "archived"]),
                          fake.date_time_this_year()))
        cur.executemany("INSERT INTO posts (user_id, title, slug, content, excerpt, status, "
                        "published_at) VALUES (%s, %s, %s, %s, %s, %s, %s)", posts)
    return rows / (time.perf_counter() - started)


# The same trick as mock's bulk path, by hand, for a fair second look at the server alone.
DROP_FOR_BULK = """
ALTER TABLE posts DROP CONSTRAINT posts_user_id_fkey;
DROP INDEX idx_users_role, idx_users_created_at, idx_posts_slug, idx_posts_user_id,
           idx_posts_status, idx_posts_published_at
"""
REBUILD_AFTER_BULK = """
SET LOCAL maintenance_work_mem = '256MB';
CREATE INDEX idx_users_role ON users(role);
CREATE INDEX idx_users_created_at ON users(created_at);
CREATE UNIQUE INDEX idx_posts_slug ON posts(slug);
CREATE INDEX idx_posts_user_id ON posts(user_id);
CREATE INDEX idx_posts_status ON posts(status);
CREATE INDEX idx_posts_published_at ON posts(published_at);
ALTER TABLE posts ADD CONSTRAINT posts_user_id_fkey FOREIGN KEY (user_id) REFERENCES users(id)
"""


def series(conn: psycopg.Connection, users: int, posts: int, bulk: bool = False) -> float:
    started = time.perf_counter()
    with conn.transaction():
        if bulk:
            conn.execute(DROP_FOR_BULK)
        conn.execute(SERIES_USERS, {"n": users})
        conn.execute(SERIES_POSTS, {"n": posts, "users": users})
        if bulk:
            conn.execute(REBUILD_AFTER_BULK)
    return time.perf_counter() - started


def mock_cli(url: str, users: int, posts: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "migrations").mkdir()
        env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(REPO)}
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "nself", "db", "mock", "--users", str(users),
                        "--posts", str(posts), "--seed", "1"], cwd=folder, env=env, check=True,
                       stdout=subprocess.DEVNULL)
        return time.perf_counter() - started


def mock_library(conn: psycopg.Connection, users: int, posts: int, bulk: bool):
    started = time.perf_counter()
    with conn.transaction():
        plan = build(introspect(conn), {"users": users, "posts": posts}, 0, [], 1)
        outcome = Loader(conn, plan, 1, bulk=bulk).run()
    return time.perf_counter() - started, outcome.timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--posts", type=int, default=800_000)
    parser.add_argument("--naive-rows", type=int, default=20_000)
    parser.add_argument("--no-row-by-row", action="store_true",
                        help="skip the run without the bulk path")
    args = parser.parse_args()
    name = "nself_bench_mock"
    base, _, _ = args.url.rpartition("/")
    url = f"{base}/{name}"
    with psycopg.connect(args.url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    total = args.users + args.posts
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(guides_schema())
            layout.ensure(conn)

            def fresh():
                conn.execute(EMPTY)
                conn.execute("CHECKPOINT")

            fresh()
            naive_rate = naive(conn, args.naive_rows)
            fresh()
            series_s = series(conn, args.users, args.posts)
            fresh()
            series_bulk_s = series(conn, args.users, args.posts, bulk=True)
            fresh()
            cli_s = mock_cli(url, args.users, args.posts)
            fresh()
            lib_s, timings = mock_library(conn, args.users, args.posts, bulk=True)
            slow = None
            if not args.no_row_by_row:
                fresh()
                slow = mock_library(conn, args.users, args.posts, bulk=False)
    finally:
        with psycopg.connect(args.url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))
    series_rate = total / series_s
    print(f"rows: {args.users:,} users + {args.posts:,} posts = {total:,}")
    print(f"{'method':<34} {'seconds':>8} {'rows/s':>10} {'vs series':>9}")
    rows = [("naive Faker + executemany (sample)", args.naive_rows / naive_rate, naive_rate),
            ("INSERT ... SELECT generate_series", series_s, series_rate),
            ("  the same, indexes/FK rebuilt after", series_bulk_s, total / series_bulk_s),
            ("nself db mock (CLI, wall)", cli_s, total / cli_s),
            ("mock library call (bulk path)", lib_s, total / lib_s)]
    if slow is not None:
        rows.append(("mock library call (row by row)", slow[0], total / slow[0]))
    for label, seconds, rate in rows:
        print(f"{label:<34} {seconds:>8.1f} {rate:>10,.0f} {rate / series_rate:>8.2f}x")
    print("where the bulk library call's time went (s): "
          + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))
    print("  generate: making rows in Python (overlaps the COPY, which includes it); copy: "
          "COPY until the server has every row; keys: reading parent keys; rebuild: indexes "
          "and FKs built again; record: writing the keys --clear uses")
    if slow is not None:
        print("row by row (s): " + ", ".join(f"{k} {v:.1f}" for k, v in slow[1].items()))


if __name__ == "__main__":
    main()
