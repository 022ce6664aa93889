"""`db mock` against real PostgreSQL: the guides' schema, a schema with every hard case,
reproducible seeds, --clear, safety, a kill mid-run, bad input."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import REPO, table_fingerprint

from nself.mock import checks, words


def guides_schema() -> str:
    """The guides' users and posts, as the repo's own first two migrations write them."""
    from nself.migrations.files import read_folder

    return "\n".join(m.sections.up.text for m in read_folder(REPO / "migrations")[:2])


GUIDES = guides_schema()

RICH = """
CREATE DOMAIN us_zip AS text CHECK (VALUE ~ '^[0-9]{5}$');
CREATE DOMAIN small_count AS integer NOT NULL CHECK (VALUE > 0 AND VALUE < 50);
CREATE TYPE mood AS ENUM ('happy', 'sad', 'ok');
CREATE TABLE tenants (id serial PRIMARY KEY, name text NOT NULL UNIQUE,
                      contact_email text CONSTRAINT email_has_at CHECK (contact_email LIKE '%@%'));
CREATE TABLE accounts (tenant_id int REFERENCES tenants, id int, handle varchar(12) NOT NULL,
                       PRIMARY KEY (tenant_id, id), UNIQUE (tenant_id, handle));
CREATE TABLE projects (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id int NOT NULL, account_id int NOT NULL,
  FOREIGN KEY (tenant_id, account_id) REFERENCES accounts (tenant_id, id),
  code char(2), budget numeric(7,2) CHECK (budget BETWEEN 10 AND 5000),
  status text NOT NULL CHECK (status IN ('open', 'closed')),
  tags text[] NOT NULL, meta jsonb, ip inet, blob bytea, span int4range,
  starts_at timestamptz NOT NULL, ends_at timestamptz NOT NULL, CHECK (starts_at < ends_at),
  title varchar(5) CHECK (length(title) >= 2), zip us_zip, qty small_count, mood mood NOT NULL,
  total numeric GENERATED ALWAYS AS (budget * 2) STORED);
CREATE TABLE categories (id serial PRIMARY KEY, parent_id int REFERENCES categories,
                         name text NOT NULL);
CREATE TABLE authors (id uuid PRIMARY KEY, favourite_book_id uuid);
CREATE TABLE books (id uuid PRIMARY KEY, author_id uuid NOT NULL REFERENCES authors);
ALTER TABLE authors ADD FOREIGN KEY (favourite_book_id) REFERENCES books;
CREATE TABLE eggs (id int PRIMARY KEY, chicken_id int NOT NULL);
CREATE TABLE chickens (id serial PRIMARY KEY,
                       egg_id int NOT NULL REFERENCES eggs DEFERRABLE INITIALLY IMMEDIATE);
ALTER TABLE eggs ADD FOREIGN KEY (chicken_id) REFERENCES chickens DEFERRABLE;
CREATE TABLE book_categories (book_id uuid NOT NULL REFERENCES books,
                              category_id int NOT NULL REFERENCES categories);
CREATE UNIQUE INDEX book_categories_pair ON book_categories (book_id, category_id);
CREATE TABLE events (id bigserial, happened_at timestamptz NOT NULL, kind text NOT NULL,
                     PRIMARY KEY (id, happened_at)) PARTITION BY RANGE (happened_at);
CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE plain_log (line text, at timestamptz);
CREATE TABLE profiles (id serial PRIMARY KEY, preferences jsonb NOT NULL DEFAULT '{}',
                       CHECK (preferences ? 'theme' AND preferences ? 'notifications'));
