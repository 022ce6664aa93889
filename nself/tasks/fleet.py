"""`db fleet` tasks (status, migrate up, update, backup): one command over many databases,
the targets of config/<env>.fleet.toml or --match, a thin task over `nself.fleet`."""

from __future__ import annotations

from invoke import Collection

from nself import output
from nself.errors import FAILED, UsageError
from nself.tasks import flags
from nself.tasks.base import as_nself_error, command, environment, one_line
from nself.tasks.flags import LOCK_HELP, MISMATCH_HELP, confirm_help, yes_help
from nself.tasks.library import fleet_commands, fleet_run, fleet_targets

MATCH_HELP = ("Instead of config/<env>.fleet.toml: every database on the configured server "
              "whose name matches this SQL LIKE pattern (tenant_%).")
SCHEMAS_HELP = ("Instead of config/<env>.fleet.toml: every schema of the configured database "
                "whose name matches this SQL LIKE pattern (schema per tenant: each runs "
                "with its schema first on the search_path, tracked in its own "
                "nself_<schema> schema).")
ONLY_HELP = ("Only the targets with these names (repeatable, or comma-separated: "
             "--only eu,us); an unknown name is refused.")
PARALLEL_HELP = ("How many targets run at a time (default: 8, or a quarter of the free "
                 "connections of the first target's server when fewer).")
CONTINUE_HELP = ("Keep starting targets after one fails (by default a failure stops new "
                 "targets; running ones finish).")
JSON_HELP = ("Print a JSON list with one record per target {target, database, state, "
             "exit_code, seconds, ...} instead of the lines.")
FLEET_HELP = {"match": MATCH_HELP, "schemas": SCHEMAS_HELP, "only": ONLY_HELP,
              "parallel": PARALLEL_HELP, "continue_on_error": CONTINUE_HELP, "json": JSON_HELP}


def _explain(exc: BaseException) -> tuple[str, int]:
    """A target's failure as the task boundary would say it: one line, its exit code."""
    error = as_nself_error(exc) if isinstance(exc, Exception) else None
    if error is None:
        return one_line(f"{type(exc).__name__}: {exc}"), FAILED
    return output.redact(one_line(str(error))), error.exit_code


def _names(only) -> list[str]:
    return [name.strip() for value in (only or ()) for name in value.split(",")
            if name.strip()]


def _run(verb: str, work, *, match=None, schemas=None, only=None, parallel=0,
         continue_on_error=False, json=False, safety_command: str | None = None, yes=False,
         confirm=None, databases_only: bool = False):
    """Resolve the targets, confirm once (SAFETY_COMMAND's rule), run WORK(confirmed) on
    each, print a line per target as it ends (a bar over targets on a terminal), then the
    summary or --json; a failed target fails the command, naming it."""
    if parallel < 0:
        raise UsageError(f"--parallel expects a number of 1 or more, got {parallel}.")
    env = environment()
    env.require_project()
    targets = fleet_targets.resolve(env, match, schemas, _names(only))
    tenants = [t.name for t in targets if t.schema is not None]
    if databases_only and tenants:
        raise UsageError(f"`fleet {verb.lower()}` runs on databases, and {tenants[0]!r} is a "
                         "schema target (--schemas, `schemas` in the fleet file): schema "
                         "targets take `fleet status` and `fleet migrate up`.")
    for target in targets:
        if target.database.password:
            output.hide(target.database.password)
    confirmed = False
    if safety_command is not None:
        confirmed = fleet_run.confirm_once(safety_command, env, targets, yes=yes,
                                           confirm=confirm, say=output.line)
    if not parallel:
        parallel = fleet_run.default_parallel(targets[0].database)
    bar = None if json else output.ProgressBar.on_terminal("Targets", unit="items")

    def finished(outcome, count: int, total: int) -> None:
        if not json:
            mark = output.CHECK if outcome.state == fleet_run.DONE else "✗"
            output.line(f"{mark} {outcome.target.name}: {outcome.line} "
                        f"({outcome.seconds:.2f} s)")
        if bar is not None:
            bar(count, total)

    if not json:
        output.line(f"{verb} on {len(targets)} target{'s' if len(targets) != 1 else ''}, "
                    f"{parallel} at a time")
    fleet = fleet_run.Fleet(env, targets, parallel, continue_on_error, _explain, finished)
    outcomes = output.with_progress(bar, lambda _: fleet.run(work(confirmed)))
    if json:
        output.as_json([o.as_dict() for o in outcomes])
    failed = fleet_run.failure(outcomes, continue_on_error)
    if failed is not None:
        raise failed
    if not json:
        output.ok(f"{verb}: {len(outcomes)} target{'s' if len(outcomes) != 1 else ''} done")


