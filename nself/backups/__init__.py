"""Backups and restores: create, verify, list, prune, restore, and the schedule in words.

`store` knows the files, `dump` creates them, `verify` reads them back, `restore`
loads them, `schedule` describes the BACKUP_* settings. The names below are the
package's public face (tasks and `db status` use them); each submodule is
imported on first use, so `db status` pays only for `store`.
"""

from importlib import import_module

_WHERE = {
    "dump": ("BackupOptions", "create", "dump_args", "split_names"),
    # `restore` the function is reached as nself.backups.restore.restore: the submodule
    # of the same name would shadow it here.
    "restore": ("Contents", "RestoreReport", "classify_errors", "contents", "parse_toc",
                "resolve_file"),
    "schedule": ("describe_schedule", "next_run", "schedule_status"),
    "store": ("Backup", "checksum_path", "clean_partials", "latest_backup", "list_backups",
              "meta_path", "prune", "read_checksum", "retention_days", "sha256_of",
              "verify_listed"),
    "verify": ("VerificationFailed", "check", "verify_file"),
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'nself.backups' has no attribute {name!r}")
    value = getattr(import_module(f"nself.backups.{module}"), name)
    globals()[name] = value
    return value