"""
RICH_TABLES = ["tenants", "accounts", "projects", "categories", "authors", "books", "eggs",
               "chickens", "book_categories", "events", "plain_log", "profiles"]


def schema(project, text: str) -> None:
    with project.db.connect() as conn:
        conn.execute(text)


def count(project, table: str) -> int:
    return project.db.scalar(f"SELECT count(*) FROM {table}")


def test_guides_schema(project):
    """The guides' line fills users and posts with realistic, valid rows."""
    schema(project, GUIDES)
    result = project.run("db", "mock", "--users", "100", "--posts", "500")
    assert result.code == 0, result
    assert "Inserted 600 rows" in result.out
    assert (count(project, "users"), count(project, "posts")) == (100, 500)
    db = project.db
    assert db.scalar("SELECT count(DISTINCT user_id) FROM posts") > 50
    assert db.scalar("SELECT count(*) FROM users WHERE email !~ '^[a-z]+\\.[a-z]+[0-9a-f]+@'") == 0
    assert db.scalar("SELECT count(*) FROM users WHERE display_name !~ '^[A-Z][a-z]+ [A-Z]'") == 0
    assert db.scalar("SELECT count(DISTINCT role) FROM users") >= 2
    assert db.scalar("SELECT count(DISTINCT status) FROM posts") == 3
    assert db.scalar("SELECT count(*) FROM posts WHERE updated_at < created_at") == 0
    assert db.scalar("SELECT count(*) FROM posts WHERE published_at < created_at") == 0
    assert db.scalar("SELECT count(*) FROM users WHERE password_hash NOT LIKE '$2b$12$%'") == 0
    assert db.scalar("SELECT count(*) FROM posts WHERE slug !~ '^[a-z-]+-[0-9a-f]+$'") == 0
    assert db.scalar("SELECT min(length(content)) FROM posts") > 20


def test_help_and_flag_forms(project):
    """--help still helps; `--users=3` and `--users 3` are the same; --rows merges."""
    schema(project, GUIDES)
    helped = project.run("db", "mock", "--help")
    assert helped.code == 0 and "--keep-defaults" in helped.out, helped
    result = project.run("db", "mock", "--users=3", "--posts", "4", "--rows", "users=5",
                         "--count", "0")
    assert result.code == 0, result
    assert (count(project, "users"), count(project, "posts")) == (3, 4)


def test_invoke_form_and_default_count(project):
    """`--rows users=3,posts=4` is the invoke form; other tables get --count rows."""
    schema(project, GUIDES + "CREATE TABLE notes (body text);")
    result = project.run("db.mock", "--rows", "users=3,posts=4", "--count", "2")
    assert result.code == 0, result
    assert [count(project, t) for t in ("users", "posts", "notes")] == [3, 4, 2]


def test_keep_defaults(project):
    """--keep-defaults leaves defaulted columns to their defaults, keys still made by mock."""
    schema(project, GUIDES)
    assert project.run("db", "mock", "--users", "20", "--posts", "40", "--keep-defaults",
                       "--seed", "1").code == 0
    db = project.db
    assert db.query("SELECT DISTINCT role::text, email_verified FROM users") == [("user", False)]
    assert db.scalar("SELECT count(DISTINCT status) FROM posts") == 1
    assert db.scalar("SELECT count(*) FROM posts p JOIN users u ON u.id = p.user_id") == 40
    assert db.scalar("SELECT count(DISTINCT id) FROM users WHERE id::text LIKE '018cc251-%'") \
        == 20


def test_every_hard_case(project):
    """Composite and self-referencing FKs, nullable and deferrable cycles, a unique index of
    foreign keys, CHECKs, arrays, jsonb, domains and a partitioned table fill in one run;
    an unsolved CHECK is named first; --clear then empties them all."""
    schema(project, RICH)
    result = project.run("db", "mock", "--count", "30")
    assert result.code == 0, result
    assert "email_has_at" in result.err and "us_zip" in result.err
    for table in RICH_TABLES:
        assert count(project, table) == 30, table
    db = project.db
    assert db.scalar("SELECT count(parent_id) FROM categories") > 0
    assert db.scalar("SELECT count(favourite_book_id) FROM authors") > 0
    assert db.scalar("SELECT count(*) FROM events_2024") > 0
    assert db.scalar("SELECT count(*) FROM events_2025") > 0
    assert db.scalar("SELECT count(DISTINCT tenant_id) FROM projects") > 1
    assert db.scalar("SELECT count(*) FROM projects WHERE cardinality(tags) >= 1") == 30
    assert db.scalar("SELECT count(*) FROM projects WHERE total = budget * 2") > 0
    cleared = project.run("db", "mock", "--clear")
    assert cleared.code == 0, cleared
    for table in RICH_TABLES:
        assert count(project, table) == 0, table


