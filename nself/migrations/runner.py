"""The migrate commands: a session (one connection holding the migrate lock) and up, down,
fresh as short compositions of reading, planning (`plan`), the guard's checks, and the
engine (`engine`). Every file is read and checked before the first write.

Output (`say`) happens only between migrations: a closed pipe or a full disk then stops the
run after the migration in progress finished (or was rolled back), never inside one.
Server notices are printed as they arrive (the session's `Notices`); a failure to print
them is raised once the migration they came from is over.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg

from nself import lint
from nself.config import Environment
from nself.errors import DifferencesFound, Interrupted, UsageError
from nself.guard import PRE_MIGRATION, Change, Guard, Plan
from nself.migrations import files, history, plan, templates
from nself.migrations.engine import Engine, Settings, applied_by, duration, quote
from nself.migrations.plan import Prepared
from nself.migrations.status import APPLIED, MISSING, MigrationState, merge
from nself.pg import catalog, layout
from nself.pg import connection as database
from nself.pg import session as pg_session
from nself.pg.scope import Scoped
from nself.pg.wipe import wipe


class Runner:
    """One connection holding the migrate lock, and the commands that need it."""

    def __init__(self, env: Environment, db, conn: psycopg.Connection, guard: Guard,
                 say: Callable[[str], None], warn: Callable[[str], None],
                 notices: pg_session.Notices | None = None):
        self.env = env
        self.db = db
        self.conn = conn
        self.guard = guard
        self.say = say
        self.notices = notices or pg_session.Notices(say)
        self.engine = Engine(db, conn, Settings.from_env(env), say, warn)
        self.by = quote(applied_by())
        # (done, total) before each migration of a run and once at its end: a terminal's bar
        self.progress: Callable[[int, int], None] = lambda done, total: None

    # reading and policy -----------------------------------------------------------------------

    def migrations(self) -> list[files.Migration]:
        """The folder's files, every one checked (a bad one refuses the whole run)."""
        migrations = files.read_folder(self.env.migrations_dir, self.env.root)
        plan.check_folder(migrations)
        return migrations

    def states(self) -> list[MigrationState]:
        return merge(self.migrations(), history.applied(self.conn))

    def destroyed(self, prepared: list[Prepared]) -> list[str]:
        """What `prepared` destroys (`plan.destroyed`, column types from the catalog), said
        one line each before the guard takes its safety backup."""
        found = plan.destroyed(prepared, lambda table: catalog.columns(self.conn, table))
        if found:
            skipped = "" if self.guard.backup else " (--no-backup: no safety backup)"
            self.say(f"Destroys data{skipped}:\n" + "\n".join(f"  {line}" for line in found))
        return found

    def lint(self, pending: list[MigrationState]) -> None:
        """The environment's lint policy on the migrations about to be applied (local
        shows errors, staging warns, production refuses one not acknowledged: exit 3)."""
        lint.before_apply(self.env, self.conn, [self.env.migrations_dir / s.migration.filename
                                                for s in pending],
                          self.engine.settings.lock_timeout_ms, self.say, self.engine.warn)

    def plan_for(self, command: str, touched: list[MigrationState], verb: str, **more) -> Plan:
        """The pipeline's plan for `command` on the migrations it will touch (none: only
        the recorded environment's rule applies); `more` as `nself.guard.Plan` takes it."""
        listed = "\n".join(f"  {e.id}" for e in touched)
        return Plan(command, target=self.db.display(), touches=bool(touched),
                    detail=f"`{command}` will {verb} {len(touched)} migration"
                           f"{'s' if len(touched) != 1 else ''}:\n{listed}", **more)

    # up ---------------------------------------------------------------------------------------

    def up(self, steps: int | None = None, to: str | None = None
           ) -> list[tuple[MigrationState, float]]:
        """Apply pending migrations in order, each atomic with its tracking row; production
        takes its pre-migration backup (the guard's) once something is to be applied."""
        states = self.states()
        pending = plan.plan_up(states, steps, to)
        prepared = plan.prepare_up(pending)
        production = self.env.name == "production" and bool(pending)
        if production:
            self.validate_schema(pending)
        self.lint(pending)
        destroyed = self.destroyed(prepared)
        done: list[tuple[MigrationState, float]] = []

        def apply(change: Change) -> list[str]:
            layout.ensure(self.conn)
            done.extend(self.apply(pending, prepared, plan.newest_applied(states)))
            self.record_fingerprint(done)
            return [f"applied {state.id}" for state, _ in done]

        self.guard.run(self.conn, self.plan_for(
            "migrate up", pending, "apply", destroys=bool(destroyed), reason="migrate",
            backup=PRE_MIGRATION if production else None,
            rollback=rollback_note(pending) if production else ""), apply)
        return done

    # production: the migrations guide's "Schema validation" (the guard says the others) ---

    def validate_schema(self, pending: list[MigrationState]) -> None:
        """'Schema validation': every pending file parsed and checked (done by planning),
        applied files unchanged, and no drift since the last run (a drifted production
        schema is not what the migrations were written for: refused, exit 6)."""
        drifted, known = schema_drift(self.conn, pending)
        if drifted:
            raise DifferencesFound(
                "Schema validation failed: the production schema was changed outside "
                "migrations since the last migrate run (its fingerprint no longer matches); "
                "`nself db schema diff --migrations` shows how. Nothing was changed.")
        self.say(f"Schema validation... Passed ({len(pending)} pending migration"
                 f"{'s' if len(pending) != 1 else ''} parsed and checked; {known})")

    def record_fingerprint(self, done: list) -> None:
        """After a run that changed something: the schema it left, in the newest row (drift)."""
        if done:
            history.record_fingerprint(self.conn)

    def apply(self, pending: list[MigrationState], prepared: list[Prepared],
              newest: int | None) -> list[tuple[MigrationState, float]]:
        done = []
        with self.engine.flushing():
            for number, (state, prep) in enumerate(zip(pending, prepared, strict=True), 1):
                self.progress(number - 1, len(pending))
                m = state.migration
                if newest is not None and m.version < newest:
                    self.say(f"! {m.id} is older than the newest applied migration; applying "
                             "it out of order (merged from another branch?)")
                seconds = self.apply_one(prep, last=number == len(pending))
                state.status, state.seconds = APPLIED, seconds
                done.append((state, seconds))
                self.notices.raise_failure()
                self.say(f"✓ {m.id} ({duration(seconds)})")
            self.progress(len(pending), len(pending))
        return done

    def apply_one(self, prep: Prepared, last: bool) -> float:
        record = self.record(prep)
        engine = self.engine
        if prep.no_transaction:
            seconds = engine.run_statements(prep, "up", record, "applied")
            engine.unflushed = False  # its tracking row was committed synchronously
        else:
            seconds = engine.run_transaction(prep, record, "applied",
                                             durable=last or engine.settings.sync_commit)
        engine.finished += 1
        return seconds

    # down -------------------------------------------------------------------------------------

    def down(self, steps: int | None = None, to: str | None = None
             ) -> list[tuple[MigrationState, float]]:
        """Roll back the newest applied migrations with the DOWN text stored when applied;
        a safety backup is taken first."""
        if not history.exists(self.conn):
            self.migrations()
            self.guard.run(self.conn, self.plan_for("migrate down", [], "roll back"),
                           lambda change: [])
            return []
        states = self.states()
        targets = plan.plan_down(states, steps, to)
        prepared = []
        for state in targets:
            text, no_tx = self.conn.execute(history.DOWN_SQL, (state.version,)).fetchone()
            prepared.append(plan.prepare_down(state, text, bool(no_tx)))
        self.destroyed(prepared)
        done: list[tuple[MigrationState, float]] = []
        self.guard.run(self.conn, self.plan_for("migrate down", targets, "roll back",
                                                destroys=True, reason="down"),
                       lambda change: self.roll_back(targets, prepared, done))
        return done

    def roll_back(self, targets: list[MigrationState], prepared: list[Prepared],
                  done: list[tuple[MigrationState, float]]) -> list[str]:
        """`down`'s apply step: each target's DOWN with the removal of its tracking row."""
        layout.ensure(self.conn)
        engine = self.engine
        with engine.flushing():
            for number, (state, prep) in enumerate(zip(targets, prepared, strict=True), 1):
                self.progress(number - 1, len(targets))
                if state.status == MISSING:
                    self.say(f"! {state.id}: its file is gone; using the DOWN stored when it "
                             "was applied")
                record = history.DELETE_TEMPLATE.format(version=state.version,
                                                        token=engine.token_sql)
                if prep.no_transaction:
                    seconds = engine.run_statements(prep, "down", record, "rolled back")
                    engine.unflushed = False
                else:
                    seconds = engine.run_transaction(
                        prep, record, "rolled back",
                        durable=number == len(prepared) or engine.settings.sync_commit)
                engine.finished += 1
                done.append((state, seconds))
                self.notices.raise_failure()
                self.say(f"✓ Rolled back {state.id} ({duration(seconds)})")
            self.progress(len(targets), len(targets))
        self.record_fingerprint(done)
        return [f"rolled back {state.id}" for state, _ in done]

    # fresh ------------------------------------------------------------------------------------

    def fresh(self, command: str = "migrate fresh", reason: str = "fresh"
              ) -> tuple[int, list[tuple[MigrationState, float]]]:
        """Drop every user object and nself's tracking (after a safety backup), then apply
        every migration; the files are all checked before anything is dropped. `db reset`
        is the same under its own rule (`command`)."""
        pending = merge(self.migrations(), [])
        prepared = plan.prepare_up(pending)
        dropped: list[int] = []
        done: list[tuple[MigrationState, float]] = []

        def apply(change: Change) -> list[str]:
            dropped.append(wipe(self.conn))
            # the wipe dropped the record: the database keeps its own (never lowered)
            self.guard.record(self.conn)
            layout.ensure(self.conn)
            done.extend(self.apply(pending, prepared, None))
            self.record_fingerprint(done)
            return [f"dropped {dropped[0]} schema(s)/extension(s)",
                    *(f"applied {state.id}" for state, _ in done)]

        self.guard.run(self.conn, Plan(
            command, target=self.db.display(), destroys=True, reason=reason, wipes=True,
            detail=f"`{command}` drops everything in {self.db.display()}, then applies "
                   f"{len(pending)} migrations"), apply)
        return dropped[0], done

    # update: all pending migrations in one transaction ------------------------------------

    def apply_in_parts(self, pending: list[MigrationState], prepared: list[Prepared],
                       done: Callable[[MigrationState, float], None],
                       verify: Callable[[], None]) -> list[tuple[MigrationState, float]]:
        """Apply `pending` in as few transactions as possible: consecutive transactional
        migrations together in one (`parts`), a no-transaction one on its own. `verify` runs
        once everything ran, inside the last transaction when that part is transactional
        (a failed check rolls it back; it records the run's fingerprint). `done` is told of
        each migration as its statements finish. Call `layout.ensure` first."""
        applied: list[tuple[MigrationState, float]] = []
        by_prep = {id(prep): state for state, prep in zip(pending, prepared, strict=True)}
        groups = parts(prepared)
        engine = self.engine

        def finished(prep: Prepared, seconds: float) -> None:
            state = by_prep[id(prep)]
            state.seconds = seconds
            applied.append((state, seconds))
            self.notices.raise_failure()
            done(state, seconds)

        for number, group in enumerate(groups, 1):
            last = number == len(groups)
            if group[0].no_transaction:
                prep = group[0]
                seconds = engine.run_statements(prep, "up", self.record(prep), "applied")
                engine.finished += 1
                finished(prep, seconds)
                if last:
                    verify()
                continue
            engine.run_part(group, self.row, finished, verify if last else None)
        for state, _ in applied:
            state.status = APPLIED
        return applied

    def row(self, prep: Prepared, ms: float) -> str:
        """`prep`'s tracking row as `history.ROW_TEMPLATE`, applied in `ms` milliseconds."""
        m = prep.migration
        down = m.down.text if m.down is not None else None
        return history.ROW_TEMPLATE.format(
            version=m.version, label=quote(m.label), name=quote(m.name), checksum=m.checksum,
            ms=repr(float(ms)), applied_by=self.by, no_tx="false", down=quote(down),
            source=quote(m.text))

    def record(self, prep: Prepared) -> str:
        """The tracking statement that records `prep` as applied (RETURNING the token)."""
        m = prep.migration
        down = m.down.text if m.down is not None else None
        return history.INSERT_TEMPLATE.format(
            version=m.version, label=quote(m.label), name=quote(m.name),
            checksum=m.checksum, applied_by=self.by,
            no_tx="true" if prep.no_transaction else "false",
            down=quote(down), source=quote(m.text), token=self.engine.token_sql)


