"""`migrate repair`: fix the tracking table and reconcile it with the files.

It recreates a missing table, rebuilds a damaged one, accepts edited files, forgets missing
ones, or marks one version applied or pending. It never runs migration SQL. Whatever
rewrites the history is preceded by a safety backup (unless --no-backup).
"""

from __future__ import annotations

import difflib

from nself import safety
from nself.errors import Refused, UsageError
from nself.guard import Plan
from nself.migrations import files, history, plan
from nself.migrations.engine import applied_by
from nself.migrations.runner import Runner
from nself.migrations.status import CHANGED, MISSING, MigrationState, merge
from nself.pg import layout


class Repair:
    """One repair run on a session's connection."""

    def __init__(self, runner: Runner):
        self.runner = runner
        self.conn = runner.conn
        self.guard = runner.guard
        self.say = runner.say
        self.backed_up = False

    def before_rewrite(self) -> None:
        """The safety backup, once, before the first change to the history."""
        if not self.backed_up and self.guard.backup:
            self.guard.safety_backup("repair")
        self.backed_up = True

    def run(self, mark_applied: str | None, mark_pending: str | None) -> list[str]:
        runner, conn = self.runner, self.conn
        migrations = files.read_folder(runner.env.migrations_dir, runner.env.root)
        exists = history.exists(conn)
        problems = history.damage(conn) if exists else []
        detail = "; ".join(problems) or (
            f"mark {mark_applied} applied" if mark_applied else
            f"mark {mark_pending} pending" if mark_pending else "")
        change = self.guard.run(
            conn, Plan("migrate repair", target=runner.db.display(), detail=detail),
            lambda change: self.rewrite(migrations, exists, problems, mark_applied,
                                        mark_pending))
        return change.changed

    def rewrite(self, migrations, exists: bool, problems: list[str], mark_applied: str | None,
                mark_pending: str | None) -> list[str]:
        """The apply step: what repair changes (a safety backup before the first rewrite)."""
        conn = self.conn
        done = []
        if not exists:
            layout.ensure(conn)
            done.append(f"Created the missing tracking table {history.TABLE}; it records no "
                        "migration as applied: mark the ones already in the database with "
                        "--mark-applied VERSION")
        else:
            if problems:
                self.before_rewrite()
                kept = history.rebuild(conn)
                done.append(f"Rebuilt the damaged tracking table {history.TABLE} "
                            f"({'; '.join(problems)}), keeping {kept} rows")
            layout.ensure(conn)
        states = merge(migrations, history.applied(conn))
        if mark_applied is not None or mark_pending is not None:
            if mark_applied is not None:
                done.append(self.mark_applied(states, mark_applied))
            if mark_pending is not None:
                done.append(self.mark_pending(states, mark_pending))
            return done
        return done + self.reconcile(states)

    def reconcile(self, states: list[MigrationState]) -> list[str]:
        """Accept edited files and forget missing ones, after showing them and asking."""
        conn = self.conn
        changed = [e for e in states if e.status == CHANGED]
        missing = [e for e in states if e.status == MISSING]
        if not changed and not missing:
            return []
        for e in changed:
            e.migration.sections  # noqa: B018 - a malformed file cannot be accepted
            stored = conn.execute(history.SOURCE_SQL, (e.version,)).fetchone()[0]
            self.say(f"Changed: {e.migration.relpath} (applied {e.applied_at:%Y-%m-%d %H:%M})")
            if stored is None:
                self.say("  (no text stored for it: cannot show the edit)")
                continue
            for line in difflib.unified_diff(stored.splitlines(), e.migration.text.splitlines(),
                                             "as applied", "file now", lineterm=""):
                self.say(line)
        for e in missing:
            self.say(f"Missing: {e.id} (applied {e.applied_at:%Y-%m-%d %H:%M}, file gone)")
        for e in changed:
            self.say(f"! Accepting {e.id} records the file as it is now WITHOUT running the "
                     "edit. To run the edited migration instead: undo what it did (by hand), "
                     f"then `nself db migrate repair --mark-pending {e.label}` followed by "
                     "`nself db migrate up`.")
        question = []
        if changed:
            question.append(f"record {len(changed)} edited file{'s' if len(changed) > 1 else ''} "
                            "as applied (the edits are NOT run)")
        if missing:
            question.append(f"forget {len(missing)} missing migration"
                            f"{'s' if len(missing) > 1 else ''}")
        if not safety.ask_yes_no(" and ".join(question).capitalize() + "?", yes=self.guard.yes):
            raise Refused("Repair cancelled; nothing in the tracking table changed.")
        self.before_rewrite()
        with conn.transaction():
            for e in changed:
                m = e.migration
                conn.execute(history.RECORD_FILE_SQL, (
                    m.checksum, m.down.text if m.down else None, m.text, m.label, m.name,
                    m.version))
            for e in missing:
                conn.execute(history.DELETE_SQL, (e.version,))
        return ([f"Recorded the edited {e.id} as applied" for e in changed]
                + [f"Forgot the missing {e.id}" for e in missing])

    def find(self, states: list[MigrationState], text: str) -> MigrationState:
        version = plan.parse_version(text)
        for e in states:
            if e.version == version:
                return e
        raise UsageError(f"No migration has version {text}.")

    def mark_applied(self, states: list[MigrationState], text: str) -> str:
        e = self.find(states, text)
        if e.migration is None:
            raise UsageError(f"{e.id} has no file; it cannot be marked applied.")
        m = e.migration
        m.sections  # noqa: B018 - a malformed file cannot be recorded
        self.before_rewrite()
        with self.conn.transaction():
            self.conn.execute(history.CLEAR_PROGRESS_SQL, (m.version,))
            if e.row is not None:
                self.conn.execute(history.DELETE_SQL, (m.version,))
            self.conn.execute(history.INSERT_SQL, (
                m.version, m.label, m.name, m.checksum, 0, applied_by(), m.no_transaction,
                m.down.text if m.down else None, m.text))
        return f"Marked {m.id} as applied (its SQL was not run)"

    def mark_pending(self, states: list[MigrationState], text: str) -> str:
        e = self.find(states, text)
        self.before_rewrite()
        with self.conn.transaction():
            self.conn.execute(history.CLEAR_PROGRESS_SQL, (e.version,))
            self.conn.execute(history.DELETE_SQL, (e.version,))
        return f"Marked {e.id} as pending (its DOWN was not run)"


def repair(runner: Runner, mark_applied: str | None = None,
           mark_pending: str | None = None) -> list[str]:
    """Fix the tracking table and reconcile it with the files; returns what was done."""
    return Repair(runner).run(mark_applied, mark_pending)
