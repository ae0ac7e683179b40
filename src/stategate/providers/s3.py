"""S3 object storage (MinIO or any S3 server): every object version, its metadata and
tags, and the buckets' settings, plus a manifest.

What a backup keeps and how the fingerprint compares it: :mod:`stategate.providers.s3_layout`
(and ``docs/evidence.md``). Buckets whose versioning was ever enabled are listed with
ListObjectVersions and each version is fetched by its id; others are listed with
ListObjectsV2 and each object is fetched ``If-Match`` its listed etag, so an object
changed between listing and download fails the backup instead of producing a mixed
manifest. Metadata comes from the GET reply itself (no HEAD per object); tags are read
only for versions whose reply says they have some (``x-amz-tagging-count``). Listing
runs again after the copy: ``consistent`` only when both listings are the same.

Listing and downloads go through the lean path of :mod:`stategate.providers.s3_http`
(bucket settings and the sandbox restore through boto3; a version whose kept headers
are not ASCII through :meth:`S3Http.put`, which sends their bytes), and the stored
parts are made durable together before the backup's commit. A retention whose date
has passed is not restored (no PUT may set it). Backups written before layout 2 (a
mirror ``objects/<bucket>/<key>`` of current objects, no manifest) and manifests of
layout 2 still verify, restore and drill: their sandbox is fingerprinted the way they
were.
"""

from __future__ import annotations

import email.utils
import hashlib
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, Literal, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from stategate import execute
from stategate.errors import ExternalError
from stategate.evidence.records.artifact import BackupWriter, safe_part_name
from stategate.evidence.records.steps import StepClock
from stategate.providers import s3_settings
from stategate.providers.access import S3Access
from stategate.providers.base import BackupHooks, BackupOutput, Origin, SmokeTarget, StoredBackup
from stategate.providers.fingerprint import Fingerprint, FingerprintItem
from stategate.providers.s3_http import S3Http
from stategate.providers.s3_layout import (
    LAYOUT,
    MANIFEST_PART,
    OBJECTS,
    BucketSettings,
    Manifest,
    Pairs,
    Version,
    check_key,
    fingerprint_items,
    history_orders,
    manifest_jsonl,
    parse_manifest,
    version_part,
)
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

# said in every S3 backup's record: what the S3 API cannot give
NOT_IN_S3_API = (
    "not backed up: IAM users, groups, policies and service accounts, and the server's "
    "own configuration (not part of the S3 API; for MinIO see mc admin cluster iam export "
    "and mc admin config export)"
)


@dataclass(frozen=True)
class Listed:
    """One entry of a listing: an object (unversioned bucket: ``version_id`` empty), an
    object version or a delete marker; ``order`` 1 is the key's oldest."""

    bucket: str
    key: str
    size: int
    etag: str
    version_id: str = ""
    order: int = 1
    delete_marker: bool = False
    # unversioned buckets: LastModified, so a metadata-only change (same etag) between
    # the listings is seen
    modified: str = ""


