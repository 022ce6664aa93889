"""`db update` (backup, migrate in one transaction, verify): the guides' "Team Workflow"
section, a thin task over `nself.workflows.update`."""

from __future__ import annotations

from nself import output
from nself.tasks import flags
from nself.tasks.base import command, environment
from nself.tasks.flags import LOCK_HELP, MISMATCH_HELP, confirm_help, yes_help
from nself.tasks.library import update_workflow


@command(help={"yes": yes_help("update"), "confirm": confirm_help("update"),
               "allow_env_mismatch": MISMATCH_HELP,
               "lock_timeout": LOCK_HELP,
               "json": "Print what was done as JSON (applied migrations, backup, checks, "
                       "seconds per phase) instead of the progress lines."})
def update(c, yes=False, confirm=None, allow_env_mismatch=False, lock_timeout=60.0,
           json=False):
    """Back up, apply every pending migration in one transaction, verify integrity."""
    env = environment()
    env.require_project()
    timeout = flags.lock_timeout(lock_timeout)
    say = (lambda text: None) if json else output.line
    if not json:
        title = "Database Update" + (f" ({env.name})" if env.name != "local" else "")
        output.heading(title, max(len(title), 24))
    options = {"tell": lambda text: output.line(text, err=True), "interactive": False} \
        if json else {}
    guard = flags.guard(env, yes, confirm, allow_env_mismatch)
    guard.say = say  # the guard's lines (backup, production steps) are update's lines
    result = update_workflow.update(env, guard, lock_timeout=timeout,
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
