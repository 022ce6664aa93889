"""How results reach the user: check-mark lines, aligned tables, JSON.

Output that cannot be written is a failure, not a detail: a closed pipe (`nself ... |
head -1`) or a full device (`> /dev/full`) makes every writer here raise
`OutputFailed` (exit 1). The failure is remembered, so code that must not raise where it
writes (a server NOTICE callback mid-transaction uses `notice`) leaves it for
`check_failed()`, called once the unit of work is over. The stream that failed is pointed
at /dev/null, so Python's own flush at exit stays quiet.

Error lines go through `error_line`, which never raises and first blanks every secret
registered with `hide` (the configured database passwords). Sizes in words and the secret
registry live in `nself.display` (no I/O: the library uses them too); they are named here
as well, for the task layer.
"""

from __future__ import annotations

import errno
import json
import os
import sys
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from nself import display
from nself.display import hide, redact, size  # noqa: F401 (the task layer's names)
from nself.errors import OutputFailed

CHECK = "✓"
RULE = "─"

_failure: OutputFailed | None = None


def reset() -> None:
    """Forget a previous command's output failure and secrets (in-process runs, tests)."""
    global _failure
    _failure = None
    display.forget_secrets()


def check_failed() -> None:
    """Raise the output failure a non-raising writer remembered, if any."""
    if _failure is not None:
        raise _failure


def _stream(err: bool):
    return sys.stderr if err else sys.stdout


def _write(text: str, err: bool) -> None:
    check_failed()
    stream = _stream(err)
    if stream is None:  # started with the descriptor closed (`>&-`): Python gives None
        raise output_failed(ValueError("closed"), err)
    try:
        stream.write(text + "\n")
        stream.flush()
    except (OSError, ValueError) as exc:  # ValueError: the stream was closed
        raise output_failed(exc, err) from None


def output_failed(exc: BaseException, err: bool = False) -> OutputFailed:
    """Remember that standard output (or error) cannot be written and return the error;
    the stream is pointed at /dev/null so nothing more is attempted on it."""
    global _failure
    if _failure is None:
        name = "standard error" if err else "standard output"
        if isinstance(exc, OSError) and exc.errno is not None:
            reason = "the reader closed the pipe" if exc.errno == errno.EPIPE else (
                os.strerror(exc.errno))
        else:
            reason = "it is closed"
        _failure = OutputFailed(f"Cannot write to {name} ({reason}): stopped.")
    _silence(_stream(err))
    return _failure


def is_output_error(exc: BaseException) -> bool:
    """Whether `exc` is a write to a closed pipe (raised outside this module, e.g. by
    invoke printing --help, or by a tool's output relay)."""
    return isinstance(exc, BrokenPipeError) or (
        isinstance(exc, OSError) and exc.errno == errno.EPIPE)


def _silence(stream) -> None:
    try:
        fd = stream.fileno()
    except (OSError, ValueError, AttributeError):
        return  # captured in-process (tests): nothing at the OS level to silence
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)
    except OSError:
        pass


def line(text: str = "", err: bool = False) -> None:
    _write(text, err)


def notice(text: str) -> None:
    """Print a line from a callback that must never raise (a server NOTICE handler inside a
    transaction): an output failure is only remembered, for `check_failed()`."""
    try:
        _write(text, err=False)
    except OutputFailed:
        pass


def error_line(text: str) -> None:
    """Print an error line on stderr with secrets redacted; never raises (if stderr is gone
    too, the line is lost and the exit code still tells)."""
    try:
        stream = sys.stderr
        stream.write(redact(text) + "\n")
        stream.flush()
    except (OSError, ValueError, AttributeError):
        _silence(sys.stderr)


def ok(text: str) -> None:
    line(f"{CHECK} {text}")


def warn(text: str) -> None:
    line(f"! {redact(text)}", err=True)


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


class ProgressBar:
    """A rich progress bar on a terminal (rich is imported only then); nothing without one.

    Called with (done, total): a bar with the percentage; with total None: the amount so far.
    `unit` is "bytes" (sizes) or "items" (3/10). Transient: it disappears when closed,
    leaving the command's own lines, which print above it while it runs.
    """

    def __init__(self, label: str, unit: str = "bytes"):
        self.label = label
        self.unit = unit
        self._progress = None
        self._task = None

    @classmethod
    def on_terminal(cls, label: str, unit: str = "bytes") -> ProgressBar | None:
        try:
            attached = sys.stdout is not None and sys.stdout.isatty()
        except ValueError:  # closed stdout
            attached = False
        return cls(label, unit) if attached else None

    def __call__(self, done: int, total: int | None = None) -> None:
        if self._progress is None:
            self._start(total)
        self._progress.update(self._task, completed=done, total=total)

    def _start(self, total: int | None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            FileSizeColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        if self.unit == "items":
            columns = (BarColumn(), MofNCompleteColumn())
        else:
            columns = (BarColumn(), DownloadColumn()) if total else (FileSizeColumn(),)
        self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), *columns,
                                  TimeElapsedColumn(), console=Console(file=sys.stdout),
                                  transient=True)
        self._progress.start()
        self._task = self._progress.add_task(self.label, total=total)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def with_progress(bar: ProgressBar | None, work):
    """`work(bar)`, closing the bar however it ends."""
    try:
        return work(bar)
    finally:
        if bar is not None:
            bar.close()
