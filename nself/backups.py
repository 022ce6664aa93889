"""Backups and restores (placeholder until the backups issue lands)."""

from __future__ import annotations


def latest_backup(env) -> dict | None:
    """The newest backup file's name, time and size, or None."""
    folder = env.backups_dir
    if not folder.is_dir():
        return None
    files = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
             and not p.name.endswith(".sha256")]
    if not files:
        return None
    newest = max(files, key=lambda p: p.stat().st_mtime)
    from datetime import datetime

    stat = newest.stat()
    return {"file": env.relative(newest), "created": datetime.fromtimestamp(stat.st_mtime),
            "size_bytes": stat.st_size}
