"""Where backups are kept, as one: the backups folder and, with BACKUP_STORAGE=s3, the
bucket. One listing (a backup in both places is one row that says so), one count, the
upload of a new backup, one prune of both; what `db backup create/list/status/prune` show.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from nself.backups import remote, store
from nself.backups.store import Backup


def bucket(env) -> remote.Bucket | None:
    """The S3 bucket when BACKUP_STORAGE=s3, else None; its settings are checked and boto3
    loaded now (a missing boto3 or a bad profile is exit 2 before anything is done)."""
    found = remote.bucket_for(env)
    if found:
        found.client  # noqa: B018 - the check is the attribute's loading
    return found


@dataclass
class Listed:
    """One backup of a listing: where it is stored and, with --verify, its checks."""

    backup: Backup
    stored: list[str]  # "local", "s3"
    copy: remote.RemoteBackup | None = None  # its copy in the bucket
    checksum_ok: str | None = None  # ok / MISMATCH / none / remote
    remote_checksum_ok: str | None = None
    not_ours: str | None = None  # why it is not this database's (Backup.not_of)
    server_checked: bool = False  # this database's server id was known when compared

    @property
    def whose(self) -> str:
        """`this database` or `not this database's: project p, server …12144760`."""
        return f"not this database's: {self.not_ours}" if self.not_ours else "this database"

    def to_dict(self, env) -> dict:
        item = {**self.backup.to_dict(env), "stored": self.stored,
                "this_database": (False if self.not_ours else
                                  True if self.server_checked else None),
                "not_this_database": self.not_ours}
        if self.not_ours:
            item["description"] += f" ({self.whose})"
        if self.checksum_ok is not None:
            item["checksum_ok"] = self.checksum_ok
        if self.remote_checksum_ok is not None:
            item["remote_checksum_ok"] = self.remote_checksum_ok
        return item


@dataclass
class Listing:
    """The backups of both places, newest first; `unlisted` is the bucket's error when it
    could not be listed (the local rows are still there: show them, then raise it)."""

    items: list[Listed] = field(default_factory=list)
    bucket: remote.Bucket | None = None
    unlisted: remote.RemoteError | None = None
    hidden: int = 0  # other projects', environments' or databases' backups left out
    here: store.Source | None = None  # the configured database's (store.listing_source)

    @property
    def marked(self) -> bool:
        """Some listed backup is not this database's."""
        return any(item.not_ours for item in self.items)

    def unchecked(self) -> str | None:
        """Said below the list when the database's server could not be read."""
        if self.here is None or self.here.server_id is not None or not self.items:
            return None
        return (f"(This database's server could not be read (no answer within "
                f"{store.LIST_CONNECT_TIMEOUT} s, or no embedded data folder yet): backups are "
                "told apart by project, environment and database only.)")

    def where(self, env) -> str:
        """The places searched, for "No backups of ... in ..."."""
        offsite = f" or in {self.bucket.settings.url(self.bucket.folder)}" if self.bucket else ""
        return f"{env.relative(env.backups_dir)}/{offsite}"


def listing(env, everywhere: bool = False, verify: bool = False) -> Listing:
    """This project's environment's backups of its database (every one with `everywhere`),
    local and in the bucket, merged by name and checksum, each marked when it is not this
    database's (another project, environment, database or server: Backup.not_of); with
    `verify`, each file's sha256 recomputed and each bucket copy read back."""
    offsite = bucket(env)
    found = store.all_backups(env) if everywhere else store.list_backups(env)
    items = {id(b): Listed(b, ["local"]) for b in found}
    unlisted = None
    if offsite:
        local = {(b.name, b.sha256): items[id(b)] for b in found}
        try:
            copies = remote.listed(env, offsite, everywhere=everywhere)
        except remote.RemoteError as exc:
            copies, unlisted = [], exc
        for copy in copies:
            twin = local.get((copy.name, copy.sha256))
            if twin is not None:
                twin.stored.append("s3")
                twin.copy = copy
            else:
                items[id(copy)] = Listed(copy, ["s3"], copy)
        found = store.newest_first([item.backup for item in items.values()])
    listed = [items[id(b)] for b in found]
    if verify:
        for item in listed:
            item.checksum_ok = (store.verify_listed(item.backup) if "local" in item.stored
                                else "remote")
            if item.copy is not None:
                item.remote_checksum_ok = offsite.verify(item.copy)
    here = store.listing_source(env)
    for item in listed:
        item.not_ours = item.backup.not_of(here)
        item.server_checked = here.server_id is not None
    return Listing(listed, offsite, unlisted, 0 if everywhere else store.hidden_count(env), here)


def remote_count(env, offsite: remote.Bucket | None, everywhere: bool = False
                 ) -> tuple[int | None, str | None]:
    """How many backups the bucket holds for `db backup status` (None without a bucket),
    and the bucket's error when it cannot be listed."""
    if not offsite:
        return None, None
    try:
        return len(remote.listed(env, offsite, everywhere=everywhere)), None
    except remote.RemoteError as exc:
        return None, str(exc)


def upload(env, offsite: remote.Bucket, made: Backup, say: Callable[[str], None],
           progress=None) -> None:
    """Upload a backup just made and read it back; a failure says the backup exists only
    locally, unless the bucket may hold it whole (its own message says how to find out)."""
    try:
        offsite.upload(made, say, progress=progress)
    except remote.UploadUnverified:
        raise
    except remote.UploadFailed as exc:
        raise remote.UploadFailed(f"{exc} The backup exists only locally: "
                                  f"{env.relative(made.path)}.") from None


def prune(env, dry_run: bool = False,
          said: Callable[[list[tuple[str, Backup]]], None] = lambda pruned: None
          ) -> list[tuple[str, Backup]]:
    """Delete this environment's backups past BACKUP_RETENTION_DAYS locally, then in the
    bucket, by the same rules; return (shown name, backup) of each deleted (or, with
    `dry_run`, to be). `said` hears each place's list as soon as it is done, so the local
    pruning is told even when the bucket then fails."""
    offsite = bucket(env)
    store.retention_days(env)  # a bad setting stops before anything is deleted
    local = [(env.relative(b.path), b) for b in store.prune(env, dry_run=dry_run)]
    said(local)
    if not offsite:
        return local
    offsite_pruned = [(b.url, b) for b in remote.prune(env, offsite, dry_run=dry_run)]
    said(offsite_pruned)
    return local + offsite_pruned
