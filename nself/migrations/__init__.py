"""Migrations: files (parse, order, checksum), history (tracking table), status, plan (what
would run, checked without a connection), engine (sending it), runner (up/down/fresh under
the migrate lock), repair."""

from __future__ import annotations


def counts(env, conn) -> dict:
    """Applied / pending / changed / missing counts for `db status`, from checksums only.

    A project whose tracking table does not exist yet has everything pending; a malformed
    migrations folder raises `MigrationFileError` (exit 2), as `migrate status` does.
    """
    # imported here: every submodule import runs this file first, and status imports them
    from nself.migrations.status import counts as tally
    from nself.migrations.status import read_status

    return tally(read_status(env, conn))
