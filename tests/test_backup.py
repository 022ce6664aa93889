"""`db backup` (create, list, status, prune) against real PostgreSQL."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from nself import backups

SCHEMA = """
CREATE TABLE users (id serial PRIMARY KEY, email text UNIQUE NOT NULL, name text,
                    prefs jsonb, balance numeric(12, 2), created_at timestamptz DEFAULT now());
CREATE TABLE posts (id bigserial PRIMARY KEY, user_id int REFERENCES users (id),
                    title text NOT NULL, body text, tags text[]);
CREATE TABLE sessions (token uuid PRIMARY KEY, user_id int, seen timestamptz);
CREATE TABLE logs (id int, line text);
CREATE INDEX posts_user ON posts (user_id);
CREATE VIEW active_users AS SELECT id, email FROM users WHERE balance > 0;
INSERT INTO users (email, name, prefs, balance)
SELECT 'user' || i || '@example.com',
       CASE WHEN i % 7 = 0 THEN NULL ELSE 'Zoë ' || i || E'\\n"q"' END,
       jsonb_build_object('theme', CASE WHEN i % 2 = 0 THEN 'dark' ELSE 'light' END, 'n', i),
       (i * 13 % 1000) / 7.0
FROM generate_series(1, 300) AS i;
INSERT INTO posts (user_id, title, body, tags)
SELECT 1 + i % 300, 'Post ' || i, repeat('text ', i % 20), ARRAY['a', 'b' || i]
FROM generate_series(1, 900) AS i;
INSERT INTO sessions SELECT gen_random_uuid(), i, now() FROM generate_series(1, 50) AS i;
INSERT INTO logs SELECT i, 'log line ' || i FROM generate_series(1, 200) AS i;
"""

FINGERPRINT_SQL = """
SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), ''))
FROM {table} AS t
"""


def fill(db) -> None:
    with db.connect() as conn:
        conn.execute(SCHEMA)


def fingerprint(db, schema: str = "public") -> dict[str, tuple[int, str]]:
    """Row count and an md5 of every row's text, per table."""
    result = {}
    for table in db.tables(schema):
        result[table] = tuple(db.query(FINGERPRINT_SQL.format(table=f'"{schema}"."{table}"'))[0])
    return result


def backup_files(project) -> list[str]:
    folder = project.root / "backups"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def make_backup(project, *args: str) -> Path:
    result = project.run("db", "backup", *args)
    assert result.code == 0, result
    line = next(x for x in result.out.splitlines() if x.startswith("Backup created: "))
    return project.root / line.removeprefix("Backup created: ")


def toc(path: Path) -> str:
    from nself.pg import tools as pgtools

    return subprocess.run([pgtools.newest("pg_restore").path, "-l", str(path)],
                          capture_output=True, text=True, check=True).stdout


def test_default_backup_is_named_verified_and_private(project):
    """A plain `db backup` writes backups/<stamp>_<db>.dump (0600) with a matching sha256 file."""
    fill(project.db)
    result = project.run("db", "backup")
    assert result.code == 0, result
    lines = result.out.splitlines()
    assert lines[0] == "Creating backup..."
    assert lines[1].startswith("Backup created: backups/")
    assert lines[2].startswith("Size: ") and lines[2].endswith(("KB", "MB", "B"))
    path = project.root / lines[1].removeprefix("Backup created: ")
    assert path.name.endswith(f"_{project.db.name}.dump")
    datetime.strptime(path.name[:17], "%Y-%m-%d_%H%M%S")
    assert path.read_bytes()[:5] == b"PGDMP"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    checksum = backups.checksum_path(path)
    assert stat.S_IMODE(checksum.stat().st_mode) == 0o600
    check = subprocess.run(["sha256sum", "-c", checksum.name], cwd=path.parent,
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".partial")]


