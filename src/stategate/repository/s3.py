"""An S3 bucket and prefix as a backup repository (boto3, the maintained AWS SDK).

A part streams into the bucket as it is produced: bytes are gathered into parts of
``PART_SIZE`` and sent as a multipart upload, ``UPLOADS_IN_FLIGHT`` parts at a time
(bounded memory), or, for a part smaller than that, one PUT. Every part of S3 carries its MD5 (``Content-MD5``),
which the server checks; once stored, the object is read back with a HEAD and its size
and ETag compared with what was sent (a single PUT's ETag is the MD5 of its bytes, a
multipart upload's the MD5 of its parts' MD5s, then ``-<count>``). An upload that
fails is aborted, and the objects of a backup that fails are deleted; a process killed
midway leaves objects no record names, which ``stategate repo check`` lists.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from stategate.errors import ExternalError

PART_SIZE = 16 * 1024 * 1024  # S3's minimum is 5 MiB
# a bucket without Object Lock, or a server that has none
NO_LOCK_CODES = frozenset(
    {"ObjectLockConfigurationNotFoundError", "NotImplemented", "InvalidRequest"}
)
NO_RETENTION_CODES = frozenset(
    {"NoSuchObjectLockConfiguration", "ObjectLockConfigurationNotFoundError"}
)
UPLOADS_IN_FLIGHT = 4  # parts sent at once (so at most 5 parts in memory); rclone's default


class S3Store:
    """One S3 repository: where keys go and how they are read back."""

    def __init__(self, client: Any, bucket: str, prefix: str, where: str) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.where = where  # for messages and records: endpoint, bucket, prefix; no keys
        self._lock_mode: str | None = None  # "" once known to have no Object Lock

    def key(self, location: str, name: str = "") -> str:
        parts = [p for p in (self.prefix, location, name) if p]
        return "/".join(parts)

    def error(self, what: str, exc: Exception) -> ExternalError:
        if isinstance(exc, ClientError):
            code = exc.response.get("Error", {}).get("Code", "error")
            return ExternalError(f"repository {self.where}: {what}: {code}")
        return ExternalError(f"repository {self.where}: {what}: {type(exc).__name__}: {exc}")

    def begin(self, location: str) -> S3Upload:
        return S3Upload(self, location)

    @contextmanager
    def reader(self, location: str, name: str) -> Iterator[Any]:
        key = self.key(location, name)
        try:
            reply = self.client.get_object(Bucket=self.bucket, Key=key)
        except (BotoCoreError, ClientError) as exc:
            raise self.error(f"read {key}", exc) from exc
        body = reply["Body"]
        try:
            yield _Body(self, key, body)
        finally:
            body.close()

    def listing(self, location: str = "") -> Iterator[tuple[str, int]]:
        # (an empty location lists the whole prefix: repo check; removal refuses it)
        """(key relative to the prefix, size) of every object under ``location``."""
        root = self.key(location)
        start = root + "/" if root else ""
        cut = len(self.prefix) + 1 if self.prefix else 0
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=start):
                for obj in page.get("Contents", []):
                    yield obj["Key"][cut:], int(obj["Size"])
        except (BotoCoreError, ClientError) as exc:
            raise self.error(f"list {start or '/'}", exc) from exc

    def incomplete(self) -> list[str]:
        """Keys of multipart uploads under the prefix that were never completed."""
        start = self.prefix + "/" if self.prefix else ""
        paginator = self.client.get_paginator("list_multipart_uploads")
        try:
            return [
                upload["Key"]
                for page in paginator.paginate(Bucket=self.bucket, Prefix=start)
                for upload in page.get("Uploads", [])
            ]
        except (BotoCoreError, ClientError) as exc:
            raise self.error("list incomplete uploads", exc) from exc

    def remove(self, location: str) -> None:
        if not location.strip("/"):
            raise ExternalError(f"repository {self.where}: refusing to remove everything")
        keys = [self.key("", rel) for rel, _size in self.listing(location)]
        for start in range(0, len(keys), 1000):
            batch = [{"Key": k} for k in keys[start : start + 1000]]
            try:
                reply = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch})
            except (BotoCoreError, ClientError) as exc:
                raise self.error(f"delete {location}", exc) from exc
            errors = reply.get("Errors") or []
            if errors:
                first = errors[0]
                raise ExternalError(
                    f"repository {self.where}: {len(errors)} object(s) of {location} not "
                    f"deleted (first: {first.get('Key')}: {first.get('Code')})"
                )

    def locking(self) -> str | None:
        """The retention mode for backups that must be kept (the bucket's default
        retention mode, else GOVERNANCE), or None when the bucket has no Object Lock."""
        if self._lock_mode is None:
            try:
                reply = self.client.get_object_lock_configuration(Bucket=self.bucket)
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code not in NO_LOCK_CODES:
                    raise self.error("read the Object Lock configuration", exc) from exc
                reply = {}
            except BotoCoreError as exc:
                raise self.error("read the Object Lock configuration", exc) from exc
            config = reply.get("ObjectLockConfiguration", {})
            enabled = config.get("ObjectLockEnabled") == "Enabled"
            mode = config.get("Rule", {}).get("DefaultRetention", {}).get("Mode", "GOVERNANCE")
            self._lock_mode = mode if enabled else ""
        return self._lock_mode or None

    def retain(self, location: str, until: datetime) -> bool:
        """Give every object of a backup a retention date of at least ``until`` (Object
        Lock); False when the bucket has none. A later date already set is kept."""
        mode = self.locking()
        if mode is None:
            return False
        for rel, _size in self.listing(location):
            key = self.key("", rel)
            try:
                current = self.client.get_object_retention(Bucket=self.bucket, Key=key)
                retention = current.get("Retention", {})
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code", "") not in NO_RETENTION_CODES:
                    raise self.error(f"read the retention of {key}", exc) from exc
                retention = {}
            except BotoCoreError as exc:
                raise self.error(f"read the retention of {key}", exc) from exc
            date = retention.get("RetainUntilDate")
            if isinstance(date, datetime) and date >= until:
                continue
            try:
                self.client.put_object_retention(
                    Bucket=self.bucket,
                    Key=key,
                    # an object already retained keeps its mode (COMPLIANCE cannot be
                    # turned into GOVERNANCE): only the date moves, and only later
                    Retention={"Mode": retention.get("Mode") or mode, "RetainUntilDate": until},
                )
            except (BotoCoreError, ClientError) as exc:
                raise self.error(f"retain {key}", exc) from exc
        return True


class _Body:
    """A response body whose read errors (a dropped connection, a short body) are
    stategate's errors naming the key, like every other S3 failure."""

    def __init__(self, store: S3Store, key: str, body: Any) -> None:
        self._store, self._key, self._body = store, key, body

    def read(self, n: int = -1) -> bytes:
        try:
            return bytes(self._body.read(n if n is not None and n >= 0 else None))
        except (BotoCoreError, ClientError) as exc:
            raise self._store.error(f"read {self._key}", exc) from exc