def rollback_note(pending: list[MigrationState]) -> str:
    """Production's 'Rollback preparation': what besides the backup undoes the run."""
    with_down = sum(1 for e in pending if e.migration.down is not None
                    and not e.migration.down.empty)
    return (f"{with_down} of {len(pending)} pending migrations have a DOWN section for "
            "`nself db migrate down`")


def interrupted(conn: psycopg.Connection, pending: list[MigrationState]
                ) -> list[MigrationState]:
    """The pending no-transaction migrations a killed run left part-way (a progress row):
    their done statements changed the schema, and the next run resumes them."""
    candidates = [e for e in pending if e.migration.no_transaction]
    if not candidates or not conn.execute(PROGRESS_EXISTS_SQL).fetchone()[0]:
        return []
    return [e for e in candidates
            if conn.execute(history.PROGRESS_SQL, (e.version,)).fetchone() is not None]


PROGRESS_EXISTS_SQL = Scoped("SELECT to_regclass('nself.migration_progress') IS NOT NULL")


def schema_drift(conn: psycopg.Connection, pending: list[MigrationState]
                 ) -> tuple[bool | None, str]:
    """Whether the schema drifted since the last migrate run, before `pending` is applied,
    and the words for it. A no-transaction migration a killed run left part-way changed the
    schema on purpose: drift is then not knowable (None), and the run resumes it."""
    resuming = interrupted(conn, pending)
    if resuming:
        return None, (f"drift not checked: {resuming[0].id} was interrupted part-way and "
                      "resumes")
    found = history.drift(conn)
    if found is not None and found.drifted:
        return True, "drifted"
    if found is not None and found.drifted is False:
        return False, "no drift"
    return None, "drift not recorded yet"