EDGES = """
CREATE SCHEMA app;
CREATE TYPE app.color AS ENUM ('red', 'green');
CREATE DOMAIN int_list AS integer[];
CREATE TABLE only_id (id serial PRIMARY KEY);
CREATE TABLE "My Table" ("Full Name" text, "ID" int PRIMARY KEY, "firstName" text);
CREATE TABLE app.items (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                        owner int REFERENCES "My Table" ("ID"), colors app.color[],
                        flag boolean UNIQUE);
CREATE TABLE types (m money, iv interval, t time, tz timetz, ts tsvector, p point,
  mac macaddr, c cidr, b bit(3), vb varbit(5), r8 int8range, nr numrange, dr daterange,
  n numeric, re real, d double precision, s smallint CHECK (s BETWEEN -5 AND 5), ch char(1),
  qc "char", tags text[], nums integer[], ids uuid[], js jsonb[], dates date[], il int_list,
  code varchar(3) UNIQUE);
CREATE TABLE bookings (id serial PRIMARY KEY, room int NOT NULL, during tstzrange NOT NULL,
                       EXCLUDE USING gist (room WITH =, during WITH &&));
CREATE TABLE listed (id serial, region text NOT NULL, PRIMARY KEY (id, region))
  PARTITION BY LIST (region);
CREATE TABLE listed_eu PARTITION OF listed FOR VALUES IN ('eu', 'uk');
CREATE TABLE listed_us PARTITION OF listed FOR VALUES IN ('us');
CREATE TABLE refs_unique (id serial PRIMARY KEY, item_flag boolean REFERENCES app.items (flag));
"""


def test_types_names_and_small_keys(project):
    """Every built-in type family, quoted and camelCase names, another schema, an exclusion
    constraint, LIST partitions, a table of defaults only; a unique boolean holds 2 rows."""
    schema(project, "CREATE EXTENSION IF NOT EXISTS btree_gist;" + EDGES)
    result = project.run("db", "mock", "--count", "40")
    assert result.code == 0, result
    assert "only 2 distinct (flag) combinations" in result.err
    assert "cannot solve" not in result.err
    for table, rows in [("only_id", 40), ('"My Table"', 40), ("app.items", 2), ("types", 40),
                        ("bookings", 40), ("listed", 40), ("refs_unique", 40)]:
        assert count(project, table) == rows, table
    db = project.db
    assert db.scalar("SELECT count(*) FROM listed_us") > 0
    assert db.scalar("""SELECT count(*) FROM "My Table" WHERE "firstName" !~ '^[A-Z][a-z]+$'
                        AND "firstName" IS NOT NULL""") == 0
    assert db.scalar("SELECT count(DISTINCT code) FROM types") == 40
    assert project.run("db", "mock", "--clear").code == 0
    assert count(project, "types") + count(project, "app.items") == 0


def test_hard_cycle_refused(project):
    """A cycle of NOT NULL, non-deferrable FKs is an error naming the tables; nothing goes in."""
    schema(project, """
        CREATE TABLE a (id int PRIMARY KEY, b_id int NOT NULL);
        CREATE TABLE b (id int PRIMARY KEY, a_id int NOT NULL REFERENCES a);
        ALTER TABLE a ADD FOREIGN KEY (b_id) REFERENCES b;
        CREATE TABLE c (id int PRIMARY KEY);""")
    result = project.run("db", "mock")
    assert result.code == 2, result
    assert "Cannot fill a, b" in result.err and "--skip a,b" in result.err
    assert count(project, "c") == 0
    assert project.run("db", "mock", "--skip", "a,b").code == 0
    assert (count(project, "a"), count(project, "c")) == (0, 100)