class S3Upload:
    """One backup being written to an S3 repository (a :class:`PartTarget`)."""

    def __init__(self, store: S3Store, location: str) -> None:
        self.store = store
        self.location = location

    def start(self) -> None:
        return None

    def open_part(self, name: str, *, sync_at_commit: bool) -> S3Part:
        del sync_at_commit  # stored on the server at once
        return S3Part(self, self.store.key(self.location, name))

    def commit(self) -> None:
        return None  # every part was stored and read back as it finished

    def abort(self) -> None:
        self.store.remove(self.location)


class S3Part:
    """One part streaming into one object (see the module docstring)."""

    def __init__(self, upload: S3Upload, key: str) -> None:
        self._upload = upload
        self._store = upload.store
        self.key = key
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._sent: list[Future[tuple[bytes, str]]] = []  # (md5, etag) of each part, in order
        self._pool: ThreadPoolExecutor | None = None
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview, /) -> int:
        self._buffer += data
        self.size += len(data)
        while len(self._buffer) >= PART_SIZE:
            self._send_part(bytes(self._buffer[:PART_SIZE]))
            del self._buffer[:PART_SIZE]
        return len(data)

    def _send_part(self, chunk: bytes) -> None:
        """Send one part; up to ``UPLOADS_IN_FLIGHT`` go at once (as many in memory)."""
        if self._upload_id is None:
            try:
                reply = self._store.client.create_multipart_upload(
                    Bucket=self._store.bucket, Key=self.key
                )
            except (BotoCoreError, ClientError) as exc:
                raise self._store.error(f"upload {self.key}", exc) from exc
            self._upload_id = reply["UploadId"]
            self._pool = ThreadPoolExecutor(UPLOADS_IN_FLIGHT, thread_name_prefix="stategate-s3")
        assert self._pool is not None
        pending = [f for f in self._sent if not f.done()]
        if len(pending) >= UPLOADS_IN_FLIGHT:
            wait(pending, return_when=FIRST_COMPLETED)
        for done in self._sent:
            if done.done():
                done.result()  # a failed part fails the part now, not at the end
        number = len(self._sent) + 1
        self._sent.append(self._pool.submit(self._upload_one, number, chunk))

    def _upload_one(self, number: int, chunk: bytes) -> tuple[bytes, str]:
        md5 = hashlib.md5(chunk, usedforsecurity=False).digest()
        try:
            reply = self._store.client.upload_part(
                Bucket=self._store.bucket,
                Key=self.key,
                UploadId=self._upload_id,
                PartNumber=number,
                Body=chunk,
                ContentMD5=base64.b64encode(md5).decode(),
            )
        except (BotoCoreError, ClientError) as exc:
            raise self._store.error(f"upload {self.key} part {number}", exc) from exc
        return md5, str(reply["ETag"])

    def _settled(self) -> list[tuple[bytes, str]]:
        try:
            return [f.result() for f in self._sent]
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None

    def finish(self) -> None:
        client, bucket = self._store.client, self._store.bucket
        try:
            if self._upload_id is None:
                body = bytes(self._buffer)
                md5 = hashlib.md5(body, usedforsecurity=False)
                client.put_object(
                    Bucket=bucket,
                    Key=self.key,
                    Body=body,
                    ContentMD5=base64.b64encode(md5.digest()).decode(),
                )
                expected = md5.hexdigest()
            else:
                if self._buffer:
                    self._send_part(bytes(self._buffer))
                sent = self._settled()
                parts = [{"PartNumber": n, "ETag": etag} for n, (_md5, etag) in enumerate(sent, 1)]
                client.complete_multipart_upload(
                    Bucket=bucket,
                    Key=self.key,
                    UploadId=self._upload_id,
                    MultipartUpload={"Parts": parts},
                )
                self._upload_id = None
                joined = hashlib.md5(b"".join(md5 for md5, _etag in sent), usedforsecurity=False)
                expected = f"{joined.hexdigest()}-{len(sent)}"
            self._buffer = bytearray()
            head = client.head_object(Bucket=bucket, Key=self.key)
        except (BotoCoreError, ClientError) as exc:
            raise self._store.error(f"store {self.key}", exc) from exc
        size, etag = int(head["ContentLength"]), str(head.get("ETag", "")).strip('"')
        if size != self.size:
            raise ExternalError(
                f"repository {self._store.where}: {self.key} reads back {size} bytes, "
                f"{self.size} were sent"
            )
        if etag != expected:
            raise ExternalError(
                f"repository {self._store.where}: {self.key} reads back with ETag {etag}, "
                f"not {expected} (the MD5 of what was sent)"
            )

    def discard(self) -> None:
        self._buffer = bytearray()
        with contextlib.suppress(ExternalError):
            self._settled()  # nothing may still be sending when the upload is aborted
        if self._upload_id is not None:
            # if this fails too, `repo check` lists the incomplete upload
            with contextlib.suppress(BotoCoreError, ClientError):
                self._store.client.abort_multipart_upload(
                    Bucket=self._store.bucket, Key=self.key, UploadId=self._upload_id
                )
            self._upload_id = None


def client_for(
    endpoint: str, access_key: str, secret_key: str, region: str, path_style: bool
) -> Any:
    import boto3

    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": "path" if path_style else "virtual"},
        connect_timeout=10,
        read_timeout=120,
        retries={"max_attempts": 5, "mode": "standard"},
        max_pool_connections=16,
        # our own MD5s are checked by the server; no second checksum in trailers
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=region,
        config=config,
    )
