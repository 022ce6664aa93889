"""The one path of every command that changes a database:

    plan -> guard -> one safety backup -> apply -> verify -> result (`Change`)

A command plans first (reads and checks its files, knows what it will touch: a `Plan`),
then hands the plan and its apply step to `Guard.run`, which in this order:

1. checks the database's recorded environment against the command's (staging and
   production databases refuse other environments; `--allow-env-mismatch` lets this one
   command through and never changes the record);
2. refuses to wipe a database recorded as production from any other environment, whatever
   the flags (`wipes`: fresh, reset, restore --clean);
3. applies the safety table: blocked, or confirmed (`--yes` / `--confirm WORD` without a
   terminal), after showing what the command will touch, which database, and where its
   address came from;
4. takes ONE safety backup when the plan destroys data (skipped only with `--no-backup`),
   or the backup the command always takes (`update`; production's pre-migration backup,
   said as the migrations guide's steps), announced with the line that undoes the command
   (`undo_command`, the only builder of that line);
5. records the environment (the stricter of what was recorded and the command's: never
   lowered), applies, records it again (a wipe or a restore removed it), verifies;
6. returns the command's `Change`: which database, what changed, the backup, its undo line.

Steps 1-4 are `Guard.check`. Tasks only build the Guard from their flags.
"""


from __future__ import annotations

import contextlib
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg

from nself import safety
from nself.config import Environment
from nself.display import size
from nself.errors import Refused
from nself.pg import meta

# How a safety backup is announced: the generic two lines, `db update`'s guide line, or
# production's "Pre-migration backup" step.
SAFETY, UPDATE, PRE_MIGRATION = "safety", "update", "pre-migration"


def undo_command(env_name: str, shown: str, *, recorded: str | None = None,
                 address: tuple[str, str, str] = ("", "", "")) -> str:
    """THE command that restores the safety backup `shown`, taken by a command run as
    `env_name` on a database recorded as `recorded` (after the command): pasted as it is,
    without a terminal, it runs.

    It carries `ENV=` when not local, the safety table's `--confirm WORD` or `--yes`, and
    `--allow-env-mismatch` when the database is recorded as another guarded environment.
    A production-recorded database is wiped only as production, so its undo runs as
    production (the backup, labelled with `env_name`, then needs --allow-other-source).
    `address` (`Environment.undo_address()`) names the database when the environment's
    files did not (the shell, --url, --env-file), never with its password.
    """
    run_as = env_name
    flags = ["--clean"]
    if recorded == "production" and env_name != "production":
        run_as = "production"
        flags.append("--allow-other-source")
    elif recorded in safety.GUARDED_ENVIRONMENTS and recorded != env_name:
        flags.append(safety.ENV_MISMATCH_FLAG)
    policy = safety.policy_for("restore", run_as)
    if policy.rule is safety.Rule.TYPED:
        flags += ["--confirm", policy.word]
    if policy.rule is safety.Rule.CONFIRM or "--allow-other-source" in flags:
        flags.append("--yes")
    prefix = f"ENV={run_as} " if run_as != "local" else ""
    variables, options, comment = address
    return (f"{prefix}{variables}nself {options}db restore {shlex.quote(shown)} "
            f"{' '.join(flags)}{comment}")


@dataclass
class Change:
    """The result of one command that changes a database: which database, what changed,
    the safety backup taken before (if any) and the line that undoes it."""

    command: str
    environment: str
    target: str = ""
    backup: object | None = None  # nself.backups.store.Backup
    shown: str | None = None      # the backup's path as printed
    undo: str | None = None
    changed: list[str] = field(default_factory=list)


@dataclass
class Plan:
    """What a command will do, known before anything changes: the pipeline's first step.

    `touches` False: nothing to do (only the recorded-environment rule applies). `destroys`:
    a safety backup first (unless --no-backup). `wipes`: the command empties the database.
    `backup`: a backup taken whatever `destroys` says, announced in this style (UPDATE;
    PRE_MIGRATION is production's guide steps, with `rollback` saying what else undoes it).
    `record`: write the environment into the database before and after applying.
    """

    command: str
    target: str = ""
    detail: str = ""
    touches: bool = True
    destroys: bool = False
    reason: str | None = None
    wipes: bool = False
    backup: str | None = None
    rollback: str = ""
    record: bool = True  # False: seed and mock do not record; restore records once loaded


