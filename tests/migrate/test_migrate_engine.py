"""The engine on a real server: nothing commits unless its tracking statement ran, and a
no-transaction migration resumes correctly whatever state an interruption left."""

from __future__ import annotations

import psycopg
import pytest

from nself.migrations import files, history
from nself.migrations.engine import Engine, MigrationError, Settings, digest
from nself.migrations.plan import prepare
from nself.migrations.status import merge
from nself.pg import layout


@pytest.fixture
def engine(db):
    conn = db.connect()
    layout.ensure(conn)
    said: list[str] = []
    yield Engine(db.database, conn, Settings(), said.append, said.append), said
    conn.close()


def migration(tmp_path, text: str) -> files.Migration:
    (tmp_path / "001_m.sql").write_text(text)
    return files.read_folder(tmp_path, tmp_path)[0]


def insert_record(engine: Engine, m: files.Migration) -> str:
    return history.INSERT_TEMPLATE.format(
        version=m.version, label="'001'", name="'m'", checksum=m.checksum, applied_by="'t'",
        no_tx="false", down="NULL", source="NULL", token=engine.token_sql)


def test_truncated_sql_never_commits(engine, db, tmp_path):
    """SQL that does not reach the server whole (a NUL ends libpq's query string) is rolled
    back: the statements before the NUL do not stay, and no tracking row claims it applied."""
    eng, _ = engine
    m = migration(tmp_path, "-- UP\nCREATE TABLE before_nul (id int);\n")
    prep = prepare(m, m.up, False)
    prep.body = "CREATE TABLE before_nul (id int);\n\x00CREATE TABLE after_nul (x int);"
    with pytest.raises(MigrationError, match="did not run its tracking statement"):
        eng.run_transaction(prep, insert_record(eng, m), "applied")
    assert db.tables() == []
    assert db.scalar("SELECT count(*) FROM nself.migrations") == 0


def test_down_commits_only_when_its_tracking_row_was_deleted(engine, db, tmp_path):
    """A rollback whose DELETE of the tracking row removes nothing (the row is not there) is
    itself rolled back: its DOWN SQL does not stay."""
    eng, _ = engine
    db.query("CREATE TABLE victim (id int)")
    m = migration(tmp_path, "-- UP\nSELECT 1;\n")
    prep = prepare(m, files.Section("DROP TABLE victim;", 1), False)
    record = history.DELETE_TEMPLATE.format(version=1, token=eng.token_sql)
    with pytest.raises(MigrationError, match="did not run its tracking statement"):
        eng.run_transaction(prep, record, "rolled back")
    assert db.tables() == ["victim"]


def test_no_transaction_statement_commits_with_its_progress(engine, db, tmp_path):
    """In a no-transaction migration a statement that can run in a transaction commits together
    with its progress row: a failing later statement leaves exactly the earlier ones done."""
    eng, _ = engine
    m = migration(tmp_path, "-- nself:no-transaction\n-- UP\nCREATE TABLE a (id int);\n"
                            "INSERT INTO a SELECT generate_series(1, 1000);\nSELECT 1/0;\n")
    prep = prepare(m, m.up, True)
    with pytest.raises(MigrationError, match=r"statement 3 of 3.*Statements 1-2 of 3 ran and "
                                             r"stay applied.*it was rolled back") as caught:
        eng.run_statements(prep, "up", insert_record(eng, m), "applied")
    assert "rolled back by the server" not in str(caught.value)
    assert "mark-applied" not in str(caught.value)
    assert db.query("SELECT statements_done, started, direction FROM nself.migration_progress"
                    ) == [(2, None, "up")]
    assert db.scalar("SELECT count(*) FROM a") == 1000


def progress_row(db, prep, done: int, started: int | None) -> None:
    db.query("INSERT INTO nself.migration_progress (version, name, statements_done, "
             "statements_total, done_digest, started) VALUES (1, 'm', %s, %s, %s, %s)",
             (done, len(prep.statements), digest(prep.statements[:done]), started))


CIC = ("-- nself:no-transaction\n-- UP\nCREATE TABLE t (id int);\n"
       "INSERT INTO t VALUES (1), (1);\nCREATE UNIQUE INDEX CONCURRENTLY t_u ON t (id);\n"
       "CREATE INDEX CONCURRENTLY t_plain ON t (id);\n")


def test_started_index_that_was_built_is_recorded_not_rerun(engine, db, tmp_path):
    """A CREATE INDEX CONCURRENTLY recorded as started whose index exists and is valid counts
    as done on resume (no "already exists")."""
    eng, said = engine
    m = migration(tmp_path, CIC.replace("(1), (1)", "(1), (2)"))
    prep = prepare(m, m.up, True)
    db.query("CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2); "
             "CREATE UNIQUE INDEX t_u ON t (id)")
    progress_row(db, prep, 2, 2)
    eng.run_statements(prep, "up", insert_record(eng, m), "applied")
    assert any("had finished before" in line for line in said), said
    assert db.scalar("SELECT count(*) FROM nself.migrations") == 1
    assert db.scalar("SELECT count(*) FROM pg_index WHERE indrelid = 't'::regclass") == 2


