"""`db mock`: realistic rows for every user table, read from the live schema.

plan     schema model + counts -> tables in foreign-key order, cycles, uniques, checks
columns  one column -> its values (by name, then by type, within its checks)
values   the value makers (seeded per column: `--seed` reproduces the rows)
checks   CHECK constraints -> what they allow (pglast)
fill     one transaction: COPY, record what was inserted, `--clear` it again
words    the word lists, read from data/*.txt (a snapshot of Faker's made by
         tools/mock_words.py, so seeds survive Faker upgrades)
"""

from __future__ import annotations

import random
import time

import psycopg

from nself.config import Environment
from nself.errors import OperationFailed
from nself.guard import Guard, Plan
from nself.mock.fill import Loader, clear
from nself.mock.plan import build
from nself.pg import connection
from nself.pg import session as pg_session
from nself.schema.introspect import introspect

COMMAND = "mock"


def fill_database(env: Environment, guard: Guard, counts: dict[str, int], default: int,
                  skip: list[str], seed: int | None, progress=None, warn=print,
                  bulk: bool = True, keep_defaults: bool = False,
                  lock_timeout: float = pg_session.DEFAULT_TIMEOUT):
    """Fill the configured database; returns (plan, outcome). Nothing stays on failure.
    Another mock run holding mock's lock is waited for at most `lock_timeout` seconds."""
    if seed is None:
        seed = random.SystemRandom().randrange(1, 2**31)
    made = {}

    def apply(change) -> list[str]:
        with conn.transaction():
            schema = introspect(conn)
            made["plan"] = plan = build(schema, counts, default, skip, seed, keep_defaults)
            for text in plan.unsolved:
                warn(f"cannot solve constraint {text}: rows may violate it (--skip the table "
                     "if they do)")
            try:
                made["outcome"] = outcome = Loader(conn, plan, seed, progress, bulk=bulk,
                                                    lock_timeout=lock_timeout).run()
            except psycopg.IntegrityError as exc:
                table = exc.diag.table_name or "TABLE"
                raise OperationFailed(
                    f"{connection.describe_error(exc)} Mock could not satisfy this constraint: "
                    f"leave the table out with --skip {table}. Nothing was inserted.") from None
        return [f"inserted {n} rows into {table}" for table, n in outcome.rows.items()]

    with pg_session.connect(env) as (_, conn, _):
        guard.run(conn, Plan(COMMAND, record=False), apply)
        for text in made["plan"].notices:
            warn(text)
    return made["plan"], made["outcome"]


def clear_database(env: Environment, guard: Guard) -> tuple[dict[str, int], float]:
    """Delete the rows mock recorded, in one transaction; rows removed per table."""
    started = time.perf_counter()
    removed: dict[str, int] = {}

    def apply(change) -> list[str]:
        with conn.transaction():
            removed.update(clear(conn))
        return [f"removed {n} mock rows from {table}" for table, n in removed.items()]

    with pg_session.connect(env) as (_, conn, _):
        guard.run(conn, Plan(COMMAND, record=False), apply)
    return removed, time.perf_counter() - started
