"""`schema import` on large schemas (issue 17, "Speed on large schemas"): each mechanism
that makes it faster is checked here for giving what the slow way gives. No time is
asserted (bench/bench_schema.py measures)."""

from __future__ import annotations

import pickle
import textwrap
from pathlib import Path

import pytest

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
