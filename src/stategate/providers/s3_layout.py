"""What an S3 backup keeps (pure): the manifest of object versions and bucket settings,
and the fingerprint items that compare all of it.

A backup of layout 2 stores each object version's bytes as ``objects/<bucket>/<n>``
(``n`` a running number: no key ever becomes a path, so ``a`` and ``a/b``, ``x/`` and
``x`` all fit) and the manifest ``s3-manifest.jsonl``: one line per bucket (its
settings) and one per object version or delete marker, oldest first within a key,
naming its part, size, sha256, etag, kept headers and tags. Backups written before
(layout 1) mirror ``objects/<bucket>/<key>`` of current objects and have no manifest.

Fingerprint items, per bucket (the group):

- ``<key>#v<n>``: the bytes of a key's n-th version (1 is the oldest); size and sha256
- ``<key>#v<n> (metadata)``: its kept headers (content type, cache control, ...,
  ``x-amz-meta-*``, object-lock retention), canonical JSON's sha256
- ``<key>#v<n> (tags)``: its tags, likewise
- ``<key>#v<n> (delete marker)``: a delete marker at that place
- ``(bucket) <setting>``: versioning, policy, lifecycle, object-lock, tags, cors;
  canonical JSON's sha256, ``absent`` or ``not supported by this server``

Version ids differ after any restore, so versions are compared by their order and
content only (the id is in the manifest, informative).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from stategate.errors import ExternalError
from stategate.providers.fingerprint import FingerprintItem

MANIFEST_PART = "s3-manifest.jsonl"
LAYOUT = "stategate.s3/2"
OBJECTS = "objects/"

Pairs = tuple[tuple[str, str], ...]
Setting = Literal["versioning", "policy", "lifecycle", "object-lock", "tags", "cors"]
SETTINGS: tuple[Setting, ...] = ("versioning", "policy", "lifecycle", "object-lock", "tags", "cors")
ABSENT = "absent"
UNSUPPORTED = "not supported by this server"


@dataclass(frozen=True)
class BucketSettings:
    """A bucket's settings as the S3 API returns them (JSON values; None: not set).

    ``versioning``: "" (never enabled), "Enabled" or "Suspended". ``unsupported``: the
    settings the server refused to report (NotImplemented): not backed up."""

    bucket: str
    versioning: str = ""
    values: Mapping[str, object] = field(default_factory=dict)  # setting -> JSON value
    unsupported: tuple[str, ...] = ()

    def value(self, setting: Setting) -> object | None:
        if setting == "versioning":
            return self.versioning or None
        return self.values.get(setting)

    @property
    def versioned(self) -> bool:
        return self.versioning in ("Enabled", "Suspended")

    @property
    def object_lock(self) -> bool:
        lock = self.values.get("object-lock")
        return isinstance(lock, dict) and lock.get("ObjectLockEnabled") == "Enabled"


@dataclass(frozen=True)
class Version:
    """One version (or delete marker) of a key as backed up; ``order`` 1 is the oldest."""

    bucket: str
    key: str
    order: int
    version_id: str  # informative: a restore gets new ids
    delete_marker: bool = False
    part: str = ""  # empty for a delete marker
    size: int = 0
    sha256: str = ""
    etag: str = ""
    headers: Pairs = ()
    tags: Pairs = ()

    @property
    def name(self) -> str:
        return f"{self.key}#v{self.order}"


def canonical(value: object) -> str:
    """JSON text that is the same for equal content: sorted keys, no spaces."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def canonical_policy(text: str) -> object:
    """A bucket policy as JSON with its lists of one value written as the value and its
    lists of plain values sorted (servers print ``"Action": ["s3:GetObject"]`` either
    way); text that is not JSON is kept as it is."""
    try:
        return _normal_policy(json.loads(text))
    except ValueError:
        return text


