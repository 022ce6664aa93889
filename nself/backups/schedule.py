"""The backup schedule (BACKUP_* settings) in words, its next run, and the status block."""

from __future__ import annotations

import shlex
import shutil
from datetime import datetime

from croniter import croniter

from nself.backups.store import all_backups, list_backups, retention_days
from nself.errors import ConfigError

CRON_LINE = "nself db backup && nself db backup prune"


DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]


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


def next_run(expr: str, now: datetime | None = None) -> datetime:
    return croniter(expr, now or datetime.now()).get_next(datetime)


def schedule_status(env, now: datetime | None = None, everywhere: bool = False) -> dict:
    """The guides' "Backup Configuration" facts, from the BACKUP_* settings and this
    environment's backups (every environment's with `everywhere`)."""
    enabled = env.get_bool("BACKUP_ENABLED", False)
    expr = (env.get("BACKUP_SCHEDULE", "0 2 * * *") or "").strip().strip('"').strip("'")
    if not croniter.is_valid(expr):
        raise ConfigError(f"BACKUP_SCHEDULE={expr!r} is not a cron expression "
                          "(five fields, e.g. \"0 2 * * *\" for daily at 2 AM).")
    storage = (env.get("BACKUP_STORAGE", "local") or "local").strip().lower()
    storage_note = None
    if storage != "local":
        bucket = env.get("AWS_BACKUP_BUCKET")
        storage_note = (f"BACKUP_STORAGE={storage}"
                        f"{f' ({bucket})' if bucket else ''} is not supported yet: backups are "
                        f"kept only in {env.relative(env.backups_dir)}/.")
    backups = all_backups(env) if everywhere else list_backups(env)
    dated = [b for b in backups if b.created]
    last = dated[0] if dated else None
    project = str(env.root)
    return {
        "enabled": enabled,
        "schedule": expr,
        "schedule_text": describe_schedule(expr),
        "next_run": next_run(expr, now) if enabled else None,
        "retention_days": retention_days(env),
        "compression": env.get_bool("BACKUP_COMPRESSION", True),
        "storage": storage,
        "storage_note": storage_note,
        "folder": env.relative(env.backups_dir),
        "last_backup": last.to_dict(env) if last else None,
        "count": len(backups),
        "all_environments": everywhere,
        "total_bytes": sum(b.size_bytes for b in backups),
        "crontab": f"{expr} cd {shlex.quote(project)} && {_cron_command()}",
    }


def _cron_command() -> str:
    """CRON_LINE with nself's full path: cron runs with a bare PATH."""
    found = shutil.which("nself")
    if not found:
        return CRON_LINE
    return CRON_LINE.replace("nself ", shlex.quote(found) + " ")
