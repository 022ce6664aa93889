"""`nself db update`: verified backup, every pending migration in one transaction, integrity
verification, and the restore offered on failure; against real PostgreSQL."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time

import pytest
from conftest import applied

from nself.errors import NselfError
from nself.pg.session import MIGRATE_KEY as LOCK_KEY

GUIDE_OUTPUT = """\
Database Update
────────────────────────
Creating backup... Done ({size})
Checking migrations... 2 pending
Applying 003_add_user_preferences... Done
Applying 004_create_comments... Done
Verifying integrity... Passed

Update complete! 2 migrations applied.
"""


def team(project):
    project.migration("001_create_users.sql", "CREATE TABLE users (id int PRIMARY KEY);",
                      "DROP TABLE users;")
    project.migration("002_create_posts.sql",
                      "CREATE TABLE posts (id int PRIMARY KEY, user_id int REFERENCES users);",
                      "DROP TABLE posts;")


def pulled(project):
    """What a `git pull` brings: two new migrations."""
    project.migration("003_add_user_preferences.sql",
                      "ALTER TABLE users ADD COLUMN preferences jsonb DEFAULT '{}';",
                      "ALTER TABLE users DROP COLUMN preferences;")
    project.migration("004_create_comments.sql",
                      "CREATE TABLE comments (id int PRIMARY KEY, post_id int REFERENCES posts);",
                      "DROP TABLE comments;")


def backups(project, env="local"):
    return sorted((project.root / "backups" / env).glob("*_before_update.dump"))


def test_update_prints_the_guides_output_and_applies_in_one_transaction(project):
    """After a pull: a verified backup, `2 pending`, each migration `Done`, `Passed`, the
    closing line as the guide shows them; both rows carry one transaction's start time; a
    second run says there is nothing to do and takes no backup."""
    from nself.output import size

    team(project)
    assert project.run("db", "migrate", "up").code == 0
    pulled(project)
    result = project.run("db", "update")
    assert result.code == 0, result
    made = backups(project)
    assert len(made) == 1
    assert result.out == GUIDE_OUTPUT.format(size=size(made[0].stat().st_size))
    assert applied(project.db) == ["001", "002", "003", "004"]
    starts = project.db.query("SELECT DISTINCT applied_at FROM nself.migrations "
                              "WHERE version >= 3")
    assert len(starts) == 1
    again = project.run("db", "update")
    assert again.code == 0 and "Checking migrations... none pending" in again.out
    assert "up to date" in again.out and len(backups(project)) == 1
    status = json.loads(project.run("db", "status", "--json").out)
    assert status["drift"] is False and status["migrations"]["pending"] == 0


def test_failure_rolls_back_everything_and_names_the_backup(project):
    """A failing second migration rolls back the first too; the output names the backup and,
    without a terminal, prints the exact restore command, which restores it; exit 1."""
    team(project)
    project.migration("003_fine.sql", "CREATE TABLE fine (id int);", "DROP TABLE fine;")
    project.migration("004_broken.sql", "CREATE TABLE broken (id int);\nSELECT 1/0;",
                      "DROP TABLE broken;")
    result = project.run("db", "update")
    assert result.code == 1, result
    assert "004_broken failed at migrations/004_broken.sql line 4: division by zero" in result.err
    assert "none of its 4 migrations is applied" in result.err
    assert project.db.tables() == [] and project.db.scalar(
        "SELECT count(*) FROM nself.migrations") == 0
    shown = f"backups/local/{backups(project)[0].name}"
    assert f"Backup taken before the update: {shown}" in result.out
    command = f"db restore {shown} --clean"  # the shell's DATABASE_URL goes along
    assert f"To restore it: nself --url {shlex.quote(project.db.url)} {command}\n" in result.out
    restored = project.run(*command.split())
    assert restored.code == 0, restored


def test_no_transaction_migration_splits_the_run_into_parts(project):
    """A no-transaction migration is said beforehand and runs on its own; the migrations
    around it each share a transaction with their neighbours."""
    team(project)
    project.migration("003_index.sql", "CREATE INDEX CONCURRENTLY users_id2 ON users (id);",
                      "DROP INDEX users_id2;", header="-- nself:no-transaction\n")
    project.migration("004_a.sql", "CREATE TABLE a (id int);", "DROP TABLE a;")
    project.migration("005_b.sql", "CREATE TABLE b (id int);", "DROP TABLE b;")
    result = project.run("db", "update")
    assert result.code == 0, result
    said = result.out.index("This update runs in 3 parts (a no-transaction migration)")
    assert said < result.out.index("Applying 001_create_users")
    assert ("001_create_users .. 002_create_posts (2) in one transaction; 003_index on its own, "
            "without a transaction; 004_a .. 005_b (2) in one transaction") in result.out
    assert "Applying 003_index... Done (no transaction)" in result.out
    assert applied(project.db) == ["001", "002", "003", "004", "005"]
    starts = project.db.query("SELECT count(DISTINCT applied_at) FROM nself.migrations")
    assert starts == [(3,)]


def test_not_valid_constraint_left_by_the_run_fails_verification(project):
    """A constraint added NOT VALID and never validated fails the integrity check: the
    transaction is rolled back, the constraint named."""
    team(project)
    assert project.run("db", "migrate", "up").code == 0
    project.migration("003_check.sql",
                      "ALTER TABLE users ADD CONSTRAINT id_positive CHECK (id > 0) NOT VALID;",
                      "ALTER TABLE users DROP CONSTRAINT id_positive;")
    result = project.run("db", "update")
    assert result.code == 1, result
    assert "Integrity verification failed" in result.err and "id_positive" in result.err
    assert applied(project.db) == ["001", "002"]
    assert project.db.scalar("SELECT count(*) FROM pg_constraint "
                             "WHERE conname = 'id_positive'") == 0


def test_schema_the_migrations_do_not_rebuild_refuses_before_the_backup(project):
    """A table made by hand (no fingerprint recorded yet): the applied migrations replayed
    into a shadow do not give the live schema, so the update stops at once (exit 6), before
    its backup, naming the table and `migrate baseline`; nothing is applied (issue 18: it
    used to fail only after applying everything)."""
    team(project)
    project.db.query("CREATE TABLE handmade (id int)")
    result = project.run("db", "update")
    assert result.code == 6, result
    assert "do not rebuild this database's schema" in result.err
    assert "+ Table: handmade (missing in migrations)" in result.err
    assert "nself db migrate baseline" in result.err and "nself db schema export" in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert "Creating backup" not in result.out and backups(project) == []
    assert project.db.tables() == ["handmade"]


def test_schema_the_files_do_not_produce_fails_verification(project):
    """A migration whose effect depends on the data (here: rows in users) makes the live
    schema differ from what the files produce in a shadow: the final verification fails
    and the transaction is rolled back."""
    team(project)
    assert project.run("db", "migrate", "up", "1").code == 0
    project.db.query("INSERT INTO users VALUES (1)")
    project.migration("003_data_dependent.sql", """
        DO $$ BEGIN
          IF EXISTS (SELECT FROM users) THEN CREATE TABLE handmade (id int); END IF;
        END $$;""", "DROP TABLE IF EXISTS handmade;")
    result = project.run("db", "update")
    assert result.code == 1, result
    assert "differs from what the migration files produce" in result.err
    assert "handmade" in result.err
    assert project.db.tables() == ["users"] and applied(project.db) == ["001"]


def test_drift_refuses_before_anything(project):
    """A schema changed by hand since the last migrate run refuses the update (exit 6)
    before any backup."""
    team(project)
    assert project.run("db", "migrate", "up", "1").code == 0
    project.db.query("ALTER TABLE users ADD COLUMN nickname text")
    result = project.run("db", "update")
    assert result.code == 6 and "changed outside migrations" in result.err
    assert backups(project) == [] and applied(project.db) == ["001"]


def test_production_shows_the_four_steps_and_needs_confirmation(project, monkeypatch):
    """In production: refused without --yes (no terminal) before any backup; with --yes the
    migrations guide's four steps are each said, in order, then the migrations."""
    team(project)
    monkeypatch.setenv("ENV", "production")
    refused = project.run("db", "update")
    assert refused.code == 3 and "--yes" in refused.err
    assert backups(project, "production") == [] and project.db.tables() == []
    result = project.run("db", "update", "--yes")
    assert result.code == 0, result
    out = result.out
    steps = ["Database Update (production)", "Schema validation... Passed",
             "Confirmation prompt... given with --yes", "Pre-migration backup... Done",
             "Rollback preparation... Ready", "Applying 001_create_users... Done",
             "Verifying integrity... Passed", "Update complete! 2 migrations applied."]
    assert [out.index(step) for step in steps] == sorted(out.index(step) for step in steps)
    shown = f"backups/production/{backups(project, 'production')[0].name}"
    address = f"--url {shlex.quote(project.db.url)}"
    assert (f"ENV=production nself {address} db restore {shown} --clean --confirm "
            "yes-restore-production") in out


