"""Running one command over the fleet: N targets at a time, one Outcome per target.

Each target runs the single-database library call (the same pipeline: its Guard, its
recorded environment, its safety backups, its migrate lock) on its own connection, in a
worker thread: the work is I/O on that connection, and the pipeline keeps no global state
per database (each target gets its own Environment, Guard and Runner). Outcomes come back
to the caller's thread as targets finish, so only that thread prints.

A target that fails stops the starting of new ones unless `continue_on_error`; the targets
already running finish their work (each migration is atomic on its database whatever
happens, so a later run applies only what is missing). Ctrl-C does the same: nothing new
starts, the running ones finish, and the run ends interrupted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from nself import safety
from nself.config import Database, Environment
from nself.errors import FAILED, Interrupted, OperationFailed
from nself.fleet.targets import Target
from nself.pg import connection

DONE, FAILED_STATE, NOT_STARTED = "done", "failed", "not started"
# --parallel's default: at most MAX_PARALLEL targets at a time, and no more than a quarter of
# the free connections of the first target's server (a target holds one or two: its session,
# and pg_dump for a backup)
MAX_PARALLEL = 8
CONNECTIONS_SHARE = 4
FREE_CONNECTIONS_SQL = """
SELECT current_setting('max_connections')::int
       - current_setting('superuser_reserved_connections')::int
       - (SELECT count(*) FROM pg_stat_activity)
"""


class FleetFailed(OperationFailed):
    """Some targets failed; the message names them (exit code: theirs when they agree)."""

    def __init__(self, message: str, exit_code: int = FAILED):
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class Outcome:
    """What happened on one target: done, failed or not started; its summary line, what the
    pipeline said on it (guard, backups), its record for --json."""

    target: Target
    state: str = NOT_STARTED
    line: str = ""
    seconds: float = 0.0
    exit_code: int = 0
    record: dict = field(default_factory=dict)
    said: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"target": self.target.name, "database": self.target.database.display(),
                "schema": self.target.schema,
                "state": self.state, "exit_code": self.exit_code,
                "seconds": round(self.seconds, 3), **self.record,
                **({"error": self.line} if self.state == FAILED_STATE else {}),
                "said": self.said}


# what a command does on one target: (its Environment, say) -> (summary line, JSON record)
Work = Callable[[Environment, Callable[[str], None]], tuple[str, dict]]
# an exception -> (one line, exit code): the task boundary's mapping, given by the caller
Explain = Callable[[BaseException], tuple[str, int]]


def default_parallel(server: Database) -> int:
    """--parallel's default for SERVER: MAX_PARALLEL, or a quarter of its free connections
    when that is fewer (at least 1)."""
    with connection.connect(server) as conn:
        free = conn.execute(FREE_CONNECTIONS_SQL).fetchone()[0]
    return max(1, min(MAX_PARALLEL, free // CONNECTIONS_SHARE))


def confirm_once(command: str, env: Environment, targets: list[Target], *, yes: bool,
                 confirm: str | None, say: Callable[[str], None]) -> bool:
    """The safety table's rule for COMMAND, once for the whole fleet (the prompt names how
    many databases); True when it asked or was confirmed by a flag (each target then runs
    as confirmed), False when the environment allows it without asking."""
    if safety.policy_for(command, env.name).rule is safety.Rule.ALLOW:
        return False
    listed = ", ".join(t.name for t in targets[:20]) + (", ..." if len(targets) > 20 else "")
    safety.enforce(command, env.name, target=f"{len(targets)} database"
                   f"{'s' if len(targets) != 1 else ''}", yes=yes, confirm=confirm,
                   detail=f"`fleet {command}` runs `{command}` on {len(targets)} "
                          f"database{'s' if len(targets) != 1 else ''}: {listed}", say=say)
    return True


class Fleet:
    """N targets at a time; `finished` is told of each Outcome as its target ends."""

    def __init__(self, env: Environment, targets: list[Target], parallel: int,
                 continue_on_error: bool, explain: Explain,
                 finished: Callable[[Outcome, int, int], None]):
        self.env = env
        self.targets = targets
        self.parallel = max(1, parallel)
        self.continue_on_error = continue_on_error
        self.explain = explain
        self.finished = finished
        self.stop = threading.Event()

    def one(self, target: Target, work: Work) -> Outcome:
        """WORK on TARGET; its failure is its Outcome, never the fleet's exception."""
        outcome = Outcome(target)
        began = time.monotonic()
        try:
            with target.scope():
                outcome.line, outcome.record = work(target.environment(self.env),
                                                    outcome.said.append)
            outcome.state = DONE
        except Exception as exc:  # noqa: BLE001 (every failure is this target's outcome)
            outcome.state = FAILED_STATE
            outcome.line, outcome.exit_code = self.explain(exc)
        outcome.seconds = time.monotonic() - began
        return outcome

    def run(self, work: Work) -> list[Outcome]:
        """WORK on every target, at most `parallel` at a time, in the fleet's order of
        starting; the Outcomes in the fleet's order (unstarted ones NOT_STARTED)."""
        outcomes = {t.name: Outcome(t) for t in self.targets}
        todo = iter(self.targets)
        running: dict[Future, Target] = {}
        count = 0
        interrupted = False
        with ThreadPoolExecutor(self.parallel, thread_name_prefix="fleet") as pool:
            def start() -> None:
                while len(running) < self.parallel and not self.stop.is_set():
                    target = next(todo, None)
                    if target is None:
                        return
                    running[pool.submit(self.one, target, work)] = target

            start()
            while running:
                try:
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                except KeyboardInterrupt:
                    # nothing new starts; the running targets finish what they do
                    self.stop.set()
                    interrupted = True
                    continue
                for future in done:
                    running.pop(future)
                    outcome = future.result()
                    outcomes[outcome.target.name] = outcome
                    count += 1
                    if outcome.state == FAILED_STATE and not self.continue_on_error:
                        self.stop.set()
                    self.finished(outcome, count, len(self.targets))
                start()
        results = [outcomes[t.name] for t in self.targets]
        if interrupted:
            left = sum(o.state == NOT_STARTED for o in results)
            raise Interrupted(f"Interrupted: {count} target(s) finished, {left} not started; "
                              "the same command again runs what is missing.")
        return results


def failure(outcomes: list[Outcome], continue_on_error: bool) -> FleetFailed | None:
    """The error naming the failed targets (and how many did not start), or None."""
    failed = [o for o in outcomes if o.state == FAILED_STATE]
    if not failed:
        return None
    unstarted = sum(o.state == NOT_STARTED for o in outcomes)
    names = ", ".join(o.target.name for o in failed[:20]) + (", ..." if len(failed) > 20 else "")
    tail = "" if not unstarted else (
        f"; {unstarted} not started (a failure stops new targets: --continue-on-error runs "
        "every target)")
    codes = {o.exit_code for o in failed}
    return FleetFailed(f"Failed on {len(failed)} of {len(outcomes)} targets: {names}{tail}.",
                       codes.pop() if len(codes) == 1 else FAILED)