def test_pg_dump_matches_the_server_major(project):
    """The backup is made by a pg_dump of the server's own major version."""
    project.write("x", "")
    with project.db.connect() as conn:
        major = conn.info.server_version // 10000
    path = make_backup(project, "--name", "m")
    meta = json.loads(backups.meta_path(path).read_text())
    assert meta["pg_dump_version"] == major


def test_name_and_no_overwrite(project):
    """--name gives backups/NAME.dump; the same name again is refused and the file kept."""
    fill(project.db)
    path = make_backup(project, "--name", "before_migration")
    assert path == project.root / "backups" / "before_migration.dump"
    before = path.read_bytes()
    again = project.run("db", "backup", "--name", "before_migration")
    assert again.code == 2
    assert "already exists" in again.err
    assert path.read_bytes() == before


def test_no_compress_custom_is_bigger_and_valid(project):
    """--no-compress writes an uncompressed custom archive that still lists and verifies."""
    fill(project.db)
    small = make_backup(project, "--name", "z")
    big = make_backup(project, "--name", "raw", "--no-compress")
    assert big.stat().st_size > small.stat().st_size
    assert "TABLE DATA public users" in toc(big)


def test_sql_format_gz_and_plain(project):
    """--format sql gives .sql.gz (gzip, with pg_dump's trailer); with --no-compress a .sql."""
    import gzip

    fill(project.db)
    gz = make_backup(project, "--format", "sql", "--name", "s")
    assert gz.name == "s.sql.gz"
    text = gzip.decompress(gz.read_bytes()).decode()
    assert "-- PostgreSQL database dump complete" in text
    assert "CREATE TABLE public.users" in text
    plain = make_backup(project, "--format", "sql", "--no-compress", "--name", "p")
    assert plain.name == "p.sql"
    assert "CREATE TABLE public.users" in plain.read_text()


def test_output_path_implies_format(project, tmp_path):
    """--output x.sql writes plain SQL there; --output x.dump a custom archive."""
    fill(project.db)
    out = tmp_path / "elsewhere" / "backup.sql"
    result = project.run("db", "backup", "--output", str(out))
    assert result.code == 0, result
    assert "CREATE TABLE public.posts" in out.read_text()
    assert backups.read_checksum(out) == backups.sha256_of(out)
    custom = make_backup(project, "--output", "mine.dump")
    assert custom.read_bytes()[:5] == b"PGDMP"
    clash = project.run("db", "backup", "--output", str(out))
    assert clash.code == 2


def test_tables_option_dumps_only_those(project):
    """--tables users,logs puts only those tables in the archive."""
    fill(project.db)
    listing = toc(make_backup(project, "--tables", "users, logs", "--name", "t"))
    assert "TABLE public users" in listing and "TABLE public logs" in listing
    assert "TABLE public posts" not in listing and "TABLE public sessions" not in listing


def test_exclude_option_leaves_tables_out(project):
    """--exclude sessions,logs leaves exactly those tables out."""
    fill(project.db)
    listing = toc(make_backup(project, "--exclude", "sessions,logs", "--name", "e"))
    assert "TABLE public users" in listing and "TABLE public posts" in listing
    assert "TABLE public sessions" not in listing and "TABLE public logs" not in listing


@pytest.mark.parametrize("flag", ["--tables", "--exclude"])
def test_unknown_table_is_an_error_before_writing(project, flag):
    """A table that does not exist fails with exit 2 and leaves no file at all."""
    fill(project.db)
    result = project.run("db", "backup", flag, "users,nope")
    assert result.code == 2
    assert "'nope' does not exist" in result.err
    assert backup_files(project) == []


def test_schema_only_and_data_only(project):
    """--schema-only has no TABLE DATA; --data-only has only data; both together is exit 2."""
    fill(project.db)
    schema = toc(make_backup(project, "--schema-only", "--name", "s"))
    assert "TABLE public users" in schema and "TABLE DATA" not in schema
    data = toc(make_backup(project, "--data-only", "--name", "d"))
    assert "TABLE DATA public users" in data
    assert "; 1259 " not in data.replace("SEQUENCE", "")  # no CREATE TABLE entries
    both = project.run("db", "backup", "--schema-only", "--data-only")
    assert both.code == 2