def test_staging_without_terminal_names_the_flag(project, monkeypatch):
    """Staging asks for confirmation: without a terminal, refused naming --yes (exit 3)."""
    team(project)
    monkeypatch.setenv("ENV", "staging")
    refused = project.run("db", "update")
    assert refused.code == 3 and "--yes" in refused.err and project.db.tables() == []
    assert project.run("db", "update", "--yes").code == 0


def test_restore_offered_on_a_terminal_puts_back_the_state_before(project):
    """On a terminal, answering y restores the backup: parts committed before the failure
    are undone too (the library asked through its `ask`)."""
    from nself.backups.dump import safety_backup
    from nself.config import Environment
    from nself.guard import Guard
    from nself.workflows.update import update

    team(project)
    assert project.run("db", "migrate", "up").code == 0
    project.migration("003_index.sql", "CREATE INDEX CONCURRENTLY users_id2 ON users (id);",
                      "DROP INDEX users_id2;", header="-- nself:no-transaction\n")
    project.migration("004_broken.sql", "SELECT 1/0;", "SELECT 1;")
    env = Environment.load()
    said, asked = [], []
    with pytest.raises(NselfError, match="division by zero"):
        update(env, Guard(env, say=said.append, take_backup=safety_backup), say=said.append,
               interactive=True, ask=lambda question: asked.append(question) or "y")
    assert asked and "Restore backups/local/" in asked[0]
    assert any(line.startswith("Restored backups/local/") for line in said), said
    assert applied(project.db) == ["001", "002"]
    assert project.db.scalar("SELECT to_regclass('users_id2')") is None


