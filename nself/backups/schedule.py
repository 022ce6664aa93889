"""The backup schedule: BACKUP_* settings in words, installing it for the current user
(a crontab line, or a systemd user timer where there is no crontab), reading it back,
and the scheduled run itself (a backup, then pruning by retention, its result recorded).

One entry per project folder and environment, marked with `nself-backup-<id>` (a hash of
both), so installing twice replaces it and uninstalling removes only it. `NSELF_CRONTAB`
and `NSELF_SYSTEMCTL` name the programs to use instead of `crontab` and `systemctl`
(tests point them at stand-ins; the real user's crontab is never touched then).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from croniter import croniter

from nself import display
from nself.backups import places, remote
from nself.backups.dump import BackupOptions, create_backup
from nself.backups.store import all_backups, list_backups, now, prune, retention_days
from nself.config import Environment, s3_settings
from nself.errors import ConfigError, NselfError, OperationFailed, UsageError

DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
RUN_WORDS = "db backup schedule run"
TIMEOUT = 30  # seconds for crontab/systemctl


def _clock(hour: int, minute: int) -> str:
    suffix = "AM" if hour < 12 else "PM"
    return f"{(hour % 12) or 12}:{minute:02d} {suffix}"


def describe_schedule(expr: str) -> str:
    """A cron expression in words, for the common shapes (`0 2 * * *` -> `Daily at 2:00 AM`)."""
    fields = expr.split()
    if len(fields) != 5:
        return f"cron {expr}"
    minute, hour, dom, month, dow = fields
    simple = minute.isdigit() and hour.isdigit()
    at = _clock(int(hour), int(minute)) if simple else None
    if at and dom == "*" and month == "*":
        if dow == "*":
            return f"Daily at {at}"
        if dow in ("1-5", "MON-FRI", "mon-fri"):
            return f"Weekdays at {at}"
        if dow.isdigit() and int(dow) <= 7:
            return f"Every {DAYS[int(dow) % 7]} at {at}"
    if at and dom.isdigit() and month == "*" and dow == "*":
        return f"Monthly on day {dom} at {at}"
    if minute.isdigit() and hour == "*" and dom == month == dow == "*":
        return f"Hourly at minute {minute}"
    if minute.isdigit() and hour.startswith("*/") and dom == month == dow == "*":
        return f"Every {hour[2:]} hours at minute {minute}"
    if minute.startswith("*/") and hour == dom == month == dow == "*":
        return f"Every {minute[2:]} minutes"
    return f"cron {expr}"


def next_run(expr: str, at: datetime | None = None) -> datetime:
    return croniter(expr, at or datetime.now()).get_next(datetime)


def schedule_expr(env) -> str:
    """BACKUP_SCHEDULE (default daily at 2 AM), checked: five cron fields."""
    expr = " ".join((env.get("BACKUP_SCHEDULE", "0 2 * * *") or "").strip().strip('"')
                    .strip("'").split())
    if len(expr.split()) != 5 or not croniter.is_valid(expr):
        raise ConfigError(f"BACKUP_SCHEDULE={expr!r} is not a cron expression "
                          "(five fields, e.g. \"0 2 * * *\" for daily at 2 AM).")
    return expr


# --- what runs -----------------------------------------------------------------------


def entry_id(env) -> str:
    """The mark of this project folder's and environment's entry."""
    digest = hashlib.sha256(f"{env.root}\0{env.name}".encode()).hexdigest()[:12]
    return f"nself-backup-{digest}"


def nself_command() -> list[str]:
    """How a scheduler starts this nself: the `nself` on PATH when it is this install's,
    else this Python with `-m nself` (cron runs with a bare PATH: full paths)."""
    found = shutil.which("nself")
    if found and Path(found).absolute().parent == Path(sys.executable).absolute().parent:
        return [found]
    return [sys.executable, "-m", "nself"]


def log_path(env) -> Path:
    return env.state_dir / f"backup-schedule-{env.name}.log"


def result_path(env) -> Path:
    return env.state_dir / f"backup-schedule-{env.name}.json"


def run_command(env) -> str:
    """The shell command a scheduler runs: a backup and a prune, output to the log."""
    words = " ".join(shlex.quote(w) for w in nself_command())
    return (f"cd {shlex.quote(str(env.root))} && ENV={shlex.quote(env.name)} {words} "
            f"{RUN_WORDS} >> {shlex.quote(str(log_path(env)))} 2>&1")


@dataclass
class Installed:
    """A schedule found installed: by which scheduler, with which cron expression."""

    scheduler: str  # crontab | systemd
    expr: str
    where: str  # the crontab line, or the timer unit's name


# --- crontab ---------------------------------------------------------------------------


class Crontab:
    """The current user's crontab, through `crontab -l` / `crontab -`."""

    name = "crontab"

    def __init__(self, program: str):
        self.program = program

    def _run(self, args: list[str], text: str | None = None) -> subprocess.CompletedProcess:
        try:
            return subprocess.run([self.program, *args], input=text, capture_output=True,
                                  text=True, timeout=TIMEOUT)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise OperationFailed(f"Cannot run {self.program}: {exc}") from None

    def read(self) -> str:
        done = self._run(["-l"])
        if done.returncode == 0:
            return done.stdout
        if "no crontab" in done.stderr.lower():
            return ""
        raise OperationFailed(f"`{self.program} -l` failed: "
                              f"{done.stderr.strip() or done.returncode}")

    def write(self, text: str) -> None:
        done = self._run(["-"], text)
        if done.returncode:
            raise OperationFailed(f"`{self.program} -` refused the new crontab: "
                                  f"{done.stderr.strip() or done.returncode}")

    def line(self, env, expr: str) -> str:
        # cron turns an unescaped % into a newline; sh takes the trailing mark as a comment
        command = run_command(env).replace("%", "\\%")
        return f"{expr} {command} # {entry_id(env)}"

    def render(self, env, expr: str) -> str:
        return self.line(env, expr) + "\n"

    def installed(self, env) -> Installed | None:
        mark = f"# {entry_id(env)}"
        for line in self.read().splitlines():
            if line.rstrip().endswith(mark) and not line.lstrip().startswith("#"):
                return Installed("crontab", " ".join(line.split()[:5]), line)
        return None

    def install(self, env, expr: str) -> None:
        kept = self._without(env)
        self.write("".join(f"{line}\n" for line in kept) + self.line(env, expr) + "\n")

    def uninstall(self, env) -> bool:
        current = self.read().splitlines()
        kept = self._without(env, current)
        if len(kept) == len(current):
            return False
        self.write("".join(f"{line}\n" for line in kept))
        return True

    def _without(self, env, lines: list[str] | None = None) -> list[str]:
        mark = f"# {entry_id(env)}"
        lines = self.read().splitlines() if lines is None else lines
        return [line for line in lines if not line.rstrip().endswith(mark)]


