"""Whose a backup is and which one a bare restore picks (issue 15): backups record their
project, environment, database and server; the default restore takes only this database's,
and not a safety backup; another source is said out loud (and needs no flag into an empty
database); S3 says what it knows when the endpoint drops; every backup shows progress."""

from __future__ import annotations

import json
import re
import shutil
import socket
import threading

import pytest
from conftest import REPO, fingerprint
from test_backup import backup_files, fill, make_backup
from test_backup_s3 import (
    forget_local,
    new_bucket,
    objects,
    run,
    set_env,
)

from nself.backups import store


def server_id(db) -> str:
    return str(db.scalar("SELECT system_identifier FROM pg_control_system()"))


def rewrite_meta(path, **changes) -> None:
    """Change a backup's metadata (what a teammate's or an older nself's would say)."""
    meta = store.meta_path(path)
    data = json.loads(meta.read_text())
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    meta.write_text(json.dumps(data))


def second_clone(project, tmp_path, monkeypatch, db_url: str):
    """A second checkout of the same project (same folder name, hence the same project name),
    working in it from now on."""
    from conftest import Project

    root = tmp_path / "teammate" / project.root.name
    shutil.copytree(project.root, root, ignore=shutil.ignore_patterns("backups", ".nself"))
    monkeypatch.chdir(root)
    monkeypatch.setenv("DATABASE_URL", db_url)
    return Project(root=root, db=None, capsys=project.capsys)


# -- what a backup records ---------------------------------------------------------------


def test_metadata_records_whose_backup_it_is(project):
    """A backup's metadata names its project, environment, database, the server's system
    identifier, and what made it."""
    fill(project.db)
    path = make_backup(project, "--name", "mine")
    data = json.loads(store.meta_path(path).read_text())
    assert data["project"] == "proj" and data["environment"] == "local"
    assert data["database"] == project.db.name
    assert data["server_id"] == server_id(project.db)
    assert data["origin"] == "backup" and data["reason"] is None


# -- the shared bucket -------------------------------------------------------------------


@pytest.fixture
def s3(s3_server, project, monkeypatch):
    """A fresh bucket on moto's S3 server, the project's .env pointing at it."""
    client = new_bucket(s3_server, project, monkeypatch)
    client.endpoint = s3_server
    return client


def test_shared_bucket_restores_only_this_servers_backup(project, s3, tmp_path, monkeypatch):
    """Two clones of one project share a bucket and each backs up; a bare `restore --clean`
    in the second restores its own backup, never the teammate's newer one (same project,
    environment and database name, another server), whose restore by name needs
    --allow-other-source and says whose it is."""
    fill(project.db)
    mine = make_backup(project, "--name", "mine")
    mine_rows = fingerprint(project.db)
    # the teammate: same project and database name, their own server; backs up later
    teammate_db = project.db.create_sibling()
    teammate = second_clone(project, tmp_path, monkeypatch, teammate_db.url)
    fill(teammate_db)
    teammate_db.query("INSERT INTO logs VALUES (424242, 'the teammate''s row')")
    theirs = make_backup(teammate, "--name", "theirs")
    assert sorted(k for k in objects(s3) if k.endswith(".dump")) == [
        "proj/local/mine.dump", "proj/local/theirs.dump"]  # keys per project and environment
    meta_key = "proj/local/theirs.dump.json"
    data = json.loads(s3.get_object(Bucket=s3.bucket, Key=meta_key)["Body"].read())
    data.update(database=project.db.name, server_id="7000000000000000001")
    s3.put_object(Bucket=s3.bucket, Key=meta_key, Body=json.dumps(data).encode())
    # back in the first clone, whose local copy is gone (as after a fresh checkout)
    monkeypatch.chdir(project.root)
    monkeypatch.setenv("DATABASE_URL", project.db.url)
    forget_local(project)
    project.db.query("DELETE FROM logs")
    result = run(project, "db", "restore", "--clean", "--no-backup")
    assert result.code == 0, result
    assert "mine.dump" in result.out and "theirs" not in result.out
    assert fingerprint(project.db) == mine_rows
    refused = run(project, "db", "restore", theirs.name, "--clean", "--no-backup")
    assert refused.code == 3, refused
    assert "--allow-other-source" in refused.err and "server …00000001" in refused.err
    assert "project proj, environment local" in refused.err
    assert fingerprint(project.db) == mine_rows
    assert mine.name in backup_files(project)


