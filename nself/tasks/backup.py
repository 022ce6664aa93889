"""`db backup` tasks (create by default, list, status, prune; `schedule` install, uninstall,
run) and `db restore`: the guides' "Backup and Restore" section. With BACKUP_STORAGE=s3 they
use the bucket too (nself.backups.places merges both; nself.backups.remote alone imports
boto3).

The backups package is reached through `nself.tasks.library` (imported when a task first
uses it): every `nself` command imports this module, and `db status` needs none of it.
"""

from __future__ import annotations

from invoke import Collection

from nself import output
from nself.errors import UsageError
from nself.tasks.base import command, environment
from nself.tasks.flags import JSON_HELP, MISMATCH_HELP, confirm_help, guard, yes_help
from nself.tasks.library import dump, places, schedule, store
from nself.tasks.library import restore as restoring

ALL_HELP = "Every environment's and database's backups (backups/*/ and the old flat backups/)."


@command(
    name="create",
    default=True,
    help={
        "name": "File name instead of the timestamped one (in backups/<env>/; unique there; "
                "the extension is added).",
        "output": "Write the backup to this path (.sql / .sql.gz imply --format sql).",
        "compress": "--no-compress: do not compress (custom: -Z0; sql: a plain .sql file).",
        "tables": "Only these tables, comma-separated (a,b or schema.a): kind `tables`.",
        "exclude": "Leave out these tables, comma-separated: kind `tables`.",
        "schema-only": "Only the schema, no rows.",
        "data-only": "Only the rows, no schema.",
        "format": "custom (pg_dump -Fc, .dump; the default) or sql (.sql.gz).",
        "include-metadata": "Hasura metadata: not supported (nself runs no Hasura).",
    },
)
def create(c, name=None, output_=None, compress=True, tables=None, exclude=None,
           schema_only=False, data_only=False, format=None, include_metadata=False):
    """Create a backup: backups/<env>/<YYYY-MM-DD_HHMMSS>_<database>.dump, verified, with its
    sha256 and metadata; with BACKUP_STORAGE=s3, then uploaded and read back."""
    if include_metadata:
        raise UsageError("--include-metadata is not supported: nself manages PostgreSQL only "
                         "and has no Hasura metadata to save. Export it with the Hasura CLI "
                         "(`hasura metadata export`).")
    options = dump.BackupOptions(
        name=name, output=output_, format=format, compress=None if compress else False,
        tables=dump.split_names(tables), exclude=dump.split_names(exclude),
        schema_only=schema_only, data_only=data_only)
    env = environment()
    bucket = places.bucket(env)  # S3 settings checked before anything is dumped
    output.line("Creating backup...")
    made = output.with_progress(output.ProgressBar.on_terminal("Writing"),
                                lambda bar: dump.create_backup(env, options, bar))
    output.line(f"Backup created: {env.relative(made.path)}")
    output.line(f"Size: {output.size(made.size_bytes)}")
    if bucket:
        output.with_progress(output.ProgressBar.on_terminal("Upload and read-back"),
                             lambda bar: places.upload(env, bucket, made, output.line, bar))


def _created(backup) -> str:
    return backup.created.strftime("%Y-%m-%d %H:%M:%S") if backup.created else "unknown"


@command(name="list", help={"json": JSON_HELP,
                            "verify": "Recompute each file's sha256 and compare it (with "
                                      "BACKUP_STORAGE=s3, read each bucket copy back too).",
                            "all": ALL_HELP})
def list_(c, json=False, verify=False, all=False):
    """List this environment's backups of its database, newest first (by the time in their
    metadata): name, created, size, kind, format, checksum; with BACKUP_STORAGE=s3, the
    bucket's too, and where each one is stored."""
    env = environment()
    found = places.listing(env, everywhere=all, verify=verify)
    if json:
        output.as_json([item.to_dict(env) for item in found.items])
    elif not found.items:
        output.line(f"No backups of {env.name} in {found.where(env)}. "
                    "Create one with `nself db backup`.")
    else:
        _list_table(env, found, verify, all)
    if found.hidden and not json:
        output.line(f"({found.hidden} backup(s) of other projects, environments or databases: "
                    "`nself db backup list --all` shows them.)")
    if found.unchecked() and not json:
        output.line(found.unchecked())
    if found.unlisted:
        raise found.unlisted