def _normal_policy(value: object) -> object:
    if isinstance(value, dict):
        return {k: _normal_policy(v) for k, v in value.items()}
    if isinstance(value, list):
        items = [_normal_policy(v) for v in value]
        if len(items) == 1 and not isinstance(items[0], dict | list):
            return items[0]
        if all(isinstance(i, str) for i in items):
            return sorted(items, key=str)
        return items
    return value


def canonical_rules(rules: list[object]) -> list[object]:
    """Lifecycle or CORS rules in an order that does not depend on the server."""
    return sorted(rules, key=canonical)


def setting_items(settings: BucketSettings) -> list[FingerprintItem]:
    """One item per bucket setting: its canonical JSON's sha256, ``absent`` or
    ``not supported by this server``."""
    items = []
    for setting in SETTINGS:
        value = settings.value(setting)
        if setting in settings.unsupported:
            digest, detail = UNSUPPORTED, UNSUPPORTED
        elif value is None:
            digest, detail = ABSENT, ABSENT
        else:
            text = canonical(value)
            digest, detail = _sha(text), text[:200]
        items.append(FingerprintItem(settings.bucket, f"(bucket) {setting}", 0, digest, detail))
    return items


def version_items(version: Version) -> list[FingerprintItem]:
    """A version's content, metadata and tags items (a delete marker: one item)."""
    bucket, name = version.bucket, version.name
    if version.delete_marker:
        return [FingerprintItem(bucket, f"{name} (delete marker)", 0, "delete-marker")]
    return [
        FingerprintItem(bucket, name, version.size, version.sha256, version.etag),
        FingerprintItem(
            bucket, f"{name} (metadata)", 0, _sha(canonical(dict(version.headers))), ""
        ),
        FingerprintItem(bucket, f"{name} (tags)", 0, _sha(canonical(dict(version.tags))), ""),
    ]


def fingerprint_items(
    buckets: Iterable[BucketSettings], versions: Iterable[Version]
) -> list[FingerprintItem]:
    items = [i for b in buckets for i in setting_items(b)]
    items += [i for v in versions for i in version_items(v)]
    return items


def check_key(bucket: str, key: str) -> None:
    """Refuse a key a manual restore to files could not hold safely (``..``, absolute,
    backslashes, NUL). A trailing ``/`` (a folder key) is fine: keys are never paths
    in the backup."""
    segments = key.split("/")
    if (
        not key
        or key.startswith("/")
        or "\\" in key
        or "\0" in key
        or any(s in (".", "..") for s in segments)
    ):
        raise ExternalError(f"s3 key {bucket}/{key!r} would escape the backup target: refused")


def check_bucket(bucket: str) -> None:
    if not bucket or "/" in bucket or bucket in (".", "..") or "\0" in bucket:
        raise ExternalError(f"s3 bucket name {bucket!r} is not usable as a directory: refused")


def version_part(bucket: str, number: int) -> str:
    check_bucket(bucket)
    return f"{OBJECTS}{bucket}/{number}"


def manifest_jsonl(buckets: Iterable[BucketSettings], versions: Iterable[Version]) -> bytes:
    """The manifest: a header line, one line per bucket, one per version."""
    lines = [canonical({"layout": LAYOUT})]
    for b in buckets:
        lines.append(
            canonical(
                {
                    "bucket": b.bucket,
                    "versioning": b.versioning,
                    "settings": dict(b.values),
                    "unsupported": list(b.unsupported),
                }
            )
        )
    # oldest first within each key: the order a restore puts them back in
    for v in sorted(versions, key=lambda v: (v.bucket, v.key, v.order)):
        lines.append(
            canonical(
                {
                    "bucket": v.bucket,
                    "key": v.key,
                    "order": v.order,
                    "version_id": v.version_id,
                    "delete_marker": v.delete_marker,
                    "part": v.part,
                    "size": v.size,
                    "sha256": v.sha256,
                    "etag": v.etag,
                    "headers": dict(v.headers),
                    "tags": dict(v.tags),
                }
            )
        )
    return ("\n".join(lines) + "\n").encode()


