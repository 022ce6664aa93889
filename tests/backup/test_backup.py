"""`db backup` (create, list, status, prune) against real PostgreSQL."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from nself.backups import dump, store, verify

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


def fill(db) -> None:
    with db.connect() as conn:
        conn.execute(SCHEMA)


def backup_files(project, env: str = "local") -> list[str]:
    folder = project.root / "backups" / env
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def set_created(path: Path, moment: datetime) -> None:
    """Rewrite the `created` time in a backup's metadata (the only time nself believes)."""
    meta = store.meta_path(path)
    data = json.loads(meta.read_text())
    data["created"] = moment.astimezone().isoformat()
    meta.write_text(json.dumps(data))


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
    assert lines[1].startswith("Backup created: backups/local/")
    assert lines[2].startswith("Size: ") and lines[2].endswith(("KB", "MB", "B"))
    path = project.root / lines[1].removeprefix("Backup created: ")
    assert path.name.endswith(f"_{project.db.name}.dump")
    datetime.strptime(path.name[:17], "%Y-%m-%d_%H%M%S")
    assert path.read_bytes()[:5] == b"PGDMP"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    checksum = store.checksum_path(path)
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
    meta = json.loads(store.meta_path(path).read_text())
    assert meta["pg_dump_version"] == major


def test_name_and_no_overwrite(project):
    """--name gives backups/NAME.dump; the same name again is refused and the file kept."""
    fill(project.db)
    path = make_backup(project, "--name", "before_migration")
    assert path == project.root / "backups" / "local" / "before_migration.dump"
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
    assert store.read_checksum(out) == store.sha256_of(out)
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
    fill(project.db)

    def broken(*args, **kwargs):
        raise verify.VerificationFailed("Backup verification failed: simulated")

    monkeypatch.setattr(dump, "verify_file", broken)
    monkeypatch.setattr(verify.Follower, "finish", broken)
    result = project.run("db", "backup", "--name", "bad", *args)
    assert result.code == 1
    assert "verification failed" in result.err
    assert backup_files(project) == []


def test_damaged_dump_fails_the_follower(project, tmp_path):
    """The check that reads a custom archive as pg_dump writes it rejects a damaged archive."""
    from nself.pg import tools as pgtools

    fill(project.db)
    path = make_backup(project, "--name", "good")
    data = bytearray(path.read_bytes())
    data[len(data) - 200] ^= 0xFF
    bad = tmp_path / "bad.dump"
    bad.write_bytes(bytes(data))
    follower = verify.Follower(bad, pgtools.newest("pg_restore"))
    with pytest.raises(verify.VerificationFailed):
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
        with pytest.raises(verify.VerificationFailed):
            verify.verify_file(cut, fmt, True, env)


def _children(pid: int) -> dict[int, str]:
    """pid -> name of the live child processes of `pid`."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            comm = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found[int(entry.name)] = comm
    return found


def _children_named(pid: int, *names: str) -> dict[int, str]:
    """The children of `pid`, once every one of `names` runs (waits up to 10 s)."""
    import time

    deadline = time.monotonic() + 10
    while True:
        children = _children(pid)
        if set(names) <= set(children.values()) or time.monotonic() > deadline:
            return children
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    """True while `pid` runs (a zombie no longer runs)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_gone(pids, seconds: float = 5.0) -> list[int]:
    """The pids still running after `seconds`."""
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.05)
    return [p for p in pids if _alive(p)]