# --- systemd user timer ----------------------------------------------------------------

CRON_DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def _calendar_field(field: str, low: int, high: int, names: list[str] | None = None,
                    width: int = 1) -> str:
    """One cron field as systemd OnCalendar syntax (lists, ranges, steps)."""
    if field == "*":
        return "*"
    parts = []
    for part in field.split(","):
        step = None
        if "/" in part:
            part, step = part.split("/", 1)
        if part == "*":
            start, end = low, high
        elif "-" in part:
            start, end = (int(x) for x in part.split("-", 1))
        else:
            start = end = int(part)
        values = range(start, end + 1, int(step) if step else 1)
        if names:
            parts += [names[v] for v in values]
        elif step and end == high:
            parts.append(f"{start:0{width}d}/{step}")
        elif step:
            parts += [f"{v:0{width}d}" for v in values]
        else:
            parts.append(f"{start:0{width}d}" + (f"..{end:0{width}d}" if end != start else ""))
    return ",".join(dict.fromkeys(parts))


def on_calendar(expr: str) -> str:
    """A cron expression as systemd's OnCalendar (`0 2 * * *` -> `*-*-* 02:00:00`)."""
    minute, hour, dom, month, dow = expr.split()
    if not all(re.fullmatch(r"[\d*,/-]+", f) for f in (minute, hour, dom, month, dow)):
        raise UsageError(f"BACKUP_SCHEDULE={expr!r}: a systemd timer needs numeric cron "
                         "fields (no names like MON or JAN): write them as numbers.")
    if dom != "*" and dow != "*":
        raise UsageError(f"BACKUP_SCHEDULE={expr!r} restricts both the day of month and the "
                         "day of week (cron runs on either; systemd only on both): use one.")
    days = "" if dow == "*" else _calendar_field(dow, 0, 7, CRON_DAYS) + " "
    date = f"*-{_calendar_field(month, 1, 12)}-{_calendar_field(dom, 1, 31)}"
    hours = _calendar_field(hour, 0, 23, width=2)
    minutes = _calendar_field(minute, 0, 59, width=2)
    return f"{days}{date} {hours}:{minutes}:00"


