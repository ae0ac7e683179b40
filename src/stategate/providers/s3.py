"""S3 object storage (MinIO or any S3 server): a keyed mirror plus a manifest.

Objects are mirrored under ``objects/<bucket>/<key>`` in the backup directory
(outside the source), hashed while they stream. The manifest (fingerprint)
lists key, size, sha256 and etag. Keys that would escape the mirror (``..``,
absolute paths, empty segments) fail the backup closed. Each object is fetched
with ``If-Match`` on the listed etag, so an object changed between listing and
download fails the backup instead of producing a mixed manifest.

Listing and downloads go through the lean path of :mod:`stategate.providers.s3_http`
(the rest, a few requests, through boto3), and the mirrored files are made
durable together before the backup's commit.
"""

from __future__ import annotations

import hashlib
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from stategate import execute
from stategate.errors import ExternalError
from stategate.evidence.records.artifact import BackupWriter, safe_part_name
from stategate.providers.access import S3Access
from stategate.providers.base import BackupHooks, BackupOutput, Origin, SmokeTarget, StoredBackup
from stategate.providers.fingerprint import Fingerprint, FingerprintItem
from stategate.providers.s3_http import S3Http
from stategate.sandbox.engine import Engine

T = TypeVar("T")

WORKERS = 8  # sandbox uploads (restore)
# Downloads: measured against moto (one Python process, a new connection per request;
# not yet re-measured against SeaweedFS, the S3 server the tests now use),
# 4 in flight beat 8 in 5 of 5 paired runs, with less server CPU per request;
# it is also rclone's default number of transfers.
DOWNLOAD_WORKERS = 4
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0


@dataclass(frozen=True)
class Listed:
    bucket: str
    key: str
    size: int
    etag: str


def object_part(bucket: str, key: str) -> str:
    """Where an object lands in the mirror; refuses keys that would escape it."""
    segments = key.split("/")
    if (
        not key
        or key.startswith("/")
        or "\\" in key
        or "\0" in key
        or any(s in ("", ".", "..") for s in segments)
    ):
        raise ExternalError(f"s3 key {bucket}/{key!r} would escape the backup target: refused")
    if not bucket or "/" in bucket or bucket in (".", ".."):
        raise ExternalError(f"s3 bucket name {bucket!r} is not usable as a directory: refused")
    return safe_part_name(f"objects/{bucket}/{key}")


def client_for(access: S3Access, timeout: float = READ_TIMEOUT) -> Any:
    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": "path"},
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=timeout,
        retries={"max_attempts": 3, "mode": "standard"},
        max_pool_connections=WORKERS * 2,
    )
    return boto3.client(
        "s3",
        endpoint_url=access.endpoint,
        aws_access_key_id=access.access_key,
        aws_secret_access_key=access.secret_key,
        region_name=access.region,
        config=config,
    )