def test_prune_leaves_a_teammates_bucket_backups(project, s3):
    """`backup prune` deletes only this database's expired copies from a shared bucket: a
    teammate's (another server), however old, is theirs to prune."""
    from datetime import datetime, timedelta

    fill(project.db)
    set_env(project, BACKUP_RETENTION_DAYS="7")
    old = make_backup(project, "--name", "old")
    make_backup(project, "--name", "new")
    theirs = make_backup(project, "--name", "theirs")
    for path, server in ((old, None), (theirs, "7000000000000000001")):
        data = json.loads(store.meta_path(path).read_text())
        data["created"] = (datetime.now() - timedelta(days=30)).astimezone().isoformat()
        data["server_id"] = server or data["server_id"]
        s3.put_object(Bucket=s3.bucket, Key=f"proj/local/{path.name}.json",
                      Body=json.dumps(data).encode())
    result = run(project, "db", "backup", "prune")
    assert result.code == 0, result
    left = sorted(k for k in objects(s3) if k.endswith(".dump"))
    assert left == ["proj/local/new.dump", "proj/local/theirs.dump"]


# -- the default pick after `migrate down` ------------------------------------------------


def test_bare_restore_after_migrate_down_keeps_the_rollback(project):
    """After `migrate down`, a bare `restore --clean` restores the newest backup made by
    `db backup` (saying what it is), not the down's own safety backup; `--latest` picks
    the safety backup and says it was taken before `migrate down`."""
    project.migration("001_items.sql", "CREATE TABLE items (id int);", "DROP TABLE items;")
    project.migration("002_extra.sql", "CREATE TABLE extra (id int);", "DROP TABLE extra;")
    assert project.run("db", "migrate", "up", "--steps", "1").code == 0
    project.db.query("INSERT INTO items SELECT generate_series(1, 5)")
    make_backup(project, "--name", "regular")
    assert project.run("db", "migrate", "up").code == 0
    project.db.query("INSERT INTO extra VALUES (1)")
    down = project.run("db", "migrate", "down")
    assert down.code == 0, down
    assert "extra" not in project.db.tables()
    result = project.run("db", "restore", "--clean", "--no-backup", "--yes")
    assert result.code == 0, result
    assert "regular.dump" in result.out
    assert "backup made by `nself db backup`" in result.out
    assert "extra" not in project.db.tables()  # the rollback stands
    assert project.db.scalar("SELECT count(*) FROM items") == 5
    latest = project.run("db", "restore", "--clean", "--no-backup", "--latest", "--yes")
    assert latest.code == 0, latest
    assert "before_down" in latest.out
    assert "a safety backup taken before `migrate down`" in latest.out


def test_only_safety_backups_name_the_latest_flag(project):
    """With no backup but safety ones, a bare restore changes nothing (exit 2) and names the
    newest safety backup, what it is, and `--latest`."""
    fill(project.db)
    path = make_backup(project, "--name", "only")
    rewrite_meta(path, reason="down", origin="safety")
    before = fingerprint(project.db)
    result = project.run("db", "restore", "--clean")
    assert result.code == 2, result
    assert "--latest" in result.err and "taken before `migrate down`" in result.err
    assert fingerprint(project.db) == before


def test_describe_says_what_a_backup_is():
    """Backups are described by what made them and how long ago."""
    from datetime import timedelta
    from pathlib import Path

    at = store.now()

    def made(**meta):
        return store.Backup(Path("x.dump"), "custom", True, 1, meta={
            "created": (at - timedelta(minutes=3)).isoformat(), "kind": "full", **meta})

    assert store.describe(made(reason="down", origin="safety"), at) == \
        "a safety backup taken before `migrate down` 3 minutes ago"
    assert store.describe(made(origin="schedule"), at) == "a scheduled full backup 3 minutes ago"
    assert store.describe(made(origin="backup"), at) == \
        "a full backup made by `nself db backup` 3 minutes ago"


# -- another source, and an empty target ---------------------------------------------------


def test_restore_into_an_empty_database_needs_no_flag(project, monkeypatch):
    """Another database's backup restores into an EMPTY database without
    --allow-other-source (nothing can be lost) and says whose it is; into a database with
    rows it is still refused (exit 3), naming whose it is."""
    fill(project.db)
    path = make_backup(project, "--name", "theirs")
    original = fingerprint(project.db)
    empty = project.db.create_sibling()
    monkeypatch.setenv("DATABASE_URL", empty.url)
    result = project.run("db", "restore", str(path))
    assert result.code == 0, result
    assert f"database {project.db.name}" in result.out
    assert "the target is empty, so nothing is lost" in result.out
    assert fingerprint(empty) == original
    empty.query("DELETE FROM logs WHERE id > 10")
    refused = project.run("db", "restore", str(path), "--clean")
    assert refused.code == 3, refused
    assert "--allow-other-source" in refused.err and f"database {project.db.name}" in refused.err
    assert empty.scalar("SELECT count(*) FROM logs") == 10


