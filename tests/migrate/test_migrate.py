"""`nself db migrate`: status, up, down, create, fresh, repair against real PostgreSQL."""

from __future__ import annotations

import json
import re
import shlex
import subprocess

import pytest
from conftest import applied

from nself.pg import layout


def three(project):
    project.migration("001_create_users.sql", "CREATE TABLE users (id int PRIMARY KEY);",
                      "DROP TABLE users;")
    project.migration("002_create_posts.sql",
                      "CREATE TABLE posts (id int PRIMARY KEY, user_id int REFERENCES users);",
                      "DROP TABLE posts;")
    project.migration("003_create_orders.sql", "CREATE TABLE orders (id int);",
                      "DROP TABLE orders;")


# status -------------------------------------------------------------------------------------


def test_status_lists_pending_before_any_tracking_table(project):
    """`status` without a tracking table shows every file Pending and creates nothing."""
    three(project)
    result = project.run("db", "migrate", "status")
    assert result.code == 0, result
    assert re.search(r"VERSION\s+NAME\s+STATUS\s+APPLIED", result.out)
    assert re.search(r"001\s+create_users\s+Pending\s+-", result.out)
    assert project.db.scalar("SELECT to_regnamespace('nself')") is None


def test_status_json_and_check(project):
    """`status --json` lists {version, name, status, applied_at}; `--check` exits 6 if pending."""
    three(project)
    assert project.run("db", "migrate", "up", "2").code == 0
    result = project.run("db", "migrate", "status", "--json")
    data = json.loads(result.out)
    assert [(d["version"], d["name"], d["status"]) for d in data] == [
        ("001", "create_users", "applied"), ("002", "create_posts", "applied"),
        ("003", "create_orders", "pending")]
    assert data[0]["applied_at"] and data[2]["applied_at"] is None
    check = project.run("db", "migrate", "status", "--check")
    assert check.code == 6 and "1 pending" in check.err
    assert project.run("db", "migrate", "up").code == 0
    assert project.run("db", "migrate", "status", "--check").code == 0


def test_db_status_counts_migrations(project):
    """`db status` reports real applied/pending counts from the tracking table."""
    three(project)
    project.run("db", "migrate", "up", "--steps", "1")
    result = project.run("db", "status", "--json")
    assert json.loads(result.out)["migrations"] == {
        "applied": 1, "pending": 2, "changed": 0, "missing": 0}


# up -----------------------------------------------------------------------------------------


def test_up_applies_in_order_with_tracking_rows(project):
    """`up` applies every pending file in version order, prints each with its duration, and
    records checksum, applied_by, execution time and DOWN text in nself.migrations."""
    three(project)
    result = project.run("db", "migrate", "up")
    assert result.code == 0, result
    lines = [line for line in result.out.splitlines() if line.startswith("✓ 00")]
    assert [line.split()[1] for line in lines] == [
        "001_create_users", "002_create_posts", "003_create_orders"]
    assert all(re.search(r"\(\d+(\.\d)? (ms|s)\)$", line) for line in lines)
    assert project.db.tables() == ["orders", "posts", "users"]
    row = project.db.query("SELECT checksum, applied_by, execution_ms, down_sql, source "
                           "FROM nself.migrations WHERE version = 1")[0]
    assert len(row[0]) == 64 and "@" in row[1] and row[2] >= 0
    assert row[3].strip() == "DROP TABLE users;" and "CREATE TABLE users" in row[4]
    assert project.db.tables("nself") == sorted(layout.TABLES)
    assert project.db.scalar("SELECT value FROM nself.meta WHERE key = 'layout_version'") == "4"
    again = project.run("db", "migrate", "up")
    assert again.code == 0 and "up to date" in again.out


def test_up_steps_positional_and_to(project):
    """`up 1` (the guides' form), `--steps` and `--to VERSION` stop where asked."""
    three(project)
    assert project.run("db", "migrate", "up", "1").code == 0
    assert applied(project.db) == ["001"]
    assert project.run("db.migrate.up", "--to", "002").code == 0
    assert applied(project.db) == ["001", "002"]
    assert project.run("db", "migrate", "up", "--steps", "5").code == 0
    assert applied(project.db) == ["001", "002", "003"]
    bad = project.run("db", "migrate", "up", "--to", "999")
    assert bad.code == 2 and "999" in bad.err


