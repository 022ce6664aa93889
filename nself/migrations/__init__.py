"""Migrations: files (parse, order, checksum), history (tracking table), runner."""

from __future__ import annotations


def counts(env, conn) -> dict:
    """Applied / pending / changed / missing counts for `db status`.

    Placeholder until the migrations engine lands: every file is pending.
    """
    files = sorted(env.migrations_dir.glob("*.sql"))
    return {"applied": 0, "pending": len(files), "changed": 0, "missing": 0}
