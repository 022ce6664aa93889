"""`db seed`: run the seed files (seeds/common/, then seeds/<env>/)."""

from __future__ import annotations

from nself import output, safety
from nself.tasks import flags
from nself.tasks.base import command, environment
from nself.tasks.flags import LOCK_HELP, MISMATCH_HELP, yes_help
from nself.tasks.library import migration_engine, pg_connection, seed_files, seeds_runner


def _plural(n: int, word: str = "seed file") -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def _tally(planned) -> str:
    counts: dict[str, int] = {}
    for p in planned:
        counts[p.status] = counts.get(p.status, 0) + 1
    return ", ".join(f"{n} {status}" for status, n in counts.items())


def _nothing(project, run, changed: bool) -> str:
    if run.skipped:
        return (f"Nothing to seed: {_plural(len(run.skipped))} unchanged since last run "
                "(without --changed every file runs)")
    where = " or ".join(f"{project.relative(folder)}/"
                        for _, folder in seed_files.folders(project, run.environment))
    return f"Nothing to seed: no .sql files in {where}"


@command(positional_flag="file",
         help={"file": "Run only this seed file: a name looked up in seeds/common/ and "
                       "seeds/<env>/ (`nself db seed 01_test_users.sql`), or a path.",
               "env": "Run ENV's seeds (seeds/common/, then seeds/ENV/) on the configured "
                      "database; ENV's safety rules apply (the stricter of ENV's and the "
                      "current environment's).",
               "dry_run": "List the files that would run, new/changed/unchanged; change "
                          "nothing.",
               "changed": "Run only files that are new or changed since they last ran.",
               "yes": yes_help("seed"), "allow_env_mismatch": MISMATCH_HELP,
               "lock_timeout": LOCK_HELP})
def seed(c, file=None, env=None, dry_run=False, changed=False, yes=False,
         allow_env_mismatch=False, lock_timeout=60.0):
    """Run the seed files, each in its own transaction: common/ first, then the environment's."""
    project = environment()
    project.require_project()
    if dry_run:
        with pg_connection.connect(pg_connection.target(project)) as conn:
            run = seeds_runner.plan(project, conn, env, file, changed)
        _dry_run(project, run, changed)
        return
    timeout = flags.lock_timeout(lock_timeout)
    guard = flags.guard(project, yes, allow_env_mismatch=allow_env_mismatch)
    with seeds_runner.session(project, timeout, output.notice) as (db, conn, notices):
        run = seeds_runner.run_seeds(project, conn, for_env=env, file=file, changed_only=changed,
                               guard=guard, db=db, say=output.line, notices=notices)
    if not run.done:
        output.ok(_nothing(project, run, changed))
        return
    skipped = f"; {len(run.skipped)} unchanged skipped" if run.skipped else ""
    output.ok(f"{_plural(len(run.done))} run for {run.environment} ({_tally(run.planned)}"
              f"{skipped}) in {migration_engine.duration(run.seconds)}")


def _dry_run(project, run, changed: bool) -> None:
    if not run.planned:
        output.ok(f"Dry run. {_nothing(project, run, changed)}")
        return
    width = max(len(p.seed.shown) for p in run.planned)
    for p in run.planned:
        when = f" (last ran {p.ran_at:%Y-%m-%d %H:%M:%S})" if p.ran_at else ""
        output.line(f"  {p.seed.shown:<{width}}  {p.status}{when}")
    policy = safety.policy_for("seed", _strict(project, run.environment))
    if policy.rule is not safety.Rule.ALLOW:
        output.line(f"In {_strict(project, run.environment)}, seeding {policy} "
                    "(--yes without a terminal).")
    skipped = f"; {len(run.skipped)} unchanged skipped" if run.skipped else ""
    output.ok(f"Dry run: {_plural(len(run.planned))} would run for {run.environment} "
              f"({_tally(run.planned)}{skipped}); nothing was changed")


def _strict(project, data_env: str) -> str:
    return seeds_runner.policy_environment(project, data_env)