def adds_enum_value(prep: Prepared) -> bool:
    """A value added to an enum cannot be used before its transaction commits (PostgreSQL
    12+, "unsafe use of new value"): `db update` commits after a migration that adds one."""
    return not prep.no_transaction and prep.adds_enum_value


def parts(prepared: list[Prepared]) -> list[list[Prepared]]:
    """Runs of transactional migrations, each no-transaction migration a part of its own; a
    migration that adds an enum value ends its part (the next one may use the value)."""
    groups: list[list[Prepared]] = []
    closed = True
    for prep in prepared:
        if prep.no_transaction or closed:
            groups.append([prep])
        else:
            groups[-1].append(prep)
        closed = prep.no_transaction or adds_enum_value(prep)
    return groups


# Sessions ------------------------------------------------------------------------------------


@contextmanager
def session(env: Environment, lock_timeout: float, guard: Guard, say, notice, warn
            ) -> Iterator[Runner]:
    """A Runner on the session that holds the migrate lock (`nself.pg.session`)."""
    try:
        with pg_session.connect(env, notice, pg_session.migrate_lock(),
                                lock_timeout) as held:
            yield Runner(env, held.db, held.conn, guard, say, warn, held.notices)
    except Interrupted:
        raise  # it says already what stayed (an Interrupted is a KeyboardInterrupt)
    except KeyboardInterrupt:
        raise Interrupted("Interrupted; no migration was left half-done.") from None