def test_backup_without_provenance_is_never_the_default(project):
    """A backup written before backups recorded their project and server is not picked by a
    bare restore (it cannot be told from a teammate's): the refusal names it and the flag."""
    fill(project.db)
    path = make_backup(project, "--name", "old")
    rewrite_meta(path, project=None, server_id=None, origin=None)
    before = fingerprint(project.db)
    bare = project.run("db", "restore", "--clean")
    assert bare.code == 2, bare
    assert "old.dump" in bare.err and "--allow-other-source" in bare.err
    named = project.run("db", "restore", str(path), "--clean")
    assert named.code == 3 and "cannot be told from a teammate's" in named.err, named
    assert fingerprint(project.db) == before


# -- what `db backup list` says of whose a backup is ------------------------------------------


def mine_and_another(clone, name: str, **meta):
    """Back up twice: `mine.dump`, then `<name>.dump` whose metadata then says `meta`; the
    listing's text."""
    fill(clone.db)
    make_backup(clone, "--name", "mine")
    rewrite_meta(make_backup(clone, "--name", name), **meta)
    return clone.run("db", "backup", "list")


def test_list_marks_a_teammates_backup(project):
    """`db backup list` marks, in text and JSON, a backup of this project's environment and
    database name made on another server (a teammate's), and not this database's own."""
    text = mine_and_another(project, "theirs", server_id="7000000000000012144760")
    assert text.code == 0, text
    rows = {line.split()[0]: line for line in text.out.splitlines() if ".dump" in line}
    assert "not this database's: server …12144760" in rows["theirs.dump"], text.out
    assert "not this database's" not in rows["mine.dump"] and "Whose" in text.out
    listed = json.loads(project.run("db", "backup", "list", "--json").out)
    by_name = {item["name"]: item for item in listed}
    assert by_name["mine.dump"]["this_database"] is True
    assert by_name["theirs.dump"]["this_database"] is False
    assert by_name["theirs.dump"]["not_this_database"] == "server …12144760"
    assert "not this database's: server …12144760" in by_name["theirs.dump"]["description"]


def test_list_leaves_out_another_projects_backup(project):
    """A backup another project wrote into this environment's folder is left out of the
    default list (counted below it) and marked with --all."""
    text = mine_and_another(project, "other", project="shop2")
    assert text.code == 0, text
    assert "other.dump" not in text.out and "1 backup(s) of other projects" in text.out
    everything = project.run("db", "backup", "list", "--all")
    assert "not this database's: project shop2" in everything.out, everything.out


def test_list_reads_the_embedded_servers_id_without_starting_it(embedded_server):
    """The server id `db backup list` compares is read from the embedded data folder's
    pg_control, the same as the running server reports."""
    import psycopg

    params = embedded_server.connection_params("postgres")
    with psycopg.connect(**params, autocommit=True) as conn:
        running = conn.execute(store.SERVER_ID_SQL).fetchone()[0]
    assert store.server_id_at(embedded_server.pgdata) == running


# -- the README's undo lines -------------------------------------------------------------


def test_readme_undo_lines_are_what_nself_prints():
    """Every `undo with` line the README shows is the one nself.guard.undo_command prints
    for its backup's environment (a production sample once lacked ENV= and --confirm)."""

    from nself.guard import undo_command

    readme = (REPO / "README.md").read_text()
    shown = re.findall(r"undo with:? `?((?:ENV=\w+ )?nself db restore (\S+) [^`)]*)", readme)
    assert len(shown) >= 4, shown
    for line, path in shown:
        env_name = re.match(r"backups/(\w+)/", path).group(1)
        # undo_command quotes a path with "…" in it; the README abbreviates with it
        expected = undo_command(env_name, path.replace("…", "X")).replace("X", "…")
        assert line.strip() == expected, line


# -- S3 messages that say what is known -----------------------------------------------------


class CutProxy:
    """A TCP proxy in front of the S3 server that cuts the connection of each request
    `METHOD` of the object called `name` (METHOD a regex: "GET", "PUT|DELETE"): at once
    (`after` None), or after `after` bytes of its response."""

    def __init__(self, upstream: str, method: str, name: str, after: int | None = None):
        host, port = upstream.rsplit("/", 1)[1].split(":")
        self.upstream, self.after = (host, int(port)), after
        self.request = re.compile(f"(?:{method}) /\\S*/{re.escape(name)}[ ?]".encode())
        self.cuts = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client):
        server = socket.create_connection(self.upstream)
        left: list[int | None] = [None]  # response bytes to pass before cutting

        def close():
            for end in (client, server):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        def upward():
            try:
                while data := client.recv(65536):
                    if self.request.search(data):
                        self.cuts += 1
                        if self.after is None:
                            break
                        left[0] = self.after
                    server.sendall(data)
            except OSError:
                pass
            close()

        threading.Thread(target=upward, daemon=True).start()
        try:
            while data := server.recv(65536):
                if left[0] is not None:
                    if len(data) >= left[0]:
                        client.sendall(data[:left[0]])
                        break
                    left[0] -= len(data)
                client.sendall(data)
        except OSError:
            pass
        close()
        client.close()
        server.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.listener.close()


