"""`db.migrate` tasks: status, up, down, create, fresh, repair."""

from __future__ import annotations

from invoke import Collection

collection = Collection("migrate")
