"""`db restore` against real PostgreSQL: round trips, damaged files, safety, --clean,
cross-version."""

from __future__ import annotations

import json
import os
import shlex
import uuid
from datetime import datetime, timedelta

import psycopg
import pytest
from conftest import fingerprint
from psycopg import sql
from test_backup import backup_files, fill, make_backup, set_created

from nself.backups import restore, store
from nself.config import Database
from nself.pg import meta

EXTERNAL_URL = os.environ.get("NSELF_TEST_EXTERNAL_URL")


OTHER = ("--allow-other-source", "--yes")  # a backup of another database, confirmed


def use(project, monkeypatch, target) -> None:
    """Point the project at `target` (a TestDatabase) from now on."""
    monkeypatch.setenv("DATABASE_URL", target.url)


@pytest.mark.parametrize("args", [[], ["--format", "sql"], ["--format", "sql", "--no-compress"],
                                  ["--no-compress"]],
                         ids=["custom", "sql.gz", "sql", "custom-z0"])
def test_round_trip_equals_original(project, monkeypatch, args):
    """Backup then restore into an empty database gives the same tables, row counts and
    content checksum for every table."""
    fill(project.db)
    path = make_backup(project, *args, "--name", "rt")
    original = fingerprint(project.db)
    target = project.db.create_sibling()
    use(project, monkeypatch, target)
    result = project.run("db", "restore", str(path), *OTHER)
    assert result.code == 0, result
    assert "✓ Restored" in result.out
    assert fingerprint(target) == original
    assert target.scalar("SELECT count(*) FROM active_users") == project.db.scalar(
        "SELECT count(*) FROM active_users")


def test_default_is_newest_complete_backup_of_this_environment(project, monkeypatch):
    """`db restore --clean` with no file restores the newest FULL backup of this environment
    and database by metadata time: not a newer schema-only one, not a copy whose mtime is
    newest, not staging's, not another database's."""
    import shutil

    fill(project.db)
    old = make_backup(project, "--name", "old")
    project.db.query("INSERT INTO logs VALUES (9999, 'newest only')")
    make_backup(project, "--name", "new")
    original = fingerprint(project.db)
    make_backup(project, "--schema-only", "--name", "schema_newer")
    shutil.copy(old, old.with_name("copied.dump"))  # newest mtime, no metadata
    set_created(old, datetime.now() - timedelta(days=1))
    monkeypatch.setenv("ENV", "staging")
    make_backup(project, "--name", "staging_newest")
    monkeypatch.setenv("ENV", "local")
    project.db.query("DELETE FROM logs; DELETE FROM sessions")
    result = project.run("db", "restore", "--clean", "--no-backup")
    assert result.code == 0, result
    assert "backups/local/new.dump" in result.out
    assert fingerprint(project.db) == original


def test_no_complete_backup_is_a_usage_error(project):
    """With only partial backups (or files without metadata), a restore without a file names
    the problem (exit 2) and changes nothing."""
    fill(project.db)
    path = make_backup(project, "--schema-only", "--name", "s")
    path.with_name("bare.dump").write_bytes(path.read_bytes())
    before = fingerprint(project.db)
    result = project.run("db", "restore", "--clean")
    assert result.code == 2, result
    assert "No complete backup of local" in result.err
    assert fingerprint(project.db) == before


@pytest.mark.parametrize("kind", ["--schema-only", "--data-only", "--tables=users"])
def test_partial_backup_with_clean_needs_flag_and_confirmation(project, kind):
    """--clean with a partial backup is refused (exit 3, nothing changed) without
    --allow-partial, and without --yes when there is no terminal to confirm."""
    fill(project.db)
    path = make_backup(project, kind, "--name", "p")
    before = fingerprint(project.db)
    bare = project.run("db", "restore", str(path), "--clean")
    assert bare.code == 3 and "--allow-partial" in bare.err and "not full" in bare.err, bare
    unconfirmed = project.run("db", "restore", str(path), "--clean", "--allow-partial")
    assert unconfirmed.code == 3 and "--yes" in unconfirmed.err, unconfirmed
    assert fingerprint(project.db) == before
    assert backup_files(project) == ["p.dump", "p.dump.json", "p.dump.sha256"]


