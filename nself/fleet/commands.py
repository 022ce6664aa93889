"""What each fleet command does on one target: the single-database library call, with a
Guard of its own (its recorded environment, its safety backup), saying its lines into the
target's Outcome. Each returns (summary line, JSON record)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from nself.backups import dump
from nself.config import Environment
from nself.guard import Guard
from nself.migrations import history, runner
from nself.migrations import status as migration_status
from nself.pg import connection
from nself.workflows import update as update_workflow

Say = Callable[[str], None]


def _plural(n: int, word: str = "migration") -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


@dataclass(frozen=True)
class Confirmation:
    """The confirmation flags of the whole run, for each target's Guard (`confirmed`: the
    fleet asked once, or a flag confirmed: no target asks again)."""

    confirmed: bool = False
    allow_env_mismatch: bool = False
    backup: bool = True

    def guard(self, env: Environment, say: Say) -> Guard:
        return Guard(env, yes=self.confirmed, allow_env_mismatch=self.allow_env_mismatch,
                     backup=self.backup, say=say, take_backup=dump.safety_backup)


def status(env: Environment, say: Say) -> tuple[str, dict]:
    """`migrate status` on one target: how many applied, pending, changed, missing; drift."""
    with connection.connect(connection.target(env)) as conn:
        entries = migration_status.read_status(env, conn)
        found = history.drift(conn)
    tally = migration_status.counts(entries)
    drifted = found.drifted if found else None
    words = ", ".join(f"{n} {state}" for state, n in tally.items() if n or state == "pending")
    drift = {True: "drifted", False: "no drift", None: "drift unknown"}[drifted]
    return f"{words}; {drift}", {**tally, "drift": drifted}


def migrate_up(lock_timeout: float, confirmation: Confirmation
               ) -> Callable[[Environment, Say], tuple[str, dict]]:
    """`migrate up` on one target (its migrate lock, its guard, one transaction per
    migration)."""
    def work(env: Environment, say: Say) -> tuple[str, dict]:
        guard = confirmation.guard(env, say)
        with runner.session(env, lock_timeout, guard, say, say, say) as run:
            done = run.up()
        applied = [state.id for state, _ in done]
        backup = guard.change.shown if guard.changes else None
        line = (f"{_plural(len(applied))} applied" if applied else "up to date")
        return line, {"applied": applied, "backup": backup}
    return work


def update(lock_timeout: float, confirmation: Confirmation
           ) -> Callable[[Environment, Say], tuple[str, dict]]:
    """`db update` on one target (backup, one transaction, verify)."""
    def work(env: Environment, say: Say) -> tuple[str, dict]:
        guard = confirmation.guard(env, say)
        result = update_workflow.update(env, guard, lock_timeout=lock_timeout, say=say,
                                        notice=say, warn=say, tell=say, interactive=False)
        applied = result.as_dict().get("applied", [])
        line = f"{_plural(len(applied))} applied" if applied else "up to date"
        return line, result.as_dict()
    return work


def backup(env: Environment, say: Say) -> tuple[str, dict]:
    """`db backup` on one target: a verified backup in backups/<env>/."""
    made = dump.create_backup(env, dump.BackupOptions())
    shown = env.relative(made.path)
    return f"backup {shown} ({made.size_bytes} bytes)", {"backup": shown,
                                                         "bytes": made.size_bytes}