def object_part(bucket: str, key: str) -> str:
    """Where an object lies in a layout-1 mirror (backups written before the manifest);
    refuses keys that would escape it."""
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
    restore_warnings: tuple[str, ...] = ()  # every request succeeds or the restore fails

    def __init__(self, access: S3Access, *, layout: int = LAYOUT) -> None:
        self.access = access
        self._client = client_for(access)
        # 1: fingerprint as backups before the manifest did, 2: as manifests before
        # retention had its own item (a sandbox of such a backup)
        self.layout = layout
        # a sandbox: per bucket, the settings the backup's source did not support
        self.unsupported_before: dict[str, tuple[str, ...]] = {}
        # a sandbox of a layout-2 backup: the retention headers (bucket, key, order) a
        # restore could not set any more (their date had passed)
        self.passed_retention: dict[tuple[str, str, int], Pairs] = {}

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

    def http(self) -> S3Http:
        return S3Http(self.access, connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT)

    def bucket_settings(self) -> list[BucketSettings]:
        return [
            s3_settings.read_settings(
                self._client, b, self._error, self.unsupported_before.get(b, ())
            )
            for b in self._buckets()
        ]

    def list_objects(self, buckets: Iterable[BucketSettings] = ()) -> list[Listed]:
        """Every version of every bucket in ``buckets`` (none given: current objects of
        every bucket, as layout 1), keys checked; skipped prefixes left out."""
        chosen = list(buckets) or [BucketSettings(b) for b in self._buckets()]
        skip = tuple(self.access.skip)
        with self.http() as s3:
            listed = [e for b in chosen for e in _listing(s3, b)]
        kept = [e for e in listed if not (skip and f"{e.bucket}/{e.key}".startswith(skip))]
        for entry in kept:
            check_key(entry.bucket, entry.key)
        return kept

    def fingerprint(self) -> Fingerprint:
        if self.layout == 1:
            listed = self.list_objects()
            with self.http() as downloads:
                return Fingerprint(map_in_threads(partial(_digest, downloads), listed))
        buckets = self.bucket_settings()
        listed = self.list_objects(buckets)
        with self.http() as downloads:
            versions = map_in_threads(partial(_read, downloads), listed)
        if self.passed_retention:
            versions = [self._with_passed_retention(v) for v in versions]
        return Fingerprint(fingerprint_items(buckets, versions, self.layout))

    def _with_passed_retention(self, version: Version) -> Version:
        """Layout 2 digested retention with the other metadata: one that had passed
        before the restore counts as the backup's (as layout 3 counts it expired)."""
        passed = self.passed_retention.get((version.bucket, version.key, version.order))
        if not passed or version.retention:
            return version
        return replace(version, headers=tuple(sorted((*version.headers, *passed))))

    def backup(self, out: BackupWriter, hooks: BackupHooks) -> BackupOutput:
        buckets = self.bucket_settings()
        listed = self.list_objects(buckets)
        parts = [version_part(e.bucket, n) for n, e in enumerate(listed)]
        hooks.fingerprinted()
        with self.http() as downloads:
            versions = map_in_threads(partial(_keep, downloads, out), listed, parts)
        again = self.list_objects(buckets)
        with out.part(MANIFEST_PART) as dest:
            dest.write(manifest_jsonl(buckets, versions))
        findings = [f for b in buckets for f in s3_settings.findings(b)]
        findings += storage_findings(versions)
        findings += key_findings(versions)
        return BackupOutput(
            Fingerprint(fingerprint_items(buckets, versions)),
            consistent=again == listed,
            note=consistency_note(listed, again, buckets),
            findings=(*findings, NOT_IN_S3_API),
            covered_prefix=OBJECTS,
        )

    def derived_fingerprint(self, directory: Path) -> None:
        return None  # every backup stores its listing part

    @contextmanager
    def restore(
        self, backup: StoredBackup, engine: Engine, steps: StepClock | None = None
    ) -> Iterator[S3Provider]:
        clock = steps or StepClock()
        manifest = (
            parse_manifest((backup.directory / MANIFEST_PART).read_bytes())
            if MANIFEST_PART in {p.name for p in backup.parts}
            else None
        )
        layout = manifest.layout if manifest is not None else 1
        with ExitStack() as held:
            with clock.step("sandbox-start"):
                access = held.enter_context(engine.s3())
            if manifest is not None:
                buckets = [b.bucket for b in manifest.buckets]
            else:
                groups = {i.group for i in backup.fingerprint.items}
                buckets = sorted(groups | set(self.access.buckets))
            restored = S3Provider(replace(access, buckets=tuple(buckets)), layout=layout)
            with clock.step("restore-objects"):
                if manifest is not None:
                    restored.unsupported_before = {
                        b.bucket: b.unsupported for b in manifest.buckets
                    }
                    restored._load(backup.directory, manifest)
                else:
                    restored._load_layout1(backup.directory, backup.fingerprint, buckets)
            yield restored

    def _load(self, directory: Path, manifest: Manifest) -> None:
        """Buckets (versioning first), each key's versions oldest first with their
        metadata and tags (a delete marker: a DELETE after the version before it), then
        the settings that follow the objects."""
        for settings in manifest.buckets:
            s3_settings.create_bucket(self._client, settings, self._error)
        chains: dict[tuple[str, str], list[Version]] = {}
        for version in sorted(manifest.versions, key=lambda v: v.order):
            chains.setdefault((version.bucket, version.key), []).append(version)
        map_in_threads(partial(self._put_chain, directory), chains.values(), workers=WORKERS)
        for settings in manifest.buckets:
            s3_settings.finish(self._client, settings, self._error)

    def _put_chain(self, directory: Path, chain: list[Version]) -> None:
        for version in chain:
            what = f"{version.bucket}/{version.key} (version {version.order})"
            try:
                if version.delete_marker:
                    self._client.delete_object(Bucket=version.bucket, Key=version.key)
                    continue
                self._put_locked(directory, version)
            except (BotoCoreError, ClientError) as exc:
                raise self._error(f"put {what}", exc) from exc

    def _put_locked(self, directory: Path, version: Version) -> None:
        """A version with its retention, or without it if its date has passed; a PUT
        refused because the date passed while it was sent is sent again without it."""
        sent = self._unlocked(version)
        try:
            self._put_version(directory, sent)
        except (BotoCoreError, ClientError, ExternalError):
            if not (sent.retention and sent.retention_passed(datetime.now(UTC))):
                raise
            self._put_version(directory, self._unlocked(version))

    def _unlocked(self, version: Version) -> Version:
        """``version`` without its retention if its date has passed: a PUT may not set
        a retention in the past (the comparison counts it expired)."""
        if not version.retention_passed(datetime.now(UTC)):
            return version
        if self.layout == 2:
            self.passed_retention[(version.bucket, version.key, version.order)] = version.retention
        kept = tuple(h for h in version.headers if h not in version.retention)
        return replace(version, headers=kept)

    def _put_version(self, directory: Path, version: Version) -> None:
        """boto3's PUT; a version with header values that are not ASCII through
        :meth:`S3Http.put`, which sends them as the bytes the source gave."""
        part = directory / safe_part_name(version.part)
        if all(value.isascii() for _name, value in version.headers):
            with open(part, "rb") as handle:
                self._client.put_object(
                    Bucket=version.bucket, Key=version.key, Body=handle, **put_arguments(version)
                )
            return
        headers = dict(version.headers)
        if version.tags:
            headers["x-amz-tagging"] = urllib.parse.urlencode(version.tags)
        with self.http() as s3:
            s3.put(version.bucket, version.key, part, sha256=version.sha256, headers=headers)

    def _load_layout1(self, directory: Path, manifest: Fingerprint, buckets: list[str]) -> None:
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

        map_in_threads(upload, manifest.items, workers=WORKERS)

    def smoke_target(self, name: Literal["source", "sandbox"]) -> SmokeTarget:
        return SmokeTarget(name=name, s3=self.access)


