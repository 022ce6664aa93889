"""Every schedule test: `db backup schedule install/uninstall/run`, what `backup status`
says of it, BACKUP_SCHEDULE read as words and its next run.

The real user's crontab is never touched: NSELF_CRONTAB points at a stand-in `crontab`
(a shell script keeping the table in a file, a real process like the real one), and
NSELF_SYSTEMCTL at a stand-in `systemctl` that records its calls."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from test_backup import backup_files, fill, make_backup, set_created

from nself.backups import schedule

FAKE_CRONTAB = """#!/bin/sh
# crontab -l / crontab - , keeping the table in {table}
case "$1" in
  -l) [ -f '{table}' ] || {{ echo "no crontab for $(id -un)" >&2; exit 1; }}
      cat '{table}' ;;
  -) cat > '{table}' ;;
  *) echo "usage: crontab [-l | -]" >&2; exit 1 ;;
esac
"""

FAKE_SYSTEMCTL = """#!/bin/sh
# systemctl --user ...: records the calls; `enable`/`disable` flip a marker file
PATH=/usr/bin:/bin
echo "$*" >> '{calls}'
[ "$1" = "--user" ] || exit 1
shift
case "$1" in
  show-environment|daemon-reload) exit 0 ;;
  enable) touch '{state}/'"$3" ;;
  disable) rm -f '{state}/'"$3" ;;
  is-enabled) if [ -f '{state}/'"$2" ]; then echo enabled; else echo disabled; exit 1; fi ;;
  *) exit 1 ;;
