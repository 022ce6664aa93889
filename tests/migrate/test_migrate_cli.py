"""`nself db migrate` end to end under hostile files, flags and outputs, and through the guard:
one clear line and a documented exit code, nothing written before everything was checked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import pytest
from conftest import applied


def nself_schema(project):
    return project.db.scalar("SELECT to_regnamespace('nself') IS NOT NULL")


def assert_clean_failure(result, code: int):
    assert result.code == code, result
    assert "Traceback" not in result.err + result.out, result


# files nself cannot use ----------------------------------------------------------------------


def test_nul_byte_refused_before_anything_runs(project):
    """A NUL byte in a pending file refuses `up`, `up --dry-run` and `down` with file:line (exit
    2) before anything runs: the earlier pending file is not applied, nself's schema not made."""
    project.migration("001_ok.sql", "CREATE TABLE ok (id int);", "DROP TABLE ok;")
    path = project.migration("002_nul.sql", "CREATE TABLE a (id int);\nSELECT 'x';",
                             "DROP TABLE a;")
    path.write_bytes(path.read_bytes().replace(b"'x'", b"'x\x00'"))
    for argv in (("up",), ("up", "--dry-run")):
        result = project.run("db", "migrate", *argv)
        assert_clean_failure(result, 2)
        assert "migrations/002_nul.sql:4: a NUL byte" in result.err
    assert not nself_schema(project) and project.db.tables() == []
    path.write_bytes(path.read_bytes().replace(b"\x00", b""))
    assert project.run("db", "migrate", "up", "1").code == 0
    path.write_bytes(path.read_bytes().replace(b"'x'", b"'x\x00'"))
    down = project.run("db", "migrate", "down", "--no-backup")
    assert_clean_failure(down, 2)
    assert applied(project.db) == ["001"]


def test_fifo_refused_by_up_and_status(project):
    """A FIFO named 002_x.sql makes `up` and `status` fail at once (exit 2), not hang."""
    project.migration("001_ok.sql", "CREATE TABLE ok (id int);")
    os.mkfifo(project.migrations / "002_x.sql")
    for argv in (("up",), ("status",), ("status", "--json")):
        result = project.run_process("db", "migrate", *argv, timeout=60)
        assert_clean_failure(result, 2)
        assert "002_x.sql is not a regular file" in result.err
    assert not nself_schema(project)


def test_upper_case_extension_refused(project):
    """`002_x.SQL` is refused with the name to use, by status and up alike (exit 2)."""
    project.migration("001_ok.sql", "CREATE TABLE ok (id int);")
    (project.migrations / "002_x.SQL").write_text("-- UP\nCREATE TABLE x (id int);\n")
    for argv in (("up",), ("status",)):
        result = project.run("db", "migrate", *argv)
        assert_clean_failure(result, 2)
        assert "rename it to 002_x.sql" in result.err
    assert project.db.tables() == []


def test_version_beyond_bigint_refused_without_repair_advice(project):
    """A version larger than bigint is refused up front (exit 2), without advice to repair."""
    project.migration("99999999999999999999_huge.sql", "CREATE TABLE huge (id int);")
    result = project.run("db", "migrate", "up")
    assert_clean_failure(result, 2)
    assert "too large" in result.err and "repair" not in result.err
    assert not nself_schema(project)


def test_unreadable_file_refused_before_nself_schema_exists(project):
    """A file that cannot be read is refused before the nself schema (or anything) is created."""
    project.migration("001_ok.sql", "CREATE TABLE ok (id int);")
    os.symlink(project.root / "elsewhere.sql", project.migrations / "002_gone.sql")
    result = project.run("db", "migrate", "up")
    assert_clean_failure(result, 2)
    assert "Cannot read migrations/002_gone.sql" in result.err
    assert not nself_schema(project) and project.db.tables() == []


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-1", "soon"])
def test_bad_lock_timeout_refused(project, value):
    """--lock-timeout nan, inf or a negative number is refused (exit 2) by every command."""
    project.migration("001_ok.sql", "CREATE TABLE ok (id int);")
    for command in ("up", "down", "fresh", "repair"):
        result = project.run("db", "migrate", command, f"--lock-timeout={value}")
        assert_clean_failure(result, 2)
        assert "--lock-timeout" in result.err
    assert not nself_schema(project)


