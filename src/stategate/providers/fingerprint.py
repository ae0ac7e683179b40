"""Content fingerprints: what a restore must reproduce.

A fingerprint is a list of items, one per unit of content (a table, a key, an
object, a file), each with a size (rows, bytes) and a digest. The evidence
record keeps only a summary per group; the full list is stored beside the
artifact so a drill can say exactly what differs.

Summary digests (scheme ``multiset-v1``) are order-free: per group, the sum
modulo 2^256 of SHA-256 over each item's encoding, so a producer that meets
items in any order (a redis RDB, in hash-table order) needs no sort. Records
written before it carry scheme ``sorted-v1`` (SHA-256 over the sorted items);
that is kept to verify them.
"""

from __future__ import annotations

import gc
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from itertools import groupby, islice
from operator import eq, itemgetter
from typing import Literal, NamedTuple

from pydantic import BaseModel, ConfigDict


class FingerprintItem(NamedTuple):
    """One unit of content. A tuple: millions of them (redis keys) stay cheap."""

    group: str  # database, redis db, bucket, volume
    name: str  # table, key, object key, file path
    size: int  # rows, bytes, or 1
    digest: str
    # informative (e.g. an S3 etag), not compared; except an expiry (EXPIRES_MS), which
    # a restore must keep exactly
    detail: str = ""


_GROUP = itemgetter(0)
_NAME = itemgetter(1)


def _sorted(items: Iterable[FingerprintItem]) -> list[FingerprintItem]:
    """Tuple order: (group, name, size, digest), then the detail, which only orders
    otherwise equal items. Names are unique within a group in practice, so it is
    reached by two stable sorts on one string each (C string compares, 3-4x faster
    than comparing tuples); should two adjacent items share a name, the full tuple
    sort settles their order."""
    out = list(items)
    out.sort(key=_NAME)
    out.sort(key=_GROUP)
    names = list(map(_NAME, out))
    if any(map(eq, names, islice(names, 1, None))):
        out.sort()
    return out


