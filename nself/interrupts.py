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
_armed = False  # `_raise_interrupt` raises (not while `interruptible` restores the handlers)
_late = False  # a signal came while they were restored: raised once they are
_decided: int | None = None  # the exit code a task's last line said (`decided`)


def _stop_now(signum, _frame) -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()  # what was printed before the signal (lost to os._exit otherwise)
        except BaseException:  # closed, or this handler ran inside a write to it
            pass
    if _decided is not None:  # its line is said: a second Ctrl-C adds no second line
        os._exit(_decided)
    try:
        os.write(2, MESSAGE)
    except OSError:
        pass
    os._exit(EXIT_CODE)


def decided(code: int) -> None:
    """A task said its last line (an error, or how it was interrupted) and ends with CODE:
    a signal from here on ends the run with CODE at once, saying nothing more."""
    global _decided
    _decided = code


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
    _forget_caught_interrupts()


def _forget_caught_interrupts() -> None:
    """CPython remembers a KeyboardInterrupt that left code it ran from a string (`exec`
    or `eval` of text: dataclasses and namedtuple build their methods so, when a task
    imports a module), even one nself then caught; under `python -m` (`python -m invoke`,
    `python -m nself`) it ends the process by SIGINT at exit instead of with the exit code
    nself chose (130). Each string it runs clears that memory first."""
    exec("pass")


def _raise_interrupt(signum, _frame) -> None:
    global _seen, _late
    _seen = True
    if not _armed:  # interruptible() is putting the handlers back: raised once they are
        _late = True
        return
    raise KeyboardInterrupt


@contextmanager
def interruptible():
    """Ctrl-C and SIGTERM raise KeyboardInterrupt for the duration (main thread only:
    Python runs handlers there); the previous handlers come back at its end. Once one
    arrived, objects left half-built by it are dropped without an `Exception ignored`
    report (pyparsing's, when the signal lands while a grammar is built). A signal while
    the handlers are put back is raised once they are (never from the middle of it,
    leaving SIGTERM raising in invoke's code after the task); the KeyboardInterrupt may so
    come from entering or leaving, not only from the body."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    global _seen, _armed, _late, _decided
    _seen = _late = False
    _decided = None
    previous = {number: signal.getsignal(number) for number in SIGNALS}
    hook = sys.unraisablehook
    sys.unraisablehook = _quiet_once_interrupted
    _armed = True
    try:
        for number, handler in previous.items():
            if handler is not signal.SIG_IGN:
                signal.signal(number, _raise_interrupt)
        yield
    finally:
        _armed = False  # first (no signal is handled before a call)
        for number, handler in previous.items():
            signal.signal(number, handler if handler is not None else signal.SIG_DFL)
        sys.unraisablehook = hook
    if _late:  # not when the body raised already: its exception says more
        raise KeyboardInterrupt


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
