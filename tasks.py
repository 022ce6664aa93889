"""Invoke entry point: `inv --list` shows every nself task.

Signal handling first (`nself.interrupts`): a Ctrl-C or SIGTERM while the tasks are
imported prints `Interrupted.` and exits 130, never a traceback or a death by the signal.
"""
from nself import interrupts

interrupts.stop_at_once()

from nself.tasks import namespace  # noqa: E402,F401
