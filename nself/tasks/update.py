"""`db update` (backup, migrate in one transaction, verify) and `db reset` (backup, wipe,
migrate, seed): thin tasks over `nself.workflows`."""

from __future__ import annotations

from nself import output
from nself.guard import Guard
from nself.tasks.base import command, environment

LOCK_HELP = ("SECONDS (a number) to wait for another migrate run on this database "
             "(default 60); then exit 5.")
YES_HELP = "Confirm without a prompt (staging/production; required without a terminal)."
CONFIRM_HELP = "Type the confirmation word in advance (`yes`)."
MISMATCH_HELP = ("Run although the database is recorded as another environment "
                 "(staging/production)")


def _guard(env, yes, confirm, allow_env_mismatch, backup=True) -> Guard:
    return Guard(env, yes=yes, confirm=confirm, allow_env_mismatch=allow_env_mismatch,
                 backup=backup, say=output.line)


def _timeout(value) -> float:
    # deferred like every task module's heavy imports (the `db status` start-up budget)
    from nself.tasks.migrate import _lock_timeout

    return _lock_timeout(value)


@command(help={"yes": YES_HELP, "confirm": CONFIRM_HELP, "allow_env_mismatch": MISMATCH_HELP,
               "lock_timeout": LOCK_HELP,
               "json": "Print what was done as JSON (applied migrations, backup, checks, "
                       "seconds per phase) instead of the progress lines."})
def update(c, yes=False, confirm=None, allow_env_mismatch=False, lock_timeout=60.0,
           json=False):
    """Back up, apply every pending migration in one transaction, verify integrity."""
    from nself.workflows.update import update as run_update

    env = environment()
    env.require_project()
    timeout = _timeout(lock_timeout)
    say = (lambda text: None) if json else output.line
    if not json:
        title = "Database Update" + (f" ({env.name})" if env.name != "local" else "")
        output.heading(title, max(len(title), 24))
    options = {"tell": lambda text: output.line(text, err=True), "interactive": False} \
        if json else {}
    guard = _guard(env, yes, confirm, allow_env_mismatch)
    guard.say = say  # the guard's lines (backup, production steps) are update's lines
    result = run_update(env, guard, lock_timeout=timeout,
                        say=say, notice=output.notice, warn=output.warn, **options)
    if json:
        output.as_json(result.as_dict())
    elif not result.applied:
        output.line()
        output.line("Database is up to date: no pending migrations.")
    else:
        n = len(result.applied)
        output.line()
        output.line(f"Update complete! {n} migration{'s' if n != 1 else ''} applied.")


@command(help={"yes": "Confirm without a prompt (staging; required without a terminal).",
               "confirm": CONFIRM_HELP, "allow_env_mismatch": MISMATCH_HELP,
               "no_backup": "Skip the safety backup taken before dropping everything.",
               "lock_timeout": LOCK_HELP})
def reset(c, yes=False, confirm=None, allow_env_mismatch=False, no_backup=False,
          lock_timeout=60.0):
    """Drop everything, apply every migration and run the seeds (blocked in production)."""
    from nself.workflows.reset import reset as run_reset

    env = environment()
    env.require_project()
    timeout = _timeout(lock_timeout)
    output.heading("Database Reset")
    result = run_reset(env, _guard(env, yes, confirm, allow_env_mismatch, not no_backup),
                       lock_timeout=timeout, say=output.line, notice=output.notice,
                       warn=output.warn)
    output.line()
    output.ok(f"Reset complete: dropped {result.dropped} schema(s)/extension(s), applied "
              f"{len(result.applied)} migration{'s' if len(result.applied) != 1 else ''}"
              + (f", ran {result.seeded}" if result.seeded else ""))