def test_malformed_folder_same_error_in_text_and_json(project):
    """`migrate status` and `db status` fail alike (exit 2, same message) in text and --json."""
    project.migration("001_ok.sql", "CREATE TABLE ok (id int);")
    (project.migrations / "002_bad name.sql").write_text("-- UP\n")
    results = [project.run(*argv) for argv in (
        ("db", "migrate", "status"), ("db", "migrate", "status", "--json"),
        ("db", "status"), ("db", "status", "--json"))]
    for result in results:
        assert_clean_failure(result, 2)
        assert "002_bad name.sql: not a migration file name" in result.err
    assert len({r.err for r in results}) == 1


# output failures -----------------------------------------------------------------------------


def many(project, n: int = 60):
    for i in range(1, n + 1):
        project.migration(f"{i:03d}_m{i}.sql", f"CREATE TABLE t{i} (id int);\n"
                                               f"INSERT INTO t{i} SELECT generate_series(1, 2000);",
                          f"DROP TABLE t{i};")


def assert_consistent(project):
    """Every recorded migration's table exists, and no other."""
    labels = applied(project.db) if nself_schema(project) else []
    assert sorted(project.db.tables()) == sorted(f"t{int(v)}" for v in labels)


def test_closed_pipe_stops_up_with_failure(project):
    """`nself db migrate up | head -1`: the run stops after the migration in progress, exits
    non-zero without a traceback, and every migration is either applied or not at all."""
    many(project)
    proc = subprocess.Popen([sys.executable, "-m", "nself", "db", "migrate", "up"],
                            cwd=project.root, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=os.environ.copy())
    first = proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    code = proc.wait(timeout=120)
    assert first.startswith(b"\xe2\x9c\x93 001_m1")
    assert code == 1 and "Traceback" not in err, err
    assert_consistent(project)
    assert 1 <= len(applied(project.db)) < 60


def test_full_output_stops_up_with_failure(project):
    """`nself db migrate up > /dev/full`: exit 1 with one line, no traceback; the migration in
    progress finished and is recorded, nothing after it ran."""
    many(project, 5)
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "nself", "db", "migrate", "up"],
                              cwd=project.root, stdin=subprocess.DEVNULL, stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert applied(project.db) == ["001"]
    assert_consistent(project)


def test_notices_to_full_output_fail_after_the_migration(project):
    """A NOTICE that cannot be printed does not break the migration it came from: that one is
    applied, the run stops before the next, and the exit is non-zero."""
    project.migration("001_noisy.sql", "CREATE TABLE noisy (id int);\n"
                      "DO $$ BEGIN RAISE NOTICE 'hello'; END $$;", "DROP TABLE noisy;")
    project.migration("002_next.sql", "CREATE TABLE next (id int);", "DROP TABLE next;")
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "nself", "db", "migrate", "up"],
                              cwd=project.root, stdin=subprocess.DEVNULL, stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert applied(project.db) == ["001"] and project.db.tables() == ["noisy"]


# the guard -----------------------------------------------------------------------------------


def terminal(monkeypatch, answers: list[str]):
    """Pretend stdin is a terminal; answer prompts in order and remember them."""
    asked: list[str] = []

    def answer(prompt=""):
        asked.append(prompt)
        return answers.pop(0)

    monkeypatch.setattr("nself.safety.stdin_is_terminal", lambda: True)
    from nself import safety

    monkeypatch.setitem(safety.enforce.__kwdefaults__, "ask", answer)
    monkeypatch.setitem(safety.ask_yes_no.__kwdefaults__, "ask", answer)
    return asked


def test_confirmation_lists_the_migrations_touched(project, monkeypatch):
    """In staging, `up` and `down` list the migrations they will touch before asking."""
    project.migration("001_a.sql", "CREATE TABLE a (id int);", "DROP TABLE a;")
    project.migration("002_b.sql", "CREATE TABLE b (id int);", "DROP TABLE b;")
    monkeypatch.setenv("ENV", "staging")
    asked = terminal(monkeypatch, ["y", "y"])
    up = project.run("db", "migrate", "up")
    assert up.code == 0, up
    assert "`migrate up` will apply 2 migrations:\n  001_a\n  002_b" in up.out
    down = project.run("db", "migrate", "down", "--no-backup")
    assert down.code == 0, down
    assert "`migrate down` will roll back 1 migration:\n  002_b" in down.out
    assert len(asked) == 2


