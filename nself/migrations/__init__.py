"""Migrations: files (parse, order, checksum), history (tracking table), runner."""

from __future__ import annotations


def counts(env, conn) -> dict:
    """Applied / pending / changed / missing counts for `db status`, from checksums only.

    A project whose tracking table does not exist yet has everything pending; a
    malformed migrations folder is reported under "error" instead of failing.
    """
    from nself.migrations.files import MigrationFileError
    from nself.migrations.status import counts as tally
    from nself.migrations.status import read_status

    try:
        return tally(read_status(env, conn))
    except MigrationFileError as exc:
        return {"applied": 0, "pending": 0, "changed": 0, "missing": 0, "error": str(exc)}