def test_backup_of_another_environment_needs_flag(project, monkeypatch):
    """ENV=production restore --clean of staging's dump is refused (exit 3) without
    --allow-other-source, even with the production confirmation word; with both it runs."""
    fill(project.db)
    monkeypatch.setenv("ENV", "staging")
    path = make_backup(project, "--name", "from_staging")
    project.db.query("DELETE FROM logs")
    word = ("--confirm", "yes-restore-production")
    refused = project.run_process("db", "restore", str(path), "--clean", *word,
                                  env={"ENV": "production"})
    assert refused.code == 3, refused
    assert "staging/" in refused.err and "--allow-other-source" in refused.err
    assert project.db.scalar("SELECT count(*) FROM logs") == 0
    assert project.run_process("db", "restore", "--clean", *word,
                               env={"ENV": "production"}).code == 2  # none of production's
    ok = project.run_process("db", "restore", str(path), "--clean", *word,
                             "--allow-other-source", "--yes", env={"ENV": "production"})
    assert ok.code == 0, ok
    assert project.db.scalar("SELECT count(*) FROM logs") == 200
    with project.db.connect() as conn:
        assert meta.recorded_environment(conn) == "production"


def test_file_without_metadata_counts_as_foreign_and_partial(project):
    """A dump without its .json is restored with --clean only with --allow-other-source,
    --allow-partial and a confirmation."""
    fill(project.db)
    path = make_backup(project, "--name", "m")
    store.meta_path(path).unlink()
    result = project.run("db", "restore", str(path), "--clean")
    assert result.code == 3
    assert "--allow-other-source and --allow-partial" in result.err
    ok = project.run("db", "restore", str(path), "--clean", "--allow-other-source",
                     "--allow-partial", "--yes", "--no-backup")
    assert ok.code == 0, ok


def test_recorded_environment_refuses_before_anything_changes(project):
    """A target recorded as staging refuses a local restore --clean (exit 3, both names,
    the flag), before any safety backup or drop; --allow-env-mismatch overrides this once
    and the restored database stays recorded as staging (never lowered)."""
    fill(project.db)
    path = make_backup(project, "--name", "b")
    with project.db.connect() as conn:
        meta.set_environment(conn, "staging")
    project.db.query("CREATE TABLE extra (id int)")
    result = project.run("db", "restore", str(path), "--clean")
    assert result.code == 3, result
    assert "staging" in result.err and "local" in result.err
    assert "--allow-env-mismatch" in result.err
    assert "extra" in project.db.tables()
    assert backup_files(project) == ["b.dump", "b.dump.json", "b.dump.sha256"]
    ok = project.run("db", "restore", str(path), "--clean", "--allow-env-mismatch")
    assert ok.code == 0, ok
    assert "extra" not in project.db.tables()
    with project.db.connect() as conn:
        assert meta.recorded_environment(conn) == "staging"


def test_restore_single_job_and_partial_backup(project, monkeypatch):
    """--jobs 1 restores a --tables backup holding just those tables."""
    fill(project.db)
    path = make_backup(project, "--tables", "users,posts", "--name", "two")
    target = project.db.create_sibling()
    use(project, monkeypatch, target)
    result = project.run("db", "restore", str(path), "--jobs", "1", *OTHER)
    assert result.code == 0, result
    assert target.tables() == ["posts", "users"]
    assert fingerprint(target) == {k: v for k, v in fingerprint(project.db).items()
                                   if k in ("users", "posts")}


def test_data_only_backup_with_clean_empties_tables_first(project):
    """A --data-only backup restored with --clean truncates the tables, then loads the rows."""
    fill(project.db)
    original = fingerprint(project.db)
    path = make_backup(project, "--data-only", "--name", "data")
    project.db.query("INSERT INTO logs VALUES (7777, 'after backup')")
    project.db.query("DELETE FROM sessions")
    result = project.run("db", "restore", str(path), "--clean", "--allow-partial", "--yes")
    assert result.code == 0, result
    assert fingerprint(project.db) == original


def test_data_only_clean_never_empties_tables_outside_the_backup(project):
    """--clean with a data-only backup of users refuses (exit 1) rather than cascade into
    posts, which references users and is not in the backup; nothing changes."""
    fill(project.db)
    path = make_backup(project, "--data-only", "--tables", "users", "--name", "du")
    before = fingerprint(project.db)
    result = project.run("db", "restore", str(path), "--clean", "--allow-partial", "--yes")
    assert result.code == 1
    assert "Nothing was changed" in result.err
    assert fingerprint(project.db) == before