def test_update_waits_for_or_reports_the_migrate_lock(project):
    """Concurrent `update` and `migrate up` (two real processes) on one database: the one
    that comes second waits and finds nothing left, or gives up with exit 5 when told not to
    wait; every migration is applied once."""
    team(project)
    project.migration("003_slow.sql", "SELECT pg_sleep(1.5);\nCREATE TABLE slow (id int);",
                      "DROP TABLE slow;")
    argv = [sys.executable, "-m", "nself"]
    first = subprocess.Popen([*argv, "db", "update"], cwd=project.root,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while not project.db.scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                "AND granted AND objid = %s", (LOCK_KEY & 0xFFFFFFFF,)):
        assert time.monotonic() < deadline and first.poll() is None
        time.sleep(0.05)
    impatient = project.run_process("db", "migrate", "up", "--lock-timeout", "0")
    patient = project.run_process("db", "migrate", "up")
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert "Update complete! 3 migrations applied." in out
    assert impatient.code == 5 and "migrate" in impatient.err
    assert patient.code == 0 and "up to date" in patient.out
    assert applied(project.db) == ["001", "002", "003"]


def test_json_reports_phases(project):
    """`--json` says what was applied, the backup, the line that restores it and the seconds
    of each phase."""
    team(project)
    result = project.run("db", "update", "--json")
    assert result.code == 0, result
    data = json.loads(result.out)
    assert data["applied"] == ["001_create_users", "002_create_posts"] and data["parts"] == 1
    assert data["backup"].startswith("backups/local/") and data["backup_bytes"] > 0
    assert data["undo"] == (f"nself --url {shlex.quote(project.db.url)} db restore "
                            f"{data['backup']} --clean")
    assert set(data["seconds"]) == {"rebuild_check", "backup", "setup", "apply", "verify"}
    assert "no INVALID index" in data["checks"] and data["not_checked"] == []


