"""`db.backup` tasks (create by default, list, status, prune) and `db.restore`."""

from __future__ import annotations

from invoke import Collection

collection = Collection("backup")
restore = None