@dataclass(frozen=True)
class Manifest:
    buckets: tuple[BucketSettings, ...]
    versions: tuple[Version, ...]


def parse_manifest(data: bytes) -> Manifest:
    """The manifest of :func:`manifest_jsonl`; ExternalError naming the line otherwise."""
    lines = data.decode("utf-8", "surrogateescape").splitlines()
    if not lines or _json(lines[0], 1).get("layout") != LAYOUT:
        raise ExternalError(f"{MANIFEST_PART}: not a {LAYOUT} manifest")
    buckets: list[BucketSettings] = []
    versions: list[Version] = []
    for number, line in enumerate(lines[1:], 2):
        row = _json(line, number)
        try:
            if "key" in row:
                versions.append(_version(row))
            else:
                buckets.append(_bucket(row))
        except (KeyError, TypeError, ValueError, ExternalError) as exc:
            raise ExternalError(f"{MANIFEST_PART} line {number}: not an entry ({exc})") from None
    return Manifest(tuple(buckets), tuple(versions))


def _json(line: str, number: int) -> dict[str, object]:
    try:
        row = json.loads(line)
    except ValueError:
        row = None
    if not isinstance(row, dict):
        raise ExternalError(f"{MANIFEST_PART} line {number}: not a JSON object")
    return row


def _pairs(value: object) -> Pairs:
    if not isinstance(value, dict):
        raise TypeError("expected an object")
    return tuple(sorted((str(k), str(v)) for k, v in value.items()))


def _bucket(row: dict[str, object]) -> BucketSettings:
    bucket = str(row["bucket"])
    check_bucket(bucket)
    settings = row.get("settings") or {}
    unsupported = row.get("unsupported") or []
    if not isinstance(settings, dict) or not isinstance(unsupported, list):
        raise TypeError("settings")
    return BucketSettings(
        bucket, str(row.get("versioning") or ""), settings, tuple(map(str, unsupported))
    )


def _version(row: dict[str, object]) -> Version:
    bucket, key = str(row["bucket"]), str(row["key"])
    check_bucket(bucket)
    marker = row.get("delete_marker") is True
    part = str(row.get("part") or "")
    if not marker and not part.startswith(f"{OBJECTS}{bucket}/"):
        raise ValueError(f"part {part!r} outside {OBJECTS}{bucket}/")
    order, size = row["order"], row.get("size", 0)
    if type(order) is not int or type(size) is not int:
        raise TypeError("order and size must be integers")
    return Version(
        bucket,
        key,
        order,
        str(row.get("version_id") or ""),
        marker,
        part,
        size,
        str(row.get("sha256") or ""),
        str(row.get("etag") or ""),
        _pairs(row.get("headers") or {}),
        _pairs(row.get("tags") or {}),
    )


def history_orders(entries: list[tuple[str, bool, str]]) -> list[int]:
    """Orders (1 = oldest) for the entries (key, is latest, last modified) of a version
    listing. Within a key the latest comes first, then the newest by time; entries of one
    second keep the server's order (newest first, as S3 lists them). SeaweedFS lists a
    suspended bucket's null version last although it may be the newest: its time and its
    latest flag put it back in place."""
    places: dict[str, list[tuple[bool, float, int]]] = {}
    for position, (key, latest, modified) in enumerate(entries):
        places.setdefault(key, []).append((not latest, -_seconds(modified), position))
    orders = [0] * len(entries)
    for ranked in places.values():
        ranked.sort()
        for rank, (_older, _time, position) in enumerate(ranked):
            orders[position] = len(ranked) - rank
    return orders


def _seconds(modified: str) -> float:
    try:
        return datetime.fromisoformat(modified).timestamp()
    except ValueError:
        return 0.0  # unreadable: the server's order decides
