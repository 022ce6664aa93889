"""`db migrate` tasks (status, up, down, create, fresh, repair) and `db reset`: the guides'
"Migrations" section (its "Production Safety" names `db reset` beside `migrate fresh`)."""

from __future__ import annotations

from pathlib import Path

from invoke import Collection

from nself import output
from nself.errors import DifferencesFound, UsageError
from nself.tasks import flags
from nself.tasks.base import command, environment
from nself.tasks.db import drift_text
from nself.tasks.flags import LOCK_HELP, MISMATCH_HELP, NO_BACKUP_HELP, confirm_help, yes_help
from nself.tasks.library import (
    adopt,
    history,
    linter,
    lock_trace,
    migration_baseline,
    migration_runner,
    migration_status,
    pg_connection,
    repair_history,
    reset_workflow,
)


def _count(value, flag: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise UsageError(f"{flag} expects a whole number, got {value!r}.") from None
    if number < 1:
        raise UsageError(f"{flag} expects a number of 1 or more, got {value}.")
    return number


def _session(env, lock_timeout, yes=False, confirm=None, allow_env_mismatch=False,
             no_backup=False):
    """The migrate session for a command, with the guard its flags build."""
    timeout = flags.lock_timeout(lock_timeout)
    env.require_project()
    guard = flags.guard(env, yes, confirm, allow_env_mismatch, no_backup)
    return migration_runner.session(env, timeout, guard, output.line, output.notice,
                                    output.warn)


def _with_bar(runner, label: str, work):
    """Run `work` with a migrations-done bar on a terminal (none without one)."""
    bar = output.ProgressBar.on_terminal(label, unit="items")
    if bar is not None:
        runner.progress = bar
    return output.with_progress(bar, lambda _: work())


def _plural(n: int, word: str = "migration") -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


@command(help={"json": "Print a JSON list of {version, name, status, applied_at, drift} (drift: "
                       "true/false on the newest applied row, null elsewhere or when unknown).",
               "check": "Exit with code 6 when anything is pending, changed or missing, or the "
                        "schema drifted (CI)."})
def status(c, json=False, check=False):
    """Show each migration as Applied, Pending, Changed (file edited) or Missing (file gone),
    and whether the schema drifted from what the last migrate run left."""
    env = environment()
    env.require_project()
    with pg_connection.connect(pg_connection.target(env)) as conn:
        entries = migration_status.read_status(env, conn)
        found = history.drift(conn)
    drifted = found.drifted if found else None
    if json:
        output.as_json([{**e.as_dict(), "drift": drifted if found and e.version == found.version
                         else None} for e in entries])
    elif not entries:
        output.line(f"No migrations in {env.relative(env.migrations_dir)}/: create one with "
                    "`nself db migrate create NAME`.")
    else:
        output.heading("Migration Status", 44)
        output.table(("VERSION", "NAME", "STATUS", "APPLIED"),
                     [(e.label, e.name, e.status, e.applied_at) for e in entries])
        output.line()
        output.line(f"Drift: {drift_text(drifted)}")
    if check:
        tally = migration_status.counts(entries)
        off = [f"{v} {k}" for k, v in tally.items() if k != "applied" and v]
        if drifted:
            off.append("schema drift")
        if off:
            raise DifferencesFound("Migrations are not in sync: " + ", ".join(off) + ".")


@command(positional_flag="steps",
         help={"steps": "Apply at most this many pending migrations (`nself db migrate up 3`).",
               "to": "Apply pending migrations up to and including this version.",
               "dry_run": "Print the SQL that would run; change nothing.",
               "no_backup": "Skip the backup taken before applying (production's pre-migration "
                             "backup, or the safety backup before statements that destroy data).",
               "allow_env_mismatch": MISMATCH_HELP,
               "yes": yes_help("migrate up"), "confirm": confirm_help("migrate up"),
               "lock_timeout": LOCK_HELP})
def up(c, steps=None, to=None, dry_run=False, yes=False, confirm=None, lock_timeout=60.0,
       no_backup=False, allow_env_mismatch=False):
    """Apply pending migrations in order, each in its own transaction with its tracking row."""
    env = environment()
    count = _count(steps, "--steps")
    if dry_run:
        env.require_project()
        planned = migration_runner.dry_run(env, count, to)
        for entry, text in planned:
            output.line(f"-- {entry.id} ({entry.migration.relpath})"
                        + (" [no transaction]" if entry.migration.no_transaction else ""))
            output.line(text)
            output.line()
        output.ok(f"Dry run: {_plural(len(planned))} would be applied; nothing was changed")
        return
    with _session(env, lock_timeout, yes, confirm, allow_env_mismatch, no_backup) as runner:
        done = _with_bar(runner, "Applying", lambda: runner.up(count, to))
    if done:
        total = sum(seconds for _, seconds in done)
        output.ok(f"{_plural(len(done))} applied ({total:.2f} s)")
    else:
        output.ok("Nothing to apply: the database is up to date")


@command(positional_flag="steps",
         help={"steps": "Roll back this many migrations (default 1; `nself db migrate down 2`).",
               "to": "Roll back every migration newer than this version (0: all).",
               "no_backup": NO_BACKUP_HELP, "allow_env_mismatch": MISMATCH_HELP,
               "yes": yes_help("migrate down"), "confirm": confirm_help("migrate down"),
               "lock_timeout": LOCK_HELP})
def down(c, steps=None, to=None, yes=False, confirm=None, lock_timeout=60.0, no_backup=False,
         allow_env_mismatch=False):
    """Roll back the newest applied migrations with the DOWN SQL stored when they were applied."""
    env = environment()
    count = _count(steps, "--steps")
    if count is not None and to is not None:
        raise UsageError("Give either --steps or --to, not both.")
    with _session(env, lock_timeout, yes, confirm, allow_env_mismatch, no_backup) as runner:
        done = _with_bar(runner, "Rolling back", lambda: runner.down(count, to))
    if done:
        output.ok(f"{_plural(len(done))} rolled back")
    else:
        output.ok("Nothing to roll back: no migration is applied")


@command(positional_flag="name", help={
    "name": "What the migration does: add_user_indexes.",
    "template": "Write the safe form of a change, to fill in: index (built CONCURRENTLY), "
                "foreign-key (NOT VALID, then VALIDATE, with its index), not-null (through a "
                "validated CHECK) or column (a nullable column, lock_timeout set). Without "
                "it: empty -- UP / -- DOWN sections."})
def create(c, name="", template=None):
    """Write the next migration file, with header and empty -- UP / -- DOWN sections (or a
    safe-form template), and print what lint finds in it."""
    if not name:
        raise UsageError("Name the migration: `nself db migrate create add_user_indexes`.")
    env = environment()
    written = migration_runner.write_migration(env, name, template)
    output.ok(f"Migration created: {written}")
    for f in linter.review(env, env.root / written):
        output.line(f"Lint: {f.file}:{f.line}: {f.rule} {f.level}: {f.message}; safe: {f.safe}")


@command(help={"no_backup": NO_BACKUP_HELP, "allow_env_mismatch": MISMATCH_HELP,
               "yes": yes_help("migrate fresh"), "confirm": confirm_help("migrate fresh"),
               "lock_timeout": LOCK_HELP})
def fresh(c, yes=False, confirm=None, lock_timeout=60.0, no_backup=False,
          allow_env_mismatch=False):
    """Drop every object in the user's schemas and nself's tracking, then apply all (local only)."""
    env = environment()
    with _session(env, lock_timeout, yes, confirm, allow_env_mismatch, no_backup) as runner:
        dropped, done = _with_bar(runner, "Applying", runner.fresh)
    output.ok(f"Dropped {_plural(dropped, 'object')}; applied {_plural(len(done))}")


@command(help={"mark_applied": "Record this version as applied without running it.",
               "mark_pending": "Forget that this version was applied, without running its DOWN.",
               "yes": "Accept edited files and forget missing ones without asking "
                      "(required without a terminal).",
               "no_backup": NO_BACKUP_HELP, "allow_env_mismatch": MISMATCH_HELP,
               "confirm": confirm_help("migrate repair"), "lock_timeout": LOCK_HELP})
def repair(c, mark_applied=None, mark_pending=None, yes=False, confirm=None, lock_timeout=60.0,
           no_backup=False, allow_env_mismatch=False):
    """Fix the tracking table: recreate it, accept edited files, forget missing ones, mark one."""
    env = environment()
    with _session(env, lock_timeout, yes, confirm, allow_env_mismatch, no_backup) as runner:
        done = repair_history.repair(runner, mark_applied, mark_pending)
    for text in done:
        output.ok(text)
    if not done:
        output.ok("Nothing to repair: the tracking table matches the migration files")


FORMATS_HELP = ("dbmate, golang-migrate, goose, flyway, sqitch, alembic, django, prisma, hasura, "
                "node-pg-migrate, postgrator, graphile-migrate")


@command(name="import", positional_flag="dir", help={
    "dir": "The folder holding the other tool's migrations (e.g. db/migrations).",
    "from": f"The tool that wrote them: {FORMATS_HELP}.",
    "dry_run": "List the files that would be written (and, with --adopt-applied, the versions "
               "that would be recorded); write nothing.",
    "adopt_applied": "Also read the tool's tracking table on the configured database and "
                     "record the versions it applied as applied in nself's (not run), so the "
                     "next `migrate up` applies only the others.",
    "partial": "Write the migrations that convert even when others cannot (those are "
               "listed; by default nothing is written unless all convert).",
    "plan_file": "Sqitch only: the plan to read (as `sqitch --plan-file`); default: "
                 "sqitch.conf's plan_file, else <top_dir>/sqitch.plan.",
    "allow_env_mismatch": MISMATCH_HELP, "yes": yes_help("migrate import"),
    "confirm": confirm_help("migrate import"), "lock_timeout": LOCK_HELP})
def import_(c, dir="", from_="", dry_run=False, adopt_applied=False, partial=False, yes=False,
            confirm=None, lock_timeout=60.0, allow_env_mismatch=False, plan_file=""):
    """Convert another tool's migration folder into nself migrations (-- UP / -- DOWN), and
    with --adopt-applied record what that tool had applied."""
    env = environment()
    env.require_project()
    if not from_:
        raise UsageError(f"Name the tool with --from: one of {FORMATS_HELP}.")
    if not dir:
        raise UsageError("Name the folder: `nself db migrate import --from dbmate "
                         "db/migrations`.")
    folder = Path(dir)
    try:
        conversion = adopt.convert(from_, folder, partial, plan_file=plan_file)
    except adopt.ConversionFailed as exc:
        for problem in exc.problems:
            output.line(f"  {problem}", err=True)
        raise
    for problem in conversion.problems:
        output.warn(f"{problem} (not converted: --partial)")
    wanted = adopt.search_path(conversion)
    if wanted and (env.search_path or "").replace(" ", "") != wanted.replace(" ", ""):
        output.warn(f"{from_} runs these migrations with search_path {wanted}: set "
                    f"DATABASE_SEARCH_PATH={wanted.replace(' ', '')} in config/<env>.env so "
                    "nself does too (migrations, shadow replays, db shell)")
    target = env.migrations_dir
    shown = env.relative(target)
    if dry_run:
        todo, clash = adopt.clashes(conversion, target)
        done, missing, tracking = [], [], ([], [])
        if adopt_applied:
            with pg_connection.connect(pg_connection.target(env)) as conn:
                done, missing = adopt.applied_source(conversion, conn)
                tracking = adopt.tracking(conversion, conn)
        for item in conversion.converted:
            notes = [note for note, found in (("already there", item not in todo),
                                              (f"{from_} applied it: recorded, not run",
                                               item in done)) if found]
            output.line(f"{shown}/{item.filename}  <- {item.source.source}"
                        + (f"  ({'; '.join(notes)})" if notes else ""))
        if adopt_applied:
            kept = tracking[0] + [f"schema {s}" for s in tracking[1]]
            output.line(f"Would record {len(done)} of {_plural(len(conversion.converted))} as "
                        "applied (not run)" + (f"; {from_}'s own tracking ({', '.join(kept)}) "
                                               "would stay, left out of nself's schema"
                                               if kept else ""))
            if missing:
                output.warn(f"{from_} records versions with no file here: {', '.join(missing)}")
        if clash:
            output.warn(f"Clashes with existing files: {', '.join(clash)}")
        output.ok(f"Dry run: {_plural(len(todo), 'file')} would be written to {shown}/; "
                  "nothing was changed")
        return
    if adopt_applied:
        with _session(env, lock_timeout, yes, confirm, allow_env_mismatch) as runner:
            written, recorded, tracking = adopt.adopt(runner, conversion, target)
    else:
        written, recorded, tracking = adopt.write(conversion, target), [], []
    note = " (renumbered: each file's header keeps the tool's version)" \
        if conversion.renumbered else ""
    output.ok(f"Imported {_plural(len(written), 'file')} from {from_} into {shown}/{note}")
    if adopt_applied:
        output.ok(f"Recorded {_plural(len(recorded))} as applied (not run); `nself db migrate "
                  "up` applies the others")
    if tracking:
        output.line(f"{from_}'s own tracking ({', '.join(tracking)}) stays as it was; nself "
                    f"leaves it out of its schema (diff, export, update's checks). Drop it when "
                    f"nobody runs {from_} any more.")


@command(help={"name": "The migration's name (default baseline): migrations/001_baseline.sql, "
                       "or numbered just before the folder's first file.",
               "dry_run": "Print the file it would write and what it would record; write and "
                          "record nothing.",
               "allow_env_mismatch": MISMATCH_HELP, "yes": yes_help("migrate baseline"),
               "confirm": confirm_help("migrate baseline"), "lock_timeout": LOCK_HELP})
def baseline(c, name="baseline", dry_run=False, yes=False, confirm=None, lock_timeout=60.0,
             allow_env_mismatch=False):
    """Write the first migration from the live schema (the SQL export) and record it as
    applied, for a database that predates its migrations (refused once any is applied)."""
    env = environment()
    if dry_run:
        env.require_project()
        written, shown = migration_baseline.dry_run(env, name)
        done = written.result
        output.line(written.content.rstrip("\n"))
        output.ok(f"Dry run: would write {done.path} ({_plural(done.statements, 'statement')}) "
                  f"and record it as applied on {shown} (not run), after checking in a shadow "
                  "database that it rebuilds the schema; nothing was changed")
        return
    with _session(env, lock_timeout, yes, confirm, allow_env_mismatch) as runner:
        done = migration_baseline.baseline(runner, name, output.line)
    output.ok(f"Baseline written: {done.path} ({_plural(done.statements, 'statement')}), "
              "recorded as applied (not run)")
    if done.pending:
        output.line(f"Still pending (written for this schema): {', '.join(done.pending)}; "
                    "`nself db update` applies them.")
    output.line("Commit it; other databases with this schema: `nself db migrate repair "
                f"--mark-applied {done.id.split('_', 1)[0]}`; empty ones: `nself db migrate up`.")


@command(help={"yes": yes_help("reset"), "confirm": confirm_help("reset"),
               "allow_env_mismatch": MISMATCH_HELP,
               "no_backup": "Skip the safety backup taken before dropping everything.",
               "lock_timeout": LOCK_HELP})
def reset(c, yes=False, confirm=None, allow_env_mismatch=False, no_backup=False,
          lock_timeout=60.0):
    """Drop everything, apply every migration and run the seeds (blocked in production)."""
    env = environment()
    env.require_project()
    timeout = flags.lock_timeout(lock_timeout)
    output.heading("Database Reset")
    guard = flags.guard(env, yes, confirm, allow_env_mismatch, no_backup)
    result = reset_workflow.reset(env, guard,
                                  lock_timeout=timeout, say=output.line,
                                  notice=output.notice, warn=output.warn)
    output.line()
    output.ok(f"Reset complete: dropped {result.dropped} schema(s)/extension(s), applied "
              f"{len(result.applied)} migration{'s' if len(result.applied) != 1 else ''}"
              + (f", ran {result.seeded}" if result.seeded else ""))


LINT_FORMATS = ("text", "github", "gcc")


@command(positional_flag="file", iterable=["file"], help={
    "file": "A migration file to lint (repeatable; `nself db migrate lint a.sql b.sql`). "
            "Default: every migration of the folder.",
    "since": "Lint only the migrations newer than this version (e.g. the one production "
             "runs).",
    "changed": "Lint only the migration files git sees changed against HEAD, untracked too.",
    "json": "Print a JSON list of findings {rule, level, file, line, lock, blocks, message, "
            "why, safe, table, allowed}.",
    "format": "text (default), github (::error annotations) or gcc (file:line:col: error:).",
    "no_database": "Do not read table sizes and the server version from the configured "
                   "database (lint the files alone).",
    "rules": "List every rule with its id, level and summary, then stop.",
    "trace": "Apply this migration to a shadow database (after the ones before it) and "
             "list each lock it really takes, on what, for how long; the configured "
             "database is never touched."})
def lint(c, file=None, since=None, changed=False, json=False, format="text",
         no_database=False, rules=False, trace=None):
    """Name every unsafe statement of the migrations: the lock it takes, what that blocks,
    why it matters and the safe form (exit 6 when an error-level finding is not allowed)."""
    env = environment()
    if trace:
        env.require_project()
        held = lock_trace.trace(env, Path(trace), output.notice)
        if json:
            output.as_json([h.as_dict() for h in held])
        for h in held if not json else ():
            output.line(f"{trace}:{h.line}: {h.mode} on {h.relation}, held "
                        f"{h.seconds * 1000:.1f} ms")
        if not json:
            output.ok(f"Traced {trace}: {_plural(len(held), 'lock')} taken")
        return
    if rules:
        config = linter.Config.from_settings(env.get)
        for r in sorted(linter.REGISTRY.values(), key=lambda r: r.id):
            output.line(f"{r.id}  {config.level(r) or 'off':7}  {r.name}: {r.summary}")
        return
    if format not in LINT_FORMATS:
        raise UsageError(f"--format expects one of {', '.join(LINT_FORMATS)}, got {format!r}.")
    env.require_project()
    found = linter.run(env, list(file or ()), since, changed, not no_database)
    if json:
        output.as_json([f.as_dict() for f in found])
    else:
        for f in found:
            if format == "github":
                output.line(linter.github_line(f))
            elif format == "gcc":
                output.line(linter.gcc_line(f))
            else:
                for text in linter.text_lines(f):
                    output.line(text)
    errors_left = linter.blocking(found)
    if errors_left:
        raise DifferencesFound(f"Lint: {_plural(len(errors_left), 'error')} not allowed "
                               f"({_plural(len(found) - len(errors_left), 'other finding')}); "
                               "fix them, or acknowledge one with `-- nself:allow RULE reason`.")
    if not json and format == "text":
        output.ok(f"Lint: no errors ({_plural(len(found), 'finding')})")


collection = Collection("migrate", status, up, down, create, fresh, repair, baseline, import_,
                        lint)
