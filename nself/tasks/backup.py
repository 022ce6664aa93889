"""`db.backup` tasks (create by default, list, status, prune) and `db.restore`."""

from __future__ import annotations

import sys

from invoke import Collection

from nself import output
from nself.errors import UsageError
from nself.tasks.base import command, environment


def _progress():
    """A bytes-written line that rewrites itself, on a terminal only."""
    if not sys.stdout.isatty():
        return None, lambda: None
    seen = {"any": False}

    def show(written: int) -> None:
        seen["any"] = True
        sys.stdout.write(f"\r  {output.size(written)} written ")
        sys.stdout.flush()

    def done() -> None:
        if seen["any"]:
            sys.stdout.write("\r\033[K")
            sys.stdout.flush()

    return show, done


@command(
    name="create",
    default=True,
    help={
        "name": "File name instead of the timestamped one (in backups/; the extension is added).",
        "output": "Write the backup to this path (.sql / .sql.gz imply --format sql).",
        "compress": "--no-compress: do not compress (custom: -Z0; sql: a plain .sql file).",
        "tables": "Only these tables, comma-separated (a,b or schema.a).",
        "exclude": "Leave out these tables, comma-separated.",
        "schema-only": "Only the schema, no rows.",
        "data-only": "Only the rows, no schema.",
        "format": "custom (pg_dump -Fc, .dump; the default) or sql (.sql.gz).",
        "include-metadata": "Hasura metadata: not supported (nself runs no Hasura).",
    },
)
def create(c, name=None, output_=None, compress=True, tables=None, exclude=None,
           schema_only=False, data_only=False, format=None, include_metadata=False):
    """Create a backup: backups/<YYYY-MM-DD_HHMMSS>_<database>.dump, verified, with its sha256."""
    from nself import backups

    if include_metadata:
        raise UsageError("--include-metadata is not supported: nself manages PostgreSQL only "
                         "and has no Hasura metadata to save. Export it with the Hasura CLI "
                         "(`hasura metadata export`).")
    options = backups.BackupOptions(
        name=name, output=output_, format=format, compress=None if compress else False,
        tables=backups.split_names(tables), exclude=backups.split_names(exclude),
        schema_only=schema_only, data_only=data_only)
    env = environment()
    output.line("Creating backup...")
    show, done = _progress()
    try:
        made = backups.create(env, options, progress=show)
    finally:
        done()
    output.line(f"Backup created: {env.relative(made.path)}")
    output.line(f"Size: {output.size(made.size_bytes)}")


@command(name="list", help={"json": "Print the list as JSON.",
                            "verify": "Recompute each file's sha256 and compare it."})
def list_(c, json=False, verify=False):
    """List backups, newest first: name, date, size, format, checksum."""
    from nself import backups

    env = environment()
    found = backups.list_backups(env)
    rows = []
    for b in found:
        item = b.to_dict(env)
        if verify:
            item["checksum_ok"] = backups.verify_listed(b)
        rows.append(item)
    if json:
        output.as_json(rows)
        return
    if not found:
        output.line(f"No backups in {env.relative(env.backups_dir)}/. "
                    "Create one with `nself db backup`.")
        return
    table_rows = []
    for b, item in zip(found, rows, strict=True):
        checksum = f"sha256:{b.sha256[:12]}" if b.sha256 else "none"
        if verify:
            checksum += f" {item['checksum_ok']}"
        table_rows.append((b.name, b.created.strftime("%Y-%m-%d %H:%M:%S"),
                           output.size(b.size_bytes),
                           b.format + ("" if b.compressed or b.format == "custom" else " (plain)"),
                           checksum))
    output.table(("Name", "Created", "Size", "Format", "Checksum"), table_rows)


@command(help={"json": "Print the status as JSON."})
def status(c, json=False):
    """Show the backup configuration: schedule, retention, storage, last backup, count."""
    from nself import backups

    env = environment()
    facts = backups.schedule_status(env)
    if json:
        output.as_json(facts)
        return
    last = facts["last_backup"]
    storage = "Local" if facts["storage"] == "local" else facts["storage"].upper()
    output.heading("Backup Configuration", 24)
    rows = [
        ("Enabled", "yes" if facts["enabled"] else "no (BACKUP_ENABLED is not true)"),
        ("Schedule", f"{facts['schedule_text']} ({facts['schedule']})"),
        ("Retention", f"{facts['retention_days']} days"),
        ("Compression", "on" if facts["compression"] else "off"),
        ("Storage", f"{storage} ({facts['folder']}/)" if facts["storage"] == "local"
         else f"{storage} - not supported yet"),
        ("Last Backup", f"{last['created']:%Y-%m-%d %H:%M:%S} ({last['name']})" if last
         else "none"),
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
    """Delete backups older than BACKUP_RETENTION_DAYS (never the newest one)."""
    from nself import backups

    env = environment()
    doomed = backups.prune(env, dry_run=dry_run)
    days = backups.retention_days(env)
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
        "file": "The backup to restore (default: the newest in backups/).",
        "dry-run": "Show what would be restored and where; change nothing.",
        "clean": "Drop the existing objects first, so the database equals the backup.",
        "yes": "Confirm (staging).",
        "confirm": "The typed word production needs: yes-restore-production.",
        "jobs": "Parallel pg_restore jobs (custom format; default: cores, at most 4).",
        "json": "Print the result as JSON.",
        "no_backup": "With --clean in staging/production: skip the backup of the current "
                     "database that is taken before dropping it.",
    },
)
def restore(c, file=None, dry_run=False, clean=False, yes=False, confirm=None, jobs=0,
            json=False, no_backup=False):
    """Restore a backup into the configured database (checksum checked first)."""
    from nself.backups.restore import restore as restore_backup

    env = environment()
    say = (lambda text: None) if json else output.line
    report = restore_backup(env, file, dry_run=dry_run, clean=clean, yes=yes, confirm=confirm,
                             jobs=jobs or None, say=say, safety_backup=not no_backup)
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
    output.line(f"Target: {report.target}")
    clean = {"drop-all": "drop every schema first (the database will equal the backup)",
             "drop-listed": "drop the backup's own objects first (others are kept)",
             "truncate": "empty the backup's tables first"}
    output.line(f"Clean: {clean.get(report.clean, 'no')}")
    if report.jobs > 1:
        output.line(f"Jobs: {report.jobs}")
    counts = ", ".join(f"{n} {kind.lower()}" for kind, n in sorted(report.counts.items()))
    output.line(f"Objects: {counts or 'none'}")
    output.line(f"Tables ({len(report.tables)}): {', '.join(report.tables) or 'none'}")
    if report.conflicts:
        output.warn(f"Already in the target: {', '.join(report.conflicts)} "
                    "(a restore needs --clean)")


collection = Collection("backup", create, list_, status, prune)
