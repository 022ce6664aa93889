"""`db.backup` tasks (create by default, list, status, prune) and `db.restore`.

The backups package is imported inside each task, not here: every `nself` command imports
this module, and `db status` (the start-up benchmark) needs none of it (restore, dump and
their imports cost ~20 ms; the schedule's croniter ~70 ms).
"""

from __future__ import annotations

from invoke import Collection

from nself import output
from nself.errors import UsageError
from nself.tasks.base import command, environment

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
    sha256 and metadata."""
    from nself.backups.dump import BackupOptions, create_backup, split_names

    if include_metadata:
        raise UsageError("--include-metadata is not supported: nself manages PostgreSQL only "
                         "and has no Hasura metadata to save. Export it with the Hasura CLI "
                         "(`hasura metadata export`).")
    options = BackupOptions(
        name=name, output=output_, format=format, compress=None if compress else False,
        tables=split_names(tables), exclude=split_names(exclude),
        schema_only=schema_only, data_only=data_only)
    env = environment()
    output.line("Creating backup...")
    made = output.with_progress(output.ProgressBar.on_terminal("Writing"),
                     lambda bar: create_backup(env, options, progress=bar))
    output.line(f"Backup created: {env.relative(made.path)}")
    output.line(f"Size: {output.size(made.size_bytes)}")


def _created(backup) -> str:
    return backup.created.strftime("%Y-%m-%d %H:%M:%S") if backup.created else "unknown"


@command(name="list", help={"json": "Print the list as JSON.",
                            "verify": "Recompute each file's sha256 and compare it.",
                            "all": ALL_HELP})
def list_(c, json=False, verify=False, all=False):
    """List this environment's backups of its database, newest first (by the time in their
    metadata): name, created, size, kind, format, checksum."""
    from nself.backups.store import all_backups, hidden_count, list_backups, verify_listed

    env = environment()
    found = all_backups(env) if all else list_backups(env)
    rows = []
    for b in found:
        item = b.to_dict(env)
        if verify:
            item["checksum_ok"] = verify_listed(b)
        rows.append(item)
    if json:
        output.as_json(rows)
        return
    hidden = 0 if all else hidden_count(env)
    if not found:
        output.line(f"No backups of {env.name} in {env.relative(env.backups_dir)}/. "
                    "Create one with `nself db backup`.")
    else:
        table_rows = []
        for b, item in zip(found, rows, strict=True):
            checksum = f"sha256:{b.sha256[:12]}" if b.sha256 else "none"
            if verify:
                checksum += f" {item['checksum_ok']}"
            kind = b.kind + (f" (before {b.reason})" if b.reason else "")
            fmt = b.format + ("" if b.compressed or b.format == "custom" else " (plain)")
            first = (env.relative(b.path),) if all else (b.name,)
            where = (b.environment or "?", b.database or "?") if all else ()
            table_rows.append((*first, _created(b), output.size(b.size_bytes), kind, *where,
                               fmt, checksum))
        headers = ("File" if all else "Name", "Created", "Size", "Kind",
                   *(("Environment", "Database") if all else ()), "Format", "Checksum")
        output.table(headers, table_rows)
    if hidden:
        output.line(f"({hidden} backup(s) of other environments or databases: "
                    "`nself db backup list --all` shows them.)")


@command(help={"json": "Print the status as JSON.", "all": ALL_HELP})
def status(c, json=False, all=False):
    """Show the backup configuration: schedule, retention, storage, last backup, count."""
    # croniter (~70 ms) only for this command
    from nself.backups.schedule import schedule_status

    env = environment()
    facts = schedule_status(env, everywhere=all)
    if json:
        output.as_json(facts)
        return
    last = facts["last_backup"]
    storage = "Local" if facts["storage"] == "local" else facts["storage"].upper()
    output.heading("Backup Configuration", 24)
    rows = [
        ("Environment", "all" if all else env.name),
        ("Enabled", "yes" if facts["enabled"] else "no (BACKUP_ENABLED is not true)"),
        ("Schedule", f"{facts['schedule_text']} ({facts['schedule']})"),
        ("Retention", f"{facts['retention_days']} days"),
        ("Compression", "on" if facts["compression"] else "off"),
        ("Storage", f"{storage} ({facts['folder']}/)" if facts["storage"] == "local"
         else f"{storage} - not supported yet"),
        ("Last Backup", f"{last['created']:%Y-%m-%d %H:%M:%S} ({last['name']}, {last['kind']})"
         if last else "none"),
        ("Next Backup", f"{facts['next_run']:%Y-%m-%d %H:%M:%S}" if facts["next_run"]
         else "- (not scheduled)"),
        ("Backups Count", str(facts["count"])),
    ]
    for label, value in rows:
        output.line(f"{label}: {value}")
    if facts["storage_note"]:
        output.warn(facts["storage_note"])
    output.line("")
    output.line("nself does not run a scheduler: add this line to your crontab (crontab -e):")
    output.line(f"  {facts['crontab']}")


@command(help={"dry-run": "Only list what would be deleted."})
def prune(c, dry_run=False):
    """Delete this environment's backups older than BACKUP_RETENTION_DAYS (never the newest,
    nor the newest complete one, nor one without metadata)."""
    from nself.backups.store import prune as prune_backups
    from nself.backups.store import retention_days

    env = environment()
    doomed = prune_backups(env, dry_run=dry_run)
    days = retention_days(env)
    if not doomed:
        output.line(f"No backups older than {days} days.")
        return
    verb = "Would delete" if dry_run else "Deleted"
    for b in doomed:
        output.line(f"{verb} {env.relative(b.path)} ({b.created:%Y-%m-%d %H:%M}, "
                    f"{output.size(b.size_bytes)})")
    freed = sum(b.size_bytes for b in doomed)
    output.ok(f"{verb} {len(doomed)} backup(s) older than {days} days "
              f"({output.size(freed)}).")


@command(
    positional_flag="file",
    help={
        "file": "The backup to restore (default: the newest complete backup of this "
                "environment and database, by the time in its metadata).",
        "dry-run": "Show what would be dropped (tables, row counts) and what the backup holds; "
                   "change nothing.",
        "clean": "Drop the existing objects first, so the database equals the backup.",
        "yes": "Confirm (staging, and --allow-partial / --allow-other-source without a "
               "terminal).",
        "confirm": "The typed word production needs: yes-restore-production.",
        "jobs": "Parallel pg_restore jobs, 1 to 64 (custom format; 0, the default: the "
                "number of cores, at most 4).",
        "json": "Print the result as JSON.",
        "no-backup": "With --clean: skip the safety backup of the current database that is "
                     "taken before dropping it.",
        "allow-partial": "Allow --clean with a partial backup (schema-only, data-only, tables "
                         "or without metadata).",
        "allow-other-source": "Allow a backup of another environment or database (or one "
                              "without metadata).",
        "allow-env-mismatch": "Run although the database is recorded as another environment "
                              "(staging/production)",
    },
)
def restore(c, file=None, dry_run=False, clean=False, yes=False, confirm=None, jobs=0,
            json=False, no_backup=False, allow_partial=False, allow_other_source=False,
            allow_env_mismatch=False):
    """Restore a backup into the configured database (checksum checked first)."""
    from nself.backups.restore import restore as restore_backup
    from nself.guard import Guard

    env = environment()
    say = (lambda text: None) if json else output.line
    guard = Guard(env, yes=yes, confirm=confirm, allow_env_mismatch=allow_env_mismatch,
                  backup=not no_backup, say=say)
    report = output.with_progress(
        None if json or dry_run else output.ProgressBar.on_terminal("Restoring"),
        lambda bar: restore_backup(env, file, guard=guard, dry_run=dry_run, clean=clean,
                                   jobs=None if jobs == 0 else jobs, allow_partial=allow_partial,
                                   allow_other_source=allow_other_source, say=say,
                                   progress=bar))
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


collection = Collection("backup", create, list_, status, prune)