class SystemdTimer:
    """A systemd user timer and service in ~/.config/systemd/user/."""

    name = "systemd"

    def __init__(self, program: str):
        self.program = program

    @staticmethod
    def folder() -> Path:
        base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
        return Path(base) / "systemd" / "user"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        try:
            done = subprocess.run([self.program, "--user", *args], capture_output=True,
                                  text=True, timeout=TIMEOUT)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise OperationFailed(f"Cannot run {self.program}: {exc}") from None
        if check and done.returncode:
            raise OperationFailed(f"`{self.program} --user {' '.join(args)}` failed: "
                                  f"{done.stderr.strip() or done.returncode}")
        return done

    def units(self, env) -> dict[str, str]:
        return {f"{entry_id(env)}.service": "service", f"{entry_id(env)}.timer": "timer"}

    def render(self, env, expr: str) -> str:
        service, timer = self._texts(env, expr)
        folder = self.folder()
        return (f"# {folder / (entry_id(env) + '.service')}\n{service}\n"
                f"# {folder / (entry_id(env) + '.timer')}\n{timer}")

    def _texts(self, env, expr: str) -> tuple[str, str]:
        service = ("[Unit]\n"
                   f"Description=nself database backup of {env.root} ({env.name})\n\n"
                   "[Service]\nType=oneshot\n"
                   # systemd expands %-specifiers in ExecStart: %% is a plain %
                   f"ExecStart=/bin/sh -c {shlex.quote(run_command(env)).replace('%', '%%')}\n")
        timer = ("[Unit]\n"
                 f"Description=nself database backup of {env.root} ({env.name})\n"
                 f"# nself-cron: {expr}\n\n"
                 f"[Timer]\nOnCalendar={on_calendar(expr)}\nPersistent=true\n\n"
                 "[Install]\nWantedBy=timers.target\n")
        return service, timer

    def installed(self, env) -> Installed | None:
        timer = self.folder() / f"{entry_id(env)}.timer"
        try:
            text = timer.read_text()
        except OSError:
            return None
        match = re.search(r"^# nself-cron: (.+)$", text, re.M)
        enabled = self._run("is-enabled", timer.name, check=False)
        if not match or enabled.stdout.strip() != "enabled":
            return None
        return Installed("systemd", match.group(1).strip(), timer.name)

    def install(self, env, expr: str) -> None:
        service, timer = self._texts(env, expr)
        folder = self.folder()
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{entry_id(env)}.service").write_text(service)
        (folder / f"{entry_id(env)}.timer").write_text(timer)
        self._run("daemon-reload")
        self._run("enable", "--now", f"{entry_id(env)}.timer")

    def uninstall(self, env) -> bool:
        timer = self.folder() / f"{entry_id(env)}.timer"
        if not timer.exists():
            return False
        self._run("disable", "--now", timer.name, check=False)
        for name in self.units(env):
            (self.folder() / name).unlink(missing_ok=True)
        self._run("daemon-reload", check=False)
        return True


def scheduler(env) -> Crontab | SystemdTimer | None:
    """What this machine schedules with: crontab if it has one (or NSELF_CRONTAB), else a
    systemd user manager (or NSELF_SYSTEMCTL), else None."""
    crontab = env.get("NSELF_CRONTAB") or shutil.which("crontab")
    if crontab:
        return Crontab(crontab)
    systemctl = env.get("NSELF_SYSTEMCTL") or shutil.which("systemctl")
    if systemctl:
        try:
            probe = subprocess.run([systemctl, "--user", "show-environment"],
                                   capture_output=True, timeout=TIMEOUT)
        except (OSError, subprocess.TimeoutExpired):
            return None
        if probe.returncode == 0:
            return SystemdTimer(systemctl)
    return None


def require_scheduler(env) -> Crontab | SystemdTimer:
    found = scheduler(env)
    if found is None:
        raise UsageError("No scheduler for the current user: neither `crontab` nor a systemd "
                         "user manager (`systemctl --user`) is available. Install cron, or "
                         "have your scheduler run `nself db backup schedule run` (--print "
                         "shows the crontab line).")
    return found


def installed(env) -> Installed | None:
    """The schedule installed for this project folder and environment, read back from the
    scheduler itself; None when there is none (or no scheduler)."""
    found = scheduler(env)
    return found.installed(env) if found else None


SCHEDULED_SETTINGS = ("DATABASE_URL", "PG", "BACKUP_", "AWS_", "NSELF_")


def install(env) -> tuple[Crontab | SystemdTimer, bool, str]:
    """Install BACKUP_SCHEDULE for the current user and read it back: (the scheduler, whether
    an entry was replaced, the schedule). Refused while BACKUP_ENABLED is not true; bad S3
    settings stop the install, not the first run at 2 AM."""
    expr = schedule_expr(env)
    if not env.get_bool("BACKUP_ENABLED", False):
        raise UsageError("BACKUP_ENABLED is not true: set BACKUP_ENABLED=true in .env (or "
                         f"config/{env.name}.env) to schedule backups.")
    places.bucket(env)
    found = require_scheduler(env)
    env.state_dir.mkdir(parents=True, exist_ok=True)
    replaced = found.installed(env)
    found.install(env, expr)
    check = found.installed(env)
    if check is None or check.expr != expr:
        raise OperationFailed(f"The {found.name} entry was written but cannot be read back: "
                              "the schedule is not installed.")
    return found, replaced is not None, expr