def test_include_metadata_is_refused_clearly(project):
    """--include-metadata (Hasura) exits 2 with a message saying it is not supported."""
    result = project.run("db", "backup", "--include-metadata")
    assert result.code == 2
    assert "not supported" in result.err
    assert backup_files(project) == []


def test_bad_format_is_usage_error(project):
    """--format tar is refused with exit 2 before anything is written."""
    result = project.run("db", "backup", "--format", "tar")
    assert result.code == 2
    assert backup_files(project) == []


@pytest.mark.parametrize("args", [[], ["--format", "sql"]], ids=["custom", "sql.gz"])
def test_failed_verification_leaves_no_file(project, monkeypatch, args):
    """When the read-back check fails, the command exits 1 and no backup, partial or sidecar
    file remains."""
    from nself.backups import dump, verify

    fill(project.db)

    def broken(*args, **kwargs):
        raise backups.VerificationFailed("Backup verification failed: simulated")

    monkeypatch.setattr(dump, "verify_file", broken)
    monkeypatch.setattr(verify.Follower, "finish", broken)
    result = project.run("db", "backup", "--name", "bad", *args)
    assert result.code == 1
    assert "verification failed" in result.err
    assert backup_files(project) == []


def test_damaged_dump_fails_the_follower(project, tmp_path):
    """The check that reads a custom archive as pg_dump writes it rejects a damaged archive."""
    from nself.pg import tools as pgtools
    from nself.backups import verify

    fill(project.db)
    path = make_backup(project, "--name", "good")
    data = bytearray(path.read_bytes())
    data[len(data) - 200] ^= 0xFF
    bad = tmp_path / "bad.dump"
    bad.write_bytes(bytes(data))
    follower = verify.Follower(bad, pgtools.newest("pg_restore"))
    with pytest.raises(backups.VerificationFailed):
        follower.finish()


def test_verify_file_rejects_truncated_archives(project, tmp_path):
    """The full read catches a truncated custom archive and a truncated .sql.gz."""
    fill(project.db)
    from nself.config import Environment

    env = Environment.load()
    for args, fmt in ((["--name", "c"], "custom"), (["--format", "sql", "--name", "s"], "sql")):
        path = make_backup(project, *args)
        cut = tmp_path / path.name
        cut.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3])
        with pytest.raises(backups.VerificationFailed):
            backups.verify_file(cut, fmt, True, env)


def _kill_children(pid: int, name: str, sig: int) -> int | None:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            comm = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if int(fields[1]) == pid and comm == name:
            os.kill(int(entry.name), sig)
            return int(entry.name)
    return None


