"""Candidate S3 clients for the S3 provider's listing and downloads, each against
rclone copy and the current one (lean: SigV4 on http.client) in one bench run,
alternately: boto3 (one shared client, a connection per worker, checksums only
where required, 1 MiB reads) and, when it is installed, obstore (Rust
object_store; not a dependency). Each candidate is given as client:workers.

Issue 12 item 7: neither replaced the lean client (see stategate.providers.s3_http).
Best and median time of each, and the throughput ratio rclone/candidate."""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from functools import partial
from types import TracebackType
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from common import parser
from s3_backup import Setup, s3_bench

from stategate import execute
from stategate.errors import ExternalError
from stategate.providers import s3
from stategate.providers.access import S3Access
from stategate.providers.s3_http import CHUNK, ChangedDuringBackup, Downloaded, ListedObject, Sink

try:
    import obstore  # type: ignore[import-not-found, unused-ignore]
    from obstore.exceptions import (  # type: ignore[import-not-found, unused-ignore]
        BaseError,
        NotFoundError,
        PreconditionError,
    )
    from obstore.store import S3Store  # type: ignore[import-not-found, unused-ignore]
except ImportError:  # not a dependency: measured only where installed
    obstore = None

ATTEMPTS = 3  # botocore standard mode: the first try plus two retries

_SESSION = boto3.session.Session()
_SESSION_LOCK = threading.Lock()


def download_client(
    access: S3Access, *, workers: int, connect_timeout: float, read_timeout: float
) -> Any:
    """A client for listing and downloads by ``workers`` threads."""
    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": "path"},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"max_attempts": ATTEMPTS, "mode": "standard"},
        max_pool_connections=max(1, workers),
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    with _SESSION_LOCK:  # one session: the service model is loaded once per process
        return _SESSION.client(
            "s3",
            endpoint_url=access.endpoint,
            aws_access_key_id=access.access_key,
            aws_secret_access_key=access.secret_key,
            region_name=access.region,
            config=config,
        )


class Boto3Objects:
    """Lists buckets' objects and downloads objects of one endpoint; thread-safe."""

    def __init__(
        self,
        access: S3Access,
        *,
        workers: int = 8,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
    ) -> None:
        self.access = access
        try:
            self._client = download_client(
                access,
                workers=workers,
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
            )
        except (BotoCoreError, ClientError, ValueError) as exc:
            raise self._error(f"client: {exc}") from exc

    def __enter__(self) -> Boto3Objects:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def list_objects(self, bucket: str) -> Iterator[ListedObject]:
        """Every object of ``bucket`` (ListObjectsV2, page by page)."""
        pages = self._client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        try:
            for page in pages:
                for item in page.get("Contents", []):
                    yield ListedObject(item["Key"], int(item["Size"]), _unquoted(item))
        except ClientError as exc:
            raise self._error(f"list {bucket}: {_refusal(exc)}") from exc
        except BotoCoreError as exc:
            raise self._error(f"list {bucket}: {exc}") from exc

    def fetch(
        self, bucket: str, key: str, sink: Sink, *, if_match: str | None = None
    ) -> Downloaded:
        """Stream object ``bucket/key`` into ``sink``; with ``if_match`` (an etag without
        quotes) only that version, else :class:`ChangedDuringBackup`."""
        what = f"{bucket}/{key}"
        reply = self._get(bucket, key, if_match, what)
        etag = _unquoted(reply)
        body = reply["Body"]
        try:
            if if_match and etag != if_match:
                raise ChangedDuringBackup(
                    self._masked(f"s3 object {what} changed during the backup: refused")
                )
            return Downloaded(self._stream(body, sink, what), etag)
        finally:
            body.close()

    def _get(self, bucket: str, key: str, if_match: str | None, what: str) -> dict[str, Any]:
        extra = {"IfMatch": f'"{if_match}"'} if if_match else {}
        try:
            reply: dict[str, Any] = self._client.get_object(Bucket=bucket, Key=key, **extra)
        except ClientError as exc:
            status, code = _status(exc), _code(exc)
            if status == 412 or (status == 404 and code in ("NoSuchKey", "404", "")):
                verb = "changed during" if status == 412 else "disappeared after it was listed in"
                raise ChangedDuringBackup(
                    self._masked(f"s3 object {what} {verb} the backup: refused")
                ) from exc
            raise self._error(f"get {what}: {_refusal(exc)}") from exc
        except BotoCoreError as exc:
            raise self._error(f"get {what}: {exc}") from exc
        return reply

    def _stream(self, body: Any, sink: Sink, what: str) -> int:
        size = 0
        while True:
            try:
                chunk = body.read(CHUNK)
            except (BotoCoreError, OSError) as exc:
                raise self._error(
                    f"get {what}: body broken after {size} bytes: {type(exc).__name__}: {exc}"
                ) from exc
            if not chunk:
                return size
            sink(chunk)  # our own write errors (disk full) propagate unchanged
            size += len(chunk)

    def _masked(self, text: str) -> str:
        return execute.mask(text, self.access.secrets())

    def _error(self, what: str) -> ExternalError:
        return ExternalError(self._masked(f"s3 {self.access.address()}: {what}"))


def _unquoted(item: dict[str, Any]) -> str:
    return str(item.get("ETag") or "").strip('"')


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code") or "")