@contextmanager
def bulk() -> Iterator[None]:
    """No cyclic GC while millions of (acyclic) items are built: its full passes over
    a growing heap made building large fingerprints quadratic."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class GroupSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: int
    size: int
    digest: str


Scheme = Literal["sorted-v1", "multiset-v1"]
SCHEME: Scheme = "multiset-v1"
_GROUP_TAG = b"stategate.fingerprint.multiset/v1\n"
_WHOLE_TAG = b"stategate.fingerprint.multiset/v1 whole\n"
_MOD = 1 << 256


class FingerprintSummary(BaseModel):
    """What an evidence record keeps of a fingerprint."""

    model_config = ConfigDict(extra="forbid")

    digest: str
    items: int
    groups: dict[str, GroupSummary]
    scheme: Scheme = "sorted-v1"  # absent from records older than multiset-v1


class Fingerprint:
    """Items (sorted for a stable listing) and their summary.

    :meth:`prepared` builds one from a producer that already wrote the JSON
    lines and computed the summary (the native redis scanner): its items are
    only parsed if something asks for them."""

    def __init__(self, items: Iterable[FingerprintItem]) -> None:
        with bulk():
            self._items: tuple[FingerprintItem, ...] | None = tuple(_sorted(items))
        self._jsonl: bytes | None = None
        self._summary: FingerprintSummary | None = None

    @classmethod
    def prepared(cls, summary: FingerprintSummary, jsonl: bytes | None = None) -> Fingerprint:
        """``jsonl``: the lines, in any order; None when they were written elsewhere
        (then only the summary is available)."""
        fp = cls(())
        fp._items, fp._jsonl, fp._summary = None, jsonl, summary
        return fp

    @property
    def items(self) -> tuple[FingerprintItem, ...]:
        if self._items is None:
            if self._jsonl is None:
                raise ValueError("this fingerprint's items were written to its artifact only")
            self._items = Fingerprint.from_jsonl(self._jsonl).items
        return self._items

    def summary(self, scheme: Scheme = SCHEME) -> FingerprintSummary:
        if scheme != SCHEME:
            return self._sorted_summary()
        if self._summary is None:
            self._summary = multiset_summary(self.items)
        return self._summary.model_copy(deep=True)

    def _sorted_summary(self) -> FingerprintSummary:
        """The ``sorted-v1`` summary of records written before ``multiset-v1``."""
        whole = hashlib.sha256()
        groups: dict[str, GroupSummary] = {}
        with bulk():
            # items are sorted, so each group is one run; each item is encoded once
            # and fed to both the group's and the whole fingerprint's hash
            for name, run in groupby(self.items, key=_GROUP):
                members = list(run)
                blob = _encode_group(name, members)
                whole.update(blob)
                groups[name] = GroupSummary(
                    items=len(members),
                    size=sum(i.size for i in members),
                    digest=hashlib.sha256(blob).hexdigest(),
                )
        return FingerprintSummary(digest=whole.hexdigest(), items=len(self.items), groups=groups)

    def to_jsonl(self) -> bytes:
        if self._jsonl is not None:
            return self._jsonl
        if not self.items:
            return b""
        # one C-level json.dumps of the whole list; between two items the text is
        # exactly '"], ["' (a quote inside a string is always escaped), so the
        # lines are those json.dumps would give item by item
        with bulk():
            text = json.dumps(self.items, ensure_ascii=True)
        return (text[1:-1].replace('"], ["', '"]\n["') + "\n").encode()

    @classmethod
    def from_jsonl(cls, data: bytes) -> Fingerprint:
        text = data.decode()
        with bulk():
            rows = json.loads("[" + ",".join(text.splitlines()) + "]") if text.strip() else []
            items = [_item(row) for row in rows]
        return cls(items)


class Comparison(BaseModel):
    """The outcome of comparing a restored fingerprint with the backup's."""

    model_config = ConfigDict(extra="forbid")

    match: bool
    expected: FingerprintSummary
    observed: FingerprintSummary
    missing: int = 0
    unexpected: int = 0
    changed: int = 0
    # absent after restore because their TTL had passed (a redis key's expires-ms)
    expired: int = 0
    # definitions printed by two different majors (a drill or rehearsal on another
    # version): compared by presence only, their content not
    presence_only: int = 0
    examples: list[str] = []  # a few "group/name: what" lines, for a human


EXPIRES_MS = "expires-ms:"  # an item's detail: when its content expires (epoch ms)
# a digest "at-least:<n>": a restored item matches when its own n is not smaller (a
# position that only moves forward, read before the backup took it: a sequence)
AT_LEAST = "at-least:"


# a digest "printed-by:<major>:<hash>": the hash of a definition as a server of that
# major prints it (PostgreSQL's deparsed views, defaults, functions): two of them are
# compared only when the same major printed both; across majors, presence is all
PRINTED_BY = "printed-by:"


def printed_digest(major: str, digest: str) -> str:
    return f"{PRINTED_BY}{major}:{digest}"


def _printed_major(digest: str) -> str | None:
    if not digest.startswith(PRINTED_BY):
        return None
    return digest[len(PRINTED_BY) :].partition(":")[0]


# a digest "fields:<JSON object>": named properties of one item (a volume entry's type,
# mode, owner, content hash, ...), compared as a whole; a difference names the fields
FIELDS = "fields:"
_SHOWN = 40  # a field value up to this long is shown in a difference; longer: named only


def fields_digest(fields: Mapping[str, str]) -> str:
    return FIELDS + json.dumps(dict(fields), sort_keys=True, separators=(",", ":"))


