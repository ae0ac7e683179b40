"""The lean path to an S3 endpoint: SigV4-signed GETs on ``http.client`` connections.

A backup lists a bucket and fetches every object once. botocore spends about
1-3 ms of client CPU per request (event hooks, response parsing, several
stream layers; parsing a listing of 1000 keys alone takes ~0.2 s), and on a
shared host that CPU is taken from the S3 server. Here each worker thread
keeps one connection (reused while the server keeps it open) and one buffer,
reads an object's body with ``readinto`` and hands memory views to a sink
(hash, write). boto3 tuned for this path (one shared client, a connection per
worker, checksums only where required, 1 MiB reads) reached 0.64-0.94 of
``rclone copy``'s throughput (median of 5 rounds, 7 runs; this path 1.03-1.50), so
it stays; ``bench/s3_clients.py`` measures the candidates again.

Retries follow botocore's standard mode: a few attempts, jittered exponential
backoff, on connection errors, timeouts and 429/5xx replies, as long as no body
byte has reached the sink (a broken body fails the download, as in botocore).
Error messages name bucket and key and are masked for the credentials.

Header values are bytes on the wire; http.client reads them as latin-1. S3 servers
(MinIO, SeaweedFS, AWS) keep user metadata as the UTF-8 bytes they were sent, so the
kept headers are read as UTF-8 (bytes that are not UTF-8 kept as surrogate escapes:
nothing is lost), and :meth:`S3Http.put` sends them back as those bytes, signed as
such (botocore refuses metadata that is not ASCII).
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
import random
import re
import ssl
import threading
import time
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Literal

from stategate import execute
from stategate.errors import ExternalError
from stategate.providers.access import S3Access
from stategate.providers.s3_layout import LEGAL_HOLD, RETENTION, SYSTEM_METADATA
from stategate.providers.sigv4 import EMPTY_SHA256, Credentials, object_path, sign

CHUNK = 1024 * 1024
ATTEMPTS = 3  # botocore standard mode: the first try plus two retries
MAX_BACKOFF = 20.0
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
ERROR_BODY_LIMIT = 64 * 1024
LISTING_LIMIT = 64 * 1024 * 1024  # one page of 1000 keys is well under 1 MB
S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
# errors that mean "this connection (or the server) failed", never our own files
NETWORK_ERRORS = (OSError, http.client.HTTPException)

Sink = Callable[[memoryview], object]


class ChangedDuringBackup(ExternalError):
    """The object no longer is the listed version (412, 404 or another etag)."""


# the response headers of a GET that a restore must set again (names lower-case):
# system metadata, user metadata (``x-amz-meta-*``) and object-lock retention
KEPT_HEADERS = frozenset({*SYSTEM_METADATA, *RETENTION, LEGAL_HOLD})
USER_METADATA = "x-amz-meta-"
# how the server stores or serves a version: kept in the manifest (and named in the
# backup's findings), not restored nor compared
STORED_HEADERS = frozenset(
    {
        "x-amz-server-side-encryption",
        "x-amz-server-side-encryption-aws-kms-key-id",
        "x-amz-storage-class",
        "x-amz-website-redirect-location",
    }
)

Headers = tuple[tuple[str, str], ...]  # sorted (name, value) pairs


@dataclass(frozen=True)
class Downloaded:
    size: int
    etag: str
    headers: Headers = ()  # the kept headers (see KEPT_HEADERS)
    tag_count: int = 0  # x-amz-tagging-count: 0 when the server sent none
    stored: Headers = ()  # see STORED_HEADERS


@dataclass(frozen=True)
class ListedVersion:
    """One entry of a ListObjectVersions page: a version or a delete marker."""

    key: str
    version_id: str
    latest: bool
    delete_marker: bool
    size: int
    etag: str  # without quotes; empty for a delete marker
    modified: str = ""  # LastModified as listed (ISO 8601)


@dataclass(frozen=True)
class ListedObject:
    key: str
    size: int
    etag: str  # without quotes
    modified: str = ""  # LastModified as listed: a metadata-only change moves it


@dataclass(frozen=True)
class Failure:
    """One failed attempt: what went wrong, and what it means.

    ``changed``: the object is not the listed version any more (the backup is
    refused); ``transient``: another attempt may succeed; ``fatal``: it will not.
    """

    message: str
    kind: Literal["changed", "transient", "fatal"]


@dataclass(frozen=True)
class Proxy:
    host: str
    port: int
    authorization: str | None = field(default=None, repr=False)  # Proxy-Authorization


class _Worker:
    """One thread's connection and read buffer."""

    def __init__(self) -> None:
        self.conn: http.client.HTTPConnection | None = None
        self.buffer = bytearray(CHUNK)