def _list_table(env, found, verify: bool, all: bool) -> None:
    rows = []
    for item in found.items:
        b = item.backup
        checksum = f"sha256:{b.sha256[:12]}" if b.sha256 else "none"
        if verify:
            checksum += f" {item.checksum_ok}"
            if item.remote_checksum_ok is not None:
                checksum += f", s3 {item.remote_checksum_ok}"
        kind = b.kind + (f" (before {b.reason})" if b.reason else "")
        fmt = b.format + ("" if b.compressed or b.format == "custom" else " (plain)")
        first = (b.to_dict(env)["file"],) if all else (b.name,)
        where = (b.environment or "?", b.database or "?") if all else ()
        place = (", ".join(item.stored),) if found.bucket else ()
        whose = (item.whose,) if found.marked else ()
        rows.append((*first, _created(b), output.size(b.size_bytes), kind, *where,
                     fmt, *place, checksum, *whose))
    headers = ("File" if all else "Name", "Created", "Size", "Kind",
               *(("Environment", "Database") if all else ()), "Format",
               *(("Stored",) if found.bucket else ()), "Checksum",
               *(("Whose",) if found.marked else ()))
    output.table(headers, rows)


@command(help={"json": JSON_HELP, "all": ALL_HELP})
def status(c, json=False, all=False):
    """Show the backup configuration: schedule (and whether it is installed), retention,
    storage, last backup, next backup, last scheduled run, count."""
    # croniter (~70 ms) only for this command
    env = environment()
    facts = schedule.schedule_status(env, everywhere=all)
    bucket = places.bucket(env)
    remote_count, remote_error = places.remote_count(env, bucket, everywhere=all)
    facts["remote_count"] = remote_count
    if json:
        output.as_json({**facts, "remote_error": remote_error})
        return
    last = facts["last_backup"]
    found = facts["installed"]
    output.heading("Backup Configuration", 24)
    if not found:
        next_backup = "- (no schedule installed: `nself db backup schedule install`)"
    elif not facts["enabled"]:
        next_backup = "- (BACKUP_ENABLED is not true: the installed schedule skips its runs)"
    else:
        next_backup = f"{facts['next_run']:%Y-%m-%d %H:%M:%S}"
    count = str(facts["count"])
    if bucket:
        count += (f" local, {remote_count} in S3" if remote_error is None else
                  " local, unknown in S3 (the bucket cannot be listed)")
    # the guides' block first, in their order; then what else there is to know
    rows = [
        ("Schedule", f"{facts['schedule_text']} ({facts['schedule']})"),
        ("Retention", f"{facts['retention_days']} days"),
        ("Storage", f"S3 ({facts['bucket']})" if facts["storage"] == "s3"
         else f"Local ({facts['folder']}/)"),
        ("Last Backup", f"{last['created']:%Y-%m-%d %H:%M:%S} ({last['name']}, {last['kind']})"
         if last else "none"),
        ("Next Backup", next_backup),
        ("Backups Count", count),
        ("", None),
        ("Environment", "all" if all else env.name),
        ("Enabled", "yes" if facts["enabled"] else "no (BACKUP_ENABLED is not true)"),
        ("Installed", f"{found['scheduler']} ({found['schedule']})" if found else "no"),
        ("Last Scheduled Run", _last_run(facts["last_scheduled_run"])),
        ("Compression", "on" if facts["compression"] else "off"),
        ("Folder", f"{facts['folder']}/"),
    ]
    if bucket:
        rows.append(("Bucket", facts["remote"]))
    for label, value in rows:
        output.line(f"{label}: {value}" if label else "")
    if found and found["schedule"] != facts["schedule"]:
        output.warn(f"The installed schedule ({found['schedule']}) is not BACKUP_SCHEDULE "
                    f"({facts['schedule']}): run `nself db backup schedule install` again.")
    if remote_error:
        output.warn(remote_error)


