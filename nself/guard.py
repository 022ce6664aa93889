"""What every command that changes a database does before it changes anything, in one place.

1. The database's recorded environment must match the command's (staging and production
   databases refuse other environments; `--allow-env-mismatch` overrides).
2. The safety table: blocked, or confirmed (`--yes` / `--confirm WORD` without a terminal),
   after showing what the command will touch.
3. A safety backup when the command destroys data (skipped only with `--no-backup`): its
   file and the command that restores it are printed before anything is dropped.

Library code calls `Guard.check` with an open connection once it knows what it will do;
tasks only build the Guard from their flags.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from nself import safety
from nself.config import Environment
from nself.pg import meta


@dataclass
class Guard:
    """The confirmation flags of one invocation, and what was decided with them."""

    env: Environment
    yes: bool = False
    confirm: str | None = None
    allow_env_mismatch: bool = False
    backup: bool = True          # False: --no-backup
    say: Callable[[str], None] = print
    taken: list = field(default_factory=list)  # safety backups taken by this invocation

    def check(self, conn, command: str, *, target: str = "", detail: str = "",
              destroys: bool = False, reason: str | None = None) -> None:
        """Refuse, ask, or back up, as the policy says for `command`; raise Refused to stop.

        `destroys` takes a safety backup (named after `reason`) once the command is allowed.
        """
        self.check_environment(conn, command)
        safety.enforce(command, self.env.name, target=target, yes=self.yes,
                       confirm=self.confirm, detail=detail)
        if destroys and self.backup:
            self.safety_backup(reason or command.split()[-1])

    def check_environment(self, conn, command: str) -> None:
        """Only the recorded-environment rule (a command with nothing to touch still obeys it)."""
        safety.check_recorded_environment(meta.recorded_environment(conn), self.env.name,
                                          command, self.allow_env_mismatch)

    def safety_backup(self, reason: str):
        """Back up the database before a destructive step; print the file and how to restore."""
        from nself.backups.dump import safety_backup

        # the restore that undoes it runs under the same environment, so it needs the same
        # override when this command needed one
        flags = " --allow-env-mismatch" if self.allow_env_mismatch else ""
        made = safety_backup(self.env, reason, self.say, flags)
        self.taken.append(made)
        return made

    def record(self, conn) -> None:
        """Record the environment in the database (first time, or a stricter environment)."""
        meta.record_environment(conn, self.env.name)
