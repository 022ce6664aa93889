"""`schema import` on large schemas (issue 17, "Speed on large schemas"): each mechanism
that makes it faster is checked here for giving what the slow way gives. No time is
asserted (bench/bench_schema.py measures)."""

from __future__ import annotations

import pickle
import textwrap
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
from test_schema_import import _shadows

from nself.schema import dbml, parse_cache
from nself.schema.dbml import DbmlError, parse_dbml_document

SMALL_DBML = """
Project p {
  database_type: 'PostgreSQL'
}

Enum status {
  active
  gone
}

Table users as u {
  id bigint [pk]
  email varchar(255) [not null, unique]
  state status [default: 'active']
  created_at timestamptz [default: `now()`]

  indexes {
    created_at
    (email, state) [unique, name: 'users_email_state']
  }
}

Table posts {
  id bigint [pk]
  user_id bigint [ref: > u.id]
  title text [note: 'a tab\there']
}
"""


def _parse(text: str = SMALL_DBML):
    return parse_dbml_document(textwrap.dedent(text), "schema.dbml")


# ------------------------------------------------------------------------- parse cache

def test_the_parse_cache_gives_what_a_fresh_parse_gives(tmp_path):
    fresh = _parse()
    with parse_cache.using(tmp_path) as cold:
        first = _parse()
    assert cold.misses == 4 and cold.hits == 0  # Project, Enum, 2 tables
    assert (tmp_path / parse_cache.NAME).is_file()
    with parse_cache.using(tmp_path) as warm:
        second = _parse()
    assert warm.misses == 0 and warm.hits == 4
    assert fresh.schema == first.schema == second.schema
    assert fresh.warnings == second.warnings and fresh.places == second.places


def test_an_edited_block_is_read_again_and_only_it(tmp_path):
    with parse_cache.using(tmp_path):
        _parse()
    edited = SMALL_DBML.replace("  title text", "  title text\n  body jsonb")
    with parse_cache.using(tmp_path) as cache:
        document = _parse(edited)
    assert cache.misses == 1 and cache.hits == 3
    posts = document.schema.table("public.posts")
    assert [c.name for c in posts.columns] == ["id", "user_id", "title", "body"]
    # and back: the earlier text is still known
    with parse_cache.using(tmp_path) as cache:
        assert _parse().schema.table("public.posts").column("body") is None
    assert cache.misses == 0


def test_each_lookup_is_a_copy_of_its_own(tmp_path):
    with parse_cache.using(tmp_path) as cache:
        one = cache.parse("Table t {\n  id int\n}", parse_cache_parse)
        one.columns[0].name = "changed"
        two = cache.parse("Table t {\n  id int\n}", parse_cache_parse)
    assert cache.hits == 1 and two.columns[0].name == "id"


def parse_cache_parse(text: str):
    return dbml._parse_block_text(text)


def test_the_cache_is_thrown_away_when_what_shapes_it_changes(tmp_path, monkeypatch):
    with parse_cache.using(tmp_path):
        _parse()
    real = parse_cache.fingerprint(dbml.__file__)
    assert real == parse_cache.fingerprint(dbml.__file__)
    # another grammar (dbml.py's text), or another nself, pydbml, pyparsing or Python
    copy = tmp_path / "dbml.py"
    copy.write_text(Path(dbml.__file__).read_text() + "\n# changed\n")
    assert parse_cache.fingerprint(str(copy)) != real
    monkeypatch.setattr(parse_cache, "_version", lambda package: "0.0-other")
    assert parse_cache.fingerprint(dbml.__file__) != real
    with parse_cache.using(tmp_path) as cache:
        _parse()
    assert cache.hits == 0 and cache.misses == 4


@pytest.mark.parametrize("content", [b"", b"not a pickle", pickle.dumps(["a", "list"]),
                                     pickle.dumps(("key", "not a dict"))],
                         ids=["empty", "not a pickle", "a list", "no entries"])