def test_up_dry_run_changes_nothing(project):
    """`up --dry-run` prints the SQL it would run and creates nothing, not even tracking."""
    three(project)
    result = project.run("db", "migrate", "up", "--dry-run")
    assert result.code == 0, result
    assert "CREATE TABLE users" in result.out and "3 migrations would be applied" in result.out
    assert project.db.tables() == []
    assert project.db.scalar("SELECT to_regnamespace('nself')") is None


def test_mixed_numbering_schemes_order_by_version(project):
    """Sequence and timestamp files mix, ordered by their numeric version."""
    project.migration("20250806140000_create_users_table.sql", "CREATE TABLE users (id int);",
                      "DROP TABLE users;")
    project.migration("002_early.sql", "CREATE TABLE early (id int);", "DROP TABLE early;")
    result = project.run("db", "migrate", "up")
    assert result.code == 0, result
    assert result.out.index("002_early") < result.out.index("20250806140000_create_users_table")


def test_out_of_order_pending_is_applied_and_said(project):
    """A pending file older than the newest applied one (merged from a branch) is applied,
    with a note."""
    project.migration("001_a.sql", "CREATE TABLE a (id int);", "DROP TABLE a;")
    project.migration("003_c.sql", "CREATE TABLE c (id int);", "DROP TABLE c;")
    assert project.run("db", "migrate", "up").code == 0
    project.migration("002_b.sql", "CREATE TABLE b (id int);", "DROP TABLE b;")
    result = project.run("db", "migrate", "up")
    assert result.code == 0, result
    assert "002_b is older than the newest applied migration" in result.out
    assert applied(project.db) == ["001", "002", "003"]


def test_failure_mid_file_rolls_back_that_migration_only(project):
    """A failing statement leaves no tracking row and no partial objects; earlier migrations in the
    run stay; the error names the file, the statement's line and PostgreSQL's message (exit 1)."""
    project.migration("001_ok.sql", "CREATE TABLE ok (id int);", "DROP TABLE ok;")
    project.migration("002_bad.sql", """
        CREATE TABLE partial (id int);
        INSERT INTO partial VALUES (1);

        INSERT INTO does_not_exist VALUES (1);
        CREATE TABLE after (id int);
    """, "DROP TABLE partial;")
    project.migration("003_later.sql", "CREATE TABLE later (id int);", "DROP TABLE later;")
    result = project.run("db", "migrate", "up")
    assert result.code == 1, result
    assert "migrations/002_bad.sql line 6" in result.err
    assert 'relation "does_not_exist" does not exist' in result.err
    assert "applied before it in this run stays applied" in result.err
    assert project.db.tables() == ["ok"]
    assert applied(project.db) == ["001"]


def test_syntax_error_names_line(project):
    """A syntax error anywhere in a migration names its line and applies nothing of it."""
    project.migration("001_typo.sql", "CREATE TABLE t (id int);\nSELEC 1;", "")
    result = project.run("db", "migrate", "up")
    assert result.code == 1
    assert "001_typo.sql line 4" in result.err and "SELEC" in result.err
    assert project.db.tables() == []


def test_deferred_constraint_failing_at_commit_rolls_back(project):
    """A deferred constraint that fails at COMMIT leaves neither the rows nor a tracking row."""
    project.migration("001_t.sql", """
        CREATE TABLE p (id int PRIMARY KEY);
        CREATE TABLE ch (p int REFERENCES p DEFERRABLE INITIALLY DEFERRED);
        INSERT INTO ch VALUES (7);
    """, "DROP TABLE ch, p;")
    result = project.run("db", "migrate", "up")
    assert result.code == 1 and "COMMIT" in result.err, result
    assert project.db.tables() == []


def test_own_begin_commit_stays_atomic_with_tracking(project):
    """A migration wrapping its own BEGIN; … COMMIT; is still rolled back whole when a later
    statement fails (its COMMIT does not commit early)."""
    project.migration("001_tx.sql", """
        BEGIN;
        CREATE TABLE inside (id int);
        COMMIT;
        SELECT 1/0;
    """, "DROP TABLE inside;")
    result = project.run("db", "migrate", "up")
    assert result.code == 1 and "division by zero" in result.err
    assert "001_tx.sql line 6" in result.err
    assert project.db.tables() == []


