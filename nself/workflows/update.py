"""`db update`: what a team member runs after `git pull`.

1. Under the migrate lock (a concurrent `migrate up` or `update` waits, or gives up with
   exit 5): read and check every file, plan the pending migrations (none: say so, stop),
   check that the schema did not drift since the last migrate run, and that the migrations
   rebuild it: the applied ones, replayed into a shadow database, must give the live schema
   (a database that predates its migrations is refused here, naming the objects no
   migration makes and `nself db migrate baseline`). Step 5 replays the pending ones into
   the same shadow and compares the result with it.
2. The guard: recorded environment, the safety table's confirmation (staging, production).
3. The guard's safety backup (`Guard.safety_backup`: read back in full before it is named),
   whose undo line (`nself.guard.undo_command`) a failure prints.
4. Apply every pending migration in ONE transaction (`Runner.apply_in_parts`); a
   `-- nself:no-transaction` migration splits the run into parts, said beforehand.
5. Verify integrity inside the last transaction, before COMMIT, so that a failed check rolls
   it back: tracking rows and checksums match the files, no INVALID index, no NOT VALID
   constraint left by the run, the run's fingerprint recorded (drift), and the live schema
   equals what the migration files produce (the shadow of step 1, every file replayed).
6. On a failure after the backup: name the backup and offer to restore it (asked on a
   terminal; without one, the exact `nself db restore` command), then fail.

In production the four steps of the migrations guide ("Pre-migration backup, Schema
validation, Confirmation prompt, Rollback preparation") are each said as they happen.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from nself import safety
from nself.backups.restore import restore
from nself.config import Environment
from nself.errors import DifferencesFound, Interrupted, NselfError, OperationFailed
from nself.guard import PRE_MIGRATION, UPDATE, Change, Guard, Plan
from nself.migrations import history, plan
from nself.migrations.runner import (
    adds_enum_value,
    interrupted,
    parts,
    rollback_note,
    schema_drift,
    session,
)
from nself.migrations.status import APPLIED, MigrationState, merge
from nself.pg import catalog, layout
from nself.schema.diff import diff
from nself.schema.introspect import introspect
from nself.schema.shadow import Shadow, Shadows, replay, shadows

COMMAND = "update"
SHOWN = 5  # differences named in a refusal or a failed check


class IntegrityFailed(OperationFailed):
    """A check after applying failed; the transaction it ran in was rolled back."""


@dataclass
class UpdateResult:
    """What an update did, and how long each phase took (`--json`, the benchmark)."""

    pending: int = 0
    applied: list[str] = field(default_factory=list)
    parts: int = 0
    backup: str | None = None
    backup_bytes: int | None = None
    undo: str | None = None  # the line that restores the backup
    checks: list[str] = field(default_factory=list)
    not_checked: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"pending": self.pending, "applied": self.applied, "parts": self.parts,
                "backup": self.backup, "backup_bytes": self.backup_bytes, "undo": self.undo,
                "checks": self.checks, "not_checked": self.not_checked,
                "seconds": {k: round(v, 4) for k, v in self.seconds.items()}}


def describe_parts(groups: list[list]) -> str:
    """`001_a .. 002_b (2) in one transaction; 003_c on its own, without a transaction; ...`"""
    said = []
    for number, group in enumerate(groups, 1):
        ids = [prep.migration.id for prep in group]
        if group[0].no_transaction:
            said.append(f"{ids[0]} on its own, without a transaction")
            continue
        text = (f"{ids[0]} in one transaction" if len(ids) == 1
                else f"{ids[0]} .. {ids[-1]} ({len(ids)}) in one transaction")
        if number < len(groups) and adds_enum_value(group[-1]):
            text += f", committed after {ids[-1]}'s new enum value"
        said.append(text)
    return "; ".join(said)


class Update:
    """One `db update` run; `say` prints a line, `ask` reads an answer on a terminal."""

    def __init__(self, env: Environment, guard: Guard, *, lock_timeout: float = 60.0,
                 say: Callable[[str], None] = print, notice: Callable[[str], None] = print,
                 warn: Callable[[str], None] = print, interactive: bool | None = None,
                 ask=input, tell: Callable[[str], None] | None = None):
        self.env = env
        self.guard = guard
        self.lock_timeout = lock_timeout
        self.say = say
        self.notice = notice
        self.warn = warn
        self.interactive = safety.stdin_is_terminal() if interactive is None else interactive
        self.ask = ask
        # what a failure says (the backup, the restore command): `say` unless told otherwise
        # (--json sends it to stderr, keeping stdout for JSON)
        self.tell = tell or say
        self.production = env.name == "production"
        self.result = UpdateResult()

    def run(self) -> UpdateResult:
        with session(self.env, self.lock_timeout, self.guard, self.say, self.notice,
                     self.warn) as runner, shadows(self.env, self.say) as manager:
            self.runner = runner
            self.shadows: Shadows = manager
            # the pre-check's shadow: the applied migrations, then (step 5) every file
            self.shadow: Shadow | None = None
            return self.under_lock(runner)

    def under_lock(self, runner) -> UpdateResult:
        conn = runner.conn
        result = self.result
        migrations = runner.migrations()
        states = merge(migrations, history.applied(conn))
        pending = plan.plan_up(states, None, None)
        result.pending = len(pending)
        if not pending:
            self.guard.check_environment(conn, COMMAND)
            self.say("Checking migrations... none pending")
            return result
        prepared = plan.prepare_up(pending)
        drifted, known = schema_drift(conn, pending)
        if drifted:
            raise DifferencesFound(
                "Refusing to update: the schema was changed outside migrations since the last "
                "migrate run (its fingerprint no longer matches the one recorded then), so "
                "the migrations would not apply to the schema they were written for. Undo "
                "the change by hand or rebuild a local database (`nself db reset`); "
                "`nself db migrate up` applies them without this check. Nothing was changed.")
        recorded = drifted is False
        self.rebuildable(conn, states, pending)
        not_valid_before = set(catalog.not_valid_constraints(conn))
        if self.production:
            self.say(f"Schema validation... Passed ({len(pending)} pending migration"
                     f"{'s' if len(pending) != 1 else ''} parsed and checked; applied files "
                     f"unchanged; {known})")
        runner.lint(pending)  # production refuses an unacknowledged lint error
        runner.destroyed(prepared)  # named before the confirmation; the backup covers them
        listed = "\n".join(f"  {e.id}" for e in pending)
        started = time.perf_counter()

        def apply(change: Change) -> list[str]:
            self.backed_up(change, started)
            self.say(f"Checking migrations... {len(pending)} pending")
            newest = plan.newest_applied(states)
            for e in pending:
                if newest is not None and e.version < newest:
                    self.say(f"! {e.id} is older than the newest applied migration; applying "
                             "it out of order (merged from another branch?)")
            try:
                self.apply(runner, pending, prepared, migrations, not_valid_before, recorded)
            except (Exception, KeyboardInterrupt) as exc:  # any failure names the backup
                self.failed(exc)
                raise
            return [f"applied {name}" for name in result.applied]

        # the backup is taken whatever the migrations do: it is the update's undo
        self.guard.run(conn, Plan(
            COMMAND, target=runner.db.display(), reason=COMMAND,
            backup=PRE_MIGRATION if self.production else UPDATE,
            rollback=rollback_note(pending),
            detail=f"`db update` will back up {runner.db.display()}, then apply "
                   f"{len(pending)} migration{'s' if len(pending) != 1 else ''}:\n{listed}"),
            apply)
        return result

    def rebuildable(self, conn, states: list[MigrationState],
                    pending: list[MigrationState]) -> None:
        """Before the backup and before anything is applied: refuse (exit 6) unless the
        applied migrations, replayed into a shadow database, give the live schema (the
        shadow is kept: the final check replays the pending ones into it). A no-transaction
        migration a killed run left part-way changed the live schema on purpose: the
        comparison is then left to the final check."""
        began = time.perf_counter()
        applied = {e.version for e in states if e.status == APPLIED}
        self.shadow = shadow = self.shadows.create()
        failure = ""
        try:
            replay(self.env, shadow, applied)
        except OperationFailed as exc:
            failure = f" (replaying them failed: {exc})"
        found = [] if interrupted(conn, pending) else diff(
            introspect(conn), introspect(shadow.conn)).summary("database", "migrations")
        if found or failure:
            first = sorted(found, key=lambda line: "(missing in migrations)" not in line)
            n = len(applied)
            replayed = (f"Replayed into a shadow database, the {n} applied migration"
                        f"{'s give' if n != 1 else ' gives'} another schema" if applied else
                        "No migration is applied yet, and the database already holds objects")
            raise DifferencesFound(
                "Refusing to update: the migrations do not rebuild this database's schema, so "
                f"the update could not be verified{failure}. {replayed}: {_shown(first)}. "
                "A database that predates its migrations: `nself db migrate baseline` "
                "writes its schema as the first migration, recorded as applied (DBML users: "
                "then `nself db schema export --output schema.dbml`); an object made by hand: "
                "a migration that makes it. Then run `nself db update` again. Nothing was "
                "changed.")
        self.result.seconds["rebuild_check"] = time.perf_counter() - began

    def backed_up(self, change: Change, started: float) -> None:
        """The backup the guard took (production: said as the guide's steps), in the result."""
        result = self.result
        result.seconds["backup"] = time.perf_counter() - started
        result.backup = change.shown
        result.backup_bytes = change.backup.size_bytes
        result.undo = change.undo

    def apply(self, runner, pending: list[MigrationState], prepared, migrations,
              not_valid_before: set[str], recorded: bool) -> None:
        result = self.result
        groups = parts(prepared)
        result.parts = len(groups)
        if len(groups) > 1:
            why = " and ".join(
                reason for reason, found in (
                    ("a no-transaction migration", any(g[0].no_transaction for g in groups)),
                    ("a new enum value (usable once committed)",
                     any(adds_enum_value(g[-1]) for g in groups[:-1])))
                if found)
            self.say(f"This update runs in {len(groups)} parts ({why}): "
                     f"{describe_parts(groups)}. A failure rolls back only the part it "
                     "happens in.")

        def done(state: MigrationState, seconds: float) -> None:
            extra = " (no transaction)" if state.migration.no_transaction else ""
            self.say(f"Applying {state.id}... Done{extra}")
            result.applied.append(state.id)

        def verify() -> None:
            began = time.perf_counter()
            history.record_fingerprint(runner.conn)
            problems = self.verify(runner.conn, migrations, not_valid_before, recorded)
            result.seconds["verify"] = time.perf_counter() - began
            if problems:
                raise IntegrityFailed("Integrity verification failed: " + "; ".join(problems)
                                      + ".")

        began = time.perf_counter()
        layout.ensure(runner.conn)
        result.seconds["setup"] = time.perf_counter() - began
        started = time.perf_counter()
        result.applied.clear()
        runner.apply_in_parts(pending, prepared, done, verify)
        result.seconds["apply"] = (time.perf_counter() - started
                                   - result.seconds.get("verify", 0.0))
        passed = "Passed"
        if result.not_checked:
            passed += f" (not checked: {'; '.join(result.not_checked)})"
        self.say(f"Verifying integrity... {passed}")

    def verify(self, conn, migrations, not_valid_before: set[str], recorded: bool
               ) -> list[str]:
        """What is wrong after applying (empty: all is well); runs inside the last
        transaction when that part is transactional."""
        result = self.result
        problems = []
        off = [e for e in merge(migrations, history.applied(conn)) if e.status != APPLIED]
        problems += [f"{e.id} is {e.status.lower()} after the run" for e in off]
        result.checks.append("tracking rows and checksums match the files")
        problems += [f"the index {schema}.{name} is INVALID (drop it, or REINDEX it)"
                     for schema, name in catalog.invalid_indexes(conn)]
        result.checks.append("no INVALID index")
        left = sorted(set(catalog.not_valid_constraints(conn)) - not_valid_before)
        problems += [f"the constraint {name} was added NOT VALID and not validated (add "
                     "ALTER TABLE ... VALIDATE CONSTRAINT to the migration)" for name in left]
        result.checks.append("no NOT VALID constraint left by the run")
        # the run's fingerprint was recorded just before these checks; drift was checked
        # before anything ran (a drifted schema refuses the update)
        result.checks.append("no drift" if recorded else
                             "drift fingerprint recorded (none was recorded before)")
        problems += self.compare_with_files(conn)
        return problems

    def compare_with_files(self, conn) -> list[str]:
        """The live schema against what the migration files produce: the pre-check's shadow,
        the pending migrations replayed into it too."""
        replay(self.env, self.shadow)
        differences = diff(introspect(conn), introspect(self.shadow.conn)).summary(
            "database", "migrations")
        self.result.checks.append("the live schema equals what the migration files produce")
        if not differences:
            return []
        return [f"the live schema differs from what the migration files produce: "
                f"{_shown(differences)}"]

    def failed(self, exc: BaseException) -> None:
        """After a failure: what stayed, the backup, and the offer to restore it."""
        result = self.result
        committed = self.runner.engine.finished
        shown = result.backup
        command = result.undo
        self.tell("")
        if committed and committed == result.pending:
            self.tell(f"Update failed after all {committed} migrations were applied: the last "
                      "one ran without a transaction, so the failed check could not roll "
                      "anything back.")
        elif committed:
            self.tell(f"Update failed: {committed} migration{'s' if committed != 1 else ''} "
                      "of earlier parts stay applied; the part that failed was rolled back.")
        else:
            self.tell("Update failed: the transaction was rolled back; no migration was "
                      "applied.")
        if "max_locks_per_transaction" in str(exc):
            self.tell(f"One transaction for these {result.pending} migrations takes more locks "
                      "than the server's lock table holds (every table and index a migration "
                      "touches stays locked until COMMIT): apply them with `nself db migrate "
                      "up` (a transaction per migration), or raise max_locks_per_transaction.")
        self.tell(f"Backup taken before the update: {shown}")
        if isinstance(exc, (KeyboardInterrupt, Interrupted)) or not self.interactive:
            self.tell(f"To restore it: {command}")
            return
        if not safety.ask_yes_no(f"Restore {shown} now?", interactive=True, ask=self.ask):
            self.tell(f"Not restored. To restore it later: {command}")
            return
        restorer = Guard(self.env, yes=True, allow_env_mismatch=self.guard.allow_env_mismatch,
                         backup=False, say=self.tell, take_backup=self.guard.take_backup)
        try:
            restore(self.env, str(self.guard.change.backup.path), guard=restorer, clean=True,
                    say=self.tell)
        except NselfError as problem:
            self.tell(f"The restore failed too: {problem} To try again: {command}")
            return
        self.tell(f"Restored {shown}: the database is as it was before the update.")


def _shown(lines: list[str]) -> str:
    return ", ".join(lines[:SHOWN]) + (f" and {len(lines) - SHOWN} more"
                                       if len(lines) > SHOWN else "")


def update(env: Environment, guard: Guard, **options) -> UpdateResult:
    """Back up, apply every pending migration in one transaction, verify; see the module."""
    return Update(env, guard, **options).run()