def test_a_damaged_cache_is_ignored_and_replaced(tmp_path, content):
    (tmp_path / parse_cache.NAME).write_bytes(content)
    with parse_cache.using(tmp_path) as cache:
        document = _parse()
    assert cache.misses == 4 and document.schema == _parse().schema
    with parse_cache.using(tmp_path) as cache:
        _parse()
    assert cache.hits == 4


def test_a_cache_that_is_a_folder_or_a_link_is_not_read(tmp_path):
    with parse_cache.using(tmp_path / "real"):
        _parse()
    (tmp_path / "linked").mkdir()
    (tmp_path / "linked" / parse_cache.NAME).symlink_to(tmp_path / "real" / parse_cache.NAME)
    with parse_cache.using(tmp_path / "linked") as cache:
        _parse()
    assert cache.hits == 0
    (tmp_path / "dir" / parse_cache.NAME).mkdir(parents=True)
    with parse_cache.using(tmp_path / "dir") as cache:   # and it cannot be written: no error
        _parse()
    assert cache.misses == 4


def test_a_block_with_a_syntax_error_is_reported_every_time(tmp_path):
    with parse_cache.using(tmp_path):
        _parse()
    bad = SMALL_DBML.replace("  title text", "  title text [nonsense: ]")
    for _ in range(2):
        with pytest.raises(DbmlError) as caught, parse_cache.using(tmp_path) as cache:
            _parse(bad)
        assert "schema.dbml:" in str(caught.value)
        assert cache.hits == 3 and cache.misses == 1   # the bad block, parsed again


def test_import_keeps_the_cache_in_the_state_folder_and_sees_each_edit(project):
    project.write("schema.dbml", SMALL_DBML)
    first = project.run("db", "schema", "import", "--dry-run")
    assert first.code == 0, first
    assert (project.root / ".nself" / parse_cache.NAME).is_file()
    assert "body" not in first.out
    project.write("schema.dbml", SMALL_DBML.replace("  title text", "  title text\n  body jsonb"))
    second = project.run("db", "schema", "import", "--dry-run")
    assert second.code == 0, second
    assert "body jsonb" in second.out


# ------------------------------------- NEW read from shadow A, not built in a shadow of its own

BASE_SQL = """
CREATE TYPE state AS ENUM ('new', 'active', 'gone');
CREATE TABLE users (id bigint PRIMARY KEY, email varchar(255) NOT NULL,
                    state state DEFAULT 'new', score integer DEFAULT 0, body text);
CREATE UNIQUE INDEX users_email ON users (email);
CREATE TABLE posts (id bigint PRIMARY KEY, user_id bigint REFERENCES users,
                    title text NOT NULL, created_at timestamptz DEFAULT now());
CREATE INDEX posts_created ON posts (created_at);
"""

ENUM = """
Enum state {
  new
  active
  gone
}
"""

USERS = """
Table users {
  id bigint [pk]
  email varchar(255) [not null]
  state state [default: 'new']
  score integer [default: 0]
  body text
  indexes {
    email [unique, name: 'users_email']
  }
}
"""

POSTS = """
Table posts {
  id bigint [pk]
  user_id bigint [ref: > users.id]
  title text [not null]
  created_at timestamptz [default: `now()`]
  indexes {
    created_at [name: 'posts_created']
  }
}
"""

COMMENTS = """
Table comments {
  id bigint [pk]
  post_id bigint [not null, ref: > posts.id]
  state state [default: 'new']
  indexes {
    post_id [name: 'comments_post']
  }
}
"""


def _base_dbml(changed: bool = False) -> str:
    """BASE_SQL as DBML; CHANGED: a column dropped and one added, a type changed, an
    index dropped."""
    if not changed:
        return ENUM + USERS + POSTS
    users = USERS.replace("score integer", "score numeric(12,2)").replace(
        "  body text", "  extra jsonb")
    posts = POSTS.replace("  indexes {\n    created_at [name: 'posts_created']\n  }\n", "")
    assert users != USERS and posts != POSTS
    return ENUM + users + posts


