"""Ctrl-C and SIGTERM: every interruption ends a run with one line and exit 130.

Two phases. Until a task's body runs (Python importing nself's modules takes ~0.4 s,
then invoke parses the command line) nothing needs cleaning up, so `stop_at_once`
makes either signal print `Interrupted.` and exit 130 on the spot: no traceback from
the middle of an import, no death by the signal. While a task runs, `interruptible`
turns both into KeyboardInterrupt, so the library rolls back the unit in progress,
drops what it made and stops its children on the way out; the task boundary
(`nself.tasks.base`) then says one line. This module imports nothing of nself's: the
entry points (`nself/__main__.py`, `tasks.py`) load it before anything else.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
from contextlib import contextmanager

EXIT_CODE = 130  # nself.errors.INTERRUPTED (not imported here: see the module's docstring)
SIGNALS = (signal.SIGINT, signal.SIGTERM)
MESSAGE = b"Interrupted.\n"

_seen = False  # an interruption reached this process (its leftovers need not be shown)


def _stop_now(signum, _frame) -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()  # what was printed before the signal (lost to os._exit otherwise)
        except BaseException:  # closed, or this handler ran inside a write to it
            pass
    try:
        os.write(2, MESSAGE)
    except OSError:
        pass
    os._exit(EXIT_CODE)


def stop_at_once() -> None:
    """Until `interruptible` takes over: a Ctrl-C or SIGTERM prints `Interrupted.` and
    exits 130 at once. A signal the caller ignores (`nohup`, `cmd &` in a script) stays
    ignored."""
    for number in SIGNALS:
        if signal.getsignal(number) is not signal.SIG_IGN:
            signal.signal(number, _stop_now)
    sys.unraisablehook = _quiet_once_interrupted
    # Python gives its signals back to the system while it shuts down (a signal then would
    # kill the process or print a traceback): the exit code is decided by then
    atexit.register(settled)


def settled() -> None:
    """The run's exit code is decided and the process is ending: a signal from here on
    changes nothing (Python would otherwise die by it, or print a traceback, while it
    shuts down)."""
    for number in SIGNALS:
        signal.signal(number, signal.SIG_IGN)


def _raise_interrupt(signum, _frame) -> None:
    global _seen
    _seen = True
    raise KeyboardInterrupt


@contextmanager
def interruptible():
    """Ctrl-C and SIGTERM raise KeyboardInterrupt for the duration (main thread only:
    Python runs handlers there); the previous handlers come back at its end. Once one
    arrived, objects left half-built by it are dropped without an `Exception ignored`
    report (pyparsing's, when the signal lands while a grammar is built)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    global _seen
    _seen = False
    previous = {number: signal.getsignal(number) for number in SIGNALS}
    hook = sys.unraisablehook
    sys.unraisablehook = _quiet_once_interrupted
    try:
        for number, handler in previous.items():
            if handler is not signal.SIG_IGN:
                signal.signal(number, _raise_interrupt)
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler if handler is not None else signal.SIG_DFL)
        sys.unraisablehook = hook


def _quiet_once_interrupted(unraisable) -> None:
    if not _seen:
        sys.__unraisablehook__(unraisable)


@contextmanager
def passed_to_child():
    """While a child owns the terminal (interactive psql): Ctrl-C is the child's alone
    (psql cancels its query), and a SIGTERM is passed on to it; once the child has
    exited, that SIGTERM interrupts nself too (KeyboardInterrupt). Yields `adopt`: call
    it with the child (a Popen) once started."""
    children: list = []
    terminated: list[int] = []

    def forward(signum, _frame) -> None:
        terminated.append(signum)
        for child in children:
            try:
                child.send_signal(signum)
            except OSError:
                pass

    def adopt(child) -> None:
        children.append(child)
        if terminated:  # arrived while it was being started
            forward(terminated[-1], None)

    if threading.current_thread() is not threading.main_thread():
        yield adopt
        return

    previous = {number: signal.getsignal(number) for number in SIGNALS}
    # a handler that does nothing rather than SIG_IGN, which the child would inherit
    if previous[signal.SIGINT] is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, lambda _signum, _frame: None)
    if previous[signal.SIGTERM] is not signal.SIG_IGN:
        signal.signal(signal.SIGTERM, forward)
    try:
        yield adopt
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler if handler is not None else signal.SIG_DFL)
    if terminated:
        global _seen
        _seen = True
        raise KeyboardInterrupt
