"""`db schema export`: the live database's schema as DBML or SQL, printed or written to a
file that is replaced only once the whole text is written."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from nself import userfile
from nself.errors import UsageError
from nself.pg import connection
from nself.schema.introspect import introspect
from nself.schema.render import to_dbml, to_sql

FORMATS = ("dbml", "sql")


@dataclass
class Exported:
    text: str
    tables: int  # partitions not counted


def check_format(format: str) -> str:
    if format not in FORMATS:
        raise UsageError(f"--format must be dbml or sql, not {format!r}.")
    return format


def export(env, format: str = "dbml", grants: bool = False) -> Exported:
    """The configured database's schema as FORMAT (stable order: a re-export is identical);
    owners and grants only with `grants`."""
    check_format(format)
    with connection.connect(connection.target(env)) as conn:
        model = introspect(conn, grants=grants)
    text = to_dbml(model) if format == "dbml" else to_sql(model)
    return Exported(text, sum(1 for t in model.tables if not t.partition_of))


def output_path(name: str) -> Path:
    """The --output file, refused up front (exit 2) when it cannot be written."""
    if not name:
        raise UsageError("--output needs a file name.")
    path = Path(name)
    if path.is_dir():
        raise UsageError(f"Cannot write {name}: it is a folder.")
    folder = path.parent
    if not folder.is_dir():
        raise UsageError(f"Cannot write {name}: the folder {folder} does not exist.")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"Cannot write {name}: the folder {folder} is not writable.")
    return path


def write_atomically(path: Path, text: str | bytes) -> None:
    """Write TEXT to a temporary file beside PATH and rename it over PATH: PATH is either
    its old self or the complete new text, never empty or partial (a full disk or Ctrl-C
    removes the temporary file and leaves PATH alone)."""
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        userfile.write_synced(fd, text)
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
