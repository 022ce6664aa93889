"""The flags several tasks share: one wording of each help text, one reading of each value,
one Guard built from them. The confirmation helps are read from the safety table, so they
name what each command really asks for."""

from __future__ import annotations

import math

from nself import output, safety
from nself.errors import UsageError
from nself.guard import Guard
from nself.tasks.library import dump


def lock_help(waits_for: str) -> str:
    """--lock-timeout: what the command waits for, how long by default, and then what."""
    return (f"SECONDS (a number) to wait for {waits_for} on this database (default 60); "
            "then exit 5.")


LOCK_HELP = lock_help("another migrate or seed run")
MISMATCH_HELP = ("Run although the database is recorded as another environment "
                 "(staging/production).")
NO_BACKUP_HELP = "Skip the safety backup taken before changing anything."
JSON_HELP = "Print the result as JSON."


def _asking(command: str, rule: safety.Rule) -> list[str]:
    return [name for name, policy in zip(safety.ENV_COLUMN, safety.TABLE[command], strict=True)
            if policy.rule is rule]


def yes_help(command: str, also: str = "") -> str:
    """--yes: the environments where it confirms COMMAND (`also`: what else it confirms)."""
    where = "/".join(_asking(command, safety.Rule.CONFIRM))
    parts = [part for part in (where, also and f"also {also}") if part]
    return f"Confirm without a prompt ({'; '.join([*parts, 'required without a terminal'])})."


def confirm_help(command: str) -> str:
    """--confirm WORD: `yes` where COMMAND asks y/N, and the word it asks to be typed."""
    typed = [f"{policy.word} in {name}" for name, policy
             in zip(safety.ENV_COLUMN, safety.TABLE[command], strict=True)
             if policy.rule is safety.Rule.TYPED]
    return ("Type the confirmation in advance: `yes` for a y/N prompt"
            + "".join(f", {word}" for word in typed) + ".")


def lock_timeout(value) -> float:
    """--lock-timeout as seconds: a finite number, 0 or more."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"--lock-timeout expects seconds, got {value!r}.") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise UsageError(f"--lock-timeout expects a finite number of seconds, 0 or more; got "
                         f"{value!r}.")
    return seconds


def safety_backup(env, reason: str, say, undo):
    """The guard's safety backup (`dump.safety_backup`), with a progress bar on a terminal."""
    return output.with_progress(output.ProgressBar.on_terminal("Writing"),
                                lambda bar: dump.safety_backup(env, reason, say, undo, bar))


def guard(env, yes: bool = False, confirm: str | None = None, allow_env_mismatch: bool = False,
          no_backup: bool = False, say=output.line) -> Guard:
    """The Guard the shared confirmation flags build."""
    return Guard(env, yes=yes, confirm=confirm, allow_env_mismatch=allow_env_mismatch,
                 backup=not no_backup, say=say, take_backup=safety_backup)