# (what, DBML): changes from BASE_SQL of the kinds a designer makes
EDITS = [("new table", ENUM + USERS + POSTS + COMMENTS),
         ("changed tables", _base_dbml(changed=True))]


def _generate(project, text: str, plain: bool, monkeypatch):
    """importer.generate on TEXT; PLAIN: NEW built in a shadow of its own (as before
    issue 17). Returns (the result, how many shadows were made)."""
    from nself.config import Environment
    from nself.schema import derive, importer
    from nself.schema import shadow as shadow_module

    project.write("schema.dbml", text)
    made = []
    real_create = shadow_module.Shadows.create

    def counted(self):
        made.append(1)
        return real_create(self)

    with monkeypatch.context() as patch:
        patch.setattr(shadow_module.Shadows, "create", counted)
        if plain:
            patch.setattr(derive, "derived", lambda *args: None)
        result = importer.generate(Environment.load(), project.root / "schema.dbml", None,
                                   lambda text: None)
    return result, len(made)


def _same(one, two) -> None:
    assert [(p.up, p.down, p.autocommit) for p in one.parts] == \
        [(p.up, p.down, p.autocommit) for p in two.parts]
    assert one.plan.summary() == two.plan.summary()
    assert one.warnings == two.warnings


@pytest.mark.parametrize("what, text", EDITS, ids=[e[0] for e in EDITS])
def test_new_read_from_shadow_a_gives_the_migration_a_built_new_gives(project, monkeypatch,
                                                                       what, text):
    project.migration("001_base.sql", BASE_SQL, "DROP TABLE posts, users; DROP TYPE state;")
    derived, shadows = _generate(project, text, False, monkeypatch)
    built, built_shadows = _generate(project, text, True, monkeypatch)
    assert not derived.empty, what
    _same(derived, built)
    # the replay's only, no shadow for NEW; then the replay kept by the first, and NEW's
    assert shadows == 1 and built_shadows >= 1
    # and what it wrote works: migrate up, then nothing left to import, then down
    assert project.run("db", "migrate", "up").code == 0
    project.write("schema.dbml", text)
    applied = project.run("db", "schema", "import", "--name", "edit")
    assert applied.code == 0 and "No schema changes" not in applied.out, applied
    assert project.run("db", "migrate", "up").code == 0
    again = project.run("db", "schema", "import", "--dry-run")
    assert again.code == 0 and "No schema changes" in again.out, again
    assert project.run("db", "migrate", "down", "--steps", "2").code == 0
    assert project.db.tables() == []


@pytest.mark.parametrize("where", ["middle", "end", "expression"])
def test_what_shadow_a_cannot_show_as_the_file_says_is_built_the_plain_way(
        project, monkeypatch, where):
    """A column the file puts before others comes last in A (ALTER TABLE adds it at the
    end), and an expression PostgreSQL prints otherwise (`now() + interval '1 day'` is
    `(now() + '1 day'::interval)`): NEW is built in a shadow of its own, to keep the file's
    order and PostgreSQL's spelling. A literal default (`'post'` on varchar) is read as
    PostgreSQL prints it already: NEW from A. Every way, the same migration."""
    project.migration("001_base.sql", BASE_SQL, "DROP TABLE posts, users; DROP TYPE state;")
    after = ("title text [not null]" if where == "middle"
             else "created_at timestamptz [default: `now()`]")
    column = ("due timestamptz [default: `now() + interval '1 day'`]" if where == "expression"
              else "kind varchar(20) [default: 'post']")
    text = _base_dbml().replace(after, after + "\n  " + column)
    derived, shadows = _generate(project, text, False, monkeypatch)
    built, _ = _generate(project, text, True, monkeypatch)
    _same(derived, built)
    if where == "expression":
        assert shadows >= 2 and "'1 day'::interval" in derived.parts[0].up
        return
    assert "DEFAULT 'post'::character varying" in derived.parts[0].up
    if where == "middle":
        assert shadows >= 2 and any("column order" in x for x in derived.plan.summary())
    else:
        assert shadows == 1