esac
"""


def executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def crontab(tmp_path, monkeypatch) -> Path:
    """A stand-in crontab; returns the file holding the table."""
    table = tmp_path / "crontab.txt"
    program = executable(tmp_path / "crontab", FAKE_CRONTAB.format(table=table))
    monkeypatch.setenv("NSELF_CRONTAB", str(program))
    return table


@pytest.fixture
def folder(tmp_path, monkeypatch) -> Path:
    """A scratch project (no database needed) with BACKUP_ENABLED=true."""
    root = tmp_path / "app"
    (root / "migrations").mkdir(parents=True)
    (root / ".env").write_text('BACKUP_ENABLED=true\nBACKUP_SCHEDULE="30 3 * * *"\n')
    monkeypatch.chdir(root)
    return root


def nself(capsys, *argv):
    from conftest import Result

    from nself.cli import program

    capsys.readouterr()
    code = program.run(["nself", *argv], exit=False)
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


def ours(table: Path) -> list[str]:
    return [line for line in table.read_text().splitlines() if "nself-backup-" in line]


def test_install_twice_is_one_entry_and_status_reads_it_back(folder, crontab, capsys):
    """install adds one line (another user's lines stay), installing again replaces it,
    and status shows the next backup from the line it reads back."""
    crontab.write_text("0 5 * * * echo someone else\n")
    first = nself(capsys, "db", "backup", "schedule", "install")
    assert first.code == 0, first
    assert "Installed the backup schedule (crontab): Daily at 3:30 AM" in first.out
    again = nself(capsys, "db", "backup", "schedule", "install")
    assert again.code == 0 and "Replaced" in again.out
    lines = crontab.read_text().splitlines()
    assert lines[0] == "0 5 * * * echo someone else" and len(ours(crontab)) == 1
    assert ours(crontab)[0].startswith("30 3 * * * cd ")
    assert "db backup schedule run" in ours(crontab)[0]
    status = nself(capsys, "db", "backup", "status")
    assert status.code == 0, status
    assert "Installed: crontab (30 3 * * *)" in status.out
    next_line = next(x for x in status.out.splitlines() if x.startswith("Next Backup: "))
    assert next_line.endswith(" 03:30:00")
    facts = json.loads(nself(capsys, "db", "backup", "status", "--json").out)
    assert facts["installed"]["scheduler"] == "crontab" and facts["next_run"]


def test_print_shows_the_entry_without_installing(folder, crontab, capsys):
    """--print shows the crontab line and changes nothing."""
    result = nself(capsys, "db", "backup", "schedule", "install", "--print")
    assert result.code == 0, result
    assert result.out.startswith("30 3 * * * cd ") and "nself-backup-" in result.out
    assert not crontab.exists()
    status = nself(capsys, "db", "backup", "status")
    assert "Next Backup: - (no schedule installed" in status.out


def test_uninstall_removes_only_this_entry(folder, crontab, capsys):
    """uninstall removes this project's line and no other; a second uninstall says there is
    nothing to remove (exit 0); status then shows no next backup."""
    crontab.write_text("0 5 * * * echo someone else\n")
    nself(capsys, "db", "backup", "schedule", "install")
    removed = nself(capsys, "db", "backup", "schedule", "uninstall")
    assert removed.code == 0 and "Removed the backup schedule (crontab)" in removed.out
    assert crontab.read_text() == "0 5 * * * echo someone else\n"
    again = nself(capsys, "db", "backup", "schedule", "uninstall")
    assert again.code == 0 and "No backup schedule installed" in again.out
    status = nself(capsys, "db", "backup", "status")
    assert "Installed: no" in status.out and "Next Backup: - " in status.out


def test_environments_have_their_own_entries(folder, crontab, capsys, monkeypatch):
    """Each environment of a project gets its own line, removed on its own."""
    nself(capsys, "db", "backup", "schedule", "install")
    monkeypatch.setenv("ENV", "staging")
    nself(capsys, "db", "backup", "schedule", "install")
    assert len(ours(crontab)) == 2 and "ENV=staging" in ours(crontab)[1]
    nself(capsys, "db", "backup", "schedule", "uninstall")
    assert len(ours(crontab)) == 1 and "ENV=local" in ours(crontab)[0]


@pytest.mark.parametrize("env_text, word", [
    ("BACKUP_SCHEDULE=\"0 2 * * *\"\n", "BACKUP_ENABLED"),
    ("BACKUP_ENABLED=true\nBACKUP_SCHEDULE=\"every night\"\n", "BACKUP_SCHEDULE"),
    ("BACKUP_ENABLED=true\nBACKUP_STORAGE=s3\n", "AWS_BACKUP_BUCKET"),
], ids=["disabled", "bad-cron", "s3-without-bucket"])
def test_install_refuses_bad_settings(folder, crontab, capsys, env_text, word):
    """install with BACKUP_ENABLED not true, a bad BACKUP_SCHEDULE or bad S3 settings is one
    line, exit 2, and the crontab is untouched."""
    (folder / ".env").write_text(env_text)
    result = nself(capsys, "db", "backup", "schedule", "install")
    assert result.code == 2, result
    assert word in result.err and len(result.err.strip().splitlines()) == 1
    assert not crontab.exists()


def test_changed_schedule_is_pointed_out(folder, crontab, capsys):
    """status warns when BACKUP_SCHEDULE differs from what is installed (and shows the
    installed one's next run)."""
    nself(capsys, "db", "backup", "schedule", "install")
    (folder / ".env").write_text('BACKUP_ENABLED=true\nBACKUP_SCHEDULE="0 4 * * 0"\n')
    status = nself(capsys, "db", "backup", "status")
    assert "Installed: crontab (30 3 * * *)" in status.out
    assert "not BACKUP_SCHEDULE (0 4 * * 0)" in status.err
    nself(capsys, "db", "backup", "schedule", "install")
    assert ours(crontab)[0].startswith("0 4 * * 0 ")


def test_no_scheduler_is_one_line(folder, capsys, monkeypatch, tmp_path):
    """Without crontab or a systemd user manager, install says what to do (exit 2) and
    --print still shows the line."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    result = nself(capsys, "db", "backup", "schedule", "install")
    assert result.code == 2, result
    assert "No scheduler" in result.err and len(result.err.strip().splitlines()) == 1
    shown = nself(capsys, "db", "backup", "schedule", "install", "--print")
    assert shown.code == 0 and "db backup schedule run" in shown.out


def test_systemd_user_timer_where_there_is_no_crontab(folder, capsys, monkeypatch, tmp_path):
    """With no crontab but a systemd user manager, install writes a service and a timer
    (OnCalendar from the cron fields) and enables it; status reads it back; uninstall
    disables and removes both."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    state = tmp_path / "systemd-state"
    state.mkdir()
    calls = tmp_path / "calls.txt"
    program = executable(tmp_path / "systemctl",
                         FAKE_SYSTEMCTL.format(calls=calls, state=state))
    monkeypatch.setenv("NSELF_SYSTEMCTL", str(program))
    result = nself(capsys, "db", "backup", "schedule", "install")
    assert result.code == 0, result
    assert "(systemd)" in result.out
    units = tmp_path / "config/systemd/user"
    timers = list(units.glob("nself-backup-*.timer"))
    assert len(timers) == 1
    assert "OnCalendar=*-*-* 03:30:00" in timers[0].read_text()
    service = timers[0].with_suffix(".service").read_text()
    assert "ExecStart=/bin/sh -c " in service and "db backup schedule run" in service
    assert f"--user enable --now {timers[0].name}" in calls.read_text()
    status = nself(capsys, "db", "backup", "status")
    assert "Installed: systemd (30 3 * * *)" in status.out
    next_line = next(x for x in status.out.splitlines() if x.startswith("Next Backup: "))
    assert next_line.endswith(" 03:30:00")
    removed = nself(capsys, "db", "backup", "schedule", "uninstall")
    assert removed.code == 0 and "(systemd)" in removed.out
    assert not list(units.glob("nself-backup-*"))
    assert "Installed: no" in nself(capsys, "db", "backup", "status").out


@pytest.mark.parametrize("expr, calendar", [
    ("0 2 * * *", "*-*-* 02:00:00"),
    ("*/15 * * * *", "*-*-* *:00/15:00"),
    ("0 3 * * 1-5", "Mon,Tue,Wed,Thu,Fri *-*-* 03:00:00"),
    ("30 4 1,15 * *", "*-*-1,15 04:30:00"),
    ("0 0 * * 0", "Sun *-*-* 00:00:00"),
    ("5 */6 * 1-3 *", "*-1..3-* 00/6:05:00"),
])
def test_cron_fields_as_systemd_calendar(expr, calendar):
    """Common cron expressions translate to the OnCalendar systemd accepts."""
    assert schedule.on_calendar(expr) == calendar


def test_cron_day_of_month_and_week_together_is_refused():
    """cron runs on either field, systemd only on both: refused rather than mistranslated."""
    from nself.errors import UsageError

    with pytest.raises(UsageError):
        schedule.on_calendar("0 2 1 * 1")


def _installed_command(table: Path) -> str:
    """The shell command of the installed line (what cron would run)."""
    line = ours(table)[0]
    return " ".join(line.split(" ")[5:]).rsplit(" # ", 1)[0]


def test_installed_line_backs_up_prunes_and_records(project, crontab, monkeypatch):
    """The command the crontab line holds, run by sh with cron's bare environment: a new
    backup, the one past BACKUP_RETENTION_DAYS pruned, output in the log, and status shows
    the result. install warns about settings only this shell has."""
    fill(project.db)
    monkeypatch.setenv("BACKUP_RETENTION_DAYS", "7")
    monkeypatch.setenv("BACKUP_ENABLED", "true")
    warned = project.run("db", "backup", "schedule", "install")
    assert warned.code == 0, warned
    assert "BACKUP_ENABLED, BACKUP_RETENTION_DAYS, DATABASE_URL" in warned.err
    monkeypatch.delenv("BACKUP_ENABLED")
    monkeypatch.delenv("BACKUP_RETENTION_DAYS")
    project.write(".env", 'BACKUP_ENABLED=true\nBACKUP_SCHEDULE="0 2 * * *"\n'
                          f"BACKUP_RETENTION_DAYS=7\nDATABASE_URL={project.db.url}\n")
    old = make_backup(project, "--name", "old")
    make_backup(project, "--name", "recent")
    set_created(old, datetime.now() - timedelta(days=30))
    installed = project.run("db", "backup", "schedule", "install")
    assert installed.code == 0 and "DATABASE_URL" not in installed.err, installed
    cron_env = {"PATH": "/usr/bin:/bin", "HOME": os.environ["HOME"], "SHELL": "/bin/sh"}
    done = subprocess.run(["sh", "-c", _installed_command(crontab)], env=cron_env,
                          cwd="/", capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done
    files = [n for n in backup_files(project) if n.endswith(".dump")]
    assert "old.dump" not in files and "recent.dump" in files and len(files) == 2
    log = (project.root / ".nself/backup-schedule-local.log").read_text()
    assert "Backup created: backups/local/" in log and "Deleted backups/local/old.dump" in log
    result = json.loads((project.root / ".nself/backup-schedule-local.json").read_text())
    assert result["status"] == "ok" and result["pruned"] == ["backups/local/old.dump"]
    status = project.run("db", "backup", "status")
    line = next(x for x in status.out.splitlines() if x.startswith("Last Scheduled Run: "))
    assert " ok (backups/local/" in line and "pruned 1" in line


def test_failed_run_is_recorded_and_exits_non_zero(project, monkeypatch):
    """A scheduled run that cannot back up exits non-zero and status says it FAILED."""
    project.write(".env", "BACKUP_ENABLED=true\n")
    monkeypatch.setenv("DATABASE_URL", project.db.url + "_missing")
    result = project.run("db", "backup", "schedule", "run")
    assert result.code != 0, result
    monkeypatch.setenv("DATABASE_URL", project.db.url)
    status = project.run("db", "backup", "status")
    line = next(x for x in status.out.splitlines() if x.startswith("Last Scheduled Run: "))
    assert "FAILED" in line and "_missing" in line


def test_disabled_run_takes_no_backup(project):
    """While BACKUP_ENABLED is not true the scheduled run takes no backup and says so."""
    result = project.run("db", "backup", "schedule", "run")
    assert result.code == 0, result
    assert "BACKUP_ENABLED is not true" in result.out
    assert backup_files(project) == []
    status = project.run("db", "backup", "status")
    assert "Last Scheduled Run: " in status.out and " skipped" in status.out


def test_status_rejects_bad_schedule(project, monkeypatch):
    """A BACKUP_SCHEDULE that is not cron syntax is a settings error (exit 2)."""
    monkeypatch.setenv("BACKUP_SCHEDULE", "every day")
    result = project.run("db", "backup", "status")
    assert result.code == 2
    assert "BACKUP_SCHEDULE" in result.err


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
    assert schedule.describe_schedule(expr) == words


def test_next_run_follows_cron():
    """The next run of `0 2 * * *` after 14:30 is 02:00 the next day."""
    assert schedule.next_run("0 2 * * *", datetime(2026, 1, 24, 14, 30)) == datetime(
        2026, 1, 25, 2, 0)