def test_unsatisfied_check_names_the_way_out(project):
    """A CHECK mock cannot solve and its rows break is named, with --skip; nothing stays."""
    schema(project, """CREATE TABLE codes (id serial PRIMARY KEY,
                                           code text NOT NULL CHECK (code ~ '^[0-9]+$'));
                       CREATE TABLE other (id serial PRIMARY KEY);""")
    result = project.run("db", "mock")
    assert result.code == 1, result
    assert "cannot solve constraint codes" in result.err and "--skip codes" in result.err
    assert count(project, "other") == 0


def test_unknown_type_names_column(project):
    """A column type mock cannot make is named with the --skip way out."""
    schema(project, """CREATE TYPE pair AS (x int, y int);
                       CREATE TABLE shapes (id serial PRIMARY KEY, corner pair);
                       CREATE TABLE other (id serial PRIMARY KEY, v text);""")
    result = project.run("db", "mock")
    assert result.code == 2, result
    assert "shapes.corner" in result.err and "--skip shapes" in result.err
    assert count(project, "other") == 0
    assert project.run("db", "mock", "--skip", "shapes").code == 0
    assert count(project, "other") == 100


def test_seed_reproducible(project, monkeypatch):
    """The same seed on the same schema gives the same rows; another seed other rows."""
    schema(project, GUIDES + RICH)
    sibling = project.db.create_sibling()
    with sibling.connect() as conn:
        conn.execute(GUIDES + RICH)
    assert project.run("db", "mock", "--count", "20", "--seed", "7").code == 0
    monkeypatch.setenv("DATABASE_URL", sibling.url)
    assert project.run("db", "mock", "--count", "20", "--seed", "7").code == 0
    tables = ["users", "posts", "accounts", "projects", "book_categories", "plain_log"]
    assert [table_fingerprint(project.db, t) for t in tables] == [table_fingerprint(sibling, t)
                                                            for t in tables]
    assert project.run("db", "mock", "--clear").code == 0
    assert project.run("db", "mock", "--count", "20", "--seed", "8").code == 0
    assert table_fingerprint(project.db, "users") != table_fingerprint(sibling, "users")
    # after --clear, the same seed gives the same rows again
    assert project.run("db", "mock", "--clear").code == 0
    assert project.run("db", "mock", "--count", "20", "--seed", "7").code == 0
    assert table_fingerprint(project.db, "users") == table_fingerprint(sibling, "users")


def test_binary_and_text_formats_agree(project, monkeypatch):
    """Tables sent in COPY's binary format get exactly the rows the text format gives."""
    from nself.mock import binary

    schema(project, GUIDES)
    sibling = project.db.create_sibling()
    with sibling.connect() as conn:
        conn.execute(GUIDES)
    assert project.run("db", "mock", "--count", "300", "--seed", "3").code == 0
    monkeypatch.setattr(binary, "encoder", lambda *a: None)
    monkeypatch.setenv("DATABASE_URL", sibling.url)
    assert project.run("db", "mock", "--count", "300", "--seed", "3").code == 0
    for table in ("users", "posts"):
        assert table_fingerprint(project.db, table) == table_fingerprint(sibling, table)


