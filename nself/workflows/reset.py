"""`db reset`: rebuild the database from the migration files and the seeds.

Under the migrate lock: every migration file is checked first; then the guard (blocked in
production and on a database recorded as production, whatever the flags; confirmed in
staging), a safety backup, the one wipe (`nself.pg.wipe`), every migration applied as
`migrate up` applies them (its fingerprint recorded), and the environment's seed files
(`nself.seeds.runner.run_seeds`: common/, then seeds/<env>/).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from nself.config import Environment
from nself.errors import Refused
from nself.guard import Guard
from nself.migrations.runner import session
from nself.pg import meta
from nself.seeds.runner import run_seeds

COMMAND = "reset"


@dataclass
class ResetResult:
    dropped: int = 0
    applied: list[str] = field(default_factory=list)
    seeded: str = ""  # "3 seed files", or empty when none ran
    backup: str | None = None


def refuse_production(env: Environment, recorded: str | None) -> None:
    """`db reset` destroys everything: never in production, nor on a database recorded as
    production (--allow-env-mismatch does not lift that)."""
    if env.name == "production":
        raise Refused("`db reset` is blocked in production: it drops everything. Roll back "
                      "with `nself db migrate down` instead. Nothing was changed.")
    if recorded == "production":
        raise Refused(f"`db reset` refused: this database is recorded as production, and "
                      f"reset is blocked there whatever the flags (running as {env.name}). "
                      "Nothing was changed.")


def reset(env: Environment, guard: Guard, *, lock_timeout: float = 60.0,
          say: Callable[[str], None] = print, notice: Callable[[str], None] = print,
          warn: Callable[[str], None] = print) -> ResetResult:
    """Back up, drop every user object, apply every migration, run the seeds."""
    result = ResetResult()
    with session(env, lock_timeout, guard, say, notice, warn) as runner:
        refuse_production(env, meta.recorded_environment(runner.conn))
        result.dropped, done = runner.fresh(COMMAND, COMMAND)
        if guard.taken:
            result.backup = env.relative(guard.taken[-1].path)
        result.applied = [state.id for state, _ in done]
        run = run_seeds(env, runner.conn, guard=None, db=runner.db, say=say,
                        notices=runner.notices)
    if run.done:
        n = len(run.done)
        result.seeded = f"{n} seed file{'s' if n != 1 else ''}"
    return result
