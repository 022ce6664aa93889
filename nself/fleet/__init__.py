"""The fleet: one command over many databases (`nself db fleet ...`).

    targets.py   which databases: config/<env>.fleet.toml (named URLs, LIKE patterns over
                 the configured server's databases) or --match; --only; each target's
                 Environment (the project's settings, the target's address)
    run.py       N targets at a time (threads: each target's work is I/O on its own
                 connection, under its own migrate lock), one Outcome per target as it
                 finishes, a failure stops starting new ones; the work per command is the
                 single-database library call (runner.up, workflows.update, create_backup,
                 read_status) with its own Guard
"""