def test_top_level_rollback_is_refused(project):
    """A bare ROLLBACK in a migration is refused before anything runs, with its line."""
    project.migration("001_rb.sql", "CREATE TABLE x (id int);\nROLLBACK;", "")
    result = project.run("db", "migrate", "up")
    assert result.code == 2 and "001_rb.sql:4" in result.err and "ROLLBACK" in result.err
    assert project.db.tables() == []


# changed / missing / repair ---------------------------------------------------------------


def test_edited_file_is_changed_up_refuses_repair_fixes(project):
    """Edited applied file -> Changed -> `up` refuses (exit 3) -> `repair --yes` shows the diff and
    re-records it -> `up` works."""
    three(project)
    assert project.run("db", "migrate", "up", "2").code == 0
    path = project.migrations / "001_create_users.sql"
    path.write_text(path.read_text().replace("PRIMARY KEY", "PRIMARY KEY, email text"))
    status = project.run("db", "migrate", "status")
    assert re.search(r"001\s+create_users\s+Changed", status.out)
    refused = project.run("db", "migrate", "up")
    assert refused.code == 6 and "001_create_users (changed)" in refused.err
    assert "repair" in refused.err
    no_terminal = project.run_process("db", "migrate", "repair", "--no-backup")
    assert no_terminal.code == 3 and "--yes" in no_terminal.err
    repaired = project.run("db", "migrate", "repair", "--no-backup", "--yes")
    assert repaired.code == 0, repaired
    assert "+CREATE TABLE users (id int PRIMARY KEY, email text);" in repaired.out
    assert "Recorded the edited 001_create_users as applied" in repaired.out
    assert project.run("db", "migrate", "up").code == 0
    assert applied(project.db) == ["001", "002", "003"]


def test_crlf_copy_is_not_changed(project):
    """A file re-saved with CRLF line endings keeps its checksum: still Applied."""
    three(project)
    assert project.run("db", "migrate", "up").code == 0
    path = project.migrations / "002_create_posts.sql"
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    result = project.run("db", "migrate", "status", "--check")
    assert result.code == 0, result
    assert "Changed" not in result.out


def test_missing_file_is_reported_and_forgotten_by_repair(project):
    """A deleted applied file shows as Missing, blocks `up`, and `repair --yes` forgets it."""
    three(project)
    assert project.run("db", "migrate", "up").code == 0
    (project.migrations / "003_create_orders.sql").unlink()
    assert re.search(r"003\s+create_orders\s+Missing",
                     project.run("db", "migrate", "status").out)
    assert project.run("db", "migrate", "up").code == 6
    result = project.run("db", "migrate", "repair", "--no-backup", "--yes")
    assert result.code == 0 and "Forgot the missing 003_create_orders" in result.out
    assert applied(project.db) == ["001", "002"]


def test_repair_marks_applied_and_pending(project):
    """`repair --mark-applied V` records a migration without running it; `--mark-pending V`
    forgets it."""
    three(project)
    assert project.run("db", "migrate", "repair", "--no-backup", "--mark-applied", "001").code == 0
    assert applied(project.db) == ["001"] and project.db.tables() == []
    assert project.run("db", "migrate", "repair", "--no-backup", "--mark-pending", "001").code == 0
    assert applied(project.db) == []
    assert project.run("db", "migrate", "up").code == 0
    assert project.db.tables() == ["orders", "posts", "users"]


def test_repair_recreates_missing_tracking_table(project):
    """`repair` recreates a dropped tracking table; the files then show Pending."""
    three(project)
    assert project.run("db", "migrate", "up").code == 0
    project.db.query("DROP SCHEMA nself CASCADE")
    result = project.run("db", "migrate", "repair", "--no-backup")
    assert result.code == 0 and "Created the missing tracking table" in result.out
    assert project.db.tables("nself") == sorted(layout.TABLES)