def test_clear_keeps_other_rows(project):
    """--clear removes mock's rows only (seed rows stay); twice is harmless."""
    schema(project, GUIDES + "CREATE TABLE log (line text);")
    project.db.query("""
        INSERT INTO users (id, email, password_hash, display_name)
        VALUES ('11111111-1111-1111-1111-111111111111', 'admin@demo.com', 'x', 'Admin');
        INSERT INTO posts (user_id, title, slug)
        VALUES ('11111111-1111-1111-1111-111111111111', 'Hello', 'hello');
        INSERT INTO log VALUES ('seeded');""")
    assert project.run("db", "mock", "--count", "50").code == 0
    assert project.run("db", "mock", "--count", "5").code == 0
    assert (count(project, "users"), count(project, "log")) == (56, 56)
    result = project.run("db", "mock", "--clear")
    assert result.code == 0, result
    assert "Removed 165 mock rows" in result.out
    assert project.db.query("SELECT email FROM users") == [("admin@demo.com",)]
    assert project.db.query("SELECT slug FROM posts") == [("hello",)]
    assert project.db.query("SELECT line FROM log") == [("seeded",)]
    again = project.run("db", "mock", "--clear")
    assert again.code == 0 and "Nothing to clear" in again.out


def test_blocked_outside_local(project, monkeypatch):
    """Blocked in production and staging, and on a database recorded as production."""
    schema(project, GUIDES)
    for env in ("production", "staging"):
        monkeypatch.setenv("ENV", env)
        result = project.run("db", "mock")
        assert result.code == 3 and "blocked" in result.err, result
        assert project.run("db", "mock", "--clear").code == 3
    monkeypatch.delenv("ENV")
    project.db.query("CREATE SCHEMA nself; CREATE TABLE nself.meta (key text PRIMARY KEY, "
                     "value text NOT NULL); INSERT INTO nself.meta VALUES "
                     "('environment', 'production')")
    result = project.run("db", "mock")
    assert result.code == 3 and "recorded as production" in result.err, result
    assert count(project, "users") == 0


def test_too_many_for_a_short_unique_column(project):
    """A unique varchar(2) cannot hold 1,000 values: exit 2 naming it, nothing inserted."""
    schema(project, "CREATE TABLE codes (code varchar(2) PRIMARY KEY);"
                    "CREATE TABLE other (id serial PRIMARY KEY);")
    result = project.run("db", "mock", "--codes", "1000")
    assert result.code == 2, result
    assert "codes: code holds 2 characters" in result.err and "--skip codes" in result.err
    assert count(project, "other") + count(project, "codes") == 0
    assert project.run("db", "mock", "--codes", "200").code == 0


@pytest.mark.parametrize("argv, message", [
    (["--nosuch", "5"], "Unknown table 'nosuch'"),
    (["--users", "abc"], "must be a whole number"),
    (["--users", "-1"], "0 or more"),
    (["--rows", "users"], "TABLE=COUNT"),
    (["--seed", "x"], "--seed needs a whole number"),
    (["--clear", "--users", "3"], "takes no counts"),
    (["--yes"], "`nself db mock` has no --yes flag"),  # once "row count for yes ... ''"
    (["--users", "3", "--confirm", "yes-destroy-production"], "has no --confirm flag"),
    (["--users"], "--users needs a row count"),
])
def test_bad_input(project, argv, message):
    """Bad names and counts are exit 2 before anything is inserted."""
    schema(project, GUIDES)
    result = project.run("db", "mock", *argv)
    assert result.code == 2, result
    assert message in result.err and "Traceback" not in result.err
    assert count(project, "users") == 0


@pytest.mark.parametrize("sig, code", [(signal.SIGKILL, -9), (signal.SIGTERM, 130)])
def test_kill_mid_run_leaves_nothing(project, sig, code):
    """A run killed while rows stream in leaves no mock row and no record."""
    schema(project, GUIDES)
    env = {**os.environ, "DATABASE_URL": project.db.url}
    proc = subprocess.Popen([sys.executable, "-m", "nself", "db", "mock", "--users", "100000",
                             "--posts", "400000"], cwd=project.root, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if project.db.scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                             "current_database() AND query LIKE 'COPY%%'"):
            break
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.05)
    proc.send_signal(sig)
    assert proc.wait(timeout=60) == code
    deadline = time.monotonic() + 30
    while project.db.scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                            "current_database() AND pid <> pg_backend_pid()") and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    assert (count(project, "users"), count(project, "posts")) == (0, 0)
    assert project.db.scalar("SELECT to_regclass('nself.mock_rows')") is None


