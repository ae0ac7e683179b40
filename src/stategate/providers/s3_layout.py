"""What an S3 backup keeps (pure): the manifest of object versions and bucket settings,
and the fingerprint items that compare all of it.

A backup of layout 2 stores each object version's bytes as ``objects/<bucket>/<n>``
(``n`` a running number: no key ever becomes a path, so ``a`` and ``a/b``, ``x/`` and
``x`` all fit) and the manifest ``s3-manifest.jsonl``: one line per bucket (its
settings) and one per object version or delete marker, oldest first within a key,
naming its part, size, sha256, etag, kept headers and tags. Backups written before
(layout 1) mirror ``objects/<bucket>/<key>`` of current objects and have no manifest.
Manifests of layout 2 (``stategate.s3/2``) were written before retention had its own
item, header values were read as UTF-8 and the bucket's default encryption was kept: a
sandbox of one is fingerprinted the way they were (:func:`fingerprint_items`).

Fingerprint items, per bucket (the group):

- ``<key>#v<n>``: the bytes of a key's n-th version (1 is the oldest); size and sha256
- ``<key>#v<n> (metadata)``: its kept headers (content type, cache control, ...,
  ``x-amz-meta-*``, object-lock legal hold), canonical JSON's sha256
- ``<key>#v<n> (retention)``: its object-lock retention (mode and retain-until date), if
  it has one; detail ``expires-ms:<retain-until>``, so a retention that has passed may be
  absent from a sandbox (a restore cannot set it any more), one in force must be exact
- ``<key>#v<n> (tags)``: its tags, likewise
- ``<key>#v<n> (delete marker)``: a delete marker at that place
- ``(bucket) <setting>``: versioning, policy, lifecycle, object-lock, tags, cors,
  encryption;
  canonical JSON's sha256, ``absent`` or ``not supported by this server``

Version ids differ after any restore, so versions are compared by their order and
content only (the id is in the manifest, informative).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from stategate.errors import ExternalError
from stategate.providers.fingerprint import EXPIRES_MS, FingerprintItem

MANIFEST_PART = "s3-manifest.jsonl"
LAYOUTS = {"stategate.s3/2": 2, "stategate.s3/3": 3}  # manifest header -> layout
LAYOUT = 3  # what a backup writes now
OBJECTS = "objects/"

Pairs = tuple[tuple[str, str], ...]
Setting = Literal["versioning", "policy", "lifecycle", "object-lock", "tags", "cors", "encryption"]
SETTINGS: tuple[Setting, ...] = (
    "versioning",
    "policy",
    "lifecycle",
    "object-lock",
    "tags",
    "cors",
    "encryption",
)
LAYOUT2_SETTINGS = SETTINGS[:6]  # no encryption
# the system metadata a restore sets again (response header names, lower-case)
SYSTEM_METADATA = (
    "content-type",
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "expires",
)
RETENTION = ("x-amz-object-lock-mode", "x-amz-object-lock-retain-until-date")
LEGAL_HOLD = "x-amz-object-lock-legal-hold"
# the headers a layout-2 manifest kept (besides x-amz-meta-*)
LAYOUT2_HEADERS = frozenset({*SYSTEM_METADATA, *RETENTION, LEGAL_HOLD})
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
    # how the server stores it (server-side encryption, KMS key id, storage class):
    # informative, neither restored nor compared
    stored: Pairs = ()

    @property
    def name(self) -> str:
        return f"{self.key}#v{self.order}"

    @property
    def retention(self) -> Pairs:
        """Its object-lock retention headers (mode, retain-until date), if any."""
        return tuple((k, v) for k, v in self.headers if k in RETENTION)

    def retention_passed(self, now: datetime) -> bool:
        """Its retention's date has passed at ``now``: a PUT may not set it any more."""
        until = retain_until_ms(self.headers)
        return until is not None and until <= now.timestamp() * 1000


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


def retain_until_ms(headers: Pairs) -> int | None:
    """The retain-until date of a version's retention (epoch ms); None if it has none
    or the date is not ISO 8601."""
    text = dict(headers).get("x-amz-object-lock-retain-until-date")
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


def setting_items(settings: BucketSettings, layout: int = LAYOUT) -> list[FingerprintItem]:
    """One item per bucket setting: its canonical JSON's sha256, ``absent`` or
    ``not supported by this server``."""
    items = []
    for setting in SETTINGS if layout >= 3 else LAYOUT2_SETTINGS:
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


def version_items(version: Version, layout: int = LAYOUT) -> list[FingerprintItem]:
    """A version's content, metadata, tags and (if it has one) retention items (a
    delete marker: one item)."""
    bucket, name = version.bucket, version.name
    if version.delete_marker:
        return [FingerprintItem(bucket, f"{name} (delete marker)", 0, "delete-marker")]
    if layout < 3:
        return _layout2_items(version)
    metadata = {k: v for k, v in version.headers if k not in RETENTION}
    items = [
        FingerprintItem(bucket, name, version.size, version.sha256, version.etag),
        FingerprintItem(bucket, f"{name} (metadata)", 0, _sha(canonical(metadata)), ""),
        FingerprintItem(bucket, f"{name} (tags)", 0, _sha(canonical(dict(version.tags))), ""),
    ]
    if version.retention:
        items.append(_retention_item(version))
    return items