def test_repair_rebuilds_damaged_tracking_table(project):
    """`repair` rebuilds a tracking table that lost columns and its primary key, keeping rows."""
    three(project)
    assert project.run("db", "migrate", "up").code == 0
    project.db.query("ALTER TABLE nself.migrations DROP COLUMN checksum, "
                     "DROP CONSTRAINT migrations_pkey")
    refused = project.run("db", "migrate", "status")
    assert refused.code == 1 and "is damaged" in refused.err and "repair" in refused.err
    result = project.run("db", "migrate", "repair", "--no-backup")
    assert result.code == 0 and "Rebuilt the damaged tracking table" in result.out, result
    assert "keeping 3 rows" in result.out
    assert project.run("db", "migrate", "status", "--check").code == 0


# down ---------------------------------------------------------------------------------------


def test_down_steps_and_to(project):
    """`down` rolls back one, `down 1` one more, `down --to 0` the rest, newest first."""
    three(project)
    assert project.run("db", "migrate", "up").code == 0
    result = project.run("db", "migrate", "down", "--no-backup")
    assert result.code == 0 and "Rolled back 003_create_orders" in result.out
    assert project.run("db", "migrate", "down", "--no-backup", "1").code == 0
    assert applied(project.db) == ["001"]
    assert project.run("db", "migrate", "up").code == 0
    assert project.run("db.migrate.down", "--no-backup", "--to", "001").code == 0
    assert applied(project.db) == ["001"]
    assert project.run("db.migrate.down", "--no-backup", "--to", "0").code == 0
    assert applied(project.db) == [] and project.db.tables() == []


def test_down_without_down_sql_stops_before_anything(project):
    """Rolling back past a migration with no DOWN fails before any rollback runs."""
    project.migration("001_a.sql", "CREATE TABLE a (id int);", None)
    project.migration("002_b.sql", "CREATE TABLE b (id int);", "DROP TABLE b;")
    assert project.run("db", "migrate", "up").code == 0
    result = project.run("db", "migrate", "down", "--no-backup", "2")
    assert result.code == 1 and "001_a has no DOWN" in result.err
    assert applied(project.db) == ["001", "002"] and project.db.tables() == ["a", "b"]


def test_down_uses_stored_down_after_file_deleted_or_edited(project):
    """`down` runs the DOWN text stored at apply time, even once the file is gone."""
    project.migration("001_a.sql", "CREATE TABLE a (id int);", "DROP TABLE a;")
    assert project.run("db", "migrate", "up").code == 0
    (project.migrations / "001_a.sql").unlink()
    result = project.run("db", "migrate", "down", "--no-backup")
    assert result.code == 0, result
    assert "using the DOWN stored" in result.out
    assert project.db.tables() == [] and applied(project.db) == []


def test_down_failure_keeps_migration_applied(project):
    """A failing DOWN rolls back nothing of itself and keeps the migration recorded."""
    project.migration("001_a.sql", "CREATE TABLE a (id int);", "DROP TABLE a;\nDROP TABLE nope;")
    assert project.run("db", "migrate", "up").code == 0
    result = project.run("db", "migrate", "down", "--no-backup")
    assert result.code == 1 and "line" in result.err and "nope" in result.err
    assert project.db.tables() == ["a"] and applied(project.db) == ["001"]


# create -------------------------------------------------------------------------------------


def test_create_numbers_after_sequence(project):
    """`create` writes the next sequence number with header and empty sections, and says where."""
    three(project)
    result = project.run("db", "migrate", "create", "add_user_indexes")
    assert result.code == 0, result
    assert result.out.strip() == "✓ Migration created: migrations/004_add_user_indexes.sql"
    text = (project.migrations / "004_add_user_indexes.sql").read_text()
    assert text.startswith("-- Migration: 004_add_user_indexes\n-- Created: ")
    assert "\n-- UP\n" in text and "\n-- DOWN\n" in text


def test_create_follows_timestamp_scheme(project):
    """In a folder of timestamped files `create` writes a newer timestamp."""
    project.migration("20250806140000_create_users_table.sql", "SELECT 1;", "")
    result = project.run("db", "migrate", "create", "add_profiles")
    assert result.code == 0
    created = sorted(p.name for p in project.migrations.iterdir())[-1]
    assert re.fullmatch(r"\d{14}_add_profiles\.sql", created) and created > "20250806140000"