def _start_blocked_backup(project):
    """A `db backup` child process whose pg_dump waits on a lock we hold; returns both."""
    import sys
    import time

    fill(project.db)
    import psycopg

    holder = psycopg.connect(project.db.database.conninfo())
    holder.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
    proc = subprocess.Popen([sys.executable, "-m", "nself", "db", "backup", "--name", "k"],
                            cwd=project.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 60
    while True:
        rows = project.db.query(
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'users'::regclass")
        if rows[0][0]:
            break
        assert time.monotonic() < deadline, "pg_dump never waited for the lock"
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    return proc, holder


def test_killed_pg_dump_leaves_no_backup_file(project):
    """pg_dump killed mid-dump: nself exits non-zero and no file (not even a partial) remains."""
    import signal

    proc, holder = _start_blocked_backup(project)
    try:
        assert _kill_children(proc.pid, "pg_dump", signal.SIGKILL)
        out, err = proc.communicate(timeout=60)
    finally:
        holder.close()
    assert proc.returncode != 0
    assert "killed" in err
    assert backup_files(project) == []


def test_killed_nself_leaves_only_a_hidden_partial(project):
    """nself killed with SIGKILL leaves only a dot-named .partial, which list ignores and the
    next backup removes."""
    import signal

    proc, holder = _start_blocked_backup(project)
    try:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        _kill_children(1, "pg_dump", signal.SIGKILL)  # re-parented to init, or already gone
    finally:
        holder.close()
    left = backup_files(project)
    assert left and all(name.startswith(".") and name.endswith(".partial") for name in left)
    listed = project.run("db", "backup", "list", "--json")
    assert json.loads(listed.out) == []
    make_backup(project, "--name", "after")
    assert backup_files(project) == ["after.dump", "after.dump.json", "after.dump.sha256"]


def test_sigterm_removes_the_partial_file(project):
    """SIGTERM to nself during a dump stops pg_dump and removes the partial file."""
    import signal

    proc, holder = _start_blocked_backup(project)
    try:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    finally:
        holder.close()
    assert proc.returncode != 0
    assert backup_files(project) == []


def test_list_newest_first_with_json(project):
    """`db backup list` shows every backup newest first, with size, format and checksum."""
    fill(project.db)
    older = make_backup(project, "--name", "older")
    newer = make_backup(project, "--format", "sql", "--name", "newer")
    past = datetime.now().timestamp() - 3600
    os.utime(older, (past, past))
    (project.root / "backups" / ".junk.123.partial").write_text("x")
    result = project.run("db", "backup", "list")
    assert result.code == 0, result
    lines = result.out.splitlines()
    assert lines[0].split() == ["Name", "Created", "Size", "Format", "Checksum"]
    assert lines[1].startswith("newer.sql.gz") and lines[2].startswith("older.dump")
    assert "sha256:" in lines[1]
    data = json.loads(project.run("db", "backup", "list", "--json").out)
    assert [d["name"] for d in data] == ["newer.sql.gz", "older.dump"]
    assert data[1]["format"] == "custom" and data[0]["format"] == "sql"
    assert data[1]["sha256"] == backups.sha256_of(older)
    assert data[0]["size_bytes"] == newer.stat().st_size
    verified = json.loads(project.run("db", "backup", "list", "--json", "--verify").out)
    assert {d["checksum_ok"] for d in verified} == {"ok"}


def test_db_status_reports_last_backup(project):
    """`db status` names the newest backup through latest_backup()."""
    fill(project.db)
    path = make_backup(project, "--name", "latest")
    from nself.config import Environment

    last = backups.latest_backup(Environment.load())
    assert last["file"] == "backups/latest.dump"
    assert last["size_bytes"] == path.stat().st_size
    assert isinstance(last["created"], datetime)


def test_status_block_from_settings(project):
    """`db backup status` shows schedule in words, next run, retention, storage, last, count."""
    fill(project.db)
    project.write(".env", 'BACKUP_ENABLED=true\nBACKUP_SCHEDULE="0 2 * * *"\n'
                          "BACKUP_RETENTION_DAYS=14\n")
    make_backup(project, "--name", "one")
    result = project.run("db", "backup", "status")
    assert result.code == 0, result
    out = result.out
    assert out.startswith("Backup Configuration\n")
    assert "Schedule: Daily at 2:00 AM" in out
    assert "Retention: 14 days" in out
    assert "Storage: Local" in out
    assert "Backups Count: 1" in out
    next_line = next(x for x in out.splitlines() if x.startswith("Next Backup: "))
    assert next_line.endswith("02:00:00")
    assert "nself db backup && " in out and "db backup prune" in out
    data = json.loads(project.run("db", "backup", "status", "--json").out)
    assert data["enabled"] is True and data["count"] == 1 and data["retention_days"] == 14


def test_status_says_s3_is_not_supported(project, monkeypatch):
    """BACKUP_STORAGE=s3 is reported as not supported yet (not silently ignored)."""
    monkeypatch.setenv("BACKUP_STORAGE", "s3")
    monkeypatch.setenv("AWS_BACKUP_BUCKET", "my-app-backups")
    result = project.run("db", "backup", "status")
    assert result.code == 0, result
    assert "not supported yet" in result.out + result.err
    assert "my-app-backups" in result.err


def test_status_rejects_bad_schedule(project, monkeypatch):
    """A BACKUP_SCHEDULE that is not cron syntax is a settings error (exit 2)."""
    monkeypatch.setenv("BACKUP_SCHEDULE", "every day")
    result = project.run("db", "backup", "status")
    assert result.code == 2
    assert "BACKUP_SCHEDULE" in result.err


def test_prune_deletes_old_but_never_newest(project, monkeypatch):
    """prune removes backups past the retention with their sidecars, keeps recent ones, and
    never the newest even when it is old; --dry-run deletes nothing."""
    fill(project.db)
    monkeypatch.setenv("BACKUP_RETENTION_DAYS", "7")
    paths = {n: make_backup(project, "--name", n) for n in ("a", "b", "c")}
    now = datetime.now()
    for name, age in (("a", 30), ("b", 10), ("c", 1)):
        stamp = (now - timedelta(days=age)).timestamp()
        os.utime(paths[name], (stamp, stamp))
    dry = project.run("db", "backup", "prune", "--dry-run")
    assert dry.code == 0, dry
    assert "Would delete backups/a.dump" in dry.out and "backups/b.dump" in dry.out
    assert len(backup_files(project)) == 9
    real = project.run("db", "backup", "prune")
    assert real.code == 0, real
    assert backup_files(project) == ["c.dump", "c.dump.json", "c.dump.sha256"]
    stamp = (now - timedelta(days=90)).timestamp()
    os.utime(paths["c"], (stamp, stamp))
    project.run("db", "backup", "prune")
    assert "c.dump" in backup_files(project)


@pytest.mark.parametrize("expr, words", [
    ("0 2 * * *", "Daily at 2:00 AM"),
    ("30 14 * * *", "Daily at 2:30 PM"),
    ("0 0 * * 1", "Every Monday at 12:00 AM"),
    ("15 3 * * 1-5", "Weekdays at 3:15 AM"),
    ("0 4 1 * *", "Monthly on day 1 at 4:00 AM"),
    ("5 * * * *", "Hourly at minute 5"),
    ("*/15 * * * *", "Every 15 minutes"),
    ("0 */6 * * *", "Every 6 hours at minute 0"),
    ("0 2 1-7 * 0", "cron 0 2 1-7 * 0"),
])
def test_schedule_in_words(expr, words):
    """Common cron shapes read as words; anything else is shown as the cron text."""
    assert backups.describe_schedule(expr) == words


def test_next_run_follows_cron():
    """The next run of `0 2 * * *` after 14:30 is 02:00 the next day."""
    assert backups.next_run("0 2 * * *", datetime(2026, 1, 24, 14, 30)) == datetime(
        2026, 1, 25, 2, 0)


def test_progress_only_on_a_terminal(monkeypatch):
    """The bytes-written line is shown on a terminal and nowhere else."""
    import io

    from nself.tasks import backup as backup_tasks

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    screen = Terminal()
    monkeypatch.setattr("sys.stdout", screen)
    show, done = backup_tasks._progress()
    show(3 * 1024 * 1024)
    done()
    assert "3.0 MB written" in screen.getvalue()
    monkeypatch.setattr("sys.stdout", io.StringIO())
    show, done = backup_tasks._progress()
    assert show is None


def test_backup_compression_setting(project, monkeypatch):
    """BACKUP_COMPRESSION=false makes uncompressed backups the default (.sql with --format sql)."""
    fill(project.db)
    monkeypatch.setenv("BACKUP_COMPRESSION", "false")
    custom = make_backup(project, "--name", "c")
    assert json.loads(backups.meta_path(custom).read_text())["compressed"] is False
    sql = make_backup(project, "--format", "sql", "--name", "s")
    assert sql.name == "s.sql"
