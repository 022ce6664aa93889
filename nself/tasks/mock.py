"""`db mock`: fill the user tables with realistic rows read from the live schema."""

from __future__ import annotations

from nself.errors import UsageError
from nself.tasks.base import command


@command(help={"rows": "Rows per table: users=100,posts=500."})
def mock(c, rows=None):
    """Fill the tables with mock rows (being built: issue 10)."""
    raise UsageError("`nself db mock` is not built yet.")