def test_settings_do_not_leak_between_migrations_of_one_transaction(project):
    """A migration's own SET search_path (or one set by set_config) does not reach the next
    migration sharing its transaction."""
    project.migration("001_other.sql", "CREATE SCHEMA other; SET search_path TO other;\n"
                      "CREATE TABLE inside (id int);", "DROP SCHEMA other CASCADE;")
    project.migration("002_plain.sql", "CREATE TABLE plain (id int);", "DROP TABLE plain;")
    project.migration("003_config.sql", "SELECT set_config('search_path', 'other', true);\n"
                      "CREATE TABLE inside2 (id int);", "DROP TABLE other.inside2;")
    project.migration("004_after.sql", "CREATE TABLE after (id int);", "DROP TABLE after;")
    result = project.run("db", "update")
    assert result.code == 0, result
    assert project.db.tables("other") == ["inside", "inside2"]
    assert project.db.tables("public") == ["after", "plain"]


def test_json_failure_names_the_backup_on_stderr(project):
    """With --json a failure prints nothing on stdout; the backup and the restore command go
    to stderr with the error."""
    team(project)
    project.migration("003_broken.sql", "SELECT 1/0;", "SELECT 1;")
    result = project.run("db", "update", "--json")
    assert result.code == 1 and result.out == ""
    undo = f"To restore it: nself --url {shlex.quote(project.db.url)} db restore"
    assert f"{undo} backups/local/" in result.err
    assert "division by zero" in result.err


def test_batches_keep_files_lines_and_timings(project, monkeypatch):
    """With batches of two migrations: every tracking row is written with its own execution
    time, and a failure in a later batch names its file and line; nothing stays applied."""
    from nself.migrations import engine

    monkeypatch.setattr(engine, "BATCH_MIGRATIONS", 2)
    for i in range(1, 6):
        project.migration(f"00{i}_t{i}.sql", f"CREATE TABLE t{i} (id int);",
                          f"DROP TABLE t{i};")
    result = project.run("db", "update")
    assert result.code == 0, result
    rows = project.db.query("SELECT label, execution_ms >= 0, source LIKE '%CREATE TABLE t'"
                            " || version || ' %' FROM nself.migrations ORDER BY version")
    assert rows == [(f"00{i}", True, True) for i in range(1, 6)]
    for i in range(6, 11):
        body = f"CREATE TABLE t{i} (id int);" + ("\nSELECT 1;\nSELECT 1/0;" if i == 9 else "")
        project.migration(f"{i:03d}_t{i}.sql", body, f"DROP TABLE t{i};")
    failed = project.run("db", "update")
    assert failed.code == 1
    assert "009_t9 failed at migrations/009_t9.sql line 5: division by zero" in failed.err
    assert project.db.scalar("SELECT count(*) FROM nself.migrations") == 5
    assert project.db.scalar("SELECT to_regclass('t6')") is None


def test_new_enum_value_is_committed_before_a_later_migration_uses_it(project):
    """A migration that adds an enum value ends its transaction (said beforehand), so a later
    migration of the same update can use the value."""
    project.migration("001_mood.sql", "CREATE TYPE mood AS ENUM ('ok');\n"
                      "CREATE TABLE people (id int, m mood);", "DROP TABLE people; DROP TYPE mood;")
    assert project.run("db", "migrate", "up").code == 0
    project.migration("002_sad.sql", "ALTER TYPE mood ADD VALUE 'sad';", "SELECT 1;")
    project.migration("003_use.sql", "ALTER TABLE people ALTER COLUMN m SET DEFAULT 'sad';",
                      "ALTER TABLE people ALTER COLUMN m DROP DEFAULT;")
    project.migration("004_more.sql", "CREATE TABLE more (id int);", "DROP TABLE more;")
    result = project.run("db", "update")
    assert result.code == 0, result
    assert ("runs in 2 parts (a new enum value (usable once committed)): 002_sad in one "
            "transaction, committed after 002_sad's new enum value; 003_use .. 004_more (2) "
            "in one transaction") in result.out
    assert applied(project.db) == ["001", "002", "003", "004"]


def test_a_teammates_older_migration_is_applied_out_of_order_and_said(project):
    """After a pull, a migration older than the newest applied one is applied, and said."""
    team(project)
    project.migration("005_mine.sql", "CREATE TABLE mine (id int);", "DROP TABLE mine;")
    assert project.run("db", "migrate", "up").code == 0
    project.migration("003_theirs.sql", "CREATE TABLE theirs (id int);", "DROP TABLE theirs;")
    result = project.run("db", "update")
    assert result.code == 0, result
    assert "! 003_theirs is older than the newest applied migration" in result.out
    assert applied(project.db) == ["001", "002", "003", "005"]