def test_create_empty_folder_and_bad_names(project):
    """The first file is 001; names that are not simple identifiers are rejected (exit 2)."""
    assert "001_first.sql" in project.run("db", "migrate", "create", "first").out
    for bad in ("add-indexes", "1abc", "a b", "../evil"):
        result = project.run("db.migrate.create", "--name", bad)
        assert result.code == 2 and "simple identifier" in result.err, bad
    assert sorted(p.name for p in project.migrations.iterdir()) == ["001_first.sql"]


def test_created_file_is_refused_until_written(project):
    """A freshly created migration (the template's empty UP) is refused by `up`, naming the file
    and changing nothing; once its UP is written it applies, and `down` refuses it until DOWN
    SQL is written."""
    project.run("db", "migrate", "create", "empty")
    refused = project.run("db", "migrate", "up")
    assert refused.code == 2 and "migrations/001_empty.sql:5: the UP section is empty" in \
        refused.err, refused
    assert project.db.scalar("SELECT to_regnamespace('nself')") is None
    path = project.migrations / "001_empty.sql"
    path.write_text(path.read_text().replace("-- UP\n", "-- UP\nSELECT 1;\n"))
    assert project.run("db", "migrate", "up").code == 0
    result = project.run("db", "migrate", "down", "--no-backup")
    assert result.code == 1 and "001_empty has no DOWN SQL" in result.err


# fresh --------------------------------------------------------------------------------------


def test_fresh_drops_everything_and_reapplies(project):
    """`fresh` drops user objects (tables, types, functions, views, other schemas, extensions' use)
    and re-applies every migration."""
    three(project)
    assert project.run("db", "migrate", "up", "1").code == 0
    project.db.query("""
        CREATE TABLE stray (id serial); CREATE TYPE mood AS ENUM ('ok');
        CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1';
        CREATE VIEW v AS SELECT 1 AS x; CREATE SCHEMA extra; CREATE TABLE extra.t (id int);
        CREATE DOMAIN posint AS int CHECK (VALUE > 0);
    """)
    result = project.run("db", "migrate", "fresh", "--no-backup")
    assert result.code == 0, result
    assert project.db.tables() == ["orders", "posts", "users"]
    assert applied(project.db) == ["001", "002", "003"]
    assert project.db.scalar("SELECT count(*) FROM pg_namespace WHERE nspname = 'extra'") == 0
    assert project.db.scalar("SELECT to_regtype('mood')") is None


# safety -------------------------------------------------------------------------------------


def test_staging_and_production_rules_without_terminal(project):
    """Without a terminal: staging `up` needs --yes; production `down` needs
    --confirm yes-destroy-production; `fresh` is blocked outside local (exit 3)."""
    three(project)
    staging = {"ENV": "staging"}
    refused = project.run_process("db", "migrate", "up", env=staging)
    assert refused.code == 3 and "--yes" in refused.err
    assert project.db.tables() == []
    assert project.run_process("db", "migrate", "up", "--yes", env=staging).code == 0
    blocked = project.run_process("db", "migrate", "fresh", "--no-backup", "--yes", env=staging)
    assert blocked.code == 3 and "blocked" in blocked.err
    prod = {"ENV": "production"}
    mismatch = project.run_process("db", "migrate", "down", "--no-backup", "--confirm",
                                   "yes-destroy-production", env=prod)
    assert mismatch.code == 3 and "recorded as staging" in mismatch.err, mismatch
    assert project.run_process("db", "migrate", "down", "--no-backup", "--yes",
                               "--allow-env-mismatch", env=prod).code == 3
    ok = project.run_process("db", "migrate", "down", "--no-backup", "--confirm",
                             "yes-destroy-production", "--allow-env-mismatch", env=prod)
    assert ok.code == 0, ok
    assert applied(project.db) == ["001", "002"]
    assert project.run_process("db", "migrate", "repair", "--no-backup", "--yes",
                               env=staging).code == 3  # now recorded as production
    assert project.run_process("db", "migrate", "repair", "--no-backup", "--yes",
                               "--allow-env-mismatch", env=staging).code == 0


