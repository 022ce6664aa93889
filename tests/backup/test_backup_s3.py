"""Off-site backups (BACKUP_STORAGE=s3) against a real S3 HTTP server on 127.0.0.1 (moto's
standalone server, started here) and real PostgreSQL: upload proven by reading back,
list of both places, restore from the bucket, pruning both, and no secret in any output."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import uuid
from datetime import datetime, timedelta

import boto3
import pytest
from conftest import fingerprint
from test_backup import backup_files, fill, make_backup, set_created

SECRET = "s3cr3t-" + uuid.uuid4().hex  # must never appear in output
ACCESS = "AKIA" + uuid.uuid4().hex[:16].upper()


@pytest.fixture
def s3(s3_server, project, monkeypatch):
    """A fresh bucket, and the project's .env pointing at it (as the guides write it)."""
    return new_bucket(s3_server, project, monkeypatch)


def new_bucket(endpoint: str, project, monkeypatch):
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    bucket = f"nself-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=ACCESS,
                          aws_secret_access_key=SECRET, region_name="us-east-1")
    client.create_bucket(Bucket=bucket)
    project.write(".env", f"""
        BACKUP_STORAGE=s3
        AWS_BACKUP_BUCKET={bucket}
        AWS_ACCESS_KEY_ID={ACCESS}
        AWS_SECRET_ACCESS_KEY={SECRET}
        AWS_ENDPOINT_URL={endpoint}
        AWS_REGION=us-east-1
    """)
    client.bucket = bucket
    return client


@pytest.fixture
def unreachable_db_project(tmp_path, s3_server, monkeypatch, capsys):
    """A project whose database is never there: what must stop before connecting."""
    from conftest import Project

    root = tmp_path / "proj"
    (root / "migrations").mkdir(parents=True)
    monkeypatch.chdir(root)
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/never")
    project = Project(root=root, db=None, capsys=capsys)
    new_bucket(s3_server, project, monkeypatch)
    return project


def run(project, *argv):
    """Run nself; no run may show the secret key, whatever happens."""
    result = project.run(*argv)
    assert SECRET not in result.out + result.err, result
    return result


def objects(s3) -> dict[str, bytes]:
    listed = s3.list_objects_v2(Bucket=s3.bucket).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=s3.bucket, Key=o["Key"])["Body"].read()
            for o in listed}


def forget_local(project, prefix: str = "") -> None:
    """Delete the local copies (and sidecars) of backups whose name starts with `prefix`."""
    for name in backup_files(project):
        if name.startswith(prefix):
            (project.root / "backups/local" / name).unlink()


def set_env(project, **values) -> None:
    text = (project.root / ".env").read_text()
    lines = [line for line in text.splitlines() if line.split("=", 1)[0] not in values]
    lines += [f"{k}={v}" for k, v in values.items()]
    (project.root / ".env").write_text("\n".join(lines) + "\n")


def test_backup_uploads_a_verified_copy_with_its_metadata(project, s3):
    """`db backup` with BACKUP_STORAGE=s3 puts the dump, its metadata and checksum under
    <env>/ in the bucket; the copy is byte for byte the local file, and only then is it
    said to be uploaded."""
    fill(project.db)
    result = run(project, "db", "backup", "--name", "first")
    assert result.code == 0, result
    local = project.root / "backups/local/first.dump"
    assert f"Uploaded: s3://{s3.bucket}/proj/local/first.dump" in result.out
    assert result.out.index("Backup created") < result.out.index("Uploaded")
    stored = objects(s3)
    assert sorted(stored) == ["proj/local/first.dump", "proj/local/first.dump.json",
                              "proj/local/first.dump.sha256"]
    assert stored["proj/local/first.dump"] == local.read_bytes()
    meta = json.loads(stored["proj/local/first.dump.json"])
    assert meta["sha256"] == hashlib.sha256(local.read_bytes()).hexdigest()
    assert meta["environment"] == "local" and meta["kind"] == "full"
    head = s3.head_object(Bucket=s3.bucket, Key="proj/local/first.dump")
    assert head["Metadata"]["sha256"] == meta["sha256"]


