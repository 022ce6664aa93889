"""`db restore` against real PostgreSQL: round trips, damaged files, safety, --clean,
cross-version."""

from __future__ import annotations

import json
import os
import uuid

import psycopg
import pytest
from psycopg import sql
from test_backup import backup_files, fill, fingerprint, make_backup

from nself import backups
from nself.config import Database

EXTERNAL_URL = os.environ.get("NSELF_TEST_EXTERNAL_URL")


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
    result = project.run("db", "restore", str(path))
    assert result.code == 0, result
    assert "✓ Restored" in result.out
    assert fingerprint(target) == original
    assert target.scalar("SELECT count(*) FROM active_users") == project.db.scalar(
        "SELECT count(*) FROM active_users")


def test_restore_newest_when_no_file_given(project, monkeypatch):
    """`db restore` with no file restores the newest backup in backups/."""
    fill(project.db)
    make_backup(project, "--name", "old")
    project.db.query("INSERT INTO logs VALUES (9999, 'newest only')")
    path = make_backup(project, "--name", "new")
    past = path.stat().st_mtime - 60
    os.utime(project.root / "backups" / "old.dump", (past, past))
    target = project.db.create_sibling()
    use(project, monkeypatch, target)
    result = project.run("db", "restore")
    assert result.code == 0, result
    assert "backups/new.dump" in result.out
    assert target.scalar("SELECT count(*) FROM logs WHERE id = 9999") == 1


def test_restore_single_job_and_partial_backup(project, monkeypatch):
    """--jobs 1 restores a --tables backup holding just those tables."""
    fill(project.db)
    path = make_backup(project, "--tables", "users,posts", "--name", "two")
    target = project.db.create_sibling()
    use(project, monkeypatch, target)
    result = project.run("db", "restore", str(path), "--jobs", "1")
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
    result = project.run("db", "restore", str(path), "--clean")
    assert result.code == 0, result
    assert fingerprint(project.db) == original


def test_data_only_clean_never_empties_tables_outside_the_backup(project):
    """--clean with a data-only backup of users refuses (exit 1) rather than cascade into
    posts, which references users and is not in the backup; nothing changes."""
    fill(project.db)
    path = make_backup(project, "--data-only", "--tables", "users", "--name", "du")
    before = fingerprint(project.db)
    result = project.run("db", "restore", str(path), "--clean")
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
    result = project.run("db", "restore", str(path), "--clean")
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
    result = project.run("db", "restore", str(path), "--clean")
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
    result = project.run("db", "restore", str(path))
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
    result = project.run("db", "restore", str(path))
    assert result.code == 1 and "Checksum mismatch" in result.err
    backups.checksum_path(path).unlink()
    result = project.run("db", "restore", str(path))
    assert result.code == 1, result
    assert "verification failed" in result.err.lower()
    assert target.tables() == []


def test_production_restore_needs_the_word_without_terminal(project):
    """In production, a restore without --confirm yes-restore-production is refused (exit 3)
    when there is no terminal; the database keeps its rows."""
    fill(project.db)
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


def test_staging_restore_needs_yes(project):
    """In staging, restore without --yes and without a terminal is refused (exit 3)."""
    fill(project.db)
    path = make_backup(project, "--name", "s")
    result = project.run_process("db", "restore", str(path), "--clean", env={"ENV": "staging"})
    assert result.code == 3, result
    assert "--yes" in result.err
    ok = project.run_process("db", "restore", str(path), "--clean", "--yes",
                             env={"ENV": "staging"})
    assert ok.code == 0, ok


def test_clean_outside_local_backs_up_what_it_drops(project):
    """--clean in staging first backs up the current database (which restores the state
    that was replaced); --no-backup skips it; local never takes one."""
    fill(project.db)
    path = make_backup(project, "--name", "base")
    project.db.query("CREATE TABLE extra (id int); INSERT INTO extra VALUES (42)")
    ok = project.run_process("db", "restore", str(path), "--clean", "--yes",
                             env={"ENV": "staging"})
    assert ok.code == 0, ok
    saved = [n for n in backup_files(project) if n.endswith("_before_restore.dump")]
    assert len(saved) == 1 and f"Backup created: backups/{saved[0]}" in ok.out
    assert "extra" not in project.db.tables()
    back = project.run_process("db", "restore", f"backups/{saved[0]}", "--clean", "--yes",
                               "--no-backup", env={"ENV": "staging"})
    assert back.code == 0, back
    assert project.db.scalar("SELECT id FROM extra") == 42
    assert len([n for n in backup_files(project) if "_before_restore" in n
                and n.endswith(".dump")]) == 1
    assert project.run("db", "restore", str(path), "--clean").code == 0
    assert len([n for n in backup_files(project) if "_before_restore" in n
                and n.endswith(".dump")]) == 1


def test_guide_style_positional_file(project, monkeypatch):
    """`nself db restore backups/x.dump --dry-run` (the guides' spelling) works."""
    fill(project.db)
    make_backup(project, "--name", "g")
    result = project.run("db", "restore", "backups/g.dump", "--dry-run")
    assert result.code == 0, result
    assert "backups/g.dump" in result.out


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
    result = project.run("db", "restore", str(path))
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
    noise, real = backups.classify_errors(stderr)
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
    backups.checksum_path(path).unlink()
    target = project.db.create_sibling()
    use(project, monkeypatch, target)
    result = project.run("db", "restore", str(path))
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
    assert project.run("db", "restore", str(path)).code == 0
    assert fingerprint(into_same) == original

    newer = _make_db(embedded.connection_params("postgres"))
    try:
        monkeypatch.setenv("DATABASE_URL", _url(newer))
        result = project.run("db", "restore", str(path))
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
            refused = project.run("db", "restore", str(back))
            assert refused.code == 2, refused
            assert f"PostgreSQL {ext_major}" in refused.err and "dumped from PostgreSQL" in (
                refused.err)
        finally:
            _drop_db(empty)
    finally:
        _drop_db(newer)
    assert backup_files(project)