def test_session_settings_do_not_leak_between_migrations(project):
    """A migration's own SET search_path (or role) does not carry over to the next one."""
    project.migration("001_other.sql", "CREATE SCHEMA other; SET search_path TO other;\n"
                      "CREATE TABLE inside (id int);", "DROP SCHEMA other CASCADE;")
    project.migration("002_plain.sql", "CREATE TABLE plain (id int);", "DROP TABLE plain;")
    project.migration("003_notx.sql", "SET search_path TO other;\nVACUUM;",
                      "", header="-- nself:no-transaction\n")
    project.migration("004_after.sql", "CREATE TABLE after_notx (id int);",
                      "DROP TABLE after_notx;")
    result = project.run("db", "migrate", "up")
    assert result.code == 0, result
    assert project.db.tables("other") == ["inside"]
    assert project.db.tables("public") == ["after_notx", "plain"]


def test_production_up_backs_up_first(project):
    """In production, `up` with something to apply takes a backup first (restorable to the
    state before); with nothing pending or with --no-backup it takes none."""
    three(project)
    prod = {"ENV": "production"}
    project.db.query("CREATE TABLE before_migrate (id int)")
    result = project.run_process("db", "migrate", "up", "2", "--yes", env=prod)
    assert result.code == 0, result
    made = sorted((project.root / "backups" / "production").glob("*_before_migrate.dump"))
    shown = f"backups/production/{made[0].name}"
    assert len(made) == 1 and "Pre-migration backup... Done (" in result.out
    # the migrations guide's production list, each step said, in its order
    steps = ["Schema validation... Passed (2 pending migrations parsed and checked",
             "Confirmation prompt... given with --yes",
             f"): {shown}",
             f"Rollback preparation... Ready: undo with `ENV=production nself --url "
             f"{shlex.quote(project.db.url)} "
             "db restore "
             f"{shown} --clean --confirm yes-restore-production`; "
             "2 of 2 pending migrations have a DOWN section",
             "001_create_users"]
    at = [result.out.index(step) for step in steps]
    assert at == sorted(at), result.out
    from nself.pg import tools as pgtools

    listing = subprocess.run([pgtools.newest("pg_restore").path, "-l", str(made[0])],
                             capture_output=True, text=True, check=True).stdout
    assert "before_migrate" in listing and "users" not in listing
    with project.db.connect() as conn:  # a change by hand: schema validation refuses
        conn.execute("CREATE TABLE by_hand (id int)")
    project.migration("009_more.sql", "CREATE TABLE more (id int);", "DROP TABLE more;")
    drifted = project.run_process("db", "migrate", "up", "--yes", env=prod)
    assert drifted.code == 6 and "Schema validation failed" in drifted.err, drifted
    assert "more" not in project.db.tables()
    with project.db.connect() as conn:
        conn.execute("DROP TABLE by_hand")
    skipped = project.run_process("db", "migrate", "up", "--yes", "--no-backup", env=prod)
    assert skipped.code == 0 and "Pre-migration backup... Skipped (--no-backup)" in skipped.out
    assert project.run_process("db", "migrate", "up", "--yes", env=prod).code == 0
    assert len(list((project.root / "backups" / "production").glob("*_before_migrate.dump"))) == 1


# file errors --------------------------------------------------------------------------------