def test_big_backup_goes_up_in_parts(project, s3, monkeypatch):
    """A dump bigger than a part is uploaded as a multipart object (streamed part by part)
    and still read back equal."""
    from nself.backups import remote

    monkeypatch.setattr(remote, "PART_BYTES", 5 * 1024 * 1024)  # S3's smallest part
    project.db.query("CREATE TABLE blob AS SELECT i, md5(i::text) || md5((i * 7)::text) AS t "
                     "FROM generate_series(1, 160000) AS i")
    result = run(project, "db", "backup", "--no-compress", "--name", "big")
    assert result.code == 0, result
    local = project.root / "backups/local/big.dump"
    assert local.stat().st_size > 2 * 5 * 1024 * 1024
    head = s3.head_object(Bucket=s3.bucket, Key="proj/local/big.dump")
    assert head["ETag"].strip('"').endswith("-3")  # three parts
    assert objects(s3)["proj/local/big.dump"] == local.read_bytes()


def test_list_shows_local_and_remote(project, s3):
    """`backup list` shows backups in both places, only locally and only in the bucket."""
    fill(project.db)
    make_backup(project, "--name", "both")
    gone = make_backup(project, "--name", "remote_only")
    forget_local(project, "remote_only")
    set_env(project, BACKUP_STORAGE="local")
    make_backup(project, "--name", "local_only")
    set_env(project, BACKUP_STORAGE="s3")
    listed = run(project, "db", "backup", "list", "--json")
    assert listed.code == 0, listed
    stored = {row["name"]: row["stored"] for row in json.loads(listed.out)}
    assert stored == {"both.dump": ["local", "s3"], "remote_only.dump": ["s3"],
                      "local_only.dump": ["local"]}
    rows = {row["name"]: row for row in json.loads(listed.out)}
    assert rows["remote_only.dump"]["file"] == f"s3://{s3.bucket}/proj/local/{gone.name}"
    table = run(project, "db", "backup", "list")
    assert "Stored" in table.out
    line = next(x for x in table.out.splitlines() if x.startswith("remote_only.dump"))
    assert " s3 " in line and "local" not in line


def test_restore_fetches_from_the_bucket(project, s3):
    """With no local copy, `db restore NAME` downloads the backup into backups/<env>/,
    checks it, and restores it; `db restore` alone picks the newest complete one there."""
    fill(project.db)
    original = fingerprint(project.db)
    make_backup(project, "--name", "offsite")
    forget_local(project)
    project.db.query("DELETE FROM posts; DELETE FROM users")
    result = run(project, "db", "restore", "offsite.dump", "--clean", "--no-backup")
    assert result.code == 0, result
    assert f"Downloading s3://{s3.bucket}/proj/local/offsite.dump" in result.out
    assert fingerprint(project.db) == original
    assert backup_files(project) == ["offsite.dump", "offsite.dump.json", "offsite.dump.sha256"]
    forget_local(project)
    project.db.query("DELETE FROM logs")
    newest = run(project, "db", "restore", "--clean", "--no-backup")
    assert newest.code == 0, newest
    assert "backups/local/offsite.dump" in newest.out
    assert fingerprint(project.db) == original


