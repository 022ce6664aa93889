"""Backups and restores: create, verify, list, prune, restore, and the schedule in words.

`store` knows the files and their metadata, `dump` creates them, `verify` reads them
back, `restore` loads them, `schedule` describes the BACKUP_* settings. Import the
submodule you need (`db status` needs only `store`).
"""
