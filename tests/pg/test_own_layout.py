"""nself's own schema (`nself.pg.layout`): every earlier layout, built as the code of its
time built it (the SQL below is copied from the git history), filled with rows and
upgraded, ends as a freshly made one, rows kept; a newer layout is refused; two first uses
at once both succeed; a read-only command leaves an old layout alone."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from nself.errors import OperationFailed
from nself.mock.fill import clear
from nself.pg import layout

# -- the earlier layouts ----------------------------------------------------------------------

# nself/pg/meta.py CREATE_SQL from ce8b116: the schema and meta alone, written by recording
# the environment (a restore, a wipe) before anything else;
# the same lines began nself/migrations/history.py's CREATE_SQL at 1ba55d3
META = """
CREATE SCHEMA IF NOT EXISTS nself;
COMMENT ON SCHEMA nself IS 'nself''s own bookkeeping (migration history); not for application data';
CREATE TABLE IF NOT EXISTS nself.meta (
    key text PRIMARY KEY,
    value text NOT NULL
);
"""
# ... which went on (layout 1; until e0fce2c)
TRACKING_1 = META + """
CREATE TABLE IF NOT EXISTS nself.migrations (
    version bigint PRIMARY KEY,
    label text NOT NULL,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    execution_ms double precision NOT NULL DEFAULT 0,
    applied_by text NOT NULL DEFAULT current_user,
    no_transaction boolean NOT NULL DEFAULT false,
    down_sql text,
    source text
);
CREATE TABLE IF NOT EXISTS nself.migration_progress (
    version bigint PRIMARY KEY,
    name text NOT NULL,
    statements_done integer NOT NULL,
    statements_total integer NOT NULL,
    done_digest text NOT NULL,
    failed_line integer,
    error text,
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO nself.meta (key, value) VALUES ('layout_version', '1') ON CONFLICT (key) DO NOTHING;
"""
# e0fce2c (layout 2): migration_progress gains started and direction
TRACKING_2 = TRACKING_1.replace(
    "    updated_at timestamptz NOT NULL DEFAULT now()\n",
    "    updated_at timestamptz NOT NULL DEFAULT now(),\n    started integer,\n"
    "    direction text NOT NULL DEFAULT 'up'\n").replace("'layout_version', '1'",
                                                       "'layout_version', '2'")
# db8cc1b (layout 3, until this module): migrations gains schema_fingerprint
TRACKING_3 = TRACKING_2.replace("    source text\n",
                                "    source text,\n    schema_fingerprint text\n").replace(
    "'layout_version', '2'", "'layout_version', '3'")
# nself/seeds/history.py from bab8122 (outside any version until layout 4)
SEEDS = META + """
CREATE TABLE IF NOT EXISTS nself.seeds (
    path text PRIMARY KEY,
    checksum text NOT NULL,
    ran_at timestamptz NOT NULL DEFAULT now(),
    execution_ms double precision NOT NULL DEFAULT 0,
    ran_by text NOT NULL DEFAULT current_user,
    environment text NOT NULL,
    runs integer NOT NULL DEFAULT 1
);
"""
# nself/mock/fill.py SCHEMA_SQL at 419afc8, after meta's (keys as text[]; until 4d43cc9)
MOCK_ARRAYS = META + """
CREATE TABLE IF NOT EXISTS nself.mock_runs (
    id bigserial PRIMARY KEY,
    seed bigint NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    row_count bigint NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS nself.mock_rows (
    run_id bigint NOT NULL REFERENCES nself.mock_runs (id) ON DELETE CASCADE,
    position int NOT NULL,
    table_name text NOT NULL,
    key_columns text[],
    null_first text[] NOT NULL DEFAULT '{}',
    keys text[] NOT NULL,
    PRIMARY KEY (run_id, position)
);
CREATE TABLE IF NOT EXISTS nself.mock_counters (
    table_name text PRIMARY KEY,
    next bigint NOT NULL
);
"""
# 4d43cc9 on: a keys table per run and table
MOCK_TABLES = MOCK_ARRAYS.replace("    keys text[] NOT NULL,\n",
                                  "    keys_table text NOT NULL,\n    row_count bigint NOT NULL,\n")

# -- rows each table of each layout may hold --------------------------------------------------

MIGRATION_ROWS = """
INSERT INTO nself.migrations (version, label, name, checksum, applied_by, down_sql, source)
VALUES (1, '001', 'users', 'c1', 'ann@host', 'DROP TABLE users;', 'CREATE TABLE users ();'),
       (2, '002', 'posts', 'c2', 'bob@host', NULL, NULL);
INSERT INTO nself.migration_progress (version, name, statements_done, statements_total,
                                      done_digest, failed_line, error)
VALUES (3, 'index', 1, 2, 'd3', 7, 'canceled');
INSERT INTO nself.meta VALUES ('environment', 'staging');
"""
SEED_ROWS = """
INSERT INTO nself.seeds (path, checksum, environment, runs)
VALUES ('common/01_roles.sql', 's1', 'local', 3);
"""
# users rows 1-3 are mock's, 4 is the user's; notes (no key) 'm1' is mock's, 'own' the
# user's; tags (two-column key) (1, 'a') mock's. Run 1 stored a one-column key as
# ROW(id)::text ('(1)', the first mock code), run 2 as id::text (96512e3 on).
USER_TABLES = """
CREATE TABLE public.users (id int PRIMARY KEY, name text);
INSERT INTO public.users VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'own');
CREATE TABLE public.notes (body text);
INSERT INTO public.notes VALUES ('m1'), ('own');
CREATE TABLE public.tags (post int, tag text, PRIMARY KEY (post, tag));
INSERT INTO public.tags VALUES (1, 'a'), (1, 'own');
"""
MOCK_ARRAY_ROWS = USER_TABLES + """
INSERT INTO nself.mock_runs (seed, row_count) VALUES (7, 3), (8, 3);
INSERT INTO nself.mock_counters VALUES ('public.users', 4);
INSERT INTO nself.mock_rows VALUES
    (1, 1, 'public.users', '{id}', '{}', '{(1),(2)}'),
    (1, 2, 'public.gone', '{id}', '{}', '{(9)}'),
    (2, 1, 'public.users', '{id}', '{}', '{3}'),
    (2, 2, 'public.notes', NULL, '{}', '{(m1)}'),
    (2, 3, 'public.tags', '{post,tag}', '{}', '{"(1,a)"}');
"""
MOCK_TABLE_ROWS = USER_TABLES + """
INSERT INTO nself.mock_runs (seed, row_count) VALUES (7, 3);
INSERT INTO nself.mock_counters VALUES ('public.users', 4);
CREATE TABLE nself.mock_keys_1_1 AS SELECT id::text AS key FROM public.users WHERE id < 4;
INSERT INTO nself.mock_rows VALUES (1, 1, 'public.users', '{id}', '{}', 'mock_keys_1_1', 3);
"""

# (what the code of its time built, rows it held): every shape a commit could leave
HISTORIES = {
    "layout 1": [TRACKING_1, MIGRATION_ROWS],
    "meta only": [META, "INSERT INTO nself.meta VALUES ('environment', 'production')"],
    "layout 2": [TRACKING_2, MIGRATION_ROWS],
    "seeds only": [SEEDS, SEED_ROWS],
    "layout 2, seeds": [TRACKING_2, SEEDS, MIGRATION_ROWS, SEED_ROWS],
    "layout 3, seeds": [TRACKING_3, SEEDS, MIGRATION_ROWS, SEED_ROWS],
    "mock arrays only": [MOCK_ARRAYS, MOCK_ARRAY_ROWS],
    "layout 3, seeds, mock arrays": [TRACKING_3, SEEDS, MOCK_ARRAYS, MIGRATION_ROWS,
                                     SEED_ROWS, MOCK_ARRAY_ROWS],
    "mock tables only": [MOCK_TABLES, MOCK_TABLE_ROWS],
    "layout 3, seeds, mock tables": [TRACKING_3, SEEDS, MOCK_TABLES, MIGRATION_ROWS,
                                     SEED_ROWS, MOCK_TABLE_ROWS],
    # a layout 1 table without its layout row (the rule since e0fce2c: layout 1)
    "layout 1, no layout row": [TRACKING_1, "DELETE FROM nself.meta", MIGRATION_ROWS],
}

# Every table, column, default, constraint, index and sequence of schema nself, and the
# schema's comment (mock's per-run key tables are rows, not layout).
DESCRIBE_SQL = r"""
SELECT obj_description(n.oid, 'pg_namespace'),
       (SELECT array_agg(format('%s %s: %s', c.relkind, c.relname, concat_ws(' | ',
            (SELECT string_agg(format('%s %s%s%s', a.attname,
                                      format_type(a.atttypid, a.atttypmod),
                                      CASE WHEN a.attnotnull THEN ' not null' END,
                                      ' default ' || pg_get_expr(d.adbin, d.adrelid)),
                               ', ' ORDER BY a.attnum)
             FROM pg_attribute a
             LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
             WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
            (SELECT string_agg(format('%s %s', k.conname, pg_get_constraintdef(k.oid)), ', '
                               ORDER BY k.conname)
             FROM pg_constraint k WHERE k.conrelid = c.oid),
            (SELECT string_agg(pg_get_indexdef(i.indexrelid), ', ' ORDER BY 1)
             FROM pg_index i WHERE i.indrelid = c.oid)))
            ORDER BY c.relname)
        FROM pg_class c
        WHERE c.relnamespace = n.oid AND c.relkind IN ('r', 'S')
          AND c.relname NOT LIKE 'mock\_keys\_%')
FROM pg_namespace n WHERE n.nspname = 'nself'
"""
# The rows of each table that may hold some (layout_version is the layout, not a row).
ROWS = {
    "migrations": "SELECT version, label, name, checksum, applied_by, execution_ms, "
                  "no_transaction, down_sql, source FROM nself.migrations ORDER BY version",
    "migration_progress": "SELECT version, name, statements_done, statements_total, "
                          "done_digest, failed_line, error FROM nself.migration_progress",
    "seeds": "SELECT path, checksum, environment, runs FROM nself.seeds",
    "meta": "SELECT * FROM nself.meta WHERE key <> 'layout_version' ORDER BY key",
    "mock_runs": "SELECT id, seed, row_count FROM nself.mock_runs ORDER BY id",
    "mock_counters": "SELECT * FROM nself.mock_counters",
}


def build(conn: psycopg.Connection, pieces: list[str]) -> None:
    for piece in pieces:
        conn.execute(piece)


def rows_of(conn: psycopg.Connection) -> dict[str, list[tuple]]:
    """The rows of each table of ROWS that is there."""
    return {table: conn.execute(query).fetchall() for table, query in ROWS.items()
            if conn.execute("SELECT to_regclass(%s)", (f"nself.{table}",)).fetchone()[0]}


def state_of(conn: psycopg.Connection) -> str | None:
    """The layout row, when there is one."""
    row = conn.execute("SELECT value FROM nself.meta WHERE key = 'layout_version'").fetchone()
    return row[0] if row else None


def layout_of(conn: psycopg.Connection) -> str:
    return conn.execute("SELECT value FROM nself.meta WHERE key = 'layout_version'").fetchone()[0]


@pytest.mark.parametrize("history", HISTORIES)
def test_every_earlier_layout_upgrades_to_a_fresh_one_keeping_its_rows(db, history):
    """Each earlier layout, with rows in it, upgraded by `ensure`, is described by the
    catalog exactly as a freshly created one (tables, columns, types, defaults,
    constraints, indexes, sequences, the schema's comment) and keeps every row."""
    pieces = HISTORIES[history]
    fresh = db.create_sibling()
    with fresh.connect() as conn:
        layout.ensure(conn)
        wanted = conn.execute(DESCRIBE_SQL).fetchone()
        assert layout_of(conn) == str(layout.VERSION)
    with db.connect() as conn:
        build(conn, pieces)
        before = rows_of(conn)
        assert any(before.values())
        # (a layout 3 with today's seeds and mock tables differs in its layout row only)
        assert (conn.execute(DESCRIBE_SQL).fetchone(), state_of(conn)) != (wanted, "4")
        layout.ensure(conn)
        assert conn.execute(DESCRIBE_SQL).fetchone() == wanted
        assert layout_of(conn) == str(layout.VERSION)
        after = rows_of(conn)
        assert {table: after[table] for table in before} == before
        layout.ensure(conn)  # the current layout: nothing to do
        assert conn.execute(DESCRIBE_SQL).fetchone() == wanted


@pytest.mark.parametrize("history", ["mock arrays only", "layout 3, seeds, mock arrays"])
def test_mock_rows_recorded_as_arrays_are_cleared_after_the_upgrade(db, history):
    """Mock rows the first mock code recorded (keys in a text[], one-column keys in both
    of its spellings, keyless and two-column keys, a table dropped since) are found and
    removed by today's `mock --clear` once upgraded; the user's own rows stay."""
    with db.connect() as conn:
        build(conn, HISTORIES[history])
        with conn.transaction():
            removed = clear(conn)
        assert removed == {"public.users": 3, "public.notes": 1, "public.tags": 1}
        assert conn.execute("SELECT array_agg(id) FROM public.users").fetchone()[0] == [4]
        assert conn.execute("SELECT array_agg(body) FROM public.notes").fetchone()[0] == ["own"]
        assert conn.execute("SELECT array_agg(tag) FROM public.tags").fetchone()[0] == ["own"]
        assert conn.execute("SELECT count(*) FROM nself.mock_rows").fetchone()[0] == 0


def test_mock_rows_recorded_as_arrays_get_a_keys_table_each(db):
    """The upgrade writes, per recorded row, its keys table and row count as mock now
    writes them: one-column keys as the column's text, whichever way they were stored."""
    with db.connect() as conn:
        build(conn, HISTORIES["mock arrays only"])
        layout.ensure(conn)
        recorded = conn.execute("SELECT run_id, position, keys_table, row_count "
                                "FROM nself.mock_rows ORDER BY 1, 2").fetchall()
        assert recorded == [(1, 1, "mock_keys_1_1", 2), (1, 2, "mock_keys_1_2", 0),
                            (2, 1, "mock_keys_2_1", 1), (2, 2, "mock_keys_2_2", 1),
                            (2, 3, "mock_keys_2_3", 1)]
        keys = conn.execute("SELECT array_agg(key ORDER BY key) FROM nself.mock_keys_1_1 "
                            "UNION ALL SELECT array_agg(key) FROM nself.mock_keys_2_3"
                            ).fetchall()
        assert keys == [(["1", "2"],), (["(1,a)"],)]


def test_a_newer_layout_is_refused(db):
    """A database whose layout is newer than this nself's is refused with the way out,
    and left as it is."""
    with db.connect() as conn:
        layout.ensure(conn)
        conn.execute("UPDATE nself.meta SET value = %s WHERE key = 'layout_version'",
                     (str(layout.VERSION + 1),))
        conn.execute("DROP TABLE nself.seeds")
        with pytest.raises(OperationFailed, match=r"layout 5, written by a newer nself; this "
                                                  r"nself knows layout 4\. Upgrade nself"):
            layout.ensure(conn)
        assert conn.execute("SELECT to_regclass('nself.seeds')").fetchone()[0] is None
        assert layout_of(conn) == str(layout.VERSION + 1)


def test_a_newer_layout_is_refused_by_the_commands_that_write(project):
    """`migrate up` and `db seed` on a database of a newer layout exit with the one-line
    refusal, nothing applied or recorded."""
    project.migration("001_users.sql", "CREATE TABLE users (id int);", "DROP TABLE users;")
    project.write("seeds/local/01_a.sql", "SELECT 1;\n")
    with project.db.connect() as conn:
        layout.ensure(conn)
        conn.execute("UPDATE nself.meta SET value = '99' WHERE key = 'layout_version'")
    for argv in (("db", "migrate", "up"), ("db", "seed")):
        result = project.run(*argv)
        assert result.code != 0 and "Upgrade nself (pip install -U nself)." in result.err, result
        assert "Traceback" not in result.err
    assert project.db.tables() == []
    assert project.db.scalar("SELECT count(*) FROM nself.seeds") == 0


def _waiting_for_lock(db, pid: int) -> bool:
    return bool(db.scalar("SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = %s AND "
                          "locktype = 'advisory' AND NOT granted)", (pid,)))


@pytest.mark.parametrize("in_transaction", [False, True])
def test_two_first_uses_at_once_both_succeed(db, in_transaction):
    """Two sessions using a database for the first time at once: the second waits for
    the first's tables, then finds them made (no duplicate-schema error), also when it
    looked for them earlier in its own transaction (as mock's run does)."""
    first, second = db.connect(), db.connect()
    failures: list[BaseException] = []

    def use() -> None:
        try:
            if in_transaction:
                with second.transaction():
                    layout.state(second)
                    layout.ensure(second)
            else:
                layout.ensure(second)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            failures.append(exc)

    try:
        with first.transaction():
            layout.ensure(first)
            thread = threading.Thread(target=use)
            thread.start()
            pid = second.info.backend_pid
            while thread.is_alive() and not _waiting_for_lock(db, pid):
                time.sleep(0.01)
            assert thread.is_alive(), failures  # it waits for the first's transaction
        thread.join(60)
        assert not thread.is_alive() and failures == []
        assert layout_of(second) == str(layout.VERSION)
        assert layout.state(second).complete
    finally:
        first.close()
        second.close()


def test_two_upgrades_at_once_both_succeed(db):
    """Two sessions upgrading the same old layout at once: each step is done once."""
    with db.connect() as conn:
        build(conn, HISTORIES["layout 3, seeds, mock arrays"])
    failures: list[BaseException] = []

    def use() -> None:
        try:
            with db.connect() as conn:
                layout.ensure(conn)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            failures.append(exc)

    threads = [threading.Thread(target=use) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    assert db.scalar("SELECT count(*) FROM nself.mock_rows WHERE row_count IS NOT NULL") == 5


def test_status_reads_an_old_layout_and_leaves_it(project):
    """`db status` and `migrate status` read a layout 1 database without upgrading it,
    and a database without nself's schema without creating it."""
    project.migration("001_users.sql", "CREATE TABLE users (id int);", "DROP TABLE users;")
    for argv in (("db", "status"), ("db", "migrate", "status")):
        assert project.run(*argv).code == 0
    assert project.db.scalar("SELECT to_regnamespace('nself')") is None
    with project.db.connect() as conn:
        build(conn, [TRACKING_1])
    for argv in (("db", "status"), ("db", "migrate", "status")):
        result = project.run(*argv)
        assert result.code == 0, result
    assert project.db.scalar("SELECT value FROM nself.meta WHERE key = 'layout_version'") == "1"
    assert project.db.tables("nself") == ["meta", "migration_progress", "migrations"]
