"""Off-site copies in an S3 bucket (`BACKUP_STORAGE=s3`): AWS S3, MinIO, R2, any S3 API.

A backup `backups/<env>/<name>` is stored as `<AWS_BACKUP_PREFIX><project>/<env>/<name>`
(one folder per project and environment: teammates and projects may share a bucket) with its
metadata (`<name>.json`) and checksum (`<name>.sha256`) beside it, the sidecars first and
the dump last, so a dump in the bucket always has its facts. The dump goes up streamed
(one part of at most PART_BYTES in memory; multipart above it, each part carrying its
SHA-256 for stores that check it on receipt) and is then read back whole and hashed:
only a copy whose SHA-256 equals the local file's counts as uploaded. Anything a failed
upload left in the bucket is removed; when only the read-back failed (the endpoint went
away after accepting every part), the copy is kept and said to be unverified. Downloads (for
a restore) are written under a hidden partial name, hashed as they arrive, and published only
when the hash matches.

boto3 is imported only here, and this module only when S3 is configured (the `s3` extra).
The S3 settings are read and checked in `nself.config` (`s3_settings`), which registers
the secret key with `display.hide`: no error line shows it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from nself import display
from nself.backups.store import (
    CHUNK,
    META_EXT,
    Backup,
    checksum_path,
    expired,
    is_backup_name,
    meta_path,
    mine,
    newest_first,
    partial_name,
    publish,
    retention_days,
    sync_folder,
    this_source,
    unlink,
)
from nself.backups.verify import VerificationFailed
from nself.config import S3Settings, s3_settings
from nself.errors import ConfigError, NselfError, OperationFailed, UsageError

PART_BYTES = 16 * 1024 * 1024  # multipart above this; S3's minimum part is 5 MiB
MAX_PARTS = 10_000  # S3's limit: bigger files get bigger parts
SHA_META = "sha256"  # the object's user metadata key holding the dump's hex SHA-256


class UploadFailed(OperationFailed):
    """The backup exists locally but did not reach the bucket whole."""


class UploadUnverified(UploadFailed):
    """The bucket may hold the backup (all of it, or part), but whether it does could not be
    checked: the read-back failed, or what a failed upload wrote could not be removed."""


class RemoteError(OperationFailed):
    """The bucket could not be listed, read or written."""


class DownloadCut(RemoteError):
    """The download stopped before the whole backup arrived (nothing was kept: retry)."""


class _Mismatch(Exception):
    """Why an upload does not count (its text is the reason)."""


@dataclass
class RemoteBackup(Backup):
    """A backup in the bucket: `path` is only its name; `key` is where it lies."""

    key: str = ""
    url: str = ""  # s3://bucket/key

    def to_dict(self, env=None) -> dict:
        return {**super().to_dict(), "file": self.url, "key": self.key}


def _part_size(size: int) -> int:
    needed = -(-size // MAX_PARTS)
    return max(PART_BYTES, -(-needed // (1 << 20)) * (1 << 20))


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


class Bucket:
    """The S3 bucket of one environment's backups."""

    def __init__(self, env, settings: S3Settings):
        self.env, self.settings = env, settings
        self._client = None

    @property
    def folder(self) -> str:
        """The key prefix of this project's and environment's backups."""
        return f"{self.settings.prefix}{self.env.project_name}/{self.env.name}/"

    @property
    def legacy_folder(self) -> str:
        """Where backups lay before the project was part of the key (read, never written)."""
        return f"{self.settings.prefix}{self.env.name}/"

    def key_of(self, name: str) -> str:
        return self.folder + name

    @property
    def client(self):
        if self._client is None:
            try:
                import boto3
                from botocore.config import Config
            except ImportError:
                raise ConfigError("BACKUP_STORAGE=s3 needs boto3: pip install 'nself[s3]' "
                                  "(or pip install boto3).") from None
            s = self.settings
            # Checksums only where we ask for them: the SDK's automatic CRC trailers are
            # refused by some S3-compatible stores. Path-style addressing for endpoints
            # (MinIO serves no bucket subdomains).
            config = Config(connect_timeout=10, read_timeout=120,
                            retries={"max_attempts": 3, "mode": "standard"},
                            request_checksum_calculation="when_required",
                            response_checksum_validation="when_required",
                            s3={"addressing_style": "path"} if s.endpoint else None)
            try:
                session = boto3.session.Session(
                    aws_access_key_id=s.access_key, aws_secret_access_key=s.secret_key,
                    aws_session_token=s.session_token, region_name=s.region,
                    profile_name=s.profile)
                self._client = session.client("s3", endpoint_url=s.endpoint, config=config)
            except Exception as exc:  # a profile that does not exist, a bad region
                raise ConfigError(f"Cannot use S3 ({s.where}): {_reason(exc)}") from None
        return self._client

    # reading -----------------------------------------------------------------

    def _call(self, what: str, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except NselfError:
            raise
        except Exception as exc:
            raise RemoteError(f"Cannot {what} {self.settings.url(self.folder)} "
                              f"({self.settings.where}): {_reason(exc)}") from None

    def _keys(self, prefix: str) -> dict[str, dict]:
        """Every object under `prefix`: key -> facts."""
        found: dict[str, dict] = {}

        def walk():
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.settings.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    found[item["Key"]] = item

        self._call("list", walk)
        return found

    def _read_small(self, key: str) -> bytes | None:
        try:
            return self.client.get_object(Bucket=self.settings.bucket, Key=key)["Body"].read()
        except Exception as exc:
            if _code(exc) in ("NoSuchKey", "404"):
                return None
            raise RemoteError(f"Cannot read {self.settings.url(key)}: {_reason(exc)}") from None

    def backups(self, everywhere: bool = False, folder: str | None = None
                ) -> list[RemoteBackup]:
        """The backups in this project's and environment's folder (`folder`, or the whole
        prefix with `everywhere`), with their metadata, newest first by metadata time."""
        objects = self._keys(self.settings.prefix if everywhere else folder or self.folder)
        names = [k for k in objects if is_backup_name(k.rsplit("/", 1)[-1])]

        def load(key: str) -> RemoteBackup:
            meta = _json(self._read_small(key + META_EXT)) if key + META_EXT in objects else {}
            item = objects[key]
            sha = meta.get("sha256") if isinstance(meta.get("sha256"), str) else None
            return RemoteBackup(
                path=Path(key.rsplit("/", 1)[-1]), format=meta.get("format") or _guess(key),
                compressed=bool(meta.get("compressed", True)), size_bytes=int(item["Size"]),
                sha256=sha, meta=meta, key=key, url=self.settings.url(key))

        with ThreadPoolExecutor(max_workers=8) as pool:
            found = list(pool.map(load, names))
        return newest_first(found)

    def head(self, key: str) -> dict | None:
        try:
            return self.client.head_object(Bucket=self.settings.bucket, Key=key)
        except Exception as exc:
            if _code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    # writing -----------------------------------------------------------------

    def upload(self, backup: Backup, say: Callable[[str], None],
               progress: Callable[[int, int], None] | None = None) -> str:
        """Copy `backup` and its sidecars into the bucket and prove the copy whole (read
        back, SHA-256 equal); return the dump's key. UploadFailed, with nothing of it left
        in the bucket, when it did not get there."""
        key = self.key_of(backup.name)
        where = self.settings.url(key)
        say(f"Uploading to {where}...")
        written: list[str] = []
        try:
            existing = self.head(key)
            if existing is not None:
                if backup.sha256 and existing.get("Metadata", {}).get(SHA_META) == \
                        backup.sha256:
                    say(f"Already in the bucket: {where} (same sha256)")
                    return key
                raise _Mismatch("an object of that name already exists with other content "
                                "(nothing was overwritten)")
            for sidecar in (meta_path(backup.path), checksum_path(backup.path)):
                if sidecar.exists():
                    data = sidecar.read_bytes()
                    written.append(key + sidecar.name[len(backup.name):])
                    self.client.put_object(
                        Bucket=self.settings.bucket, Key=written[-1], Body=data,
                        ChecksumSHA256=_b64(hashlib.sha256(data).digest()))
            written.append(key)
            # progress: the bytes sent, then the bytes read back (twice the size in all)
            moved = _Counter(progress, 2 * backup.size_bytes)
            sent = self._put_file(backup.path, key, backup.sha256, moved)
            if backup.sha256 and sent != backup.sha256:
                raise _Mismatch(f"the local file changed while it was uploaded (sha256 "
                                f"{sent[:12]}…, recorded {backup.sha256[:12]}…)")
            try:
                self._prove(key, backup.size_bytes, sent, moved)
            except _Mismatch:
                raise
            except Exception as exc:
                # every part was accepted (each with its SHA-256): the copy is likely whole,
                # and deleting it would need the endpoint that just went away
                raise UploadUnverified(
                    f"Uploaded {where}, but it could not be verified: reading it back from "
                    f"{self.settings.where} failed ({_reason(exc)}). The bucket's copy was "
                    f"kept; the backup is also here: {self.env.relative(backup.path)}. "
                    "Verify the copy with `nself db backup list --verify` (it reads every "
                    "bucket copy back).") from None
        except UploadUnverified:
            raise
        except BaseException as exc:
            left = self._remove(written)
            if not isinstance(exc, Exception) or isinstance(exc, ConfigError):
                raise
            failed = f"Upload to {where} ({self.settings.where}) failed: {_reason(exc)}"
            if left:
                # the endpoint may have stored what it received before the line dropped
                raise UploadUnverified(
                    f"{failed}; and {len(left)} object(s) it wrote could not be removed, so "
                    f"the bucket may hold part or all of it. The backup is kept here: "
                    f"{self.env.relative(backup.path)}. Check the bucket's copy with `nself db "
                    "backup list --verify`.") from None
            raise UploadFailed(f"{failed}.") from None
        say(f"Uploaded: {where} (read back, sha256 {sent[:12]}… matches)")
        return key

    def _put_file(self, path: Path, key: str, digest: str | None, moved: _Counter) -> str:
        """Stream `path` into `key` (multipart when big); return the SHA-256 of what was sent."""
        size = path.stat().st_size
        part_size = _part_size(size)
        whole = hashlib.sha256()
        metadata = {SHA_META: digest or ""}
        bucket = self.settings.bucket
        with open(path, "rb") as handle:
            if size <= part_size:
                data = handle.read()
                whole.update(data)
                metadata[SHA_META] = whole.hexdigest()
                self.client.put_object(Bucket=bucket, Key=key, Body=data, Metadata=metadata,
                                       ChecksumSHA256=_b64(hashlib.sha256(data).digest()))
                moved.add(len(data))
                return whole.hexdigest()
            upload = self.client.create_multipart_upload(
                Bucket=bucket, Key=key, Metadata=metadata, ChecksumAlgorithm="SHA256")
            upload_id = upload["UploadId"]
            parts = []
            try:
                number = 0
                while data := handle.read(part_size):
                    number += 1
                    whole.update(data)
                    checksum = _b64(hashlib.sha256(data).digest())
                    sent = self.client.upload_part(
                        Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number,
                        Body=data, ChecksumSHA256=checksum)
                    parts.append({"PartNumber": number, "ETag": sent["ETag"],
                                  "ChecksumSHA256": checksum})
                    moved.add(len(data))
                self.client.complete_multipart_upload(
                    Bucket=bucket, Key=key, UploadId=upload_id,
                    MultipartUpload={"Parts": parts})
            except BaseException:
                try:
                    self.client.abort_multipart_upload(Bucket=bucket, Key=key,
                                                       UploadId=upload_id)
                except Exception:
                    pass
                raise
        return whole.hexdigest()

    def _prove(self, key: str, size: int, digest: str, moved: _Counter) -> None:
        """Read the object back whole: its size and SHA-256 must be the local file's."""
        facts = self.client.head_object(Bucket=self.settings.bucket, Key=key)
        if facts.get("ContentLength") != size:
            raise _Mismatch(f"the bucket holds {facts.get('ContentLength')} bytes, the "
                            f"file has {size}")
        body = self.client.get_object(Bucket=self.settings.bucket, Key=key)["Body"]
        check = hashlib.sha256()
        for chunk in body.iter_chunks(CHUNK):
            check.update(chunk)
            moved.add(len(chunk))
        if check.hexdigest() != digest:
            raise _Mismatch(f"the copy read back differs (sha256 {check.hexdigest()[:12]}…, "
                            f"sent {digest[:12]}…)")

    def verify(self, backup: RemoteBackup) -> str:
        """Read a bucket copy back whole: `ok`, `MISMATCH` (not its recorded sha256), `none`
        (no sha256 recorded) or `unreadable: <why>`."""
        if not backup.sha256:
            return "none"
        check = hashlib.sha256()
        try:
            body = self.client.get_object(Bucket=self.settings.bucket, Key=backup.key)["Body"]
            for chunk in body.iter_chunks(CHUNK):
                check.update(chunk)
        except Exception as exc:
            return f"unreadable: {_reason(exc)}"
        return "ok" if check.hexdigest() == backup.sha256 else "MISMATCH"

    def _remove(self, keys: list[str]) -> list[str]:
        """Delete `keys` (best effort); return those that could not be deleted."""
        left = []
        for key in keys:
            try:
                self.client.delete_object(Bucket=self.settings.bucket, Key=key)
            except Exception as exc:
                if _code(exc) not in ("NoSuchBucket", "NoSuchKey", "404"):  # else: not there
                    left.append(key)
        return left

    def delete(self, backup: RemoteBackup) -> None:
        """Delete a remote backup: the dump first (so no dump is ever left without its
        facts), then its sidecars."""
        keys = [backup.key, backup.key + META_EXT, backup.key + ".sha256"]
        for key in keys:
            self._call("delete from", self.client.delete_object, Bucket=self.settings.bucket,
                       Key=key)

    def download(self, backup: RemoteBackup, folder: Path,
                 say: Callable[[str], None]) -> Path:
        """Fetch `backup` into `folder` (hidden partial files, published only once the
        SHA-256 of what arrived equals the recorded one); return the local path."""
        final = folder / backup.name
        where = self.settings.url(backup.key)
        if final.exists():
            raise UsageError(f"{final} already exists and is not the copy in {where}: move "
                             "it away, or restore it by its path.")
        if not backup.sha256:
            raise RemoteError(f"{where} has no recorded sha256 (no metadata): nself restores "
                              "only backups it can check. Download it yourself to restore it.")
        say(f"Downloading {where} ({display.size(backup.size_bytes)})...")
        folder.mkdir(parents=True, exist_ok=True)
        partial = partial_name(final)
        sidecars = [(partial_name(meta_path(final)), meta_path(final)),
                    (partial_name(checksum_path(final)), checksum_path(final))]
        published: list[Path] = []
        try:
            digest = hashlib.sha256()
            body = self._call("read", self.client.get_object, Bucket=self.settings.bucket,
                              Key=backup.key)["Body"]
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            arrived = 0
            with os.fdopen(fd, "wb") as handle:
                try:
                    for chunk in body.iter_chunks(CHUNK):
                        digest.update(chunk)
                        handle.write(chunk)
                        arrived += len(chunk)
                except Exception as exc:
                    raise DownloadCut(self._cut(where, arrived, backup.size_bytes,
                                                _reason(exc))) from None
                handle.flush()
                os.fsync(handle.fileno())
            if arrived != backup.size_bytes:
                raise DownloadCut(self._cut(where, arrived, backup.size_bytes,
                                            "the connection ended early"))
            if digest.hexdigest() != backup.sha256:
                raise VerificationFailed(
                    f"Checksum mismatch for {where}: the copy in the bucket is damaged (sha256 "
                    f"{digest.hexdigest()[:12]}…, recorded {backup.sha256[:12]}…). Nothing was "
                    "restored.")
            sidecars[0][0].write_text(json.dumps(backup.meta, indent=2) + "\n")
            sidecars[1][0].write_text(f"{backup.sha256}  {final.name}\n")
            for hidden, shown in sidecars:
                publish(hidden, shown, final)
                published.append(shown)
            publish(partial, final, final)
            sync_folder(folder)
        except BaseException:
            for path in [partial, *(hidden for hidden, _ in sidecars), *published]:
                unlink(path)
            raise
        say(f"Downloaded {self.env.relative(final)} (sha256 matches)")
        return final

    def _cut(self, where: str, arrived: int, size: int, why: str) -> str:
        return (f"The download of {where} was cut after {display.size(arrived)} of "
                f"{display.size(size)} ({why}). Nothing was kept and nothing was restored: "
                "run the same command again to retry.")


class _Counter:
    """Bytes moved so far, reported to a progress callback (done, total)."""

    def __init__(self, progress: Callable[[int, int], None] | None, total: int):
        self.progress, self.total, self.done = progress, total, 0

    def add(self, count: int) -> None:
        self.done += count
        if self.progress:
            self.progress(min(self.done, self.total), self.total)


def _json(data: bytes | None) -> dict:
    try:
        found = json.loads(data) if data else {}
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _guess(key: str) -> str:
    return "custom" if key.endswith(".dump") else "sql"


def _code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code"))
    return None


def _reason(exc: BaseException) -> str:
    """A botocore error in one line, without secrets, naming the fix where there is one."""
    if isinstance(exc, (_Mismatch, OperationFailed)):
        return str(exc)
    code = _code(exc)
    name = type(exc).__name__
    if code in ("NoSuchBucket",):
        return "the bucket does not exist (create it, or fix AWS_BACKUP_BUCKET)"
    if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403",
                "InvalidToken", "ExpiredToken"):
        return (f"access refused ({code}): check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and "
                "the bucket's permissions")
    if name == "NoCredentialsError":
        return "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    if name in ("EndpointConnectionError", "ConnectTimeoutError", "ConnectionClosedError",
                "ReadTimeoutError"):
        return f"cannot reach the endpoint ({name})"
    text = " ".join(str(exc).split()) or name
    return display.redact(text)[:300]