def start_blocked(project, table: str, *argv: str):
    """`nself ARGV` in a child process whose tool waits on a lock we hold on `table`;
    returns the process and the connection holding the lock."""
    import sys
    import time

    import psycopg

    holder = psycopg.connect(project.db.database.conninfo())
    holder.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
    proc = subprocess.Popen([sys.executable, "-m", "nself", *argv], cwd=project.root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 60
    while True:
        rows = project.db.query(
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = %s::regclass",
            (table,))
        if rows[0][0]:
            break
        assert time.monotonic() < deadline, "the tool never waited for the lock"
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    return proc, holder


def test_killed_pg_dump_leaves_no_backup_file(project):
    """pg_dump killed mid-dump: nself exits non-zero and no file (not even a partial) remains."""
    import signal

    fill(project.db)
    proc, holder = start_blocked(project, "users", "db", "backup", "--name", "k")
    try:
        dumps = [p for p, name in _children(proc.pid).items() if name == "pg_dump"]
        assert dumps
        os.kill(dumps[0], signal.SIGKILL)
        out, err = proc.communicate(timeout=60)
    finally:
        holder.close()
    assert proc.returncode == 1
    assert "killed" in err and "Traceback" not in err
    assert backup_files(project) == []


def test_killed_nself_takes_its_children_along(project):
    """kill -9 of nself mid-dump: its pg_dump and pg_restore children die within seconds,
    only a hidden .partial is left, which list ignores and the next backup removes."""
    import signal

    fill(project.db)
    proc, holder = start_blocked(project, "users", "db", "backup", "--name", "k")
    try:
        children = _children_named(proc.pid, "pg_dump", "pg_restore")
        assert "pg_dump" in children.values() and "pg_restore" in children.values(), children
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert _wait_gone(list(children)) == []
    finally:
        holder.close()
    left = backup_files(project)
    assert left and all(name.startswith(".") and name.endswith(".partial") for name in left)
    listed = project.run("db", "backup", "list", "--json")
    assert json.loads(listed.out) == []
    make_backup(project, "--name", "after")
    assert backup_files(project) == ["after.dump", "after.dump.json", "after.dump.sha256"]


def test_killed_nself_takes_pg_restore_along(project):
    """kill -9 of nself while a backup loads (psql runs what pg_restore writes): its
    children die within seconds."""
    import signal

    fill(project.db)
    make_backup(project, "--data-only", "--tables", "logs", "--name", "d")
    proc, holder = start_blocked(project, "logs", "db", "restore", "backups/local/d.dump")
    try:
        children = _children_named(proc.pid, "psql")
        assert "psql" in children.values(), children
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert _wait_gone(list(children)) == []
    finally:
        holder.close()


SLOW_TABLES = """
CREATE FUNCTION slow_ok(n int) RETURNS boolean LANGUAGE sql AS $$
  SELECT CASE WHEN current_setting('nself.slow', true) = 'on'
              THEN pg_sleep(0.01) IS NOT NULL ELSE true END $$;
CREATE TABLE slow_a (id int CHECK (slow_ok(id)));
CREATE TABLE slow_b (id int CHECK (slow_ok(id)));
INSERT INTO slow_a SELECT generate_series(1, 1000);
INSERT INTO slow_b SELECT generate_series(1, 1000);
"""


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_parallel_restore_workers_die_with_nself(project, how):
    """kill -9 (or SIGTERM) of nself during `restore -j 2`: the pg_restore workers, which
    are not nself's children, stop too, and nothing writes to the database afterwards."""
    import signal
    import sys
    import time

    project.db.query(SLOW_TABLES)
    make_backup(project, "--name", "slow")
    target = project.db.create_sibling()
    target.query(f'ALTER DATABASE "{target.name}" SET nself.slow = \'on\'')
    # the server looks for a vanished client every 0.2 s, not only when it next reads rows
    target.query(f'ALTER DATABASE "{target.name}" SET client_connection_check_interval = 200')
    proc = subprocess.Popen(
        [sys.executable, "-m", "nself", "db", "restore", "backups/local/slow.dump", "--jobs",
         "2", "--allow-other-source", "--yes"], cwd=project.root, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
        env={**os.environ, "DATABASE_URL": target.url})
    deadline = time.monotonic() + 60
    while True:  # both workers COPY into the slow tables
        leaders = [p for p, name in _children(proc.pid).items() if name == "pg_restore"]
        workers = [p for leader in leaders for p, name in _children(leader).items()
                   if name == "pg_restore"]
        if len(workers) >= 2 and target.scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND query LIKE 'COPY%%'") >= 2:
            break
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    os.kill(proc.pid, getattr(signal, how))
    proc.communicate(timeout=30)
    assert _wait_gone(leaders + workers) == []
    # the server sees the client gone (within the check interval, else once it has loaded
    # the rows already sent): the COPYs roll back, and nothing of them is left
    deadline = time.monotonic() + 30
    while target.scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                        "current_database() AND pid <> pg_backend_pid()"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert target.query("SELECT (SELECT count(*) FROM slow_a), (SELECT count(*) FROM slow_b)"
                        ) == [(0, 0)]


def test_sigterm_removes_the_partial_file(project):
    """SIGTERM to nself during a dump stops pg_dump and removes the partial file."""
    import signal

    fill(project.db)
    proc, holder = start_blocked(project, "users", "db", "backup", "--name", "k")
    try:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    finally:
        holder.close()
    assert proc.returncode != 0
    assert backup_files(project) == []


def test_metadata_records_what_the_backup_is(project):
    """The .json beside a backup records environment, database, server version, kind and an
    aware creation time, for full, schema-only, data-only and tables backups."""
    fill(project.db)
    with project.db.connect() as conn:
        version = conn.execute("SHOW server_version").fetchone()[0].split()[0]
    for n, (args, kind) in enumerate([((), "full"), (("--schema-only",), "schema-only"), (
            ("--data-only",), "data-only"), (("--tables", "users"), "tables"), (
            ("--exclude", "logs"), "tables")]):
        path = make_backup(project, *args, "--name", f"b{n}")
        meta = json.loads(store.meta_path(path).read_text())
        assert (meta["environment"], meta["database"], meta["kind"]) == (
            "local", project.db.name, kind)
        assert meta["server_version"] == version and meta["reason"] is None
        created = datetime.fromisoformat(meta["created"])
        assert created.tzinfo is not None
        assert abs((created - store.now()).total_seconds()) < 60


def test_each_environment_backs_up_into_its_own_folder(project, monkeypatch):
    """local and staging write backups/local/ and backups/staging/; a --name is unique per
    environment; list, status and db status's last backup show only the current
    environment's, and --all shows every one (the old flat backups/ folder too)."""
    fill(project.db)
    make_backup(project, "--name", "same")
    legacy = project.root / "backups" / "old.dump"
    legacy.write_bytes((project.root / "backups" / "local" / "same.dump").read_bytes())
    monkeypatch.setenv("ENV", "staging")
    staged = make_backup(project, "--name", "same")
    assert staged == project.root / "backups" / "staging" / "same.dump"
    assert project.run("db", "backup", "--name", "same").code == 2
    from nself.config import Environment

    assert store.latest_backup(Environment.load())["file"] == "backups/staging/same.dump"
    listed = json.loads(project.run("db", "backup", "list", "--json").out)
    assert [(d["file"], d["environment"]) for d in listed] == [
        ("backups/staging/same.dump", "staging")]
    text = project.run("db", "backup", "list").out
    assert "2 backup(s) of other projects, environments or databases" in text
    everything = json.loads(project.run("db", "backup", "list", "--all", "--json").out)
    assert sorted(d["file"] for d in everything) == [
        "backups/local/same.dump", "backups/old.dump", "backups/staging/same.dump"]
    assert everything[-1]["kind"] == "unknown" and everything[-1]["created"] is None
    table = project.run("db", "backup", "list", "--all").out
    assert "Environment" in table and "backups/local/same.dump" in table
    status = json.loads(project.run("db", "backup", "status", "--json").out)
    assert status["count"] == 1 and status["folder"] == "backups/staging"
    assert json.loads(project.run("db", "backup", "status", "--all", "--json").out)["count"] == 3
    monkeypatch.setenv("ENV", "local")
    assert store.latest_backup(Environment.load())["file"] == "backups/local/same.dump"


def test_list_shows_only_this_database(project, monkeypatch):
    """Backups of another database in the same environment are left out of list and of
    db status's last backup, and the list says how to see them."""
    fill(project.db)
    make_backup(project, "--name", "a")
    other = project.db.create_sibling()
    monkeypatch.setenv("DATABASE_URL", other.url)
    assert json.loads(project.run("db", "backup", "list", "--json").out) == []
    assert "--all" in project.run("db", "backup", "list").out
    status = json.loads(project.run("db", "status", "--json").out)
    assert status["last_backup"] is None


def test_list_newest_first_by_metadata_time(project):
    """`db backup list` orders by the time in the metadata, never the file's mtime; shows
    size, kind, format and checksum; a copied dump without metadata is `unknown` and last."""
    import shutil

    fill(project.db)
    older = make_backup(project, "--name", "older")
    newer = make_backup(project, "--format", "sql", "--schema-only", "--name", "newer")
    set_created(older, datetime.now() - timedelta(hours=1))
    future = datetime.now().timestamp() + 3600
    os.utime(older, (future, future))
    shutil.copy(older, older.with_name("copy.dump"))
    (project.root / "backups" / "local" / ".junk.123.partial").write_text("x")
    result = project.run("db", "backup", "list")
    assert result.code == 0, result
    lines = result.out.splitlines()
    # the copy's "Whose": without metadata it cannot be told from a teammate's
    assert lines[0].split() == ["Name", "Created", "Size", "Kind", "Format", "Checksum", "Whose"]
    assert lines[1].startswith("newer.sql.gz") and "schema-only" in lines[1]
    assert lines[2].startswith("older.dump") and " full " in lines[2]
    assert lines[3].startswith("copy.dump") and "no metadata: whose is unknown" in lines[3]
    data = json.loads(project.run("db", "backup", "list", "--json").out)
    assert [d["name"] for d in data] == ["newer.sql.gz", "older.dump", "copy.dump"]
    assert data[1]["format"] == "custom" and data[0]["format"] == "sql"
    assert data[1]["sha256"] == store.sha256_of(older)
    assert data[0]["size_bytes"] == newer.stat().st_size
    assert data[2]["created"] is None and data[2]["complete"] is False
    verified = json.loads(project.run("db", "backup", "list", "--json", "--verify").out)
    assert [d["checksum_ok"] for d in verified] == ["ok", "ok", "none"]


def test_db_status_reports_last_backup(project):
    """`db status` names the newest backup of this environment and database."""
    fill(project.db)
    path = make_backup(project, "--name", "latest")
    from nself.config import Environment

    last = store.latest_backup(Environment.load())
    assert last["file"] == "backups/local/latest.dump"
    assert last["size_bytes"] == path.stat().st_size
    assert isinstance(last["created"], datetime) and last["kind"] == "full"


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
    assert "Environment: local" in out
    assert "Schedule: Daily at 2:00 AM" in out
    assert "Retention: 14 days" in out
    assert "Storage: Local (backups/local/)" in out
    assert "Backups Count: 1" in out and "(one.dump, full)" in out
    # no schedule installed: no next backup (test_backup_schedule.py installs one)
    assert "Next Backup: - (no schedule installed" in out and "Installed: no" in out
    assert "db backup schedule run" in json.loads(
        project.run("db", "backup", "status", "--json").out)["crontab"]
    data = json.loads(project.run("db", "backup", "status", "--json").out)
    assert data["enabled"] is True and data["count"] == 1 and data["retention_days"] == 14


def test_status_refuses_s3_without_credentials(project, monkeypatch):
    """BACKUP_STORAGE=s3 without credentials is a settings error (one line, exit 2), never
    silently local (test_backup_s3.py covers S3 itself)."""
    monkeypatch.setenv("BACKUP_STORAGE", "s3")
    monkeypatch.setenv("AWS_BACKUP_BUCKET", "my-app-backups")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    result = project.run("db", "backup", "status")
    assert result.code == 2, result
    assert "AWS_ACCESS_KEY_ID" in result.err and len(result.err.strip().splitlines()) == 1


def test_prune_by_metadata_time(project, monkeypatch):
    """prune removes backups past the retention (by their metadata time) with their sidecars;
    it keeps recent ones, the newest, the newest complete one and files without metadata
    whatever their mtime; --dry-run deletes nothing."""
    fill(project.db)
    monkeypatch.setenv("BACKUP_RETENTION_DAYS", "7")
    paths = {n: make_backup(project, "--name", n) for n in ("a", "b", "c", "full_old")}
    paths["schema"] = make_backup(project, "--schema-only", "--name", "schema")
    now = datetime.now()
    for name, age in (("a", 30), ("b", 10), ("c", 1), ("full_old", 20), ("schema", 0)):
        set_created(paths[name], now - timedelta(days=age))
    old = (now - timedelta(days=90)).timestamp()
    nometa = paths["c"].with_name("nometa.dump")
    nometa.write_bytes(paths["c"].read_bytes())
    for path in [*paths.values(), nometa]:
        os.utime(path, (old, old))  # mtimes say nothing
    dry = project.run("db", "backup", "prune", "--dry-run")
    assert dry.code == 0, dry
    assert "Would delete backups/local/a.dump" in dry.out and "backups/local/b.dump" in dry.out
    assert "full_old" in dry.out and len(backup_files(project)) == 16
    real = project.run("db", "backup", "prune")
    assert real.code == 0, real
    assert [n for n in backup_files(project) if n.endswith(".dump")] == [
        "c.dump", "nometa.dump", "schema.dump"]
    set_created(paths["c"], now - timedelta(days=90))
    project.run("db", "backup", "prune")
    assert "c.dump" in backup_files(project)  # the newest complete backup stays


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MB tmpfs (a disk that fills up); skipped where mount is not allowed (not root)."""
    where = tmp_path / "disk"
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)],
                             capture_output=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    yield where
    subprocess.run(["umount", "-l", str(where)], check=False)


def _free(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def test_full_disk_never_leaves_a_backup_that_looks_complete(project, monkeypatch, small_disk):
    """With the disk filling at every point of a backup (the dump, its metadata, its
    checksum), the backup either completes with all three files or fails with one line
    (exit 1) and leaves no file at all."""
    fill(project.db)
    size = make_backup(project, "--name", "probe").stat().st_size
    page = os.statvfs(small_disk).f_frsize
    pages = -(-size // page)
    folder = small_disk / "b"
    monkeypatch.setenv("NSELF_BACKUPS_DIR", str(folder))
    outcomes = []
    for room in range(pages - 1, pages + 4):
        for leftover in small_disk.iterdir():
            subprocess.run(["rm", "-rf", str(leftover)], check=True)
        folder.mkdir()
        filler = small_disk / "filler"
        filler.write_bytes(b"\0" * (_free(small_disk) - room * page))
        result = project.run("db", "backup", "--name", "x")
        files = sorted(p.name for p in folder.iterdir())
        if result.code == 0:
            assert files == ["x.dump", "x.dump.json", "x.dump.sha256"]
            assert store.read_checksum(folder / "x.dump") == store.sha256_of(folder / "x.dump")
            json.loads((folder / "x.dump.json").read_text())
        else:
            assert result.code == 1, result
            assert "No space left on device" in result.err and "Nothing was kept" in result.err
            assert len(result.err.strip().splitlines()) == 1 and "Traceback" not in result.err
            assert files == [], files
        outcomes.append(result.code)
    assert outcomes[0] == 1 and outcomes[-1] == 0
    assert outcomes.count(1) >= 2  # the dump fitted at least once while its sidecars did not


def test_unwritable_backups_folder_is_one_line(project, monkeypatch, small_disk, tmp_path):
    """A backups folder that cannot be created (under a file) or written (read-only), or an
    --output there, fails with one line naming the folder (exit 2); nothing is written."""
    fill(project.db)
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    monkeypatch.setenv("NSELF_BACKUPS_DIR", str(blocker / "sub"))
    result = project.run("db", "backup")
    assert result.code == 2, result
    assert "Cannot write backups in" in result.err and "Not a directory" in result.err
    assert "NSELF_BACKUPS_DIR" in result.err and "Traceback" not in result.err
    monkeypatch.delenv("NSELF_BACKUPS_DIR")
    out = project.run("db", "backup", "--output", str(blocker / "x.dump"))
    assert out.code == 2 and "--output" in out.err, out
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    monkeypatch.setenv("NSELF_BACKUPS_DIR", str(small_disk / "backups"))
    result = project.run("db", "backup")
    assert result.code == 2, result
    assert "Read-only file system" in result.err
    assert list(small_disk.iterdir()) == []
    assert backup_files(project) == []


def test_output_to_dev_full_is_a_clean_failure(project):
    """`nself db backup > /dev/full` exits non-zero without a traceback."""
    import sys

    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "nself", "db", "backup", "--name", "f"],
                              cwd=project.root, stdout=full, stderr=subprocess.PIPE, text=True,
                              stdin=subprocess.DEVNULL, timeout=120)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr and proc.stderr.strip()


def test_progress_bar_only_on_a_terminal(project):
    """On a terminal, backup and restore draw a rich progress bar; without one they print
    only their lines and never import rich."""
    import sys

    from conftest import PROBE, run_on_terminal

    fill(project.db)
    plain = subprocess.run([sys.executable, "-c", PROBE, "nself", "db", "backup", "--name",
                            "p"], cwd=project.root, capture_output=True, text=True, timeout=120)
    assert plain.returncode == 0, plain
    assert plain.stderr.strip() == "False"
    assert plain.stdout.splitlines()[0] == "Creating backup..."
    assert "\r" not in plain.stdout and "\x1b" not in plain.stdout
    for argv in (["db", "backup", "--name", "t"],
                 ["db", "restore", "backups/local/t.dump", "--clean", "--no-backup"]):
        shown = run_on_terminal(project.root, *argv)
        assert shown.code == 0, (argv, shown)
        assert shown.rich_imported
        assert "\x1b[" in shown.out, shown  # the bar was drawn


def test_backup_compression_setting(project, monkeypatch):
    """BACKUP_COMPRESSION=false makes uncompressed backups the default (.sql with --format sql)."""
    fill(project.db)
    monkeypatch.setenv("BACKUP_COMPRESSION", "false")
    custom = make_backup(project, "--name", "c")
    assert json.loads(store.meta_path(custom).read_text())["compressed"] is False
    sql = make_backup(project, "--format", "sql", "--name", "s")
    assert sql.name == "s.sql"


@pytest.mark.parametrize("name", [".hidden", "..", "a/b"])
def test_backup_name_must_be_a_visible_plain_name(project, name):
    """A --name that would be hidden (leading dot) or a path is exit 2, nothing written."""
    result = project.run("db", "backup", "--name", name)
    assert result.code == 2, result
    assert backup_files(project) == []
