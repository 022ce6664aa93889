"""nself.guard and the recorded-environment rule: refuse before anything changes, back up
before anything is destroyed."""

import shlex

import pytest

from nself import errors
from nself.backups.dump import safety_backup
from nself.config import Environment
from nself.guard import Guard, undo_command
from nself.pg import meta
from nself.safety import check_recorded_environment

ENVS = ("local", "staging", "production")


@pytest.mark.parametrize("recorded", (None, *ENVS))
@pytest.mark.parametrize("running", ENVS)
def test_recorded_environment_cells(recorded, running):
    """Only a staging/production database run under another environment is refused."""
    refused = recorded in ("staging", "production") and recorded != running
    if refused:
        with pytest.raises(errors.Refused) as caught:
            check_recorded_environment(recorded, running, "migrate down")
        message = str(caught.value)
        assert recorded in message and running in message and "--allow-env-mismatch" in message
        assert caught.value.exit_code == errors.REFUSED
    else:
        check_recorded_environment(recorded, running, "migrate down")
    check_recorded_environment(recorded, running, "migrate down", allow_mismatch=True)


def test_guard_refuses_before_backing_up(project):
    """A database recorded as production refuses a local destructive command: no backup,
    no change."""
    with project.db.connect() as conn:
        meta.record_environment(conn, "production")
        guard = Guard(Environment.load(), take_backup=safety_backup, say=lambda text: None)
        with pytest.raises(errors.Refused):
            guard.check(conn, "migrate fresh", destroys=True, reason="fresh")
    assert guard.taken == []
    assert not (project.root / "backups").exists()


def test_guard_backs_up_when_destroying(project):
    """An allowed destructive command takes a full safety backup, named after its reason."""
    project.db.query("CREATE TABLE keep (id int); INSERT INTO keep VALUES (1)")
    said = []
    with project.db.connect() as conn:
        guard = Guard(Environment.load(), take_backup=safety_backup, say=said.append)
        guard.check(conn, "migrate fresh", destroys=True, reason="fresh")
        guard.record(conn)
        assert meta.recorded_environment(conn) == "local"
    [made] = guard.taken
    assert made.path.parent == project.root / "backups" / "local"
    assert made.path.name.endswith("_before_fresh.dump")
    assert made.meta["kind"] == "full" and made.meta["environment"] == "local"
    assert any("db restore" in line and "--clean" in line for line in said)


def test_guard_no_backup_flag(project):
    """--no-backup (backup=False) skips the safety backup."""
    with project.db.connect() as conn:
        guard = Guard(Environment.load(), backup=False, say=lambda text: None)
        guard.check(conn, "migrate fresh", destroys=True)
    assert guard.taken == [] and not (project.root / "backups").exists()


def test_safety_backups_in_one_second_get_distinct_names(project):
    """Two destructive steps within the same second each keep their own safety backup."""
    with project.db.connect() as conn:
        guard = Guard(Environment.load(), take_backup=safety_backup, say=lambda text: None)
        guard.check(conn, "migrate down", destroys=True, reason="down")
        guard.check(conn, "migrate down", destroys=True, reason="down")
    first, second = guard.taken
    assert first.path != second.path and first.path.exists() and second.path.exists()


def test_check_environment_alone(project):
    """A command with nothing to touch still obeys the recorded environment."""
    with project.db.connect() as conn:
        meta.record_environment(conn, "staging")
        with pytest.raises(errors.Refused):
            Guard(Environment.load()).check_environment(conn, "migrate up")
        Guard(Environment.load(), allow_env_mismatch=True).check_environment(conn, "migrate up")


def test_undo_command_carries_the_override(project):
    """A safety backup taken under --allow-env-mismatch (a staging database, run as local)
    prints an undo command with that flag, and that command restores it."""
    project.db.query("CREATE TABLE keep (id int); INSERT INTO keep VALUES (1)")
    said = []
    with project.db.connect() as conn:
        meta.record_environment(conn, "staging")
        Guard(Environment.load(), take_backup=safety_backup, allow_env_mismatch=True,
              say=said.append).check(
            conn, "migrate down", destroys=True, reason="down")
    [line] = [text for text in said if "undo with:" in text]
    command = shlex.split(line.split("undo with: ", 1)[1].removesuffix(")"), comments=True)
    assert command[0] == "nself" and "restore" in command and "--allow-env-mismatch" in command
    project.db.query("DELETE FROM keep")
    result = project.run(*command[1:], "--no-backup")
    assert result.code == 0, result
    assert project.db.query("SELECT id FROM keep") == [(1,)]