def _refusal(exc: ClientError) -> str:
    """What an error reply means, with its status, S3 code and message."""
    status, code = _status(exc), _code(exc)
    message = str(exc.response.get("Error", {}).get("Message") or "")
    detail = " ".join(p for p in (str(status), code, message and f"({message})") if p)
    if status == 403:
        return f"access denied: {detail}"
    if status == 404:
        return f"not found: {detail}"
    if status >= 500 or status == 429:
        return f"server error: {detail}"
    return f"unexpected reply: {detail}"


class ObstoreObjects:
    def __init__(
        self,
        access: S3Access,
        *,
        workers: int = 8,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
    ) -> None:
        self.access = access
        self._stores: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._client = {
            "allow_http": access.endpoint.startswith("http://"),
            "connect_timeout": timedelta(seconds=connect_timeout),
            "read_timeout": timedelta(seconds=read_timeout),
            "timeout": timedelta(seconds=3600),
        }

    def __enter__(self) -> ObstoreObjects:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        pass

    def _store(self, bucket: str) -> Any:
        with self._lock:
            store = self._stores.get(bucket)
            if store is None:
                store = self._stores[bucket] = S3Store(
                    bucket,
                    endpoint=self.access.endpoint,
                    access_key_id=self.access.access_key,
                    secret_access_key=self.access.secret_key,
                    region=self.access.region,
                    virtual_hosted_style_request=False,
                    client_options=self._client,
                )
            return store

    def list_objects(self, bucket: str) -> Iterator[ListedObject]:
        try:
            for batch in obstore.list(self._store(bucket), chunk_size=1000):
                for meta in batch:
                    yield ListedObject(meta["path"], meta["size"], (meta["e_tag"] or "").strip('"'))
        except BaseError as exc:
            raise self._error(f"list {bucket}: {exc}") from exc

    def fetch(
        self, bucket: str, key: str, sink: Sink, *, if_match: str | None = None
    ) -> Downloaded:
        what = f"{bucket}/{key}"
        options = {"if_match": f'"{if_match}"'} if if_match else None
        try:
            got = obstore.get(self._store(bucket), key, options=options)
        except (PreconditionError, NotFoundError) as exc:
            raise ChangedDuringBackup(
                self._masked(f"s3 object {what} changed during the backup: refused")
            ) from exc
        except BaseError as exc:
            raise self._error(f"get {what}: {exc}") from exc
        etag = (got.meta["e_tag"] or "").strip('"')
        size = 0
        try:
            for chunk in got.stream(min_chunk_size=CHUNK):
                sink(chunk)
                size += len(chunk)
        except BaseError as exc:
            raise self._error(f"get {what}: body broken after {size} bytes: {exc}") from exc
        return Downloaded(size, etag)

    def _masked(self, text: str) -> str:
        return execute.mask(text, self.access.secrets())

    def _error(self, what: str) -> ExternalError:
        return ExternalError(self._masked(f"s3 {self.access.address()}: {what}"))


CANDIDATES: dict[str, type[Any]] = {"boto3": Boto3Objects, "obstore": ObstoreObjects}


class _Shared:
    """One candidate client for every ``with provider.http()`` of a backup."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __enter__(self) -> Any:
        return self.inner

    def __exit__(self, *exc: object) -> None:
        pass


def use(name: str) -> None:
    """Make S3 backups in this process use candidate ``name`` (client:workers)."""
    client, workers = name.split(":")
    s3.map_in_threads = partial(ORIGINAL_MAP, workers=int(workers))  # type: ignore[assignment]
    if client == "lean":
        s3.S3Provider.http = ORIGINAL_HTTP  # type: ignore[method-assign]
        return
    kind = CANDIDATES[client]

    def http(self: s3.S3Provider) -> _Shared:
        shared = self.__dict__.get("_bench_client")
        if shared is None:
            shared = self.__dict__["_bench_client"] = kind(
                self.access,
                workers=int(workers),
                connect_timeout=s3.CONNECT_TIMEOUT,
                read_timeout=s3.READ_TIMEOUT,
            )
        return _Shared(shared)

    s3.S3Provider.http = http  # type: ignore[method-assign,assignment]


ORIGINAL_MAP = s3.map_in_threads
ORIGINAL_HTTP = s3.S3Provider.http


def compare(setup: Setup, names: list[str], rounds: int) -> None:
    """rclone and every candidate alternately, ``rounds`` times; best and median."""
    times: dict[str, list[float]] = {n: [] for n in ["rclone", *names]}
    for _ in range(rounds):
        for name in times:
            clear, run = setup.bare if name == "rclone" else setup.ours
            if name != "rclone":
                use(name)
            clear()
            os.sync()
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    mb = setup.size / 1e6
    r_best, r_median = min(times["rclone"]), statistics.median(times["rclone"])
    for name, runs in times.items():
        b, m = min(runs), statistics.median(runs)
        print(
            f"{name:10s} best {b:.3f}s {mb / b:6.1f} MB/s  median {m:.3f}s {mb / m:6.1f} MB/s"
            f"  ratio best {r_best / b:.3f} median {r_median / m:.3f}"
            f"  all {' '.join(f'{t:.3f}' for t in runs)}"
        )


def main() -> None:
    p = parser(__doc__ or "", 4)
    p.add_argument("--clients", default="lean:4,boto3:4,boto3:8,obstore:4,obstore:8")
    args = p.parse_args()
    names = [n for n in args.clients.split(",") if n.split(":")[0] != "obstore" or obstore]
    with s3_bench(args.scale) as setup:
        compare(setup, names, args.rounds)


if __name__ == "__main__":
    main()