def _retention_item(version: Version) -> FingerprintItem:
    """Mode and date, the date as epoch ms (servers print it with or without
    milliseconds); detail ``expires-ms:`` for :func:`~stategate.providers.fingerprint.compare`."""
    retention = dict(version.retention)
    until = retain_until_ms(version.headers)
    mode = retention.get("x-amz-object-lock-mode", "")
    value = {"mode": mode, "until": until if until is not None else retention.get(RETENTION[1])}
    detail = f"{EXPIRES_MS}{until}" if until is not None else ""
    return FingerprintItem(
        version.bucket, f"{version.name} (retention)", 0, _sha(canonical(value)), detail
    )


def _layout2_items(version: Version) -> list[FingerprintItem]:
    """As layout 2 fingerprinted a version: retention in the metadata, header values as
    http.client decoded them (latin-1), no header it did not keep."""
    bucket, name = version.bucket, version.name
    metadata = {
        k: _as_latin1(v)
        for k, v in version.headers
        if k in LAYOUT2_HEADERS or k.startswith("x-amz-meta-")
    }
    return [
        FingerprintItem(bucket, name, version.size, version.sha256, version.etag),
        FingerprintItem(bucket, f"{name} (metadata)", 0, _sha(canonical(metadata)), ""),
        FingerprintItem(bucket, f"{name} (tags)", 0, _sha(canonical(dict(version.tags))), ""),
    ]


def _as_latin1(value: str) -> str:
    """A header value as http.client gives it: its bytes read as latin-1."""
    return value.encode("utf-8", "surrogateescape").decode("latin-1")


def from_latin1(value: str) -> str:
    """The inverse: a header value http.client read as latin-1, its bytes read as UTF-8
    (bytes that are not UTF-8 kept as surrogate escapes, so nothing is lost)."""
    try:
        raw = value.encode("latin-1")
    except UnicodeEncodeError:
        return value  # not from http.client: already text
    return raw.decode("utf-8", "surrogateescape")


def fingerprint_items(
    buckets: Iterable[BucketSettings], versions: Iterable[Version], layout: int = LAYOUT
) -> list[FingerprintItem]:
    """Every item of the buckets and versions, as a manifest of ``layout`` has them."""
    items = [i for b in buckets for i in setting_items(b, layout)]
    items += [i for v in versions for i in version_items(v, layout)]
    return items


def check_key(bucket: str, key: str) -> None:
    """Refuse only the empty key: no key is ever a path in the backup (parts are
    numbered), so ``..``, ``.``, a leading ``/``, backslashes, NUL or a trailing ``/``
    (a folder key) are all kept as the server lists them."""
    if not key:
        raise ExternalError(f"s3 bucket {bucket}: an object with an empty key: refused")


def check_bucket(bucket: str) -> None:
    if not bucket or "/" in bucket or bucket in (".", "..") or "\0" in bucket:
        raise ExternalError(f"s3 bucket name {bucket!r} is not usable as a directory: refused")


def version_part(bucket: str, number: int) -> str:
    check_bucket(bucket)
    return f"{OBJECTS}{bucket}/{number}"


def manifest_jsonl(
    buckets: Iterable[BucketSettings], versions: Iterable[Version], layout: int = LAYOUT
) -> bytes:
    """The manifest: a header line, one line per bucket, one per version. ``layout`` 2
    writes what backups before layout 3 wrote (to test that they still restore)."""
    lines = [canonical({"layout": f"stategate.s3/{layout}"})]
    for b in buckets:
        values = dict(b.values) if layout >= 3 else {
            k: v for k, v in b.values.items() if k in LAYOUT2_SETTINGS
        }  # fmt: skip
        lines.append(
            canonical(
                {
                    "bucket": b.bucket,
                    "versioning": b.versioning,
                    "settings": values,
                    "unsupported": list(b.unsupported),
                }
            )
        )
    # oldest first within each key: the order a restore puts them back in
    for v in sorted(versions, key=lambda v: (v.bucket, v.key, v.order)):
        row = {
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
            "stored": dict(v.stored),
        }
        if layout < 3:
            row.pop("stored")
            row["headers"] = {k: _as_latin1(h) for k, h in v.headers}
        lines.append(canonical(row))
    return ("\n".join(lines) + "\n").encode()


@dataclass(frozen=True)
class Manifest:
    buckets: tuple[BucketSettings, ...]
    versions: tuple[Version, ...]
    layout: int = LAYOUT


def parse_manifest(data: bytes) -> Manifest:
    """The manifest of :func:`manifest_jsonl`; ExternalError naming the line otherwise."""
    lines = data.decode("utf-8", "surrogateescape").splitlines()
    layout = LAYOUTS.get(str(_json(lines[0], 1).get("layout"))) if lines else None
    if layout is None:
        raise ExternalError(f"{MANIFEST_PART}: not a manifest of layout {', '.join(LAYOUTS)}")
    buckets: list[BucketSettings] = []
    versions: list[Version] = []
    for number, line in enumerate(lines[1:], 2):
        row = _json(line, number)
        try:
            if "key" in row:
                versions.append(_version(row, layout))
            else:
                buckets.append(_bucket(row))
        except (KeyError, TypeError, ValueError, ExternalError) as exc:
            raise ExternalError(f"{MANIFEST_PART} line {number}: not an entry ({exc})") from None
    return Manifest(tuple(buckets), tuple(versions), layout)


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


def _version(row: dict[str, object], layout: int) -> Version:
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
        _headers(row.get("headers") or {}, layout),
        _pairs(row.get("tags") or {}),
        _pairs(row.get("stored") or {}),
    )


def _headers(value: object, layout: int) -> Pairs:
    """Kept headers; a layout-2 manifest holds them as http.client read them (latin-1):
    made text again, so a restore sends the bytes the server gave."""
    pairs = _pairs(value)
    if layout >= 3:
        return pairs
    return tuple((k, from_latin1(v)) for k, v in pairs)


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