def _last_run(result: dict | None) -> str:
    if not result:
        return "none"
    moment = store.parse_time(result.get("finished") or result.get("started"))
    when = f"{moment:%Y-%m-%d %H:%M:%S}" if moment else "?"
    status = result.get("status", "?")
    if status == "ok":
        detail = result.get("backup", "")
        if result.get("uploaded"):
            detail += f", uploaded to {result['uploaded']}"
        if result.get("pruned"):
            detail += f", pruned {len(result['pruned'])}"
        return f"{when} ok ({detail})"
    if status == "failed":
        return f"{when} FAILED: {output.redact(result.get('message', ''))}"
    return f"{when} {status}" + (f" ({result['message']})" if result.get("message") else "")


@command(help={"dry-run": "Only list what would be deleted."})
def prune(c, dry_run=False):
    """Delete this environment's backups older than BACKUP_RETENTION_DAYS (never the newest,
    nor the newest complete one, nor one without metadata); with BACKUP_STORAGE=s3, in the
    bucket too, by the same rules."""
    env = environment()
    verb = "Would delete" if dry_run else "Deleted"
    shown = places.prune(env, dry_run, lambda pruned: _say_pruned(verb, pruned))
    days = store.retention_days(env)
    if not shown:
        output.line(f"No backups older than {days} days.")
        return
    freed = sum(b.size_bytes for _, b in shown)
    output.ok(f"{verb} {len(shown)} backup(s) older than {days} days "
              f"({output.size(freed)}).")


def _say_pruned(verb: str, doomed) -> None:
    for shown, b in doomed:
        output.line(f"{verb} {shown} ({b.created:%Y-%m-%d %H:%M}, {output.size(b.size_bytes)})")


@command(
    positional_flag="file",
    help={
        "file": "The backup to restore (default: the newest full backup of this project, "
                "environment, database and server made by `nself db backup` or the "
                "schedule, by the time in its metadata; never a safety backup).",
        "latest": "Without FILE: the newest full backup of this database of any kind, "
                  "safety backups (taken before migrate down, restore --clean, ...) included.",
        "dry-run": "Show what would be dropped (tables, row counts) and what the backup holds; "
                   "change nothing.",
        "clean": "Drop the existing objects first, so the database equals the backup.",
        "yes": yes_help("restore", "--allow-partial / --allow-other-source"),
        "confirm": confirm_help("restore"),
        "jobs": "Parallel pg_restore jobs, 1 to 64, only into a database without tables and "
                "without --clean (custom format; they cannot share one transaction). 0, the "
                "default: one job, the whole restore in one transaction.",
        "json": JSON_HELP,
        "no-backup": "With --clean: skip the safety backup of the current database that is "
                     "taken before dropping it.",
        "allow-partial": "Allow --clean with a partial backup (schema-only, data-only, tables "
                         "or without metadata).",
        "allow-other-source": "Allow a backup of another project, environment, database or "
                              "server (or one without metadata, or older than nself's "
                              "provenance record); not needed into an empty database.",
        "allow-env-mismatch": MISMATCH_HELP,
    },
)
def restore(c, file=None, dry_run=False, clean=False, yes=False, confirm=None, jobs=0,
            json=False, no_backup=False, allow_partial=False, allow_other_source=False,
            allow_env_mismatch=False, latest=False):
    """Restore a backup into the configured database (checksum checked first)."""
    env = environment()
    say = (lambda text: None) if json else output.line
    checks = guard(env, yes, confirm, allow_env_mismatch, no_backup, say)
    report = output.with_progress(
        None if json or dry_run else output.ProgressBar.on_terminal("Restoring"),
        lambda bar: restoring.restore(env, file, guard=checks, dry_run=dry_run, clean=clean,
                                   jobs=None if jobs == 0 else jobs, allow_partial=allow_partial,
                                   allow_other_source=allow_other_source, say=say,
                                   progress=bar, latest=latest))
    if json:
        output.as_json(report.to_dict())
        return
    if dry_run:
        _preview(report)
        return
    for message in report.ignored[:5]:
        output.warn(f"ignored: {message}")
    if report.ignored:
        output.warn(f"{len(report.ignored)} ownership/extension message(s) ignored "
                    "(they do not change the restored data).")
    output.ok(f"Restored {report.file} ({len(report.tables)} tables) into {report.target} "
              f"in {report.seconds:.1f} s")