@dataclass
class Guard:
    """The confirmation flags of one invocation, and what was decided with them."""

    env: Environment
    yes: bool = False
    confirm: str | None = None
    allow_env_mismatch: bool = False
    backup: bool = True          # False: --no-backup
    say: Callable[[str], None] = print
    # takes the safety backup: nself.backups.dump.safety_backup, or the task layer's wrapper
    # of it (a progress bar); given by the caller, as every command imports the guard and
    # only the ones that back up need the backups package
    take_backup: Callable[..., object] | None = None
    taken: list = field(default_factory=list)  # safety backups taken by this invocation
    changes: list[Change] = field(default_factory=list)
    # the database's recorded environment when the command first looked (None: none)
    recorded: str | None = None
    _looked: bool = False

    def run(self, conn, plan: Plan, apply: Callable[[Change], list[str] | None],
            verify: Callable[[Change], None] | None = None) -> Change:
        """The one path of a change: guard -> one safety backup -> apply -> verify ->
        result. `apply` changes the database and returns what it changed (one line each);
        `verify` raises when the result is wrong. The environment is recorded before
        applying (a run stopped part-way leaves it recorded) and again after, also after a
        failure (a wipe or a restore removed it or brought a dump's)."""
        if plan.touches:
            change = self.check(conn, plan.command, target=plan.target, detail=plan.detail,
                                destroys=plan.destroys, reason=plan.reason, wipes=plan.wipes)
        else:  # nothing to touch: it still obeys the recorded environment
            self.check_environment(conn, plan.command)
            change = Change(plan.command, self.env.name, self.where(plan.target))
            self.changes.append(change)
        if plan.record:
            self.record(conn)
        reason = plan.reason or plan.command.split()[-1]
        if plan.touches and plan.backup == PRE_MIGRATION:
            self.production_steps(reason, plan.rollback)
        elif plan.touches and plan.backup is not None and change.backup is None:
            self.safety_backup(reason, plan.backup)
        try:
            change.changed = list(apply(change) or [])
        except BaseException:
            if plan.record:
                with contextlib.suppress(psycopg.Error):  # the connection may be gone
                    self.record(conn)
            raise
        if plan.record:
            self.record(conn)
        if verify is not None:
            verify(change)
        return change

    def check(self, conn, command: str, *, target: str = "", detail: str = "",
              destroys: bool = False, reason: str | None = None, wipes: bool = False
              ) -> Change:
        """Refuse, ask, or back up, as the policy says for `command`; raise Refused to stop.

        `destroys` takes a safety backup (named after `reason`) once the command is allowed;
        `wipes` (the command empties the database) is refused on a production-recorded
        database unless the command runs as production. Returns the command's `Change`.
        """
        self.check_environment(conn, command)
        if wipes:
            self.refuse_wiping_production(command)
        where = self.where(target)
        safety.enforce(command, self.env.name, target=where, yes=self.yes,
                       confirm=self.confirm, detail=detail, say=self.say)
        if safety.policy_for(command, self.env.name).rule is not safety.Rule.ALLOW:
            # confirmed (asked, or by a flag): name the database before it changes
            self.say(f"Target: {where}")
        change = Change(command, self.env.name, where)
        self.changes.append(change)
        if destroys and self.backup:
            self.safety_backup(reason or command.split()[-1])
        return change

    def where(self, target: str = "") -> str:
        """The database a command changes and where its address came from."""
        return f"{target or self.env.database.display()} ({self.env.address_source()})"

    def check_environment(self, conn, command: str) -> None:
        """Only the recorded-environment rule (a command with nothing to touch still obeys it)."""
        self.env.announce(self.say)  # where the address came from, when it may surprise
        self.look(conn)
        safety.check_recorded_environment(self.recorded, self.env.name, command,
                                          self.allow_env_mismatch)

    def look(self, conn) -> str | None:
        """The recorded environment, read once per invocation (before anything changed it)."""
        if not self._looked:
            self.recorded = meta.recorded_environment(conn)
            self._looked = True
        return self.recorded

    def refuse_wiping_production(self, command: str) -> None:
        """A production-recorded database is emptied only by a command run as production;
        no flag lifts this (the record is what protects it)."""
        if self.recorded == "production" and self.env.name != "production":
            raise Refused(
                f"`{command}` refused: this database is recorded as production, and emptying "
                f"it is blocked from any other environment whatever the flags (running as "
                f"{self.env.name}; --allow-env-mismatch does not lift this). Nothing was "
                "changed.")

    @property
    def change(self) -> Change:
        """The current command's result (one is made when no check made one)."""
        if not self.changes:
            self.changes.append(Change("", self.env.name))
        return self.changes[-1]

    def undo(self, shown: str) -> str:
        """The line that restores `shown`, a backup this invocation took."""
        return undo_command(self.env.name, shown,
                            recorded=meta.stricter(self.recorded, self.env.name),
                            address=self.env.undo_address())

    def safety_backup(self, reason: str, style: str = SAFETY):
        """The one backup taken before a change: a full, verified backup
        (`<stamp>_<db>_before_<reason>`), announced as `style` says with its undo line."""
        if self.take_backup is None:
            raise TypeError("this Guard was given no take_backup: it cannot back up")
        made = self.take_backup(self.env, reason, self.say if style == SAFETY else None,
                                self.undo)
        self.taken.append(made)
        change = self.change
        change.backup, change.shown = made, self.env.relative(made.path)
        change.undo = self.undo(change.shown)
        if style == UPDATE:
            self.say(f"Creating backup... Done ({size(made.size_bytes)})")
        elif style == PRE_MIGRATION:
            self.say(f"Pre-migration backup... Done ({size(made.size_bytes)}): {change.shown}")
        return made

    def production_steps(self, reason: str, rollback: str) -> None:
        """The migrations guide's production steps after the confirmation, each said:
        'Confirmation prompt', 'Pre-migration backup', 'Rollback preparation' (`rollback`
        says what else undoes the run, e.g. the DOWN sections)."""
        self.say("Confirmation prompt... " + ("given with --yes" if self.yes or self.confirm
                                              else "confirmed"))
        if self.change.backup is not None:  # taken already: the command destroys data
            self.say(f"Pre-migration backup... Done: {self.change.shown}")
            undo = f"undo with `{self.change.undo}`"
        elif not self.backup:
            self.say("Pre-migration backup... Skipped (--no-backup)")
            undo = "no backup to restore"
        else:
            self.safety_backup(reason, PRE_MIGRATION)
            undo = f"undo with `{self.change.undo}`"
        self.say(f"Rollback preparation... Ready: {undo}; {rollback}")

    def record(self, conn) -> None:
        """Record the environment in the database: the stricter of the one recorded before
        this command and the command's own. Also after a wipe or a restore (which removed
        the record or brought a dump's): the target keeps its own, never a lower one."""
        self.look(conn)
        keep = meta.stricter(self.recorded, self.env.name)
        if meta.recorded_environment(conn) != keep:
            meta.set_environment(conn, keep)
