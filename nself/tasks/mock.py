"""`db mock`: fill the user tables with realistic rows read from the live schema."""

from __future__ import annotations

import time

from nself import output
from nself.errors import UsageError
from nself.tasks import flags
from nself.tasks.base import command, environment
from nself.tasks.flags import MISMATCH_HELP
from nself.tasks.library import front_end, mock_data, mock_plan


@command(help={
    "rows": "Rows per table: users=100,posts=500 (`nself db mock --users 100 --posts 500` "
            "writes the same).",
    "count": "Rows for every table --rows does not name (default 100; 0 fills only the named "
             "tables).",
    "seed": "Seed N: the same seed and schema give the same rows (printed after each run).",
    "clear": "Remove the rows mock inserted (and only those); harmless when there are none.",
    "skip": "Leave these tables out: TABLE[,TABLE...].",
    "keep_defaults": "Leave columns that have a DEFAULT to it (role 'user', now(), ...) unless "
                     "a unique key or a foreign key needs mock to make them.",
    "allow_env_mismatch": MISMATCH_HELP,
    "lock_timeout": flags.lock_help("another mock run"),
})
def mock(c, rows=None, count=100, seed=None, clear=False, skip=None, keep_defaults=False,
         allow_env_mismatch=False, lock_timeout=60.0):
    """Fill every user table with mock rows (one transaction; blocked in staging/production)."""
    counts = mock_plan.parse_rows(rows)
    default = mock_plan.count_value(str(count), "--count")
    seed_value = None
    if seed is not None:
        try:
            seed_value = int(seed)
        except ValueError:
            raise UsageError(f"--seed needs a whole number, not {seed!r}.") from None
    skipped = [name.strip() for name in (skip or "").split(",") if name.strip()]
    timeout = flags.lock_timeout(lock_timeout)
    env = environment()
    guard = flags.guard(env, allow_env_mismatch=allow_env_mismatch)
    if clear:
        if counts or seed is not None or skipped or keep_defaults:
            raise UsageError("--clear removes the mock rows; it takes no counts, --seed, "
                             "--skip or --keep-defaults.")
        removed, seconds = mock_data.clear_database(env, guard)
        if not removed:
            output.ok("Nothing to clear: no mock rows are recorded")
            return
        output.ok(f"Removed {sum(removed.values()):,} mock rows in {seconds:.1f} s")
        output.table(["TABLE", "ROWS"], [(_short(t), f"{n:,}") for t, n in removed.items()])
        return
    bar = output.ProgressBar.on_terminal("Inserting", unit="items")
    started = time.monotonic()

    def progress(done, total):
        bar(done, total)
        rate = done / max(time.monotonic() - started, 1e-6)
        if bar._progress is not None:  # rows/s beside the bar
            bar._progress.update(bar._task, description=f"Inserting ({rate:,.0f} rows/s)")

    plan, outcome = output.with_progress(bar, lambda b: mock_data.fill_database(
        env, guard, counts, default, skipped, seed_value,
        progress if b is not None else None, warn=output.warn, keep_defaults=keep_defaults,
        lock_timeout=timeout))
    total = sum(outcome.rows.values())
    rate = total / outcome.seconds if outcome.seconds else 0
    output.ok(f"Inserted {total:,} rows in {outcome.seconds:.1f} s ({rate:,.0f} rows/s), "
              f"seed {outcome.seed}")
    if outcome.rows:
        output.table(["TABLE", "ROWS"], [(_short(t), f"{n:,}") for t, n in outcome.rows.items()])
    output.line(f"Same rows again: nself db mock --seed {outcome.seed} ...; remove them: "
                "nself db mock --clear")


# invoke's own flags after a task name (`nself db mock --help`) are not table names
INVOKE_FLAGS = {"help"}


def named_counts(words: list[str]) -> list[str]:
    """The guides' `--users 100 --posts=500` -> `--rows users=100,posts=500` (any word that
    is not one of mock's own flags names a table); the `nself` front end calls this."""
    known = {n for arg in mock.get_arguments() for n in arg.names} | INVOKE_FLAGS
    out: list[str] = []
    pairs: list[str] = []
    j = 0
    while j < len(words):
        word = words[j]
        name, eq, value = word[2:].partition("=")
        if word.startswith("--") and name and name not in known \
                and name.replace("-", "_") not in known:
            if not eq and j + 1 < len(words) and not words[j + 1].startswith("--"):
                value = words[j + 1]
                j += 1
            elsewhere = not _whole(value) and _flag_elsewhere(name)
            if elsewhere or not value:
                # `--yes`, `--confirm WORD`: another command's flag, not a table's count
                raise front_end.UnknownWord(
                    f"`nself db mock` has no --{name} flag: `nself db mock --help` lists its "
                    "flags; a table's row count is --TABLE N (--users 100)." if elsewhere else
                    f"--{name} needs a row count: --{name} N (a whole number).")
            pairs.append(f"{name}={value}")
        else:
            out.append(word)
        j += 1
    if not pairs:
        return words
    for k, word in enumerate(out):
        if word == "--rows" and k + 1 < len(out):
            out[k + 1] = ",".join([out[k + 1], *pairs])
            return out
    return out + ["--rows", ",".join(pairs)]


mock.rewrite_words = named_counts


def _flag_elsewhere(name: str) -> bool:
    """True when some other nself command has the flag --`name` (--yes, --confirm, ...)."""
    return any(name in arg.names or name.replace("-", "_") in arg.names
               for _, task in front_end.spaced_commands(front_end.namespace)
               for arg in task.get_arguments())


def _whole(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def _short(qualified: str) -> str:
    return qualified[7:] if qualified.startswith("public.") else qualified
