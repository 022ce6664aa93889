"""`db migrate baseline` (issue 18): a database made with plain SQL, before any migration,
becomes the first migration, recorded as applied; `db update` on such a database without a
baseline stops before its backup."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import applied

from nself import errors, scaffold
from nself.migrations.files import checksum

PLAIN_SQL = """
CREATE SCHEMA shop;
CREATE TYPE shop.status AS ENUM ('new', 'paid');
CREATE TABLE shop.customers (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                             email text NOT NULL UNIQUE);
CREATE TABLE shop.orders (id bigserial PRIMARY KEY,
                          customer_id bigint NOT NULL REFERENCES shop.customers,
                          status shop.status NOT NULL DEFAULT 'new',
                          total numeric(10, 2) CHECK (total >= 0));
CREATE INDEX orders_customer ON shop.orders (customer_id);
CREATE FUNCTION shop.paid_total() RETURNS numeric LANGUAGE sql
  AS $$ SELECT coalesce(sum(total), 0) FROM shop.orders WHERE status = 'paid' $$;
CREATE VIEW shop.paid AS SELECT id, total FROM shop.orders WHERE status = 'paid';
CREATE TABLE notes (id int PRIMARY KEY, body text);
INSERT INTO shop.customers (email) VALUES ('a@example.com');
"""


def inv(root, *argv):
    """`inv ARGV` (python -m invoke) in ROOT, without a terminal."""
    proc = subprocess.run([sys.executable, "-m", "invoke", *argv], cwd=root, text=True,
                          capture_output=True, stdin=subprocess.DEVNULL, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


def test_baseline_of_a_plain_sql_database_then_status_diff_and_update(project):
    """Through `inv db.migrate.baseline` (no terminal): the file is the live schema (psql
    loads it as written into an empty database), recorded as applied with the file's
    checksum; status says applied, the migrations diff is empty, the data is untouched,
    and `db update` applies a new migration (the pre-check passes)."""
    project.db.query(PLAIN_SQL)
    (project.root / "tasks.py").write_text(scaffold.TASKS_FILE)
    code, out, err = inv(project.root, "db.migrate.baseline")
    assert code == 0, (out, err)
    assert "Baseline written: migrations/001_baseline.sql" in out
    path = project.migrations / "001_baseline.sql"
    text = path.read_text()
    assert "CREATE TABLE shop.orders" in text and "CREATE VIEW shop.paid" in text
    assert "-- DOWN" not in text
    assert project.db.query("SELECT label, name, checksum FROM nself.migrations") == [
        ("001", "baseline", checksum(path.read_bytes()))]
    assert project.db.scalar("SELECT count(*) FROM shop.customers") == 1

    status = project.run("db", "migrate", "status", "--json", "--check")
    assert status.code == 0, status
    assert [(e["version"], e["status"], e["drift"]) for e in json.loads(status.out)] == [
        ("001", "applied", False)]
    differences = project.run("db", "schema", "diff", "--migrations")
    assert differences.code == 0, differences

    empty = project.db.create_sibling()
    loaded = project.run("db", "shell", "-f", str(path), "--database", empty.name)
    assert loaded.code == 0, loaded
    assert empty.tables("shop") == project.db.tables("shop") == ["customers", "orders"]

    project.migration("002_order_notes.sql", "ALTER TABLE shop.orders ADD COLUMN note text;",
                      "ALTER TABLE shop.orders DROP COLUMN note;")
    updated = project.run("db", "update")
    assert updated.code == 0, updated
    assert applied(project.db) == ["001", "002"]
    assert project.run("db", "schema", "diff", "--migrations").code == 0
    down = project.run("db", "migrate", "down", "2", "--no-backup")
    assert down.code == 1 and "001_baseline has no DOWN SQL" in down.err, down


def test_update_stops_before_the_backup_then_baseline_goes_first(project):
    """An existing database and a teammate's migration written for it: `db update` stops
    at once (exit 6, no backup, nothing applied) naming the tables no migration makes and
    `migrate baseline`; the baseline is numbered before that file, which stays pending and
    is applied by the next update."""
    project.db.query(PLAIN_SQL)
    project.migration("001_order_notes.sql", "ALTER TABLE shop.orders ADD COLUMN note text;",
                      "ALTER TABLE shop.orders DROP COLUMN note;")
    refused = project.run("db", "update")
    assert refused.code == errors.DIFFERENCES, refused
    assert "+ Table: shop.customers (missing in migrations)" in refused.err
    assert "nself db migrate baseline" in refused.err
    assert len(refused.err.strip().splitlines()) == 1
    assert not (project.root / "backups").exists()
    assert project.db.scalar("SELECT to_regclass('nself.migrations')") is None
    assert "note" not in [r[0] for r in project.db.query(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'orders'")]

    done = project.run("db", "migrate", "baseline", "--name", "existing_shop")
    assert done.code == 0, done
    assert "migrations/000_existing_shop.sql" in done.out and "001_order_notes" in done.out
    status = json.loads(project.run("db", "migrate", "status", "--json").out)
    assert [(e["version"], e["status"]) for e in status] == [("000", "applied"),
                                                            ("001", "pending")]
    updated = project.run("db", "update")
    assert updated.code == 0, updated
    assert applied(project.db) == ["000", "001"]


def test_baseline_refused_once_nself_tracks_migrations(project):
    """A database with rows in nself's tracking table is refused in one line (exit 2), and
    no file is written."""
    project.migration("001_notes.sql", "CREATE TABLE notes (id int);", "DROP TABLE notes;")
    assert project.run("db", "migrate", "up").code == 0
    project.db.query("CREATE TABLE handmade (id int)")
    result = project.run("db", "migrate", "baseline")
    assert result.code == errors.USAGE, result
    assert result.err.count("\n") == 1 and "already records 1 migration" in result.err
    assert sorted(p.name for p in project.migrations.iterdir()) == ["001_notes.sql"]
    assert applied(project.db) == ["001"]


def test_baseline_of_an_empty_database_is_refused(project):
    result = project.run("db", "migrate", "baseline")
    assert result.code == errors.USAGE and "Nothing to baseline" in result.err, result
    assert list(project.migrations.iterdir()) == []


def test_baseline_in_staging_needs_confirmation_and_says_the_address(project, monkeypatch):
    """Staging: refused without a terminal unless --yes (the safety table's row), and the
    confirmed run names the database and where its address came from."""
    project.db.query("CREATE TABLE notes (id int PRIMARY KEY)")
    monkeypatch.setenv("ENV", "staging")
    refused = project.run("db", "migrate", "baseline")
    assert refused.code == errors.REFUSED and "--yes" in refused.err, refused
    assert list(project.migrations.iterdir()) == []
    done = project.run("db", "migrate", "baseline", "--yes")
    assert done.code == 0, done
    assert "DATABASE_URL" in done.out and "Target:" in done.out
    assert applied(project.db) == ["001"]


def test_baseline_help_names_every_flag(project):
    result = project.run("db", "migrate", "baseline", "--help")
    assert result.code == 0
    for flag in ("--name", "--yes", "--confirm", "--allow-env-mismatch", "--lock-timeout"):
        assert flag in result.out


def test_baseline_is_numbered_before_the_first_file(tmp_path):
    """An empty folder gets 001; otherwise the version just before the first file, as wide
    (a timestamp: the second before); nothing comes before version 0."""
    import pytest

    from nself.errors import UsageError
    from nself.migrations import files
    from nself.migrations.baseline import path_for

    assert path_for(tmp_path, "baseline", []).name == "001_baseline.sql"
    for first, expected in (("001_a.sql", "000_baseline.sql"),
                            ("0010_a.sql", "0009_baseline.sql"),
                            ("20240101120000_a.sql", "20240101115959_baseline.sql")):
        folder = tmp_path / first
        folder.mkdir()
        (folder / first).write_text("-- UP\nSELECT 1;\n")
        assert path_for(folder, "baseline", files.read_folder(folder)).name == expected
    zero = tmp_path / "zero"
    zero.mkdir()
    (zero / "000_a.sql").write_text("-- UP\nSELECT 1;\n")
    with pytest.raises(UsageError, match="No version comes before"):
        path_for(zero, "baseline", files.read_folder(zero))


def test_baseline_dry_run_prints_the_file_and_changes_nothing(project):
    """--dry-run prints the file the baseline would write and where it would record it; no
    file, no nself schema on the database; the real run then writes that same text."""
    project.db.query(PLAIN_SQL)
    result = project.run("db", "migrate", "baseline", "--dry-run")
    assert result.code == 0, result
    assert "CREATE TABLE shop.orders" in result.out
    assert "Dry run: would write migrations/001_baseline.sql" in result.out
    assert list(project.migrations.glob("*.sql")) == []
    assert project.db.scalar("SELECT to_regnamespace('nself')") is None
    assert project.run("db", "migrate", "baseline").code == 0
    written = (project.migrations / "001_baseline.sql").read_text()
    assert written.rstrip("\n") in result.out
    again = project.run("db", "migrate", "baseline", "--dry-run")
    assert again.code == 2 and "Refusing to baseline" in again.err, again
