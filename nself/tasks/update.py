"""`db update` (backup, migrate, verify) and `db reset`."""

from __future__ import annotations

from nself.errors import UsageError
from nself.tasks.base import command


@command
def update(c):
    """Back up, apply pending migrations, verify (being built: issue 11)."""
    raise UsageError("`nself db update` is not built yet.")


@command
def reset(c):
    """Rebuild the database from migrations and seeds (being built: issue 11)."""
    raise UsageError("`nself db reset` is not built yet.")
