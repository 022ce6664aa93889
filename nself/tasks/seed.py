"""`db seed`: run the seed files (seeds/common/, then seeds/<env>/)."""

from __future__ import annotations

from nself.errors import UsageError
from nself.tasks.base import command


@command(positional_flag="file", help={"file": "Run only this seed file."})
def seed(c, file=None):
    """Run the seed files (being built: issue 10)."""
    raise UsageError("`nself db seed` is not built yet.")