def test_read_back_cut_says_unverified_not_only_local(project, s3):
    """The endpoint dropping while the upload is read back: exit 1, the upload "could not be
    verified" with the command that verifies it, never "exists only locally"; the complete
    copy stays in the bucket, and that command then finds it whole."""
    fill(project.db)
    with CutProxy(s3.endpoint, "GET", "cut.dump") as proxy:
        set_env(project, AWS_ENDPOINT_URL=proxy.url)
        result = run(project, "db", "backup", "--name", "cut")
    assert result.code == 1, result
    assert proxy.cuts >= 1
    assert "could not be verified" in result.err and "backup list --verify" in result.err
    assert "only locally" not in result.err
    local = project.root / "backups/local/cut.dump"
    assert objects(s3)["proj/local/cut.dump"] == local.read_bytes()
    set_env(project, AWS_ENDPOINT_URL=s3.endpoint)
    checked = run(project, "db", "backup", "list", "--verify", "--json")
    assert checked.code == 0, checked
    [row] = json.loads(checked.out)
    assert row["checksum_ok"] == "ok" and row["remote_checksum_ok"] == "ok"


def test_cut_upload_that_cannot_be_cleaned_up_is_not_called_local_only(project, s3):
    """The endpoint dropping during the upload and during the clean-up after it: exit 1, the
    bucket "may hold part or all of it" (never "exists only locally"); when the clean-up
    works, what the upload wrote is gone and "only locally" is true."""
    fill(project.db)
    with CutProxy(s3.endpoint, "PUT|DELETE", "cut.dump") as proxy:
        set_env(project, AWS_ENDPOINT_URL=proxy.url)
        stuck = run(project, "db", "backup", "--name", "cut")
    assert stuck.code == 1, stuck
    assert "may hold part or all of it" in stuck.err and "backup list --verify" in stuck.err
    assert "only locally" not in stuck.err
    with CutProxy(s3.endpoint, "PUT", "cut2.dump") as proxy:
        set_env(project, AWS_ENDPOINT_URL=proxy.url)
        failed = run(project, "db", "backup", "--name", "cut2")
    assert failed.code == 1, failed
    assert "The backup exists only locally: backups/local/cut2.dump" in failed.err
    assert not [k for k in objects(s3) if "cut2" in k]


def test_cut_download_says_retry(project, s3):
    """A download cut short during a restore: exit 1, "was cut" and "retry" (never "No
    backup file"), nothing kept locally and the database untouched; the retry restores."""
    fill(project.db)
    make_backup(project, "--name", "far")
    original = fingerprint(project.db)
    forget_local(project)
    project.db.query("DELETE FROM logs")
    with CutProxy(s3.endpoint, "GET", "far.dump", after=2000) as proxy:
        set_env(project, AWS_ENDPOINT_URL=proxy.url)
        result = run(project, "db", "restore", "far.dump", "--clean", "--no-backup")
    assert result.code == 1, result
    assert proxy.cuts >= 1
    assert "was cut" in result.err and "again to retry" in result.err
    assert "No backup file" not in result.err
    assert backup_files(project) == []
    assert project.db.scalar("SELECT count(*) FROM logs") == 0
    set_env(project, AWS_ENDPOINT_URL=s3.endpoint)
    again = run(project, "db", "restore", "far.dump", "--clean", "--no-backup")
    assert again.code == 0, again
    assert fingerprint(project.db) == original


# -- progress ---------------------------------------------------------------------------


def test_update_and_safety_backups_show_progress_on_a_terminal(project):
    """On a terminal, `db update`'s backup and the safety backup of `migrate down` draw the
    same "Writing" progress bar as a plain `db backup`."""
    from conftest import run_on_terminal

    project.migration("001_items.sql", "CREATE TABLE items (id int);", "DROP TABLE items;")
    update = run_on_terminal(project.root, "db", "update")
    assert update.code == 0, update
    assert "Creating backup" in update.out and "Writing" in update.out, update
    down = run_on_terminal(project.root, "db", "migrate", "down")
    assert down.code == 0, down
    assert "Safety backup" in down.out and "Writing" in down.out, down