def test_safety_backup_before_down_fresh_and_history_rewrites(project):
    """In local too, down, fresh and repair --mark-pending take a safety backup first (named
    after the command, with the command that restores it); --no-backup skips it."""
    project.migration("001_a.sql", "CREATE TABLE a (id int);", "DROP TABLE a;")
    project.migration("002_b.sql", "CREATE TABLE b (id int);", "DROP TABLE b;")
    folder = project.root / "backups" / "local"
    assert project.run("db", "migrate", "up").code == 0
    assert not folder.exists() or not list(folder.glob("*.dump"))  # local up takes none
    for argv, reason in ((("down",), "down"), (("fresh",), "fresh"),
                         (("repair", "--mark-pending", "002"), "repair")):
        result = project.run("db", "migrate", *argv)
        assert result.code == 0, result
        made = list(folder.glob(f"*_before_{reason}.dump"))
        assert len(made) == 1 and "db restore" in result.out, result
    assert project.run("db", "migrate", "down", "--no-backup").code == 0
    assert len(list(folder.glob("*_before_down.dump"))) == 1


def test_recorded_environment_refuses_other_environments(project):
    """A database recorded as production refuses `up` (also with nothing pending), `down`,
    `repair` and `fresh` under local (exit 3) before anything changes; the flag overrides."""
    project.migration("001_a.sql", "CREATE TABLE a (id int);", "DROP TABLE a;")
    prod = project.run_process("db", "migrate", "up", "--yes", "--no-backup",
                               env={"ENV": "production"})
    assert prod.code == 0, prod
    assert project.db.scalar("SELECT value FROM nself.meta WHERE key = 'environment'") == \
        "production"
    for argv in (("up",), ("down", "--no-backup"), ("repair", "--no-backup"),
                 ("fresh", "--no-backup")):
        result = project.run("db", "migrate", *argv)
        assert_clean_failure(result, 3)
        assert "recorded as production" in result.err and "--allow-env-mismatch" in result.err
    project.migration("002_b.sql", "CREATE TABLE b (id int);", "DROP TABLE b;")
    refused = project.run("db", "migrate", "up")
    assert_clean_failure(refused, 3)
    assert project.db.tables() == ["a"]
    allowed = project.run("db", "migrate", "up", "--allow-env-mismatch")
    assert allowed.code == 0, allowed
    assert project.db.tables() == ["a", "b"]


def test_fresh_records_the_environment_anew(project):
    """After fresh's wipe the database is recorded as the environment that ran it."""
    project.migration("001_a.sql", "CREATE TABLE a (id int);", "DROP TABLE a;")
    assert project.run("db", "migrate", "up").code == 0
    assert project.run("db", "migrate", "fresh", "--no-backup").code == 0
    assert project.db.scalar("SELECT value FROM nself.meta WHERE key = 'environment'") == "local"


def test_repair_says_the_edit_will_not_run_before_asking(project):
    """Accepting an edited file says first that the edit is not run, and names
    `repair --mark-pending VERSION` then `up` as the way to run it; without --yes and without a
    terminal it then refuses, changing nothing."""
    path = project.migration("001_a.sql", "CREATE TABLE a (id int);", "DROP TABLE a;")
    assert project.run("db", "migrate", "up").code == 0
    path.write_text(path.read_text().replace("(id int)", "(id bigint)"))
    result = project.run_process("db", "migrate", "repair")
    assert_clean_failure(result, 3)
    assert "WITHOUT running the edit" in result.out
    assert "`nself db migrate repair --mark-pending 001` followed by `nself db migrate up`" in \
        result.out
    assert "--yes" in result.err
    assert json.loads(project.run("db", "migrate", "status", "--json").out)[0]["status"] == \
        "changed"


# no-transaction migrations and lost connections -----------------------------------------------


def test_lost_connection_in_no_transaction_migration_is_honest(project):
    """A connection lost during a no-transaction migration says which statements stay and that
    `up` continues; it never claims the server rolled the migration back. The next `up` does."""
    project.migration("001_nt.sql", "CREATE TABLE a (id int);\nSELECT pg_sleep(30);\n"
                      "CREATE INDEX CONCURRENTLY a_i ON a (id);", "DROP TABLE a;",
                      header="-- nself:no-transaction\n")

    def kill():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pids = project.db.query(
                "SELECT pid FROM pg_stat_activity WHERE query LIKE '%pg_sleep(30)%' "
                "AND query NOT LIKE '%pg_stat_activity%' AND pid <> pg_backend_pid()")
            if pids:
                project.db.query("SELECT pg_terminate_backend(%s)", (pids[0][0],))
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill)
    killer.start()
    result = project.run_process("db", "migrate", "up")
    killer.join()
    assert_clean_failure(result, 4)
    assert "statements 1-1 ran and stay" in result.err, result
    assert "rolled back" not in result.err
    path = project.migrations / "001_nt.sql"
    path.write_text(path.read_text().replace("pg_sleep(30)", "pg_sleep(0)"))
    again = project.run("db", "migrate", "up")
    assert again.code == 0, again
    assert "resuming at statement 2 of 3" in again.out
    assert project.db.scalar("SELECT indisvalid FROM pg_index WHERE indexrelid = 'a_i'::regclass")