@pytest.mark.parametrize("files, message", [
    ({"001_a.sql": "CREATE TABLE a (id int);\n"}, "001_a.sql:1: no `-- UP` marker"),
    ({"001_a.sql": "-- UP\nSELECT 1;\n", "01_b.sql": "-- UP\nSELECT 1;\n"},
     "version 01 is also used by 001_a.sql"),
    ({"001_a.sql": "-- depends_on: 007\n-- UP\nSELECT 1;\n"},
     "001_a.sql:1: depends_on 007: no such migration"),
    ({"001_a.sql": "-- depends_on: 002_b\n-- UP\nSELECT 1;\n", "002_b.sql": "-- UP\nSELECT 1;\n"},
     "not earlier than this one"),
    ({"001_a.sql": "-- UP\nSELECT 1;\n\\i other.sql\n"},
     "001_a.sql:3: psql meta-command `\\i`"),
    ({"001_a.sql": "-- UP\nSELECT 1;\n-- DOWN\n  \\set x 1\n"}, "001_a.sql:4: psql meta-command"),
    ({"001-a.sql": "-- UP\nSELECT 1;\n"}, "not a migration file name"),
    ({"001_a.sql": "-- UP\nCREATE TABLE t (id int);\nCOPY t FROM stdin;\n1\n\\.\n"},
     "001_a.sql:5: inline `COPY ... FROM stdin` data"),
    ({"001_a.sql": "-- UP\nCREATE TABLE t (v text);\nINSERT INTO t VALUES ('caf\xe9');\n"
                   .encode("latin-1")}, "001_a.sql:3: not UTF-8 text (byte 0xe9)"),
])
def test_malformed_folder_is_refused_before_anything_runs(project, files, message):
    """Missing UP, duplicate versions, bad depends_on, psql meta-commands and bad names are errors
    naming file and line (exit 2), and nothing is applied, not even earlier good files."""
    project.migration("000_good.sql", "CREATE TABLE good (id int);", "DROP TABLE good;")
    for name, text in files.items():
        path = project.migrations / name
        path.write_bytes(text) if isinstance(text, bytes) else path.write_text(text)
    result = project.run("db", "migrate", "up")
    assert result.code == 2, result
    assert message in result.err.replace("\\\\", "\\\\\\\\") or message in result.err, result.err
    assert project.db.tables() == []


def test_depends_on_earlier_version_with_name_is_accepted(project):
    """`-- depends_on: 20250806140000_create_users_table` (the guides' spelling) is accepted."""
    project.migration("20250806140000_create_users_table.sql",
                      "CREATE TABLE users (id uuid PRIMARY KEY);", "DROP TABLE users;")
    project.migration("20250806150000_create_user_profiles.sql", """
        CREATE TABLE user_profiles (
        id UUID DEFAULT gen_random_uuid() PRIMARY KEY,
        user_id UUID NOT NULL REFERENCES users(id),
        bio TEXT,
        created_at TIMESTAMP DEFAULT now() NOT NULL
        );""", "DROP TABLE user_profiles;",
        header="-- depends_on: 20250806140000_create_users_table\n")
    assert project.run("db", "migrate", "up").code == 0
    assert project.db.tables() == ["user_profiles", "users"]


# small flags -------------------------------------------------------------------------------


def test_repair_with_nothing_to_do_says_so(project):
    """`repair` on a consistent history changes nothing and says so."""
    three(project)
    assert project.run("db", "migrate", "up").code == 0
    result = project.run("db", "migrate", "repair", "--no-backup")
    assert result.code == 0 and "Nothing to repair" in result.out
    assert applied(project.db) == ["001", "002", "003"]


def test_down_rejects_steps_with_to_and_bad_numbers(project):
    """`down` refuses --steps together with --to, and non-numeric steps (exit 2)."""
    three(project)
    assert project.run("db.migrate.down", "--steps", "1", "--to", "001").code == 2
    assert project.run("db", "migrate", "down", "--no-backup", "two").code == 2
    assert project.run("db", "migrate", "up", "--steps", "-1").code == 2


def test_async_commit_setting_applies_the_same(project, monkeypatch):
    """With NSELF_MIGRATE_SYNC_COMMIT=false (asynchronous commits inside a run), same result."""
    monkeypatch.setenv("NSELF_MIGRATE_SYNC_COMMIT", "false")
    three(project)
    assert project.run("db", "migrate", "up").code == 0
    assert applied(project.db) == ["001", "002", "003"]
    assert project.run("db", "migrate", "down", "--no-backup", "--to", "0").code == 0
    assert project.db.tables() == []


def test_nself_migrations_folder_layout(project):
    """With the guides' layout (nself/migrations/), create and up use that folder."""
    project.migrations.rmdir()
    (project.root / "nself" / "migrations").mkdir(parents=True)
    result = project.run("db", "migrate", "create", "add_posts_table")
    assert result.out.strip() == ("✓ Migration created: "
                                  "nself/migrations/001_add_posts_table.sql")
    path = project.root / "nself" / "migrations" / "001_add_posts_table.sql"
    path.write_text(path.read_text().replace("-- UP\n", "-- UP\nCREATE TABLE posts (id int);\n"))
    assert project.run("db", "migrate", "up").code == 0
    assert applied(project.db) == ["001"]