class S3Provider:
    name: Literal["s3"] = "s3"

    def __init__(self, access: S3Access) -> None:
        self.access = access
        self._client = client_for(access)
        self._server_header: str | None = None

    def address(self) -> str:
        return self.access.address()

    def secrets(self) -> tuple[str, ...]:
        return self.access.secrets()

    def _error(self, what: str, exc: Exception) -> ExternalError:
        return ExternalError(execute.mask(f"s3 {self.address()}: {what}: {exc}", self.secrets()))

    def _buckets(self) -> list[str]:
        if self.access.buckets:
            return list(self.access.buckets)
        try:
            reply = self._client.list_buckets()
        except (BotoCoreError, ClientError) as exc:
            raise self._error("list buckets", exc) from exc
        headers = reply.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        self._server_header = headers.get("server")
        return sorted(b["Name"] for b in reply.get("Buckets", []))

    def identity(self) -> str:
        parsed = urllib.parse.urlsplit(self.access.endpoint)
        return f"s3:{parsed.hostname}:{parsed.port or 443}"

    def settings(self) -> dict[str, str]:
        return {}

    def client_version(self) -> str | None:
        return None

    def server_version(self) -> str:
        try:
            reply = self._client.list_buckets()
        except (BotoCoreError, ClientError) as exc:
            raise self._error("list buckets", exc) from exc
        headers = reply.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        return str(headers.get("server", "unknown"))

    def origin(self) -> Origin:
        """The endpoint, and what the server says of itself on every reply: its
        ``Server`` header and ``x-amz-id-2`` (MinIO: a hash of the node's name, the same
        on every reply of one node). S3 has no replica role a client can read."""
        try:
            reply = self._client.list_buckets()
        except (BotoCoreError, ClientError) as exc:
            raise self._error("list buckets", exc) from exc
        headers = reply.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        ids = {"endpoint": self.access.endpoint}
        for name, key in (("server", "server"), ("x-amz-id-2", "node_id")):
            if headers.get(name):
                ids[key] = str(headers[name])
        return Origin(None, ids)

    def list_objects(self) -> list[Listed]:
        skip = tuple(self.access.skip)
        with self.http() as s3:
            return [
                Listed(bucket, o.key, o.size, o.etag)
                for bucket in self._buckets()
                for o in s3.list_objects(bucket)
                if not (skip and f"{bucket}/{o.key}".startswith(skip))
            ]

    def http(self) -> S3Http:
        return S3Http(self.access, connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT)

    def fingerprint(self) -> Fingerprint:
        listed = self.list_objects()
        with self.http() as downloads:
            return Fingerprint(map_in_threads(partial(_digest, downloads), listed))

    def backup(self, out: BackupWriter, hooks: BackupHooks) -> BackupOutput:
        listed = self.list_objects()
        parts = [object_part(o.bucket, o.key) for o in listed]  # refuse escapes before writing
        _refuse_collisions(parts)
        hooks.fingerprinted()
        with self.http() as downloads:
            items = map_in_threads(partial(_mirror, downloads, out), listed, parts)
        return BackupOutput(
            Fingerprint(items),
            consistent=True,
            note="every object fetched If-Match its listed etag",
            covered_prefix="objects/",
        )

    def derived_fingerprint(self, directory: Path) -> None:
        return None  # every backup stores its listing part

    @contextmanager
    def restore(self, backup: StoredBackup, engine: Engine) -> Iterator[S3Provider]:
        with engine.s3() as access:
            buckets = sorted({i.group for i in backup.fingerprint.items} | set(self.access.buckets))
            restored = S3Provider(
                S3Access(
                    access.endpoint,
                    access.access_key,
                    access.secret_key,
                    access.region,
                    tuple(buckets),
                )
            )
            restored._load(backup.directory, backup.fingerprint, buckets)
            yield restored

    def _load(self, directory: Path, manifest: Fingerprint, buckets: list[str]) -> None:
        try:
            for bucket in buckets:
                self._client.create_bucket(Bucket=bucket)
        except (BotoCoreError, ClientError) as exc:
            raise self._error("create sandbox bucket", exc) from exc

        def upload(item: FingerprintItem) -> None:
            path = directory / object_part(item.group, item.name)
            try:
                with open(path, "rb") as handle:
                    self._client.put_object(Bucket=item.group, Key=item.name, Body=handle)
            except (BotoCoreError, ClientError) as exc:
                raise self._error(f"put {item.group}/{item.name}", exc) from exc

        with ThreadPoolExecutor(WORKERS) as pool:
            for _ in pool.map(upload, manifest.items):
                pass

    def smoke_target(self, name: Literal["source", "sandbox"]) -> SmokeTarget:
        return SmokeTarget(name=name, s3=self.access)


def map_in_threads(
    function: Callable[..., T], *iterables: Iterable[Any], workers: int = DOWNLOAD_WORKERS
) -> list[T]:
    """``function`` over the items, by ``workers`` threads, results in order. The first
    failure cancels the calls not started yet, so a refused object ends the backup
    now rather than after every other object was fetched."""
    pool = ThreadPoolExecutor(workers)
    try:
        futures = [pool.submit(function, *args) for args in zip(*iterables, strict=True)]
        # the first failure, whichever item it is, not the first in submission order
        done, _pending = wait(futures, return_when=FIRST_EXCEPTION)
        for future in done:
            error = future.exception()
            if error is not None:
                raise error
        return [future.result() for future in futures]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _digest(downloads: S3Http, obj: Listed) -> FingerprintItem:
    digest = hashlib.sha256()
    got = downloads.fetch(obj.bucket, obj.key, digest.update)
    return FingerprintItem(obj.bucket, obj.key, got.size, digest.hexdigest(), obj.etag)


def _mirror(downloads: S3Http, out: BackupWriter, obj: Listed, part: str) -> FingerprintItem:
    """Fetch one object (the listed version only) into its part of the mirror."""
    # many parts: made durable together before the commit, not one fsync each
    with out.part(part, sync_at_commit=True) as dest:
        downloads.fetch(obj.bucket, obj.key, dest.write, if_match=obj.etag or None)
    if dest.size != obj.size:
        raise ExternalError(f"s3 object {obj.bucket}/{obj.key} changed during the backup: refused")
    return FingerprintItem(obj.bucket, obj.key, dest.size, dest.hexdigest(), obj.etag)


def _refuse_collisions(parts: list[str]) -> None:
    """``a`` and ``a/b`` cannot both be files in a mirror: fail closed."""
    files = set(parts)
    for part in parts:
        prefix = part.rsplit("/", 1)[0]
        while prefix.count("/") >= 2:
            if prefix in files:
                raise ExternalError(
                    f"s3 keys collide in the mirror: {prefix!r} is a key and a prefix"
                )
            prefix = prefix.rsplit("/", 1)[0]