def test_progress_bar_only_on_a_terminal(project):
    """On a terminal, `up` and `down` draw a migrations-done bar and still print each
    migration; without one they print only their lines and never import rich."""
    import subprocess
    import sys

    from conftest import PROBE, run_on_terminal

    for n in range(1, 4):
        project.migration(f"00{n}_t{n}.sql", f"CREATE TABLE t{n} (id int);", f"DROP TABLE t{n};")
    plain = subprocess.run([sys.executable, "-c", PROBE, "nself", "db", "migrate", "up", "1"],
                           cwd=project.root, capture_output=True, text=True, timeout=120)
    assert plain.returncode == 0, plain
    assert plain.stderr.strip() == "False" and "\x1b" not in plain.stdout
    shown = run_on_terminal(project.root, "db", "migrate", "up")
    assert shown.code == 0, shown
    assert shown.rich_imported and "\x1b[" in shown.out
    assert "002_t2" in shown.out and "003_t3" in shown.out and "2 migrations applied" in shown.out
    back = run_on_terminal(project.root, "db", "migrate", "down", "--no-backup")
    assert back.code == 0 and "Rolled back 003_t3" in back.out, back


def test_carriage_returns_reach_the_server_as_written(project):
    """A CR inside a string literal is data: it reaches the server unchanged (only the
    checksum ignores line endings); CRLF and lone-CR files still apply."""
    (project.migrations / "001_c.sql").write_bytes(
        b"-- UP\r\nCREATE TABLE c (x text);\r\nINSERT INTO c VALUES ('a\rb'), ('c\r\nd');\r\n"
        b"-- DOWN\r\nDROP TABLE c;\r\n")
    (project.migrations / "002_mac.sql").write_bytes(
        b"-- UP\rCREATE TABLE mac (x int);\r-- DOWN\rDROP TABLE mac;\r")
    result = project.run("db", "migrate", "up")
    assert result.code == 0, result
    assert project.db.query("SELECT x FROM c ORDER BY x") == [("a\rb",), ("c\r\nd",)]
    assert project.db.tables() == ["c", "mac"]
    (project.migrations / "001_c.sql").write_bytes(
        (project.migrations / "001_c.sql").read_bytes().replace(b"\r\n-- UP", b"\n-- UP")
        .replace(b");\r\nINSERT", b");\nINSERT"))
    assert "Changed" not in project.run("db", "migrate", "status").out


def test_syntax_error_line_in_a_crlf_file(project):
    """Line numbers count CRLF and CR line ends alike."""
    (project.migrations / "001_bad.sql").write_bytes(
        b"-- UP\r\nSELECT 1;\r\nSELECT 2;\r\nSELEC 3;\r\n-- DOWN\r\n")
    result = project.run("db", "migrate", "up")
    assert result.code == 1 and "001_bad.sql line 4" in result.err, result


@pytest.mark.parametrize("text", [
    "SELECT 1;\n",                                        # no -- UP
    "-- UP\n\n-- DOWN\n",                                 # empty UP
    "-- depends_on: 999\n-- UP\nSELECT 1;\n",             # unknown dependency
    "-- UP\n\\i other.sql\n",                             # psql meta-command
])
def test_reporting_commands_refuse_a_pending_file_up_would_refuse(project, text):
    """`migrate status`, `db status` and their --json forms give the same exit 2 as `up`
    for a pending file `up` would refuse (never "pending", exit 0)."""
    project.migration("001_ok.sql", "CREATE TABLE ok (id int);", "DROP TABLE ok;")
    (project.migrations / "002_bad.sql").write_text(text)
    for argv in (("db", "migrate", "up"), ("db", "migrate", "status"),
                 ("db", "migrate", "status", "--json"), ("db", "status"),
                 ("db", "status", "--json"), ("db", "migrate", "status", "--check")):
        result = project.run(*argv)
        assert result.code == 2 and "002_bad.sql" in result.err, (argv, result)
    assert project.db.scalar("SELECT to_regnamespace('nself')") is None


@pytest.mark.parametrize("command", ["up", "down"])
def test_zero_steps_is_refused(project, command):
    """`--steps 0` would do nothing while saying something else: it is exit 2."""
    project.migration("001_a.sql", "CREATE TABLE a (id int);", "DROP TABLE a;")
    result = project.run("db", "migrate", command, "--steps", "0")
    assert result.code == 2 and "1 or more" in result.err, result