@command(iterable=["only"], help=FLEET_HELP)
def status(c, match=None, schemas=None, only=None, parallel=0, continue_on_error=False,
           json=False):
    """Each target's migrations: applied, pending, changed, missing, and drift."""
    _run("Status", lambda confirmed: fleet_commands.status, match=match, schemas=schemas,
         only=only, parallel=parallel, continue_on_error=continue_on_error, json=json)


@command(iterable=["only"], help={
    **FLEET_HELP, "no_backup": "Skip each target's backup before applying (production's "
                               "pre-migration backup, or the safety backup before statements "
                               "that destroy data).",
    "allow_env_mismatch": MISMATCH_HELP, "lock_timeout": LOCK_HELP,
    "yes": yes_help("migrate up", "the whole fleet at once"),
    "confirm": confirm_help("migrate up")})
def up(c, match=None, schemas=None, only=None, parallel=0, continue_on_error=False,
       json=False, yes=False, confirm=None, lock_timeout=60.0, no_backup=False,
       allow_env_mismatch=False):
    """`migrate up` on every target, N at a time: each migration in its own transaction with
    its tracking row, each target under its own migrate lock; one confirmation for all."""
    timeout = flags.lock_timeout(lock_timeout)

    def work(confirmed: bool):
        confirmation = fleet_commands.Confirmation(confirmed, allow_env_mismatch,
                                                   not no_backup)
        return fleet_commands.migrate_up(timeout, confirmation)

    _run("Migrate up", work, match=match, schemas=schemas, only=only, parallel=parallel,
         continue_on_error=continue_on_error, json=json, safety_command="migrate up",
         yes=yes, confirm=confirm)


@command(iterable=["only"], help={
    **FLEET_HELP, "allow_env_mismatch": MISMATCH_HELP, "lock_timeout": LOCK_HELP,
    "yes": yes_help("update", "the whole fleet at once"), "confirm": confirm_help("update")})
def update(c, match=None, schemas=None, only=None, parallel=0, continue_on_error=False,
           json=False, yes=False, confirm=None, lock_timeout=60.0, allow_env_mismatch=False):
    """`db update` on every target, N at a time: backup, every pending migration in one
    transaction, verify; one confirmation for all."""
    timeout = flags.lock_timeout(lock_timeout)

    def work(confirmed: bool):
        return fleet_commands.update(timeout, fleet_commands.Confirmation(
            confirmed, allow_env_mismatch))

    _run("Update", work, match=match, schemas=schemas, only=only, parallel=parallel,
         continue_on_error=continue_on_error, json=json, safety_command="update", yes=yes,
         confirm=confirm, databases_only=True)


@command(iterable=["only"], help=FLEET_HELP)
def backup(c, match=None, schemas=None, only=None, parallel=0, continue_on_error=False,
           json=False):
    """A verified backup of every target in backups/<env>/, N at a time."""
    _run("Backup", lambda confirmed: fleet_commands.backup, match=match, schemas=schemas,
         only=only,
         parallel=parallel, continue_on_error=continue_on_error, json=json,
         databases_only=True)


migrate = Collection("migrate", up)
collection = Collection("fleet", status, update, backup, migrate)