class S3Http:
    """Lists buckets' objects and downloads objects of one endpoint; thread-safe.

    ``with S3Http(access) as s3: s3.fetch(...)`` closes every connection at the end.
    """

    def __init__(
        self,
        access: S3Access,
        *,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        attempts: int = ATTEMPTS,
        sleep: Callable[[float], None] = time.sleep,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        parsed = urllib.parse.urlsplit(access.endpoint)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ExternalError(
                execute.mask(
                    f"s3 endpoint {access.endpoint!r} is not an http(s) URL", access.secrets()
                )
            )
        self.access = access
        self._endpoint = urllib.parse.urlunsplit((parsed.scheme, parsed.netloc, "", "", ""))
        self._prefix = parsed.path.rstrip("/")
        self._https = parsed.scheme == "https"
        self._host = parsed.hostname
        self._port = parsed.port or (443 if self._https else 80)
        self._proxy = proxy_for(access.endpoint, urllib.request.getproxies())
        self._credentials = Credentials(access.access_key, access.secret_key)
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._attempts = max(1, attempts)
        self._sleep = sleep
        self._ssl = ssl_context
        if self._https and ssl_context is None:
            # the CA bundle botocore would use (AWS_CA_BUNDLE), else the system's
            self._ssl = ssl.create_default_context(cafile=os.environ.get("AWS_CA_BUNDLE") or None)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._workers: list[_Worker] = []

    def __enter__(self) -> S3Http:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            workers, self._workers = self._workers, []
        for worker in workers:
            _drop(worker)

    def list_objects(self, bucket: str) -> Iterator[ListedObject]:
        """Every object of ``bucket`` (ListObjectsV2, page by page, keys URL-encoded on
        the wire so that any key survives XML)."""
        worker = self._worker()
        token: str | None = None
        while True:
            query = {"list-type": "2", "encoding-type": "url"}
            if token:
                query["continuation-token"] = token
            path = "/" + urllib.parse.quote(bucket, safe="") + "?" + urllib.parse.urlencode(query)
            body = self._read_small(worker, path, f"list {bucket}")
            try:
                objects, token = parse_listing(body)
            except ValueError as exc:
                raise self._error(f"list {bucket}: {exc}") from exc
            yield from objects
            if not token:
                return

    def list_versions(self, bucket: str) -> Iterator[ListedVersion]:
        """Every version and delete marker of ``bucket`` (ListObjectVersions), in the
        server's order: by key, newest first within a key."""
        worker = self._worker()
        marker: tuple[str, str] | None = None
        while True:
            query = {"versions": "", "encoding-type": "url"}
            if marker:
                query["key-marker"], query["version-id-marker"] = marker
            path = "/" + urllib.parse.quote(bucket, safe="") + "?" + urllib.parse.urlencode(query)
            body = self._read_small(worker, path, f"list versions of {bucket}")
            try:
                versions, marker = parse_versions(body)
            except ValueError as exc:
                raise self._error(f"list versions of {bucket}: {exc}") from exc
            yield from versions
            if not marker:
                return

    def tags(self, bucket: str, key: str, version_id: str = "") -> Headers:
        """The tags of one object version (GetObjectTagging), sorted."""
        path = object_path(bucket, key) + "?" + _version_query("tagging", version_id)
        body = self._read_small(self._worker(), path, f"tags of {bucket}/{key}")
        try:
            return parse_tags(body)
        except ValueError as exc:
            raise self._error(f"tags of {bucket}/{key}: {exc}") from exc

    def fetch(
        self,
        bucket: str,
        key: str,
        sink: Sink,
        *,
        if_match: str | None = None,
        version_id: str = "",
    ) -> Downloaded:
        """Stream object ``bucket/key`` (``version_id``: that version) into ``sink``; with
        ``if_match`` (an etag without quotes) only that content, else
        :class:`ChangedDuringBackup`."""
        worker = self._worker()
        what = f"{bucket}/{key}"
        headers = {"If-Match": f'"{if_match}"'} if if_match else {}
        path = object_path(bucket, key)
        if version_id:
            path += "?" + _version_query("", version_id)
        response = self._send(worker, path, headers, what)
        return self._stream(worker, response, what, if_match, sink)

    def put(
        self, bucket: str, key: str, body: Path, *, sha256: str, headers: Mapping[str, str]
    ) -> None:
        """PUT the file ``body`` (its sha256 given, as the manifest records it) as
        ``bucket/key`` with ``headers``, each value sent and signed as the bytes of
        :func:`header_bytes`. Retried as a download is (the file is sent again)."""
        worker = self._worker()
        what = f"{bucket}/{key}"
        md5 = hashlib.md5(usedforsecurity=False)  # Content-MD5: AWS wants it with object lock
        with open(body, "rb") as handle:
            for block in iter(lambda: handle.read(CHUNK), b""):
                md5.update(block)
        sent = {
            **headers,
            "Content-MD5": base64.b64encode(md5.digest()).decode("ascii"),
            "Content-Length": str(body.stat().st_size),
        }
        path = object_path(bucket, key)
        for attempt in range(1, self._attempts + 1):
            try:
                response = self._upload(worker, path, sent, body, sha256)
                reply = response.read(ERROR_BODY_LIMIT)
            except NETWORK_ERRORS as exc:
                _drop(worker)
                failure = Failure(f"{type(exc).__name__}: {exc}", "transient")
            else:
                if not response.isclosed() or response.will_close:
                    _drop(worker)
                if response.status == 200:
                    return
                code, message = error_fields(reply)
                failure = classify(response.status, code, message, what, object_request=False)
            if failure.kind == "fatal" or attempt == self._attempts:
                tries = f" (after {attempt} attempts)" if attempt > 1 else ""
                raise self._error(f"put {what}: {failure.message}{tries}")
            self._sleep(random.random() * min(MAX_BACKOFF, 2.0 ** (attempt - 1)))

    def _upload(
        self, worker: _Worker, path: str, headers: dict[str, str], body: Path, sha256: str
    ) -> http.client.HTTPResponse:
        conn, target, signed = self._signed(worker, "PUT", path, headers, sha256)
        raw = {name: header_bytes(value) for name, value in signed.items()}
        with open(body, "rb") as handle:
            conn.request("PUT", target, body=handle, headers=raw)
        return conn.getresponse()

    def _signed(
        self,
        worker: _Worker,
        method: str,
        path: str,
        headers: dict[str, str],
        payload_sha256: str = EMPTY_SHA256,
    ) -> tuple[http.client.HTTPConnection, str, dict[str, str]]:
        """The worker's connection (a new one if it has none), the request target (a
        plain-http proxy takes the absolute URL) and the signed headers."""
        if worker.conn is None or worker.conn.sock is None:
            _drop(worker)  # also one http.client closed after a "Connection: close"
            worker.conn = self._connect()
        path = self._prefix + path
        url = self._endpoint + path
        signed = sign(
            method,
            url,
            headers,
            credentials=self._credentials,
            region=self.access.region,
            when=datetime.now(UTC),
            payload_sha256=payload_sha256,
        )
        target = path
        if self._proxy and not self._https:
            target = url
            if self._proxy.authorization:
                signed["Proxy-Authorization"] = self._proxy.authorization
        return worker.conn, target, signed

    def _read_small(self, worker: _Worker, path: str, what: str) -> bytes:
        """A whole small reply (a listing, a tag set)."""
        response = self._send(worker, path, {}, what, object_request=False)
        try:
            return response.read(LISTING_LIMIT)
        except NETWORK_ERRORS as exc:
            _drop(worker)
            raise self._error(f"{what}: {type(exc).__name__}: {exc}") from exc
        finally:
            if not response.isclosed():
                _drop(worker)

    def _send(
        self,
        worker: _Worker,
        path: str,
        headers: dict[str, str],
        what: str,
        *,
        object_request: bool = True,
    ) -> http.client.HTTPResponse:
        """GET ``path`` until a 200 reply (returned unread) or a final failure (raised)."""
        for attempt in range(1, self._attempts + 1):
            reused = worker.conn is not None
            try:
                response = self._request(worker, path, headers)
            except ssl.SSLCertVerificationError as exc:
                _drop(worker)
                failure = Failure(f"TLS certificate not trusted: {exc}", "fatal")
            except NETWORK_ERRORS as exc:
                _drop(worker)
                failure = Failure(f"{type(exc).__name__}: {exc}", "transient")
            else:
                if response.status == 200:
                    return response
                failure = self._refusal(worker, response, what, object_request)
            if failure.kind == "changed":
                raise ChangedDuringBackup(self._masked(failure.message))
            if failure.kind == "fatal" or attempt == self._attempts:
                tries = f" (after {attempt} attempts)" if attempt > 1 else ""
                verb = "get" if object_request else ""
                raise self._error(f"{verb} {what}: {failure.message}{tries}".lstrip())
            if not reused or attempt > 1:
                # a kept-alive connection the server had closed is retried at once
                self._sleep(random.random() * min(MAX_BACKOFF, 2.0 ** (attempt - 1)))
        raise AssertionError("unreachable")

    def _worker(self) -> _Worker:
        worker: _Worker | None = getattr(self._local, "worker", None)
        if worker is None:
            worker = self._local.worker = _Worker()
            with self._lock:
                self._workers.append(worker)
        return worker

    def _connect(self) -> http.client.HTTPConnection:
        proxy = self._proxy
        host, port = (proxy.host, proxy.port) if proxy else (self._host, self._port)
        conn: http.client.HTTPConnection
        if self._https:
            conn = http.client.HTTPSConnection(
                host, port, timeout=self._connect_timeout, context=self._ssl
            )
            if proxy:
                tunnel = (
                    {"Proxy-Authorization": proxy.authorization} if proxy.authorization else None
                )
                conn.set_tunnel(self._host, self._port, headers=tunnel)
        else:
            conn = http.client.HTTPConnection(host, port, timeout=self._connect_timeout)
        conn.connect()
        if conn.sock is not None:
            conn.sock.settimeout(self._read_timeout)
        return conn

    def _request(
        self, worker: _Worker, path: str, headers: dict[str, str]
    ) -> http.client.HTTPResponse:
        conn, target, signed = self._signed(worker, "GET", path, headers)
        signed["Accept-Encoding"] = "identity"
        conn.request("GET", target, headers=signed)
        return conn.getresponse()

    def _stream(
        self,
        worker: _Worker,
        response: http.client.HTTPResponse,
        what: str,
        if_match: str | None,
        sink: Sink,
    ) -> Downloaded:
        etag = (response.getheader("ETag") or "").strip('"')
        if if_match and etag != if_match:
            _drop(worker)
            raise ChangedDuringBackup(
                self._masked(f"s3 object {what} changed during the backup: refused")
            )
        expected = response.length  # None for a chunked reply
        view = memoryview(worker.buffer)
        size = 0
        done = False
        try:
            while True:
                try:
                    n = response.readinto(worker.buffer)
                except NETWORK_ERRORS as exc:
                    raise self._error(
                        f"get {what}: body broken after {size} bytes: {type(exc).__name__}: {exc}"
                    ) from exc
                if not n:
                    break
                sink(view[:n])  # our own write errors (disk full) propagate unchanged
                size += n
            if expected is not None and response.length:
                raise self._error(
                    f"get {what}: connection closed after {size} of {size + response.length} bytes"
                )
            done = True
        finally:
            if not done or response.will_close:
                _drop(worker)
        kept, tag_count = kept_headers(response.getheaders())
        return Downloaded(size, etag, kept, tag_count, stored_headers(response.getheaders()))

    def _refusal(
        self, worker: _Worker, response: http.client.HTTPResponse, what: str, object_request: bool
    ) -> Failure:
        """Read an error reply (bounded) and map it; the connection is kept if it can be."""
        try:
            body = response.read(ERROR_BODY_LIMIT)
        except NETWORK_ERRORS:
            body = b""
        if not response.isclosed():  # a longer body than we read: not reusable
            _drop(worker)
        code, message = error_fields(body)
        return classify(response.status, code, message, what, object_request=object_request)

    def _masked(self, text: str) -> str:
        return execute.mask(text, self.access.secrets())

    def _error(self, what: str) -> ExternalError:
        return ExternalError(self._masked(f"s3 {self.access.address()}: {what}"))


def _drop(worker: _Worker) -> None:
    if worker.conn is not None:
        worker.conn.close()
        worker.conn = None


def classify(
    status: int, code: str, message: str, what: str, *, object_request: bool = True
) -> Failure:
    """What an error reply (``status``, S3 error ``code`` and ``message``) about ``what``
    means; for an object request, 412 and 404 mean it is not the listed version."""
    detail = " ".join(p for p in (str(status), code, message and f"({message})") if p)
    if object_request and status == 412:
        return Failure(f"s3 object {what} changed during the backup: refused", "changed")
    if object_request and status == 404 and code in ("NoSuchKey", ""):
        return Failure(
            f"s3 object {what} disappeared after it was listed ({detail}): refused", "changed"
        )
    if status == 403:
        return Failure(f"access denied: {detail}", "fatal")
    if status == 404:
        return Failure(f"not found: {detail}", "fatal")
    if status in RETRY_STATUS:
        return Failure(f"server error: {detail}", "transient")
    return Failure(f"unexpected reply: {detail}", "fatal")


def error_fields(body: bytes) -> tuple[str, str]:
    """``Code`` and ``Message`` of an S3 XML error body (empty where absent)."""
    text = body.decode("utf-8", "replace")
    fields = []
    for tag in ("Code", "Message"):
        found = re.search(rf"<{tag}>([^<]{{0,300}})</{tag}>", text)
        fields.append(found.group(1).strip() if found else "")
    return fields[0], fields[1]


def parse_listing(body: bytes) -> tuple[list[ListedObject], str | None]:
    """The objects of one ListObjectsV2 page (requested with ``encoding-type=url``) and
    the continuation token of the next page, if any; ValueError if it is not one."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise ValueError(f"unreadable listing: {exc}") from exc
    ns = S3_NS if root.tag.startswith(S3_NS) else ""
    if root.tag != f"{ns}ListBucketResult":
        raise ValueError(f"unexpected listing document <{root.tag}>")
    encoded = (root.findtext(f"{ns}EncodingType") or "") == "url"
    objects = []
    for item in root.iter(f"{ns}Contents"):
        key = item.findtext(f"{ns}Key")
        size = item.findtext(f"{ns}Size")
        if key is None or size is None:
            raise ValueError("listing entry without Key or Size")
        objects.append(
            ListedObject(
                urllib.parse.unquote_plus(key) if encoded else key,
                int(size),
                (item.findtext(f"{ns}ETag") or "").strip('"'),
                item.findtext(f"{ns}LastModified") or "",
            )
        )
    truncated = (root.findtext(f"{ns}IsTruncated") or "").strip().lower() == "true"
    token = root.findtext(f"{ns}NextContinuationToken") if truncated else None
    if truncated and not token:
        raise ValueError("truncated listing without a continuation token")
    return objects, token


def kept_headers(headers: list[tuple[str, str]]) -> tuple[Headers, int]:
    """The headers of a GET reply a restore sets again (sorted, names lower-case), and
    the object's tag count (``x-amz-tagging-count``, 0 when absent)."""
    kept: dict[str, str] = {}
    tag_count = 0
    for name, value in headers:
        lower = name.lower()
        if lower in KEPT_HEADERS or lower.startswith(USER_METADATA):
            kept[lower] = header_text(value)
        elif lower == "x-amz-tagging-count":
            tag_count = int(value) if value.strip().isdigit() else 0
    return tuple(sorted(kept.items())), tag_count


def stored_headers(headers: list[tuple[str, str]]) -> Headers:
    """How the server says it stores the object (see STORED_HEADERS), sorted."""
    return tuple(sorted((n.lower(), v) for n, v in headers if n.lower() in STORED_HEADERS))


def header_text(value: str) -> str:
    """A header value as http.client gives it (its bytes read as latin-1), its bytes
    read as UTF-8; bytes that are not UTF-8 become surrogate escapes (lossless:
    :func:`header_bytes` gives them back)."""
    try:
        raw = value.encode("latin-1")
    except UnicodeEncodeError:
        return value  # not as http.client reads it: text already
    return raw.decode("utf-8", "surrogateescape")


def header_bytes(value: str) -> bytes:
    """The bytes a header value of :func:`header_text` was."""
    return value.encode("utf-8", "surrogateescape")


def _version_query(first: str, version_id: str) -> str:
    """``first`` (a sub-resource such as ``tagging``) and the versionId, encoded."""
    pairs = [(first, "")] if first else []
    if version_id:
        pairs.append(("versionId", version_id))
    return "&".join(
        f"{urllib.parse.quote(k, safe='')}={urllib.parse.quote(v, safe='')}" if v else k
        for k, v in pairs
    )


def _root(body: bytes, expected: str) -> tuple[ET.Element, str]:
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise ValueError(f"unreadable reply: {exc}") from exc
    ns = S3_NS if root.tag.startswith(S3_NS) else ""
    if root.tag != f"{ns}{expected}":
        raise ValueError(f"unexpected document <{root.tag}>")
    return root, ns


def parse_versions(body: bytes) -> tuple[list[ListedVersion], tuple[str, str] | None]:
    """The versions and delete markers of one ListObjectVersions page in document order
    (the order the server lists them), and the (key, version id) markers of the next
    page, if any; ValueError if it is not one."""
    root, ns = _root(body, "ListVersionsResult")
    encoded = (root.findtext(f"{ns}EncodingType") or "") == "url"
    versions = []
    for item in root:
        marker = item.tag == f"{ns}DeleteMarker"
        if not marker and item.tag != f"{ns}Version":
            continue
        key = item.findtext(f"{ns}Key")
        if key is None:
            raise ValueError("version entry without Key")
        size = item.findtext(f"{ns}Size")
        if not marker and size is None:
            raise ValueError("version entry without Size")
        versions.append(
            ListedVersion(
                urllib.parse.unquote_plus(key) if encoded else key,
                item.findtext(f"{ns}VersionId") or "null",
                (item.findtext(f"{ns}IsLatest") or "").strip().lower() == "true",
                marker,
                0 if marker else int(size or 0),
                (item.findtext(f"{ns}ETag") or "").strip('"'),
                item.findtext(f"{ns}LastModified") or "",
            )
        )
    if (root.findtext(f"{ns}IsTruncated") or "").strip().lower() != "true":
        return versions, None
    key_marker = root.findtext(f"{ns}NextKeyMarker")
    if not key_marker:
        raise ValueError("truncated version listing without a key marker")
    if encoded:
        key_marker = urllib.parse.unquote_plus(key_marker)
    return versions, (key_marker, root.findtext(f"{ns}NextVersionIdMarker") or "")


def parse_tags(body: bytes) -> Headers:
    """The TagSet of a GetObjectTagging reply, sorted; ValueError if it is not one."""
    root, ns = _root(body, "Tagging")
    tags = []
    for tag in root.iter(f"{ns}Tag"):
        key = tag.findtext(f"{ns}Key")
        if key is None:
            raise ValueError("tag without Key")
        tags.append((key, tag.findtext(f"{ns}Value") or ""))
    return tuple(sorted(tags))


def proxy_for(endpoint: str, proxies: dict[str, str]) -> Proxy | None:
    """The proxy ``proxies`` (as ``urllib.request.getproxies()`` reads them from the
    environment, which botocore honours too) set for ``endpoint``, if any."""
    parsed = urllib.parse.urlsplit(endpoint)
    proxy = proxies.get(parsed.scheme)
    if not proxy or urllib.request.proxy_bypass(parsed.hostname or ""):
        return None
    target = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    if target.scheme != "http" or not target.hostname:
        raise ExternalError(
            f"only http:// proxies are supported for s3 downloads, not {target.scheme}://"
        )
    authorization = None
    if target.username is not None:
        user = urllib.parse.unquote(target.username)
        password = urllib.parse.unquote(target.password or "")
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        authorization = f"Basic {token}"
    return Proxy(target.hostname, target.port or 80, authorization)
