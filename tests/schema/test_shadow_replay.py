"""`shadow.replay(env, shadow, versions)` (issue 18): only the given versions, the rest by a
later call on the same shadow (db update's pre-check, then its final check), also on the
one-transaction-per-migration path taken when the locks of one transaction overflow."""

from __future__ import annotations

from nself.config import Environment
from nself.errors import NselfError
from nself.migrations.runner import Runner
from nself.schema import shadow as shadows


def _labels(conn) -> list[str]:
    return [r[0] for r in conn.execute("SELECT label FROM nself.migrations ORDER BY version")]


def _tables(conn) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]


def _team(project) -> None:
    for number, table in ((1, "a"), (2, "b"), (3, "c")):
        project.migration(f"00{number}_{table}.sql", f"CREATE TABLE {table} (id int);",
                          f"DROP TABLE {table};")


def test_replay_of_some_versions_then_the_rest(project):
    _team(project)
    env = Environment.load()
    with shadows.shadows(env, lambda text: None) as manager:
        scratch = manager.create()
        assert shadows.replay(env, scratch, {1, 3}) == 2
        assert _labels(scratch.conn) == ["001", "003"] and _tables(scratch.conn) == ["a", "c"]
        assert shadows.replay(env, scratch) == 1
        assert _tables(scratch.conn) == ["a", "b", "c"]


def test_replay_of_some_versions_when_one_transaction_overflows(project, monkeypatch):
    """The fallback (a transaction per migration) keeps to the given versions too."""
    _team(project)
    env = Environment.load()

    def overflow(*args, **kwargs):
        raise NselfError("out of shared memory (max_locks_per_transaction)")

    monkeypatch.setattr(Runner, "apply_in_parts", overflow)
    with shadows.shadows(env, lambda text: None) as manager:
        scratch = manager.create()
        assert shadows.replay(env, scratch, {2}) == 1
        assert _labels(scratch.conn) == ["002"] and _tables(scratch.conn) == ["b"]