def test_shadow_a_holds_the_migrations_schema_again_after_reading_new(project):
    from nself.config import Environment
    from nself.schema import derive
    from nself.schema import shadow as shadow_module
    from nself.schema.diff import diff
    from nself.schema.introspect import introspect

    project.migration("001_base.sql", BASE_SQL, "DROP TABLE posts, users; DROP TYPE state;")
    project.write("schema.dbml", _base_dbml(changed=True))
    env = Environment.load()
    desired = parse_dbml_document((project.root / "schema.dbml").read_text(), "x").schema
    with shadow_module.shadows(env, lambda text: None) as shadows:
        a = shadows.create()
        shadow_module.replay(env, a)
        old = introspect(a.conn)
        new = derive.derived(a, old, desired, {})
        assert new is not None and diff(new, desired).empty and not diff(old, new).empty
        assert diff(introspect(a.conn), old).empty
        # a change PostgreSQL refuses (a type that does not exist): None, A unchanged
        users = desired.table("public.users")
        columns = [replace(c, type="nosuch") if c.name == "extra" else c
                   for c in users.columns]
        refused = replace(desired, tables=[replace(t, columns=columns) if t is users else t
                                           for t in desired.tables])
        assert derive.derived(a, old, refused, {}) is None
        assert diff(introspect(a.conn), old).empty


# ------------------------------------------------------------- shadows dropped in the background

def test_released_shadows_are_gone_when_the_block_ends(project):
    from nself.config import Environment
    from nself.schema import shadow as shadow_module

    said = []
    with shadow_module.shadows(Environment.load(), said.append) as shadows:
        kept = shadows.create()
        with shadows.scratch():
            one, two = shadows.create(), shadows.create()
        assert one.conn.closed and two.conn.closed and not kept.conn.closed
        assert shadows.made == [kept] and len(shadows.dropping) == 2
        assert kept.name in _shadows(project.db)   # still in use
    assert _shadows(project.db) == [] and said == []
    assert not any(t.is_alive() for t in shadows.dropping)


def test_an_import_that_builds_new_leaves_no_shadow(project):
    """The plain way (NEW built in shadows of their own, released once read) through the
    command: when it exits, no shadow is left."""
    project.migration("001_base.sql", BASE_SQL, "DROP TABLE posts, users; DROP TYPE state;")
    project.write("schema.dbml", _base_dbml().replace(
        "title text [not null]", "title text [not null]\n  kind varchar(20)"))
    result = project.run("db", "schema", "import", "--dry-run")
    assert result.code == 0 and "kind" in result.out, result
    assert _shadows(project.db) == []


KILLED = """
import os, sys, time
from nself.config import Environment
from nself.schema import shadow
manager = shadow.shadows(Environment.load(), print)
kept = manager.create()
with manager.scratch():
    released = manager.create()
print(kept.name, released.name, flush=True)
time.sleep(120)
"""


def test_a_killed_run_leaves_shadows_the_next_run_drops(project):
    import signal
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", KILLED], cwd=project.root,
                             stdout=subprocess.PIPE, text=True)
    try:
        names = child.stdout.readline().split()
        assert len(names) == 2, names
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        child.kill()
        child.stdout.close()
    assert names[0] in _shadows(project.db)   # killed: it could not drop it
    _wait_for_the_server_to_see_it_gone(project.db, names)
    project.write("schema.dbml", "Table t {\n  id int [pk]\n}\n")
    result = project.run("db", "schema", "import", "--dry-run")
    assert result.code == 0, result
    assert _shadows(project.db) == []


def _wait_for_the_server_to_see_it_gone(db, names: list[str]) -> None:
    """Until the killed run's sessions are gone on the server (their locks free): a
    leftover whose lock is still held is, rightly, taken as in use."""
    import time

    from nself.schema import shadow as shadow_module

    deadline = time.monotonic() + 60
    with db.connect() as conn:
        while True:
            free = True
            for name in names:
                keys = shadow_module._lock(name).keys
                if conn.execute("SELECT pg_try_advisory_lock(%s, %s)", keys).fetchone()[0]:
                    conn.execute("SELECT pg_advisory_unlock(%s, %s)", keys)
                else:
                    free = False
            if free or time.monotonic() > deadline:
                return
            time.sleep(0.1)