def _preview(report) -> None:
    output.heading("Restore preview (nothing changed)")
    made = f"pg_dump {report.pg_dump_version}" if report.pg_dump_version else "pg_dump"
    source = f", from PostgreSQL {report.server_version}" if report.server_version else ""
    output.line(f"File: {report.file} ({report.format}, {made}{source}; "
                f"{report.checked_by} ok)")
    output.line(f"Backup: {report.kind}, environment {report.source_environment or 'unknown'}, "
                f"database {report.source_database or 'unknown'}, created "
                f"{report.created or 'unknown'}")
    output.line(f"What: {report.description}")
    output.line(f"Whose: {report.whose}" + (" (another source)" if report.other_source
                                            else " (this database)"))
    output.line(f"Target: {report.target}")
    clean = {"drop-all": "drop every schema first (the database will equal the backup)",
             "drop-listed": "drop the backup's own objects first (others are kept)",
             "truncate": "empty the backup's tables first"}
    output.line(f"Clean: {clean.get(report.clean, 'no')}")
    if report.clean:
        rows = sum(n for n in report.dropped.values() if n)
        output.line(f"Will be {report.dropped_action} ({len(report.dropped)} relations, "
                    f"{rows} rows):" if report.dropped else
                    f"Will be {report.dropped_action}: nothing (the target has no user tables)")
        for name, count in report.dropped.items():
            output.line(f"  {name}" + (f" ({count} rows)" if count is not None else " (view)"))
    if report.jobs > 1:
        output.line(f"Jobs: {report.jobs}")
    counts = ", ".join(f"{n} {kind.lower()}" for kind, n in sorted(report.counts.items()))
    output.line(f"Objects: {counts or 'none'}")
    output.line(f"Tables ({len(report.tables)}): {', '.join(report.tables) or 'none'}")
    if report.needs:
        output.warn(f"Needs {' and '.join(report.needs)} (and a confirmation, or --yes)")
    if report.conflicts:
        output.warn(f"Already in the target: {', '.join(report.conflicts)} "
                    "(a restore needs --clean)")


@command(help={"print": "Only show what would be installed (the crontab line or the "
                         "systemd units); change nothing."})
def install(c, print=False):
    """Install the backup schedule (BACKUP_SCHEDULE) for the current user: a crontab line,
    or a systemd user timer where there is no crontab. Installing again replaces it."""
    env = environment()
    if print:
        found = schedule.scheduler(env) or schedule.Crontab("crontab")
        output.line(found.render(env, schedule.schedule_expr(env)).rstrip("\n"))
        return
    found, replaced, expr = schedule.install(env)
    missing = schedule.shell_only(env)
    if missing:
        output.warn(f"Set only in this shell, not in .env or config/{env.name}.env, so the "
                    f"scheduled runs will not have them: {', '.join(missing)}.")
    verb = "Replaced" if replaced else "Installed"
    output.ok(f"{verb} the backup schedule ({found.name}): {schedule.describe_schedule(expr)} "
              f"({expr}), environment {env.name}")
    output.line(f"Next backup: {schedule.next_run(expr):%Y-%m-%d %H:%M:%S}")
    output.line(f"Each run: a backup, then pruning by BACKUP_RETENTION_DAYS; its output goes to "
                f"{env.relative(schedule.log_path(env))}.")


@command
def uninstall(c):
    """Remove this project's and environment's backup schedule (crontab line or timer)."""
    env = environment()
    found = schedule.scheduler(env)
    if found is None or not found.uninstall(env):
        output.line(f"No backup schedule installed for {env.name} of {env.root}.")
        return
    output.ok(f"Removed the backup schedule ({found.name}) for {env.name} of {env.root}.")


@command
def run(c):
    """What the installed schedule runs: a backup (uploaded with BACKUP_STORAGE=s3), then
    pruning by BACKUP_RETENTION_DAYS; the result is kept for `db backup status`."""
    env = environment()
    output.line(f"Scheduled backup of {env.name}...")
    result = output.with_progress(output.ProgressBar.on_terminal("Writing"),
                                  lambda bar: schedule.run_scheduled(env, output.line, bar))
    if result["status"] == "ok":
        output.ok("Scheduled backup done.")


schedule_collection = Collection("schedule", install, uninstall, run)
collection = Collection("backup", create, list_, status, prune)
collection.add_collection(schedule_collection)