def test_dry_run_lists_contents_and_changes_nothing(project, monkeypatch):
    """--dry-run names the file, the target and the archive's tables, and changes nothing."""
    fill(project.db)
    path = make_backup(project, "--name", "preview")
    target = project.db.create_sibling()
    use(project, monkeypatch, target)
    result = project.run("db", "restore", str(path), "--dry-run")
    assert result.code == 0, result
    assert "nothing changed" in result.out
    assert target.name in result.out
    assert "public.users" in result.out and "public.posts" in result.out
    assert "4 table" in result.out
    assert target.tables() == []
    data = json.loads(project.run("db", "restore", str(path), "--dry-run", "--json").out)
    assert data["dry_run"] is True and "public.logs" in data["tables"]
    # another database's backup, into an empty one: nothing to lose, so no flag needed
    assert data["needs"] == [] and data["other_source"] and data["kind"] == "full"


def test_dry_run_of_sql_backup(project):
    """--dry-run reads a .sql.gz backup's table list from pg_dump's comments."""
    fill(project.db)
    path = make_backup(project, "--format", "sql", "--name", "s")
    result = project.run("db", "restore", str(path), "--dry-run")
    assert result.code == 0, result
    assert "public.sessions" in result.out
    assert "Already in the target" in result.err


def test_restore_over_existing_tables_needs_clean(project):
    """Restoring into a database that has the backup's tables is refused (exit 2) without
    --clean, and nothing changes."""
    fill(project.db)
    path = make_backup(project, "--name", "x")
    project.db.query("INSERT INTO logs VALUES (5555, 'kept')")
    before = fingerprint(project.db)
    result = project.run("db", "restore", str(path))
    assert result.code == 2
    assert "--clean" in result.err
    assert fingerprint(project.db) == before


@pytest.mark.parametrize("args", [[], ["--format", "sql"]], ids=["custom", "sql.gz"])
def test_clean_drops_extra_tables_and_equals_backup(project, args):
    """--clean on a database with extra tables and changed rows leaves exactly the backup."""
    fill(project.db)
    original = fingerprint(project.db)
    path = make_backup(project, *args, "--name", "c")
    project.db.query("CREATE TABLE extra (id int); INSERT INTO extra VALUES (1)")
    project.db.query("CREATE SCHEMA side; CREATE TABLE side.t (x int)")
    project.db.query("DELETE FROM posts WHERE id > 100; UPDATE users SET name = 'changed'")
    result = project.run("db", "restore", str(path), "--clean")
    assert result.code == 0, result
    assert fingerprint(project.db) == original
    assert "extra" not in project.db.tables()
    assert project.db.scalar("SELECT count(*) FROM pg_namespace WHERE nspname = 'side'") == 0


@pytest.mark.parametrize("args", [[], ["--format", "sql"]], ids=["custom", "sql.gz"])
def test_clean_with_partial_backup_keeps_other_tables(project, args):
    """--clean with a --tables backup replaces just those tables; the others stay as they are."""
    fill(project.db)
    original = fingerprint(project.db)
    path = make_backup(project, *args, "--tables", "posts,sessions", "--name", "part")
    project.db.query("DELETE FROM posts WHERE id > 10; DELETE FROM sessions")
    project.db.query("INSERT INTO logs VALUES (4242, 'kept')")
    result = project.run("db", "restore", str(path), "--clean", "--allow-partial", "--yes")
    assert result.code == 0, result
    now = fingerprint(project.db)
    assert now["posts"] == original["posts"] and now["sessions"] == original["sessions"]
    assert now["users"] == original["users"]
    assert project.db.scalar("SELECT count(*) FROM logs WHERE id = 4242") == 1


@pytest.mark.parametrize("args", [[], ["--format", "sql"]], ids=["custom", "sql.gz"])
def test_clean_with_partial_backup_stops_at_dependents(project, args):
    """--clean of a --tables backup whose table a view outside the backup depends on fails
    with PostgreSQL's reason (exit 1) and changes nothing."""
    fill(project.db)
    path = make_backup(project, *args, "--tables", "users", "--name", "u")
    project.db.query("UPDATE users SET name = 'changed'")
    before = fingerprint(project.db)
    result = project.run("db", "restore", str(path), "--clean", "--allow-partial", "--yes")
    assert result.code == 1
    assert "active_users" in result.err and "Nothing was changed" in result.err
    assert fingerprint(project.db) == before