def dry_run(env: Environment, steps: int | None, to: str | None
            ) -> list[tuple[MigrationState, str]]:
    """The SQL `up` would run, without changing anything (no lock, no tracking table)."""
    migrations = files.read_folder(env.migrations_dir, env.root)
    plan.check_folder(migrations)
    db = database.target(env)
    with database.connect(db) as conn:
        states = merge(migrations, history.applied(conn))
    pending = plan.plan_up(states, steps, to)
    return [(e, prep.text) for e, prep in zip(pending, plan.prepare_up(pending), strict=True)]


def write_migration(env: Environment, name: str, template: str | None = None) -> str:
    """Write the next migration file (empty, or the safe form `template` names: see
    nself.migrations.templates); returns its path relative to the project root."""
    env.require_project()
    if template is not None and template not in templates.TEMPLATES:
        raise UsageError(f"--template expects one of {', '.join(templates.TEMPLATES)}, got "
                         f"{template!r}.")
    folder = env.migrations_dir
    path = files.next_file(folder, name)
    try:
        with open(path, "x", encoding="utf-8") as handle:
            handle.write(templates.render(path, template) if template else
                         files.render_new(path))
    except FileExistsError:
        raise UsageError(f"{env.relative(path)} already exists.") from None
    return env.relative(path)
