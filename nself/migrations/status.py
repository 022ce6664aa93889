"""Where each migration stands: files and tracking rows side by side, by checksum only.

Kept apart from the runner so `migrate status` and `db status` import no more
than they need.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from nself.config import Environment
from nself.migrations import files, history
from nself.migrations.files import Migration

APPLIED, PENDING, CHANGED, MISSING = "Applied", "Pending", "Changed", "Missing"


@dataclass
class MigrationState:
    """One line of `migrate status`: a file, a tracking row, or both."""

    version: int
    label: str
    name: str
    status: str
    applied_at: datetime | None = None
    migration: Migration | None = None
    row: history.AppliedRow | None = None
    seconds: float = 0.0  # how long applying it took, in this run

    @property
    def id(self) -> str:
        return f"{self.label}_{self.name}"

    def as_dict(self) -> dict:
        return {"version": self.label, "name": self.name, "status": self.status.lower(),
                "applied_at": self.applied_at}


def merge(migrations: list[Migration], rows: list[history.AppliedRow]) -> list[MigrationState]:
    """Files and tracking rows side by side, by version, each with its status."""
    by_version = {r.version: r for r in rows}
    entries: list[MigrationState] = []
    for m in migrations:
        row = by_version.pop(m.version, None)
        if row is None:
            entries.append(MigrationState(m.version, m.label, m.name, PENDING, migration=m))
        else:
            status = APPLIED if row.checksum == m.checksum else CHANGED
            entries.append(MigrationState(m.version, m.label, m.name, status, row.applied_at,
                                          m, row))
    for row in by_version.values():
        entries.append(MigrationState(row.version, row.label, row.name, MISSING,
                                      row.applied_at, row=row))
    entries.sort(key=lambda e: e.version)
    return entries


def read_status(env: Environment, conn) -> list[MigrationState]:
    """Where every migration stands, from checksums; files not yet applied are checked as
    `up` would check them (a malformed one is exit 2 here too), applied ones are not re-read
    (their checksum says whether they changed), and SQL is never parsed."""
    migrations = files.read_folder(env.migrations_dir, env.root)
    states = merge(migrations, history.applied(conn))
    pending = [state.migration for state in states if state.status == PENDING]
    for migration in pending:
        migration.check_runnable()
    files.check_dependencies(migrations, pending)
    return states


def counts(entries: list[MigrationState]) -> dict:
    """How many migrations are applied, pending, changed and missing."""
    result = {"applied": 0, "pending": 0, "changed": 0, "missing": 0}
    for e in entries:
        result[e.status.lower()] += 1
    return result