def shell_only(env) -> list[str]:
    """Settings that come only from this shell, not from the project's files: the
    scheduler's runs will not have them."""
    files = Environment.load(root=env.root, environ={"ENV": env.name}).settings
    return sorted(k for k in os.environ if k.startswith(SCHEDULED_SETTINGS)
                  and k not in files and k not in ("NSELF_CRONTAB", "NSELF_SYSTEMCTL"))


# --- the scheduled run's result ----------------------------------------------------------


def record(env, result: dict) -> None:
    """Keep the scheduled run's result (replacing the previous one, never half-written)."""
    path = result_path(env)
    path.parent.mkdir(parents=True, exist_ok=True)
    hidden = path.with_name(f".{path.name}.{os.getpid()}")
    hidden.write_text(json.dumps(result, indent=2, default=str) + "\n")
    os.replace(hidden, path)


def last_run(env) -> dict | None:
    try:
        data = json.loads(result_path(env).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


# --- status ------------------------------------------------------------------------------


def schedule_status(env, at: datetime | None = None, everywhere: bool = False) -> dict:
    """The guides' "Backup Configuration" facts, from the BACKUP_* settings, the installed
    schedule and this environment's backups (every environment's with `everywhere`)."""
    enabled = env.get_bool("BACKUP_ENABLED", False)
    expr = schedule_expr(env)
    settings = s3_settings(env)
    backups = all_backups(env) if everywhere else list_backups(env)
    dated = [b for b in backups if b.created]
    last = dated[0] if dated else None
    found = installed(env)
    ran = last_run(env)
    return {
        "enabled": enabled,
        "schedule": expr,
        "schedule_text": describe_schedule(expr),
        "installed": None if found is None else {"scheduler": found.scheduler,
                                                 "schedule": found.expr, "entry": found.where},
        "next_run": next_run(found.expr, at) if found and enabled else None,
        "last_scheduled_run": ran,
        "retention_days": retention_days(env),
        "compression": env.get_bool("BACKUP_COMPRESSION", True),
        "storage": "s3" if settings else "local",
        "bucket": settings.bucket if settings else None,
        "remote": settings.url(remote.Bucket(env, settings).folder) if settings else None,
        "folder": env.relative(env.backups_dir),
        "last_backup": last.to_dict(env) if last else None,
        "count": len(backups),
        "all_environments": everywhere,
        "total_bytes": sum(b.size_bytes for b in backups),
        "crontab": f"{expr} {run_command(env)}",
    }


def started() -> str:
    return now().isoformat(timespec="seconds")


# --- the scheduled run ---------------------------------------------------------------------


def run_scheduled(env, say, progress=None) -> dict:
    """What the installed schedule runs: a backup (uploaded with BACKUP_STORAGE=s3), then
    pruning by BACKUP_RETENTION_DAYS (locally and in the bucket); the result, success or
    not, is recorded for `db backup status`. Skipped (and recorded so) while
    BACKUP_ENABLED is not true. Returns the result; raises the failure after recording it.
    `progress` gets the bytes the backup has written so far."""
    result: dict = {"started": started(), "environment": env.name, "status": "running"}
    try:
        if not env.get_bool("BACKUP_ENABLED", False):
            result["status"] = "skipped"
            result["message"] = "BACKUP_ENABLED is not true"
            say("BACKUP_ENABLED is not true: no backup taken (set it to true, or uninstall "
                "the schedule).")
            return result
        bucket = remote.bucket_for(env)
        made = create_backup(env, BackupOptions(), progress, origin="schedule")
        result["backup"] = env.relative(made.path)
        result["size_bytes"] = made.size_bytes
        say(f"Backup created: {result['backup']}")
        if bucket:
            key = bucket.upload(made, say)
            result["uploaded"] = bucket.settings.url(key)
        pruned = [env.relative(b.path) for b in prune(env)]
        if bucket:
            pruned += [b.url for b in remote.prune(env, bucket)]
        result["pruned"] = pruned
        for name in pruned:
            say(f"Deleted {name} (older than {retention_days(env)} days)")
        result["status"] = "ok"
        return result
    except (NselfError, OSError) as exc:
        result["status"] = "failed"
        result["message"] = display.redact(str(exc))
        raise
    except KeyboardInterrupt:
        result["status"] = "interrupted"
        raise
    finally:
        result["finished"] = started()
        try:
            record(env, result)
        except OSError as exc:
            say(f"! Cannot record the run's result in {result_path(env)}: {exc.strerror}")
