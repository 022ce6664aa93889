"""`db migrate baseline`: a database that predates its migrations becomes their first one.

The live schema, as `db schema export --format sql` writes it (`nself.schema.render.to_sql`:
a script psql loads as written), becomes the UP of a new migration file, numbered before
every file already in the folder (those stay pending: they were written for this schema).
Before anything is recorded, the file is replayed alone into a shadow database and must
rebuild the live schema exactly; then its tracking row (checksum of the file as written)
and the schema's fingerprint (drift) are recorded in one transaction. No user object is
touched. A database whose tracking table has rows is refused: its history is nself's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from nself import sql
from nself.errors import OperationFailed, UsageError
from nself.guard import Change, Plan
from nself.migrations import files, history, plan
from nself.migrations.engine import applied_by
from nself.migrations.runner import Runner
from nself.pg import connection, layout
from nself.schema import shadow as shadows
from nself.schema.diff import diff
from nself.schema.introspect import introspect
from nself.schema.render import to_sql

COMMAND = "migrate baseline"
DEFAULT_NAME = "baseline"
SHOWN_DIFFERENCES = 8
STAMP = "%Y%m%d%H%M%S"

HEADER = """\
-- Migration: {id}
-- Created: {date}
-- Description: Baseline: the {env} database's schema when `nself db migrate baseline`
--   wrote this file (recorded as applied there, not run); on an empty database it builds
--   that schema. No DOWN: `nself db migrate down` refuses to roll it back.

-- UP
"""


@dataclass
class Baselined:
    path: str            # relative to the project root
    id: str
    statements: int      # in the UP
    pending: list[str]   # files after it, still to apply


def path_for(folder: Path, name: str, existing: list[files.Migration]) -> Path:
    """The baseline's file: the next number in an empty folder, else the version just
    before the first file (numbered as wide), which stays pending."""
    if not existing:
        return files.next_file(folder, name)
    files.next_file(folder, name)  # the name's rules
    first = existing[0]
    if first.version == 0:
        raise UsageError(f"No version comes before {first.relpath}: number the existing "
                         "migrations from 1 (or a timestamp) to make room for the baseline.")
    label = str(first.version - 1).zfill(len(first.label))
    if len(first.label) == files.TIMESTAMP_DIGITS:  # a timestamp: the second before it
        try:
            stamp = datetime.strptime(first.label, STAMP) - timedelta(seconds=1)
            label = stamp.strftime(STAMP)
        except ValueError:
            pass
    return folder / f"{label}_{name}.sql"


@dataclass
class Written:
    """What a baseline writes: the file and its text, and what is said of it."""

    path: Path
    content: str
    result: Baselined


def prepare(env, conn, existing: list[files.Migration], name: str = DEFAULT_NAME) -> Written:
    """The baseline file for the live schema on CONN (nothing written or recorded); refuses
    when nself already tracks migrations there or when there is nothing to baseline."""
    rows = history.applied(conn)
    if rows:
        raise UsageError(
            f"Refusing to baseline: nself's tracking table already records {len(rows)} "
            f"migration{'s' if len(rows) != 1 else ''} (newest {rows[-1].id}) on this "
            "database; a baseline is only for a database no migration was applied to. "
            "Nothing was changed.")
    model = introspect(conn)
    text = to_sql(model)
    if not text.strip():
        raise UsageError("Nothing to baseline: the database has no schema objects of its own "
                         "yet; write migrations with `nself db migrate create NAME`.")
    if model.unsupported:
        raise OperationFailed(
            "Cannot baseline: nself does not model " + "; ".join(model.unsupported)
            + " (the baseline could not rebuild it). Nothing was written.")
    path = path_for(env.migrations_dir, name, existing)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    ident = path.name.removesuffix(".sql")
    content = HEADER.format(id=ident, date=stamp, env=env.name) + text
    statements = len(sql.split(text, 1))
    return Written(path, content, Baselined(env.relative(path), ident, statements,
                                            [m.id for m in existing]))


def dry_run(env, name: str = DEFAULT_NAME) -> tuple[Written, str]:
    """(what `baseline` would write, the database shown), read on a plain connection: no
    lock, no tracking table made, nothing written."""
    existing = files.read_folder(env.migrations_dir, env.root)
    plan.check_folder(existing)
    target = connection.target(env)
    with connection.connect(target) as conn:
        return prepare(env, conn, existing, name), target.display()


def baseline(runner: Runner, name: str = DEFAULT_NAME, say=print) -> Baselined:
    """Write the baseline migration from the live schema and record it as applied."""
    env, conn = runner.env, runner.conn
    written = prepare(env, conn, runner.migrations(), name)
    path, result = written.path, written.result

    def apply(change: Change) -> list[str]:
        env.migrations_dir.mkdir(parents=True, exist_ok=True)
        try:
            with open(path, "x", encoding="utf-8") as handle:
                handle.write(written.content)
        except FileExistsError:
            raise UsageError(f"{result.path} already exists.") from None
        try:
            migration = next(m for m in runner.migrations() if m.filename == path.name)
            result.statements = len(files.split(migration.up, migration))
            say(f"Checking that {result.path} rebuilds the schema (shadow database)...")
            rebuilt(env, conn, migration.version)
            layout.ensure(conn)
            with conn.transaction():
                conn.execute(history.INSERT_SQL, (
                    migration.version, migration.label, migration.name, migration.checksum,
                    0, applied_by(), False, None, migration.text))
                history.record_fingerprint(conn)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return [f"recorded {result.id} as applied"]

    runner.guard.run(conn, Plan(
        COMMAND, target=runner.db.display(), reason="baseline",
        detail=f"`{COMMAND}` will write {result.path} from the schema of "
               f"{runner.db.display()} and record it as applied there (no schema object "
               "changes)."), apply)
    return result


def rebuilt(env, conn, version: int) -> None:
    """Raise unless migration VERSION alone, replayed into a shadow database, builds the
    live schema on CONN."""
    with shadows.shadows(env, lambda text: None) as manager:
        scratch = manager.create()
        shadows.replay(env, scratch, {version})
        found = diff(introspect(conn), introspect(scratch.conn)).summary("database",
                                                                         "baseline")
    if found:
        shown = ", ".join(found[:SHOWN_DIFFERENCES]) + (
            f" and {len(found) - SHOWN_DIFFERENCES} more" if len(found) > SHOWN_DIFFERENCES
            else "")
        raise OperationFailed(f"The baseline does not rebuild the schema exactly ({shown}); "
                              "nothing was recorded and the file was removed.")