# ------------------------------------------------------- the replay kept between imports

def _kept(db) -> list[str]:
    """The kept replays of DB's migrations (nself_kept_<its oid>_<key>)."""
    oid = db.scalar("SELECT oid FROM pg_database WHERE datname = current_database()")
    return [r[0] for r in db.query("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                   (f"nself_kept_{oid}\\_%",))]


def _tables_of(db, name: str) -> list[str]:
    with psycopg.connect(**{**db.params, "dbname": name}) as conn:
        return sorted(r[0] for r in conn.execute(
            "SELECT relname FROM pg_class WHERE relkind = 'r' "
            "AND relnamespace = 'public'::regnamespace"))


def test_the_kept_replay_gives_what_a_new_replay_gives(project, monkeypatch):
    """The second import of the same migrations uses the replay the first one kept (no
    shadow made), writes the same migration as an import that keeps nothing
    (NSELF_KEEP_REPLAY=false), and leaves the kept replay holding the migrations' schema
    only: its checks on it were rolled back."""
    project.migration("001_base.sql", BASE_SQL, "DROP TABLE posts, users; DROP TYPE state;")
    text = ENUM + USERS + POSTS + COMMENTS
    first, made = _generate(project, text, False, monkeypatch)
    assert made == 1 and len(_kept(project.db)) == 1 and _shadows(project.db) == []
    kept = _kept(project.db)[0]
    again, made_again = _generate(project, text, False, monkeypatch)
    assert made_again == 0 and _kept(project.db) == [kept]
    assert _tables_of(project.db, kept) == ["posts", "users"]   # no comments: rolled back
    monkeypatch.setenv("NSELF_KEEP_REPLAY", "false")
    fresh, made_fresh = _generate(project, text, False, monkeypatch)
    assert made_fresh == 1
    _same(first, again)
    _same(first, fresh)
    assert "comments" in first.parts[0].up


def test_changed_migrations_are_replayed_again_and_the_old_replay_dropped(project, monkeypatch):
    project.migration("001_base.sql", BASE_SQL, "DROP TABLE posts, users; DROP TYPE state;")
    text = ENUM + USERS + POSTS + COMMENTS
    _generate(project, text, False, monkeypatch)
    before = _kept(project.db)
    project.migration("002_more.sql", "CREATE TABLE comments (id bigint PRIMARY KEY);",
                      "DROP TABLE comments;")
    result, made = _generate(project, text, False, monkeypatch)
    assert made == 1 and "ALTER TABLE" in result.parts[0].up and "CREATE TABLE" not in \
        result.parts[0].up
    after = _kept(project.db)
    assert len(after) == 1 and after != before
    assert _tables_of(project.db, after[0]) == ["comments", "posts", "users"]


def test_a_kept_replay_changed_by_hand_is_not_used(project, monkeypatch):
    """Its schema's digest no longer matches: dropped and replayed again, and the change
    made by hand is in no migration."""
    project.migration("001_base.sql", BASE_SQL, "DROP TABLE posts, users; DROP TYPE state;")
    text = ENUM + USERS + POSTS
    first, _ = _generate(project, text, False, monkeypatch)
    assert first.empty
    [kept] = _kept(project.db)
    with psycopg.connect(**{**project.db.params, "dbname": kept}, autocommit=True) as conn:
        conn.execute("CREATE TABLE by_hand (id int)")
    result, made = _generate(project, text, False, monkeypatch)
    assert made == 1 and result.empty, result.parts
    [now] = _kept(project.db)
    assert "by_hand" not in _tables_of(project.db, now)


KILLED_KEPT = """
import sys, time
from nself.config import Environment
from nself.schema import shadow
from nself.schema.introspect import introspect
env = Environment.load()
manager = shadow.shadows(env, print)
a, old = manager.replayed(lambda home: shadow.replay_key(env, home),
                          lambda s: shadow.replay(env, s), lambda s: introspect(s.conn))
with a.unchanged():
    a.conn.execute("CREATE TABLE half_done (id int)")
    print(a.name, flush=True)
    time.sleep(120)
"""


def test_a_run_killed_inside_the_kept_replay_leaves_it_as_it_was(project, monkeypatch):
    import signal
    import subprocess
    import sys

    project.migration("001_base.sql", BASE_SQL, "DROP TABLE posts, users; DROP TYPE state;")
    child = subprocess.Popen([sys.executable, "-c", KILLED_KEPT], cwd=project.root,
                             stdout=subprocess.PIPE, text=True)
    try:
        name = child.stdout.readline().strip()
        assert name.startswith("nself_kept_"), name
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        child.kill()
        child.stdout.close()
    _wait_for_the_server_to_see_it_gone(project.db, [name])
    assert _tables_of(project.db, name) == ["posts", "users"]   # rolled back by the server
    result, made = _generate(project, ENUM + USERS + POSTS + COMMENTS, False, monkeypatch)
    assert made == 0 and _kept(project.db) == [name] and "comments" in result.parts[0].up


def test_kept_replays_of_databases_that_are_gone_are_dropped(project, monkeypatch):
    """Only those: another database's kept replay stays (it is that database's)."""
    gone = "nself_kept_4000000001_0123456789abcdef"   # no database has that oid
    other = project.db.scalar("SELECT 'nself_kept_' || oid || '_00000000000000aa' "
                              "FROM pg_database WHERE datname = 'template1'")
    with project.db.connect() as conn:
        conn.autocommit = True
        for name in (gone, other):
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
    try:
        project.migration("001_base.sql", BASE_SQL, "DROP TABLE posts, users; DROP TYPE state;")
        _generate(project, ENUM + USERS + POSTS, False, monkeypatch)
        left = [r[0] for r in project.db.query(
            "SELECT datname FROM pg_database WHERE datname IN (%s, %s)", (gone, other))]
        assert left == [other]
    finally:
        with project.db.connect() as conn:
            conn.autocommit = True
            for name in (gone, other):
                conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def test_a_no_transaction_part_is_checked_in_the_kept_replay_or_again_committed(
        project, monkeypatch):
    """An enum value added, then used by a default (its own no-transaction part first):
    inside the kept replay's transaction the default cannot use it yet, so the check runs
    again committed, the kept replay is dropped at the end, and the migration is the one
    an import that keeps nothing writes."""
    project.migration("001_base.sql", BASE_SQL, "DROP TABLE posts, users; DROP TYPE state;")
    text = (ENUM.replace("  gone\n", "  gone\n  banned\n")
            + USERS.replace("state state [default: 'new']", "state state [default: 'banned']")
            + POSTS)
    _generate(project, ENUM + USERS + POSTS, False, monkeypatch)   # keeps the replay
    kept, _ = _generate(project, text, False, monkeypatch)
    assert any(p.autocommit for p in kept.parts) and _kept(project.db) == []
    assert _shadows(project.db) == []
    monkeypatch.setenv("NSELF_KEEP_REPLAY", "false")
    fresh, _ = _generate(project, text, False, monkeypatch)
    _same(kept, fresh)


def test_only_local_keeps_a_replay_unless_asked(project, monkeypatch):
    """Staging (or production) keeps no replay on its server by default: a database left
    on a shared server is not the designer's loop; NSELF_KEEP_REPLAY=true keeps one there."""
    project.migration("001_base.sql", BASE_SQL, "DROP TABLE posts, users; DROP TYPE state;")
    project.write("config/staging.env", f"DATABASE_URL={project.db.url}\n")
    monkeypatch.setenv("ENV", "staging")
    text = ENUM + USERS + POSTS + COMMENTS
    _generate(project, text, False, monkeypatch)
    assert _kept(project.db) == [] and _shadows(project.db) == []
    monkeypatch.setenv("NSELF_KEEP_REPLAY", "true")
    _generate(project, text, False, monkeypatch)
    assert len(_kept(project.db)) == 1