def test_damaged_remote_copy_is_refused_before_the_database(project, s3):
    """A copy in the bucket whose bytes are not the recorded sha256 is refused (exit 1):
    no file is left in the backups folder and the database is untouched."""
    fill(project.db)
    make_backup(project, "--name", "damaged")
    forget_local(project)
    data = bytearray(objects(s3)["proj/local/damaged.dump"])
    data[len(data) // 2] ^= 0xFF
    s3.put_object(Bucket=s3.bucket, Key="proj/local/damaged.dump", Body=bytes(data))
    project.db.query("DELETE FROM logs")
    before = fingerprint(project.db)
    result = run(project, "db", "restore", "damaged.dump", "--clean", "--no-backup")
    assert result.code == 1, result
    assert "Checksum mismatch" in result.err and "Nothing was restored" in result.err
    assert backup_files(project) == []
    assert not list((project.root / "backups/local").glob(".*"))
    assert fingerprint(project.db) == before


def test_prune_applies_retention_to_both_places(project, s3):
    """prune deletes backups past BACKUP_RETENTION_DAYS locally and in the bucket (by their
    metadata time), with their sidecars, keeping the newest."""
    fill(project.db)
    set_env(project, BACKUP_RETENTION_DAYS="7")
    paths = {n: make_backup(project, "--name", n) for n in ("old", "older", "new")}
    now = datetime.now()
    for name, age in (("old", 10), ("older", 20), ("new", 1)):
        set_created(paths[name], now - timedelta(days=age))
        key = f"proj/local/{name}.dump.json"
        s3.put_object(Bucket=s3.bucket, Key=key,
                      Body=store_meta(paths[name]))
    dry = run(project, "db", "backup", "prune", "--dry-run")
    assert dry.code == 0, dry
    assert f"Would delete s3://{s3.bucket}/proj/local/old.dump" in dry.out
    assert len(objects(s3)) == 9
    result = run(project, "db", "backup", "prune")
    assert result.code == 0, result
    assert f"Deleted s3://{s3.bucket}/proj/local/older.dump" in result.out
    assert "Deleted backups/local/old.dump" in result.out
    assert sorted(objects(s3)) == ["proj/local/new.dump", "proj/local/new.dump.json",
                                   "proj/local/new.dump.sha256"]
    assert backup_files(project) == ["new.dump", "new.dump.json", "new.dump.sha256"]


def store_meta(path) -> bytes:
    from nself.backups import store

    return store.meta_path(path).read_bytes()


def test_missing_bucket_keeps_the_local_backup_and_fails(project, s3):
    """A bucket that does not exist: the local backup is made and said, the upload failure
    is said, the exit code is 1, and nothing claims an upload."""
    fill(project.db)
    set_env(project, AWS_BACKUP_BUCKET="no-such-bucket-" + uuid.uuid4().hex[:8])
    result = run(project, "db", "backup", "--name", "kept")
    assert result.code == 1, result
    assert "Backup created: backups/local/kept.dump" in result.out
    assert "Uploaded" not in result.out
    assert "failed" in result.err and "bucket does not exist" in result.err
    assert "exists only locally: backups/local/kept.dump" in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert "kept.dump" in backup_files(project)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_endpoint_fails_without_the_secret(project, s3):
    """An endpoint nobody listens on: the backup stays local, the upload is said to have
    failed (exit 1); list shows the local backups and fails; status says the bucket's
    count is unknown; none of it shows the secret key."""
    fill(project.db)
    set_env(project, AWS_ENDPOINT_URL=f"http://127.0.0.1:{_closed_port()}")
    result = run(project, "db", "backup", "--name", "offline")
    assert result.code == 1, result
    assert "Backup created" in result.out and "Uploaded" not in result.out
    assert "cannot reach the endpoint" in result.err
    listed = run(project, "db", "backup", "list")
    assert listed.code == 1 and "Cannot list" in listed.err
    assert "offline.dump" in listed.out  # the local list is still shown
    status = run(project, "db", "backup", "status")
    assert status.code == 0 and "Backups Count: 1 local, unknown in S3" in status.out


def test_same_name_with_other_content_is_never_overwritten(project, s3):
    """A remote object of the same name holding something else is left as it is; the run
    fails (exit 1)."""
    fill(project.db)
    make_backup(project, "--name", "clash")
    first = objects(s3)["proj/local/clash.dump"]
    forget_local(project)
    project.db.query("DELETE FROM logs")
    result = run(project, "db", "backup", "--name", "clash")
    assert result.code == 1, result
    assert "already exists with other content" in result.err
    assert objects(s3)["proj/local/clash.dump"] == first


@pytest.mark.parametrize("settings, word", [
    ({"AWS_BACKUP_BUCKET": ""}, "AWS_BACKUP_BUCKET"),
    ({"AWS_ENDPOINT_URL": "ftp://127.0.0.1:9000"}, "AWS_ENDPOINT_URL"),
    ({"AWS_ENDPOINT_URL": "http//minio:9000"}, "AWS_ENDPOINT_URL"),
    ({"AWS_ENDPOINT_URL": "http://127.0.0.1:99999"}, "AWS_ENDPOINT_URL"),
    ({"BACKUP_STORAGE": "gcs"}, "BACKUP_STORAGE"),
    ({"AWS_ACCESS_KEY_ID": ""}, "AWS_ACCESS_KEY_ID"),
    ({"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_PROFILE": "nosuch"},
     "nosuch"),
], ids=["no-bucket", "ftp", "no-colon", "bad-port", "unknown-storage", "half-a-key",
        "unknown-profile"])
def test_bad_settings_are_one_line_exit_2_before_any_backup(unreachable_db_project, settings,
                                                           word):
    """Bad S3 settings stop every backup command with one line, exit 2, before the database
    is contacted (it is not there: that would be exit 4) and with no file made."""
    project = unreachable_db_project
    set_env(project, **settings)
    for argv in (("db", "backup"), ("db", "backup", "list"), ("db", "backup", "status"),
                 ("db", "backup", "prune"), ("db", "restore")):
        result = run(project, *argv)
        assert result.code == 2, (argv, result)
        assert word in result.err and len(result.err.strip().splitlines()) == 1
    assert backup_files(project) == []


def test_status_shows_s3_storage_and_remote_count(project, s3):
    """`backup status` names the bucket and counts the backups in it."""
    fill(project.db)
    make_backup(project, "--name", "one")
    result = run(project, "db", "backup", "status")
    assert result.code == 0, result
    assert f"Storage: S3 ({s3.bucket})" in result.out
    assert "Backups Count: 1 local, 1 in S3" in result.out
    assert f"Bucket: s3://{s3.bucket}/proj/local/" in result.out


def test_boto3_is_imported_only_when_s3_is_configured(project, tmp_path):
    """Local storage never loads boto3 (a real process: the import cost stays away)."""
    fill(project.db)
    probe = ("import sys; from nself.cli import program; code = program.run(sys.argv[1:], "
             "exit=False); print('boto3' in sys.modules, file=sys.stderr); sys.exit(code)")
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", probe, "nself", "db", "backup"],
                          cwd=project.root, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done
    assert done.stderr.strip().splitlines()[-1] == "False"


def test_scheduled_run_uploads_and_prunes_the_bucket(project, s3):
    """The scheduled run backs up, uploads, prunes both places and records the upload."""
    fill(project.db)
    set_env(project, BACKUP_ENABLED="true", BACKUP_RETENTION_DAYS="7")
    old = make_backup(project, "--name", "old")
    set_created(old, datetime.now() - timedelta(days=30))
    s3.put_object(Bucket=s3.bucket, Key="proj/local/old.dump.json", Body=store_meta(old))
    result = run(project, "db", "backup", "schedule", "run")
    assert result.code == 0, result
    recorded = json.loads((project.root / ".nself/backup-schedule-local.json").read_text())
    assert recorded["status"] == "ok"
    assert recorded["uploaded"].startswith(f"s3://{s3.bucket}/proj/local/")
    assert f"s3://{s3.bucket}/proj/local/old.dump" in recorded["pruned"]
    assert "backups/local/old.dump" in recorded["pruned"]
    assert sorted(objects(s3)) == sorted(
        recorded["uploaded"].removeprefix(f"s3://{s3.bucket}/") + ext
        for ext in ("", ".json", ".sha256"))


def test_without_boto3_the_setting_says_what_to_install(unreachable_db_project, monkeypatch):
    """BACKUP_STORAGE=s3 without boto3 installed is one line naming the extra (exit 2),
    before the database is contacted."""
    import sys

    project = unreachable_db_project
    monkeypatch.setitem(sys.modules, "boto3", None)  # `import boto3` raises ImportError
    result = run(project, "db", "backup")
    assert result.code == 2, result
    assert "nself[s3]" in result.err and len(result.err.strip().splitlines()) == 1
    assert backup_files(project) == []


def test_upload_progress_only_on_a_terminal(project, s3):
    """On a terminal the upload and its read-back draw a progress bar; without one only
    the lines are printed."""
    from conftest import run_on_terminal

    fill(project.db)
    plain = run(project, "db", "backup", "--name", "plain")
    assert plain.code == 0 and "read-back" not in plain.out and "\x1b" not in plain.out
    shown = run_on_terminal(project.root, "db", "backup", "--name", "tty")
    assert shown.code == 0, shown
    assert "Upload and read-back" in shown.out and "Uploaded: " in shown.out
    assert SECRET not in shown.out + shown.err