def test_started_index_left_invalid_is_dropped_and_rebuilt(engine, db, tmp_path):
    """An INVALID index left by an interrupted CREATE INDEX CONCURRENTLY is dropped and built
    again on resume, saying so; the result is a valid index."""
    eng, said = engine
    m = migration(tmp_path, CIC)
    prep = prepare(m, m.up, True)
    db.query("CREATE TABLE t (id int); INSERT INTO t VALUES (1), (1)")
    with pytest.raises(psycopg.errors.UniqueViolation):
        db.query("CREATE UNIQUE INDEX CONCURRENTLY t_u ON t (id)")  # leaves it INVALID
    db.query("DELETE FROM t WHERE ctid <> (SELECT min(ctid) FROM t)")
    progress_row(db, prep, 2, 2)
    eng.run_statements(prep, "up", insert_record(eng, m), "applied")
    assert any("INVALID index" in line and "dropping it" in line for line in said), said
    assert db.query("SELECT indisvalid FROM pg_index WHERE indexrelid = 't_u'::regclass") == [
        (True,)]
    assert db.scalar("SELECT count(*) FROM nself.migrations") == 1


def test_started_index_that_never_began_is_run(engine, db, tmp_path):
    """A CREATE INDEX CONCURRENTLY recorded as started but absent from the catalog runs again."""
    eng, _ = engine
    m = migration(tmp_path, CIC.replace("(1), (1)", "(1), (2)"))
    prep = prepare(m, m.up, True)
    db.query("CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2)")
    progress_row(db, prep, 2, 2)
    eng.run_statements(prep, "up", insert_record(eng, m), "applied")
    assert db.scalar("SELECT count(*) FROM pg_index WHERE indrelid = 't'::regclass") == 2


def test_started_drop_index_that_took_effect_is_recorded(engine, db, tmp_path):
    """A DROP INDEX CONCURRENTLY recorded as started whose index is gone counts as done."""
    eng, said = engine
    m = migration(tmp_path, "-- nself:no-transaction\n-- UP\nCREATE TABLE t (id int);\n"
                            "DROP INDEX CONCURRENTLY t_i;\n")
    prep = prepare(m, m.up, True)
    db.query("CREATE TABLE t (id int)")
    progress_row(db, prep, 1, 1)
    eng.run_statements(prep, "up", insert_record(eng, m), "applied")
    assert any("had finished before" in line for line in said), said


def test_failed_concurrent_index_is_settled_by_the_next_run(engine, db, tmp_path):
    """After CREATE UNIQUE INDEX CONCURRENTLY fails on duplicates (leaving an INVALID index) and
    the data is fixed, the next run drops the leftover and builds it, without manual cleanup."""
    eng, said = engine
    m = migration(tmp_path, CIC)
    prep = prepare(m, m.up, True)
    with pytest.raises(MigrationError, match="INVALID index"):
        eng.run_statements(prep, "up", insert_record(eng, m), "applied")
    db.query("DELETE FROM t WHERE ctid <> (SELECT min(ctid) FROM t)")
    eng.run_statements(prep, "up", insert_record(eng, m), "applied")
    assert db.scalar("SELECT bool_and(indisvalid) FROM pg_index WHERE indrelid = 't'::regclass")
    assert db.scalar("SELECT count(*) FROM nself.migration_progress") == 0


def test_merge_names_migration_state(tmp_path):
    """Files and rows merge into MigrationState values (one name for one concept)."""
    (tmp_path / "001_a.sql").write_text("-- UP\nSELECT 1;\n")
    state = merge(files.read_folder(tmp_path, tmp_path), [])[0]
    assert type(state).__name__ == "MigrationState" and state.status == "Pending"


def test_reindex_concurrently_retry_leaves_no_invalid_index(project, monkeypatch):
    """A REINDEX TABLE CONCURRENTLY cancelled by lock_timeout (an old snapshot holds it up)
    leaves INVALID `_ccnew` copies, on the table and on its TOAST table; the retry drops them
    all before running again, and none is left once `up` succeeds."""
    import threading
    import time

    monkeypatch.setenv("NSELF_LOCK_TIMEOUT_MS", "300")
    monkeypatch.setenv("NSELF_LOCK_RETRIES", "3")
    monkeypatch.setenv("NSELF_LOCK_RETRY_BACKOFF_MS", "1500")
    project.db.query("CREATE TABLE t3 (id int, v text); CREATE INDEX t3_v ON t3 (v); "
                     "INSERT INTO t3 SELECT g, md5(g::text) FROM generate_series(1, 2000) g")
    project.migration("001_re.sql", "REINDEX TABLE CONCURRENTLY t3;", None,
                      header="-- nself:no-transaction\n")
    holder = project.db.connect()
    holder.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
    holder.execute("SELECT count(*) FROM t3")  # takes the snapshot REINDEX must wait out
    release = threading.Timer(1.0, holder.rollback)
    release.start()
    try:
        result = project.run("db", "migrate", "up")
    finally:
        release.join()
        holder.close()
    assert result.code == 0, result
    assert "retrying" in result.err, result
    time.sleep(0.1)
    assert project.db.query(
        "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE NOT i.indisvalid") == []
