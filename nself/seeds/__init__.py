"""Seed files: `nself db seed` (and `db reset` after its migrations).

    from nself.seeds import run_seeds
    run = run_seeds(env, conn, say=output.line)   # common/, then seeds/<env>/

See `runner.run_seeds` for the arguments and `runner.SeedRun` for the result.
"""

from nself.seeds.runner import FileRun, Planned, SeedError, SeedRun, plan, run_seeds, session

__all__ = ["FileRun", "Planned", "SeedError", "SeedRun", "plan", "run_seeds", "session"]