def _listing(s3: S3Http, settings: BucketSettings) -> list[Listed]:
    bucket = settings.bucket
    if not settings.versioned:
        return [
            Listed(bucket, o.key, o.size, o.etag, modified=o.modified)
            for o in s3.list_objects(bucket)
        ]
    versions = list(s3.list_versions(bucket))
    orders = history_orders([(v.key, v.latest, v.modified) for v in versions])
    return [
        Listed(bucket, v.key, v.size, v.etag, v.version_id, order, v.delete_marker)
        for v, order in zip(versions, orders, strict=True)
    ]


def consistency_note(
    before: list[Listed], after: list[Listed], buckets: list[BucketSettings]
) -> str:
    """What the two listings (before and after the copy) prove."""
    if before != after:
        changed = len(set(before) ^ set(after))
        return (
            f"the listing after the copy differs from the one before ({changed} entries "
            "added, removed or changed): objects changed during the backup; it holds the "
            "versions of the first listing, not one point in time"
        )
    if all(b.versioned for b in buckets):
        return (
            "listed before and after the copy, the same versions both times, each fetched "
            "by its version id: every bucket as of the second listing (tags read once, "
            "during the copy)"
        )
    return (
        "listed before and after the copy, the same keys, etags and last-modified times "
        "both times, each object fetched If-Match its listed etag: every object as both "
        "listings saw it (a metadata-only change moves last-modified); a change made and "
        "undone between the listings, or a metadata-only change within the second of the "
        "object's previous write, is not seen (tags read once, during the copy)"
    )


def key_findings(versions: Iterable[Version]) -> list[str]:
    """Per bucket, the keys an S3 server built on a file system (MinIO, SeaweedFS: the
    local sandbox) cannot hold as written: ``.`` or ``..`` segments, empty ones (``//``),
    a leading ``/``, a backslash. AWS holds them; a restore into such a server refuses
    or changes them, so a drill there fails naming them."""
    odd: dict[str, list[str]] = {}
    for v in versions:
        if unportable_key(v.key) and v.key not in odd.setdefault(v.bucket, []):
            odd[v.bucket].append(v.key)
    return [
        f"bucket {b}: {len(keys)} key(s) a file-system S3 server (MinIO, SeaweedFS) cannot "
        f"hold as written, e.g. {keys[0]!r}: a restore there refuses or renames them"
        for b, keys in sorted(odd.items())
        if keys
    ]


def unportable_key(key: str) -> bool:
    segments = key.split("/")
    inner = segments[:-1] if key.endswith("/") else segments  # a folder key ends in /
    return key.startswith("/") or "\\" in key or any(s in ("", ".", "..") for s in inner)