def test_check_failing_after_a_no_transaction_last_part_says_what_stays(project):
    """When the last part ran without a transaction, a failed check cannot roll it back:
    the output says every migration stays applied and offers the backup."""
    team(project)
    project.migration("003_check.sql",
                      "ALTER TABLE users ADD CONSTRAINT id_positive CHECK (id > 0) NOT VALID;",
                      "ALTER TABLE users DROP CONSTRAINT id_positive;")
    project.migration("004_index.sql", "CREATE INDEX CONCURRENTLY users_id2 ON users (id);",
                      "DROP INDEX users_id2;", header="-- nself:no-transaction\n")
    result = project.run("db", "update")
    assert result.code == 1 and "id_positive" in result.err
    assert "Update failed after all 4 migrations were applied" in result.out
    undo = f"To restore it: nself --url {shlex.quote(project.db.url)} db restore"
    assert f"{undo} backups/local/" in result.out
    assert applied(project.db) == ["001", "002", "003", "004"]


def test_sigterm_during_the_transaction_rolls_everything_back(project):
    """SIGTERM while the transaction runs (a real process): exit 130, no migration applied,
    the backup and the command that restores it printed."""
    import signal

    team(project)
    project.migration("003_slow.sql", "SELECT pg_sleep(30);", "SELECT 1;")
    child = subprocess.Popen([sys.executable, "-m", "nself", "db", "update"], cwd=project.root,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while not project.db.scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                                "current_database() AND query LIKE '%pg_sleep(30)%' AND "
                                "pid <> pg_backend_pid()"):
        assert time.monotonic() < deadline and child.poll() is None
        time.sleep(0.05)
    child.send_signal(signal.SIGTERM)
    out, err = child.communicate(timeout=30)
    assert child.returncode == 130, err
    assert "none of its 3 migrations is applied" in err
    undo = f"To restore it: nself --url {shlex.quote(project.db.url)} db restore"
    assert f"{undo} backups/local/" in out
    assert project.db.tables() == []


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_update_resumes_a_killed_no_transaction_migration(project, how):
    """`db update` killed once the first statement of a no-transaction migration committed
    resumes it when run again (that statement is not drift) and finishes the job."""
    import os
    import signal

    project.migration("001_a.sql", "CREATE TABLE a (id int);", "DROP TABLE a;")
    assert project.run("db", "update").code == 0  # records the schema's fingerprint
    project.migration("002_b.sql", """
        CREATE TABLE b (id int);
        SELECT pg_sleep(3);
        CREATE INDEX CONCURRENTLY b_id ON b (id);
        """, "DROP TABLE b;", header="-- nself:no-transaction\n")
    proc = subprocess.Popen([sys.executable, "-m", "nself", "db", "update"], cwd=project.root,
                            env=dict(os.environ), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if project.db.scalar("SELECT to_regclass('nself.migration_progress') IS NOT NULL") \
                and project.db.scalar("SELECT statements_done FROM nself.migration_progress "
                                      "WHERE version = 2") == 1:
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(getattr(signal, how))
    proc.communicate(timeout=60)
    assert "b" in project.db.tables() and project.db.scalar(
        "SELECT count(*) FROM nself.migrations WHERE version = 2") == 0
    again = project.run_process("db", "update")
    assert again.code == 0, again
    assert "drift not checked" not in again.out  # said only in production's validation line
    assert project.db.query("SELECT version FROM nself.migrations ORDER BY 1") == [(1,), (2,)]
    assert project.db.scalar("SELECT count(*) FROM nself.migration_progress") == 0
    assert project.db.scalar("SELECT indisvalid FROM pg_index WHERE indexrelid = "
                             "'b_id'::regclass") is True


def test_an_internal_error_after_the_backup_still_names_it(project, monkeypatch):
    """Whatever stops an update after its backup (here an internal error in verification),
    the output names the backup and the command that restores it."""
    from nself.workflows import update as workflow

    team(project)
    monkeypatch.setattr(workflow.Update, "verify", lambda *args: 1 / 0)
    result = project.run("db", "update")
    assert result.code == 1, result
    assert "Backup taken before the update: backups/local/" in result.out
    undo = f"To restore it: nself --url {shlex.quote(project.db.url)} db restore"
    assert f"{undo} backups/local/" in result.out
