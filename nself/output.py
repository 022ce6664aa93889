"""How results reach the user: check-mark lines, aligned tables, JSON."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

CHECK = "✓"
CROSS = "✗"
RULE = "─"


def _stream(err: bool):
    return sys.stderr if err else sys.stdout


def line(text: str = "", err: bool = False) -> None:
    print(text, file=_stream(err), flush=True)


def ok(text: str) -> None:
    line(f"{CHECK} {text}")


def warn(text: str) -> None:
    line(f"! {text}", err=True)


def heading(title: str, width: int | None = None) -> None:
    line(title)
    line(RULE * (width or max(len(title), 16)))


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """An aligned, plain-text table (stable for scripts that grep it)."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    # one write for the whole table: a line-by-line flush costs ms on a thousand rows
    line("\n".join([fmt.format(*headers).rstrip()] + [fmt.format(*row).rstrip() for row in cells]))


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def _json_default(value: object):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def as_json(data: object) -> None:
    line(json.dumps(data, indent=2, default=_json_default, ensure_ascii=False))


def size(num_bytes: int | float | None) -> str:
    """Bytes in the guides' style: `2.3 MB`."""
    if num_bytes is None:
        return "-"
    value = float(num_bytes)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"