def storage_findings(versions: Iterable[Version]) -> list[str]:
    """Per bucket, how many versions the server stores with server-side encryption, in
    a storage class other than STANDARD or with a website redirect: a restore writes
    them as the sandbox bucket's defaults say, and no drill compares it."""
    sse: Counter[str] = Counter()
    classes: Counter[str] = Counter()
    redirects: Counter[str] = Counter()
    for v in versions:
        stored = dict(v.stored)
        if stored.get("x-amz-server-side-encryption"):
            sse[v.bucket] += 1
        if stored.get("x-amz-storage-class", "STANDARD") != "STANDARD":
            classes[v.bucket] += 1
        if stored.get("x-amz-website-redirect-location"):
            redirects[v.bucket] += 1
    found = [
        f"bucket {b}: {n} object versions stored with server-side encryption (SSE-S3/KMS): "
        "restored as the sandbox stores objects by default (the bucket's encryption is set "
        "after them), not compared; the manifest names algorithm and KMS key per version"
        for b, n in sorted(sse.items())
    ]
    found += [
        f"bucket {b}: {n} object versions in a storage class other than STANDARD: "
        "restored as STANDARD, not compared; the manifest names the class per version"
        for b, n in sorted(classes.items())
    ]
    found += [
        f"bucket {b}: {n} object versions with a website redirect location: not restored, "
        "not compared; the manifest names it per version"
        for b, n in sorted(redirects.items())
    ]
    return found


def put_arguments(version: Version) -> dict[str, Any]:
    """boto3 ``put_object`` arguments that set a version's kept headers and tags again."""
    named = {
        "content-type": "ContentType",
        "cache-control": "CacheControl",
        "content-disposition": "ContentDisposition",
        "content-encoding": "ContentEncoding",
        "content-language": "ContentLanguage",
        "x-amz-object-lock-mode": "ObjectLockMode",
        "x-amz-object-lock-retain-until-date": "ObjectLockRetainUntilDate",
        "x-amz-object-lock-legal-hold": "ObjectLockLegalHoldStatus",
    }
    args: dict[str, Any] = {}
    metadata: dict[str, str] = {}  # ASCII only (botocore refuses others): see _put_version
    for name, value in version.headers:
        if name in named:
            args[named[name]] = value
        elif name == "expires":
            args["Expires"] = _http_date(value)
        elif name.startswith("x-amz-meta-"):
            metadata[name[len("x-amz-meta-") :]] = value
    if metadata:
        args["Metadata"] = metadata
    if version.tags:
        args["Tagging"] = urllib.parse.urlencode(version.tags)
    return args


def _http_date(value: str) -> object:
    try:
        return email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return value  # botocore parses other forms, or names the key it refuses


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
    """A layout-1 item: the current object's bytes."""
    digest = hashlib.sha256()
    got = downloads.fetch(obj.bucket, obj.key, digest.update)
    return FingerprintItem(obj.bucket, obj.key, got.size, digest.hexdigest(), obj.etag)


def _fetch(downloads: S3Http, entry: Listed, sink: Callable[[memoryview], object]) -> Version:
    """One version's bytes into ``sink``, its kept headers and (if it has any) tags."""
    base = Version(entry.bucket, entry.key, entry.order, entry.version_id, etag=entry.etag)
    if entry.delete_marker:
        return replace(base, delete_marker=True)
    got = downloads.fetch(
        entry.bucket,
        entry.key,
        sink,
        if_match=entry.etag or None,
        version_id=entry.version_id,
    )
    tags = downloads.tags(entry.bucket, entry.key, entry.version_id) if got.tag_count else ()
    return replace(base, size=got.size, headers=got.headers, tags=tags, stored=got.stored)


def _read(downloads: S3Http, entry: Listed) -> Version:
    digest = hashlib.sha256()
    version = _fetch(downloads, entry, digest.update)
    return version if entry.delete_marker else replace(version, sha256=digest.hexdigest())


def _keep(downloads: S3Http, out: BackupWriter, entry: Listed, part: str) -> Version:
    """Fetch one version (the listed one only) into its part."""
    if entry.delete_marker:
        return _fetch(downloads, entry, _nothing)
    # many parts: made durable together before the commit, not one fsync each
    with out.part(part, sync_at_commit=True) as dest:
        version = _fetch(downloads, entry, dest.write)
    if dest.size != entry.size:
        raise ExternalError(
            f"s3 object {entry.bucket}/{entry.key} changed during the backup: refused"
        )
    return replace(version, part=part, sha256=dest.hexdigest())


def _nothing(_data: memoryview) -> None:
    return None
