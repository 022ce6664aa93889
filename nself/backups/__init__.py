"""Backups and restores: create, verify, list, prune, restore, and the schedule in words.

`store` knows the files, `dump` creates them, `verify` reads them back, `restore`
loads them, `schedule` describes the BACKUP_* settings. The names below are the
package's public face (tasks and `db status` use them).
"""

from nself.backups.dump import BackupOptions, create, dump_args, split_names
from nself.backups.restore import (
    Contents,
    RestoreReport,
    classify_errors,
    contents,
    parse_toc,
    resolve_file,
    restore,
)
from nself.backups.schedule import describe_schedule, next_run, schedule_status
from nself.backups.store import (
    Backup,
    checksum_path,
    clean_partials,
    latest_backup,
    list_backups,
    meta_path,
    prune,
    read_checksum,
    retention_days,
    sha256_of,
    verify_listed,
)
from nself.backups.verify import VerificationFailed, check, verify_file

__all__ = [
    "Backup", "BackupOptions", "Contents", "RestoreReport", "VerificationFailed", "check",
    "checksum_path", "classify_errors", "clean_partials", "contents", "create",
    "describe_schedule", "dump_args", "latest_backup", "list_backups", "meta_path", "next_run",
    "parse_toc", "prune", "read_checksum", "resolve_file", "restore", "retention_days",
    "schedule_status", "sha256_of", "split_names", "verify_file", "verify_listed",
]