def test_progress_on_terminal(project):
    """On a terminal a bar shows rows per second; the summary line stays."""
    from tests.conftest import run_on_terminal

    schema(project, GUIDES)
    result = run_on_terminal(project.root, "db", "mock", "--users", "30000", "--posts", "0")
    assert result.code == 0, result
    assert "Inserting (" in result.out and "rows/s)" in result.out, result.out[-500:]
    assert "Inserted 30,000 rows" in result.out


@pytest.mark.parametrize("definition, column, expected", [
    ("CHECK ((status = ANY (ARRAY['a'::text, 'b'::text])))", "status",
     {"choices": ["a", "b"]}),
    ("CHECK (((age >= 18) AND (age <= 120)))", "age", {"low": 18, "high": 120}),
    ("CHECK ((length((name)::text) >= 3))", "name", {"min_length": 3}),
    ("CHECK (((price > (0)::numeric) OR (price IS NOT NULL)))", "price", {"not_null": True}),
])
def test_check_solving(definition, column, expected):
    """Checks PostgreSQL prints back become column restrictions."""
    restriction = checks.solve(definition).columns[column]
    for key, value in expected.items():
        assert getattr(restriction, key) == value


def test_check_pairs_and_unsolved():
    """`a < b` is an ordered pair; a regex is unsolved."""
    assert checks.solve("CHECK ((starts_at < ends_at))").pairs == [("starts_at", "ends_at", True)]
    with pytest.raises(checks.Unsolved):
        checks.solve("CHECK ((email ~ '@'::text))")


def test_word_lists_are_the_snapshot():
    """The word lists read from nself/mock/data are exactly those every seed was made with."""
    names = ["CITIES", "COMPANIES", "COUNTRIES", "COUNTRY_CODES", "EMAIL_DOMAINS",
             "FIRST_NAMES", "JOBS", "LAST_NAMES", "STATES", "STREETS", "WORDS"]
    lists = repr([getattr(words, name) for name in names]).encode()
    assert hashlib.sha256(lists).hexdigest() == (
        "eca93a03cb213dad704715fed766df638c22af8e78f86be5e229a7e2d8f8972d")


WORDY = """CREATE TABLE people (id int PRIMARY KEY, first_name text NOT NULL,
  last_name text NOT NULL, email text NOT NULL, city text NOT NULL, street text NOT NULL,
  company text NOT NULL, job text NOT NULL, country text NOT NULL, country_code text NOT NULL,
  state text NOT NULL, bio text NOT NULL)"""


def test_seed_gives_the_rows_it_always_gave(project):
    """A seed's rows from the word lists stay what they were (the lists are a fixed snapshot)."""
    schema(project, WORDY)
    assert project.run("db", "mock", "--count", "3", "--seed", "5").code == 0
    rows = project.db.query("SELECT first_name, last_name, email, city, street, company, job,"
                            " country, country_code, state, left(bio, 26) FROM people ORDER BY id")
    assert rows == [
        ("Darrell", "Franco", "darrell.franco@example.com", "South Patriciastad",
         "4304 Mark Center", "Schaefer-Shields", "Printmaker", "Benin", "JM", "Michigan",
         "Focus practice push age. P"),
        ("Ebony", "Fuller", "ebony.fuller@gmail.com", "West Nicolefurt", "3972 Cheryl Curve",
         "Thomas PLC", "Producer, television/film/video", "Kiribati", "ML", "California",
         "Operation that today natur"),
        ("Kerry", "Hanna", "kerry.hanna@example.com", "Adkinsville", "5720 Simmons Alley",
         "Martinez LLC", "Patent examiner", "United States of America", "AU", "Iowa",
         "Change stop piece event. H")]