def bucket_for(env) -> Bucket | None:
    """This environment's bucket when BACKUP_STORAGE=s3 (settings checked: exit 2 when
    wrong), else None."""
    settings = s3_settings(env)
    return Bucket(env, settings) if settings else None


def listed(env, bucket: Bucket, everywhere: bool = False) -> list[RemoteBackup]:
    """What `db backup list` shows of the bucket: this environment's backups of its database
    (every backup under the prefix with `everywhere`), newest first."""
    found = bucket.backups(everywhere)
    return found if everywhere else mine(env, found)


def prune(env, bucket: Bucket, dry_run: bool = False, at: datetime | None = None
          ) -> list[RemoteBackup]:
    """Delete this database's remote backups past the retention, by the rules local
    pruning follows (`store.expired`); return those (to be) deleted. Only this project's,
    environment's, database's and server's: a teammate's backups in a shared bucket are
    theirs to prune."""
    here = this_source(env)
    ours = [b for b in listed(env, bucket) if b.same_source(here)]
    doomed = expired(ours, retention_days(env), at)
    if not dry_run:
        for backup in doomed:
            bucket.delete(backup)
    return doomed


def fetch(env, bucket: Bucket, name: str, say: Callable[[str], None]) -> Backup | None:
    """The remote backup called `name` (this project's and environment's, or from the
    folder used before keys named the project), downloaded into the backups folder and
    checked; None when the bucket has none of that name."""
    for folder in (bucket.folder, bucket.legacy_folder):
        found = next((b for b in bucket.backups(folder=folder) if b.name == name), None)
        if found is not None:
            return Backup.at(bucket.download(found, env.backups_dir, say))
    return None