@pytest.mark.parametrize(("running", "recorded", "expected"), [
    ("local", None, "nself db restore b.dump --clean"),
    ("local", "staging", "nself db restore b.dump --clean --allow-env-mismatch"),
    ("staging", "staging", "ENV=staging nself db restore b.dump --clean --yes"),
    ("production", "production",
     "ENV=production nself db restore b.dump --clean --confirm yes-restore-production"),
    ("local", "production", "ENV=production nself db restore b.dump --clean "
                            "--allow-other-source --confirm yes-restore-production --yes"),
])
def test_undo_command_cells(running, recorded, expected):
    """The one undo builder names ENV, the confirmation the safety table asks for, and the
    override the recorded environment needs (a production database is wiped only as
    production)."""
    assert undo_command(running, "b.dump", recorded=recorded) == expected


def test_wiping_a_production_database_is_refused_whatever_the_flags(project):
    """fresh, reset and restore --clean on a database recorded as production, run as local
    with --yes --allow-env-mismatch, are refused (exit 3); nothing is dropped and the record
    stays production."""
    project.migration("001_a.sql", "CREATE TABLE a (id int);", "DROP TABLE a;")
    assert project.run("db", "migrate", "up").code == 0
    project.db.query("INSERT INTO a VALUES (1)")
    backup = project.run("db", "backup", "--name", "b")
    assert backup.code == 0, backup
    with project.db.connect() as conn:
        meta.set_environment(conn, "production")
    for argv in (("db", "migrate", "fresh", "--yes", "--allow-env-mismatch"),
                 ("db", "reset", "--yes", "--allow-env-mismatch"),
                 ("db", "restore", "backups/local/b.dump", "--clean", "--yes",
                  "--allow-env-mismatch")):
        refused = project.run(*argv)
        assert refused.code == 3 and "recorded as production" in refused.err, (argv, refused)
    assert project.db.query("SELECT id FROM a") == [(1,)]
    with project.db.connect() as conn:
        assert meta.recorded_environment(conn) == "production"
    assert not list((project.root / "backups" / "local").glob("*_before_*"))


def test_override_never_lowers_the_record(project):
    """`--allow-env-mismatch` lets one local command through on a staging database: after
    migrate fresh and restore --clean the database is still recorded as staging, so the next
    plain command is refused again."""
    project.migration("001_a.sql", "CREATE TABLE a (id int);", "DROP TABLE a;")
    assert project.run("db", "migrate", "up").code == 0
    assert project.run("db", "backup", "--name", "b").code == 0
    with project.db.connect() as conn:
        meta.set_environment(conn, "staging")
    fresh = project.run("db", "migrate", "fresh", "--no-backup", "--allow-env-mismatch")
    assert fresh.code == 0, fresh
    with project.db.connect() as conn:
        assert meta.recorded_environment(conn) == "staging"
    restored = project.run("db", "restore", "backups/local/b.dump", "--clean", "--no-backup",
                           "--allow-env-mismatch")
    assert restored.code == 0, restored
    with project.db.connect() as conn:
        assert meta.recorded_environment(conn) == "staging"
    again = project.run("db", "reset", "--yes", "--no-backup")
    assert again.code == 3 and "recorded as staging" in again.err, again


def test_confirmation_names_the_database_and_where_its_address_came_from(project):
    """A confirmed command (prompt or flag) names the database it changes and the source of
    its address, in the prompt and once before anything changes."""
    from conftest import answer_on_terminal

    project.migration("001_a.sql", "CREATE TABLE a (id int);", "DROP TABLE a;")
    env = Environment.load()
    where = f"{env.database.display()} ({env.address_source()})"
    assert "shell" in env.address_source()
    asked = answer_on_terminal(project.root, ["db", "migrate", "up"], "y",
                               env={"ENV": "staging"})
    assert asked.code == 0, asked
    assert f"Run `migrate up` on staging ({where})?" in asked.out.replace("\n", "")
    flagged = project.run_process("db", "migrate", "down", "--yes", env={"ENV": "staging"})
    assert flagged.code == 0 and f"Target: {where}\n" in flagged.out, flagged
    assert flagged.out.index("Target:") < flagged.out.index("Rolled back")


@pytest.mark.parametrize("argv", [("db", "update"), ("db", "migrate", "fresh"),
                                  ("db", "reset")])
def test_every_safety_backup_shows_progress_on_a_terminal(project, argv):
    """update's, fresh's and reset's backups draw the same "Writing" bar as `db backup` on a
    terminal (they go through the pipeline's one backup step)."""
    from conftest import run_on_terminal

    project.migration("001_items.sql", "CREATE TABLE items (id int);", "DROP TABLE items;")
    if argv[1] != "update":
        assert project.run("db", "migrate", "up").code == 0
    shown = run_on_terminal(project.root, *argv)
    assert shown.code == 0, shown
    assert "Writing" in shown.out, shown