def test_bit_flipped_archive_is_refused(project, monkeypatch):
    """One flipped bit fails the checksum: exit 1 and the target database is untouched."""
    fill(project.db)
    path = make_backup(project, "--name", "flip")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x04
    path.write_bytes(bytes(data))
    target = project.db.create_sibling()
    use(project, monkeypatch, target)
    result = project.run("db", "restore", str(path), *OTHER)
    assert result.code == 1
    assert "Checksum mismatch" in result.err
    assert target.tables() == []


@pytest.mark.parametrize("args", [[], ["--format", "sql"]], ids=["custom", "sql.gz"])
def test_truncated_archive_is_refused(project, monkeypatch, args):
    """A truncated backup is refused by its checksum, and without a checksum file by the full
    read; the database is untouched either way."""
    fill(project.db)
    path = make_backup(project, *args, "--name", "cut")
    path.write_bytes(path.read_bytes()[: path.stat().st_size * 3 // 4])
    target = project.db.create_sibling()
    use(project, monkeypatch, target)
    result = project.run("db", "restore", str(path), *OTHER)
    assert result.code == 1 and "Checksum mismatch" in result.err
    store.checksum_path(path).unlink()
    result = project.run("db", "restore", str(path), *OTHER)
    assert result.code == 1, result
    assert "verification failed" in result.err.lower()
    assert target.tables() == []


def test_production_restore_needs_the_word_without_terminal(project, monkeypatch):
    """In production, a restore without --confirm yes-restore-production is refused (exit 3)
    when there is no terminal; the database keeps its rows."""
    fill(project.db)
    monkeypatch.setenv("ENV", "production")
    path = make_backup(project, "--name", "p")
    project.db.query("DELETE FROM logs")
    result = project.run_process("db", "restore", str(path), "--clean", env={"ENV": "production"})
    assert result.code == 3, result
    assert "yes-restore-production" in result.err
    assert project.db.scalar("SELECT count(*) FROM logs") == 0
    wrong = project.run_process("db", "restore", str(path), "--clean", "--confirm", "yes",
                                env={"ENV": "production"})
    assert wrong.code == 3
    ok = project.run_process("db", "restore", str(path), "--clean", "--confirm",
                             "yes-restore-production", env={"ENV": "production"})
    assert ok.code == 0, ok
    assert project.db.scalar("SELECT count(*) FROM logs") == 200


def test_staging_restore_needs_yes(project, monkeypatch):
    """In staging, restore without --yes and without a terminal is refused (exit 3)."""
    fill(project.db)
    monkeypatch.setenv("ENV", "staging")
    path = make_backup(project, "--name", "s")
    result = project.run_process("db", "restore", str(path), "--clean", env={"ENV": "staging"})
    assert result.code == 3, result
    assert "--yes" in result.err
    ok = project.run_process("db", "restore", str(path), "--clean", "--yes",
                             env={"ENV": "staging"})
    assert ok.code == 0, ok


def test_clean_takes_a_safety_backup_in_every_environment(project):
    """--clean first backs up what it drops, in local as in staging (the message names the
    file and the command that restores it); the safety backup restores the replaced state;
    --no-backup skips it."""
    fill(project.db)
    path = make_backup(project, "--name", "base")
    project.db.query("CREATE TABLE extra (id int); INSERT INTO extra VALUES (42)")
    ok = project.run("db", "restore", str(path), "--clean")
    assert ok.code == 0, ok
    saved = [n for n in backup_files(project) if n.endswith("_before_restore.dump")]
    assert len(saved) == 1
    assert (f"Backup created: backups/local/{saved[0]} (undo with: nself --url "
            f"{shlex.quote(project.db.url)} db restore ") in ok.out
    assert "extra" not in project.db.tables()
    data = json.loads((project.root / "backups" / "local" / f"{saved[0]}.json").read_text())
    assert data["reason"] == "restore" and data["kind"] == "full"
    back = project.run("db", "restore", f"backups/local/{saved[0]}", "--clean", "--no-backup")
    assert back.code == 0, back
    assert project.db.scalar("SELECT id FROM extra") == 42
    assert len([n for n in backup_files(project) if n.endswith("_before_restore.dump")]) == 1
    staged = project.run_process("db", "restore", str(path), "--clean", "--yes",
                                 "--allow-other-source", env={"ENV": "staging"})
    assert staged.code == 0, staged
    assert [n for n in backup_files(project, "staging") if n.endswith("_before_restore.dump")]


def test_dry_run_lists_what_clean_drops_with_row_counts(project):
    """--dry-run --clean lists the target's user tables with exact row counts and what the
    backup holds (kind, environment, database, created, tables); nothing changes."""
    fill(project.db)
    path = make_backup(project, "--schema-only", "--name", "s")
    project.db.query("CREATE TABLE extra (id int); INSERT INTO extra SELECT generate_series(1, 7)")
    before = fingerprint(project.db)
    result = project.run("db", "restore", str(path), "--clean", "--dry-run")
    assert result.code == 0, result
    out = result.out
    assert "Backup: schema-only, environment local, database " + project.db.name in out
    assert "created 20" in out
    assert "public.users (300 rows)" in out and "public.posts (900 rows)" in out
    assert "public.extra" not in out  # drop-listed: only the backup's own objects go
    assert "public.active_users (view)" in out
    assert "Needs --allow-partial" in result.err
    data = json.loads(project.run("db", "restore", str(path), "--clean", "--dry-run",
                                  "--json").out)
    assert data["dropped"]["public.logs"] == 200 and data["kind"] == "schema-only"
    full = make_backup(project, "--name", "f")
    data = json.loads(project.run("db", "restore", str(full), "--clean", "--dry-run",
                                  "--json").out)
    assert data["clean"] == "drop-all" and data["dropped"]["public.extra"] == 7
    assert data["source_environment"] == "local" and data["needs"] == []
    assert fingerprint(project.db) == before


def test_guide_style_positional_file(project, monkeypatch):
    """`nself db restore backups/x.dump --dry-run` (the guides' spelling) works."""
    fill(project.db)
    make_backup(project, "--name", "g")
    result = project.run("db", "restore", "backups/local/g.dump", "--dry-run")
    assert result.code == 0, result
    assert "backups/local/g.dump" in result.out


def test_missing_file_is_usage_error(project):
    """A restore of a file that does not exist, or with no backups at all, exits 2."""
    assert project.run("db", "restore", "nope.dump").code == 2
    result = project.run("db", "restore")
    assert result.code == 2
    assert "No backups" in result.err


def test_ownership_noise_does_not_fail_a_restore(project, monkeypatch):
    """A backup owned by a role the target server no longer has restores (exit 0); the
    ownership errors are shown as ignored warnings, not hidden and not fatal."""
    role = f"nself_owner_{uuid.uuid4().hex[:8]}"
    fill(project.db)
    project.db.query(sql.SQL("CREATE ROLE {}").format(sql.Identifier(role)).as_string(None))
    try:
        project.db.query(sql.SQL("ALTER TABLE logs OWNER TO {}").format(
            sql.Identifier(role)).as_string(None))
        original = fingerprint(project.db)
        path = make_backup(project, "--name", "owned")
        project.db.query("DROP TABLE logs")
    finally:
        project.db.query(sql.SQL("DROP ROLE IF EXISTS {}").format(
            sql.Identifier(role)).as_string(None))
    target = project.db.create_sibling()
    use(project, monkeypatch, target)
    result = project.run("db", "restore", str(path), *OTHER)
    assert result.code == 0, result
    assert "ignored" in result.err and role in result.err
    assert fingerprint(target) == original


def test_error_classification_keeps_real_errors():
    """Ownership/extension noise is tolerated; anything else is reported as a real error."""
    stderr = "\n".join([
        "pg_restore: error: could not execute query: ERROR:  role \"app\" does not exist",
        "Command was: ALTER TABLE public.users OWNER TO app;",
        "pg_restore: error: could not execute query: ERROR:  must be owner of extension plpgsql",
        "Command was: COMMENT ON EXTENSION plpgsql IS 'PL/pgSQL';",
        "pg_restore: error: could not execute query: ERROR:  relation \"users\" already exists",
        "Command was: CREATE TABLE public.users (id int);",
        "psql:<stdin>:12: ERROR:  syntax error at or near \"FOO\"",
        "pg_restore: warning: errors ignored on restore: 3",
    ])
    noise, real = restore.classify_errors(stderr)
    assert len(noise) == 2
    assert len(real) == 2
    assert "already exists" in real[0] and "CREATE TABLE public.users" in real[0]
    assert "syntax error" in real[1]


def test_real_restore_error_is_reported(project, monkeypatch):
    """A restore whose SQL fails for a real reason exits 1 and names the error."""
    fill(project.db)
    path = make_backup(project, "--format", "sql", "--no-compress", "--name", "e")
    text = path.read_text().replace("CREATE TABLE public.logs (",
                                    "CREATE TABLE public.logs (nonsense_type_x foo_bar, ")
    path.write_text(text)
    store.checksum_path(path).unlink()
    target = project.db.create_sibling()
    use(project, monkeypatch, target)
    result = project.run("db", "restore", str(path), *OTHER)
    assert result.code == 1
    assert "foo_bar" in result.err


# Cross-version ------------------------------------------------------------------------------


def _make_db(admin: dict[str, str]) -> dict[str, str]:
    name = f"nself_x_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(Database(admin).conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return {**admin, "dbname": name}


def _drop_db(params: dict[str, str]) -> None:
    admin = {**params, "dbname": "postgres"}
    with psycopg.connect(Database(admin).conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(params["dbname"])))


def _url(p: dict[str, str]) -> str:
    host = p.get("host", "")
    if host.startswith("/"):
        user = p.get("user", "postgres")
        return f"postgresql://{user}@/{p['dbname']}?host={host}&port={p['port']}"
    return f"postgresql://{p.get('user', 'postgres')}@{host}:{p.get('port', '5432')}/{p['dbname']}"


def test_cross_version_restore(project, monkeypatch, request):
    """A PostgreSQL 15 backup restores into 15 and into the embedded 18; an 18 backup aimed at
    15 is refused with a message naming both versions."""
    if not EXTERNAL_URL:
        pytest.skip("NSELF_TEST_EXTERNAL_URL is unset: no second server to cross versions with")
    if project.db.backend != "external":
        pytest.skip("runs once, from the external (PostgreSQL 15) backend")
    embedded = request.getfixturevalue("embedded_server")
    fill(project.db)
    original = fingerprint(project.db)
    with project.db.connect() as conn:
        ext_major = conn.info.server_version // 10000
    path = make_backup(project, "--name", "from_ext")
    into_same = project.db.create_sibling()
    use(project, monkeypatch, into_same)
    assert project.run("db", "restore", str(path), *OTHER).code == 0
    assert fingerprint(into_same) == original

    newer = _make_db(embedded.connection_params("postgres"))
    try:
        monkeypatch.setenv("DATABASE_URL", _url(newer))
        result = project.run("db", "restore", str(path), *OTHER)
        assert result.code == 0, result
        with psycopg.connect(Database(newer).conninfo(), autocommit=True) as conn:
            assert conn.info.server_version // 10000 >= ext_major
            for table, (count, digest) in original.items():
                row = conn.execute(f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' "
                                   f"ORDER BY t::text), '')) FROM public.{table} t").fetchone()
                assert (row[0], row[1]) == (count, digest), table
        # and back: a backup of the newer server aimed at the older one
        back = make_backup(project, "--name", "from_new")
        empty = _make_db({**project.db.admin})
        try:
            monkeypatch.setenv("DATABASE_URL", _url(empty))
            refused = project.run("db", "restore", str(back), *OTHER)
            assert refused.code == 2, refused
            assert f"PostgreSQL {ext_major}" in refused.err and "dumped from PostgreSQL" in (
                refused.err)
        finally:
            _drop_db(empty)
    finally:
        _drop_db(newer)
    assert backup_files(project)


@pytest.mark.parametrize("jobs", ["-1", "65", "99999999999999999999"])
def test_bad_jobs_refused_before_anything_changes(project, jobs):
    """A --jobs value pg_restore cannot take is exit 2 before the clean or any backup."""
    project.db.query("CREATE TABLE keep (id int); INSERT INTO keep VALUES (1)")
    assert project.run("db", "backup", "--name", "k").code == 0
    result = project.run("db", "restore", "backups/local/k.dump", "--clean", "--jobs", jobs)
    assert result.code == 2, result
    assert project.db.query("SELECT id FROM keep") == [(1,)]
    assert sorted(p.name for p in (project.root / "backups" / "local").glob("*.dump")) == \
        ["k.dump"]