def _fields(digest: str) -> dict[str, str] | None:
    if not digest.startswith(FIELDS):
        return None
    try:
        loaded = json.loads(digest[len(FIELDS) :])
    except ValueError:
        return None
    return {str(k): str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else None


def _field_changes(want: str, have: str) -> str | None:
    """``"mode 0700 instead of 0755, xattr:user.k differs"`` for two field digests."""
    wf, hf = _fields(want), _fields(have)
    if wf is None or hf is None:
        return None
    parts = []
    for key in sorted(wf.keys() | hf.keys()):
        w, h = wf.get(key), hf.get(key)
        if w == h:
            continue
        if max(len(w or ""), len(h or "")) > _SHOWN:
            parts.append(f"{key} {'absent' if h is None else 'added' if w is None else 'differs'}")
        else:
            parts.append(
                f"{key} {h if h is not None else 'absent'} instead of {w if w is not None else 'absent'}"
            )
    return ", ".join(parts) or None


def _across_majors(want: str, have: str) -> bool:
    """Two printed definitions whose printers were different majors."""
    printed, other = _printed_major(want), _printed_major(have)
    return printed is not None and other is not None and printed != other


def _same(want: tuple[int, str], have: tuple[int, str]) -> bool:
    if want == have:
        return True
    (ws, wd), (hs, hd) = want, have
    if ws != hs:
        return False
    if wd.startswith(AT_LEAST) and hd.startswith(AT_LEAST):
        try:
            return int(hd[len(AT_LEAST) :]) >= int(wd[len(AT_LEAST) :])
        except ValueError:
            return False
    return _across_majors(wd, hd)


def compare(
    expected: Fingerprint,
    observed: Fingerprint,
    *,
    examples: int = 10,
    now_ms: int | None = None,
) -> Comparison:
    """Item by item. With ``now_ms`` (taken after ``observed`` was read), an expected
    item whose detail says it expired by then may be absent: counted as expired."""
    want = {(i.group, i.name): (i.size, i.digest) for i in expected.items}
    have = {(i.group, i.name): (i.size, i.digest) for i in observed.items}
    missing = sorted(want.keys() - have.keys())
    expired: set[tuple[str, str]] = set()
    if now_ms is not None and missing:
        gone = set(missing)
        expired = {
            (i.group, i.name)
            for i in expected.items
            if i.detail.startswith(EXPIRES_MS)
            and (i.group, i.name) in gone
            and int(i.detail[len(EXPIRES_MS) :]) <= now_ms
        }
        missing = [k for k in missing if k not in expired]
    unexpected = sorted(have.keys() - want.keys())
    common = want.keys() & have.keys()
    changed_content = {k for k in common if not _same(want[k], have[k])}
    expires_want, expires_have = _expiries(expected), _expiries(observed)
    # an expiry is a point in time (epoch ms): a correct restore keeps it exactly
    moved = {
        k
        for k in expires_want.keys() & expires_have.keys() & common
        if expires_want[k] != expires_have[k]
    }
    changed = sorted(changed_content | moved)
    presence_only = sum(1 for k in common if _across_majors(want[k][1], have[k][1]))
    lines = [f"{g}/{n}: missing after restore" for g, n in missing]
    lines += [f"{g}/{n}: not in the backup's fingerprint" for g, n in unexpected]
    for key in changed:
        (ws, wd), (hs, hd) = want[key], have[key]
        what = f"size {hs} instead of {ws}" if ws != hs else "content differs"
        named = _field_changes(wd, hd)
        if named is not None:
            what = named if ws == hs else f"{what}, {named}"
        if ws == hs and wd.startswith(AT_LEAST) and hd.startswith(AT_LEAST):
            what = "behind the position recorded"
        elif key not in changed_content:
            what = f"expires at {expires_have[key]} ms instead of {expires_want[key]} ms"
        elif key in moved:  # a digest that covers the expiry too (an S3 retention)
            what += f", expires at {expires_have[key]} ms instead of {expires_want[key]} ms"
        lines.append(f"{key[0]}/{key[1]}: {what}")
    return Comparison(
        match=not (missing or unexpected or changed),
        expected=expected.summary(),
        observed=observed.summary(),
        missing=len(missing),
        unexpected=len(unexpected),
        changed=len(changed),
        expired=len(expired),
        presence_only=presence_only,
        examples=lines[:examples],
    )


def _expiries(fingerprint: Fingerprint) -> dict[tuple[str, str], str]:
    """Items whose detail gives an expiry: (group, name) -> the epoch ms it names."""
    return {
        (i.group, i.name): i.detail[len(EXPIRES_MS) :]
        for i in fingerprint.items
        if i.detail.startswith(EXPIRES_MS)
    }


def _field(text: str) -> bytes:
    raw = text.encode("utf-8", "surrogateescape")
    return len(raw).to_bytes(8, "big") + raw


def _encode_group(group: str, members: list[FingerprintItem]) -> bytes:
    """What the digests cover of a group's items: per item, each compared field
    (group, name, size, digest) length-prefixed. The group's part is the same for
    all its items and sizes repeat (1 for every redis key): both encoded once."""
    head = _field(group)
    sizes: dict[int, bytes] = {}
    parts: list[bytes] = []
    append = parts.append
    for _group, name, size, digest, _detail in members:
        raw = name.encode("utf-8", "surrogateescape")
        encoded_size = sizes.get(size)
        if encoded_size is None:
            encoded_size = sizes[size] = _field(str(size))
        append(head)
        append(len(raw).to_bytes(8, "big"))
        append(raw)
        append(encoded_size)
        append(_field(digest))
    return b"".join(parts)


def group_digest(group: str, count: int, total: int) -> str:
    """A group's multiset-v1 digest from its item count and sum of item hashes."""
    return hashlib.sha256(
        _GROUP_TAG + _field(group) + count.to_bytes(8, "big") + (total % _MOD).to_bytes(32, "big")
    ).hexdigest()


def assemble(groups: dict[str, GroupSummary]) -> FingerprintSummary:
    """The whole multiset-v1 summary from its groups' summaries."""
    whole = hashlib.sha256(_WHOLE_TAG)
    for name in sorted(groups):
        whole.update(_field(name) + bytes.fromhex(groups[name].digest))
    ordered = {name: groups[name] for name in sorted(groups)}
    items = sum(g.items for g in groups.values())
    return FingerprintSummary(digest=whole.hexdigest(), items=items, groups=ordered, scheme=SCHEME)


def merged(summary: FingerprintSummary, items: Iterable[FingerprintItem]) -> FingerprintSummary:
    """``summary`` with the groups of ``items`` added (groups it does not have)."""
    extra = multiset_summary(items).groups
    clash = extra.keys() & summary.groups.keys()
    if clash:
        raise ValueError(f"fingerprint groups given twice: {sorted(clash)}")
    return assemble({**summary.groups, **extra})


def multiset_summary(items: Iterable[FingerprintItem]) -> FingerprintSummary:
    """Per group: count, total size and the sum of SHA-256 over each item's encoding
    (the fields compared: group, name, size, digest, each length-prefixed)."""
    acc: dict[str, list[int]] = {}  # group -> [count, size, sum]
    sha256 = hashlib.sha256
    with bulk():
        for group, name, size, digest, _detail in items:
            slot = acc.get(group)
            if slot is None:
                slot = acc[group] = [0, 0, 0]
            raw = name.encode("utf-8", "surrogateescape")
            encoded = (
                _field(group)
                + len(raw).to_bytes(8, "big")
                + raw
                + _field(str(size))
                + _field(digest)
            )
            slot[0] += 1
            slot[1] += size
            slot[2] += int.from_bytes(sha256(encoded).digest(), "big")
    groups = {
        g: GroupSummary(items=c, size=z, digest=group_digest(g, c, t))
        for g, (c, z, t) in acc.items()
    }
    return assemble(groups)


def _item(row: object) -> FingerprintItem:
    if not isinstance(row, list) or len(row) != 5:
        raise ValueError(f"not a fingerprint line: {row!r:.80}")
    group, name, size, digest, detail = row
    if type(size) is not int:
        size = int(size)
    if type(group) is str and type(name) is str and type(digest) is str and type(detail) is str:
        return FingerprintItem(group, name, size, digest, detail)
    return FingerprintItem(str(group), str(name), size, str(digest), str(detail))
