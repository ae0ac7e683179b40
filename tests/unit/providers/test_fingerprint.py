from __future__ import annotations

from stategate.providers.fingerprint import Fingerprint, FingerprintItem, compare


def _fp(*items: tuple[str, str, int, str]) -> Fingerprint:
    return Fingerprint(FingerprintItem(*i) for i in items)


def test_summary_is_order_independent_and_roundtrips() -> None:
    a = _fp(("db0", "k1", 1, "x"), ("db0", "k2", 1, "y"), ("db1", "k", 1, "z"))
    b = _fp(("db1", "k", 1, "z"), ("db0", "k2", 1, "y"), ("db0", "k1", 1, "x"))
    assert a.summary() == b.summary()
    assert a.summary().groups["db0"].items == 2
    assert Fingerprint.from_jsonl(a.to_jsonl()).summary() == a.summary()


def test_detail_is_not_compared() -> None:
    a = Fingerprint([FingerprintItem("b", "k", 3, "d", detail="etag-1")])
    b = Fingerprint([FingerprintItem("b", "k", 3, "d", detail="etag-2")])
    assert compare(a, b).match


def test_compare_names_what_differs() -> None:
    expected = _fp(
        ("app", "public.users", 500, "rows:1"),
        ("app", "public.orders", 10, "rows:2"),
        ("app", "public.gone", 1, "rows:3"),
    )
    observed = _fp(
        ("app", "public.users", 499, "rows:1"),
        ("app", "public.orders", 10, "rows:9"),
        ("app", "public.extra", 1, "rows:4"),
    )
    result = compare(expected, observed)
    assert not result.match
    assert (result.missing, result.unexpected, result.changed) == (1, 1, 2)
    assert "app/public.users: size 499 instead of 500" in result.examples
    assert "app/public.orders: content differs" in result.examples
    assert "app/public.gone: missing after restore" in result.examples


def test_keys_with_odd_bytes_survive_jsonl() -> None:
    odd = 'caf\udce9\n"key"'
    fp = Fingerprint([FingerprintItem("db0", odd, 1, "d")])
    assert Fingerprint.from_jsonl(fp.to_jsonl()).items[0].name == odd


def test_jsonl_lines_are_the_items_json_one_by_one() -> None:
    """to_jsonl encodes all items in one call and splits between them: the lines
    must be exactly what encoding each item alone gives, whatever the strings hold."""
    import json

    tricky = ['"], ["', 'a"], ["b', "\\", '\\"], ["', "]", "[", "\n", "\u2028", "caf\udce9", ""]
    items = [
        FingerprintItem(g, n, i, d, detail)
        for i, (g, n, d, detail) in enumerate(
            zip(tricky, reversed(tricky), tricky[3:] + tricky[:3], tricky, strict=True)
        )
    ]
    fp = Fingerprint(items)
    lines = fp.to_jsonl().decode().split("\n")
    assert lines[-1] == ""
    assert lines[:-1] == [
        json.dumps([i.group, i.name, i.size, i.digest, i.detail], ensure_ascii=True)
        for i in fp.items
    ]
    assert Fingerprint.from_jsonl(fp.to_jsonl()).items == fp.items
    assert Fingerprint([]).to_jsonl() == b"" and Fingerprint.from_jsonl(b"").items == ()


def _encode(i: FingerprintItem) -> bytes:
    out = b""
    for field in (i.group, i.name, str(i.size), i.digest):
        raw = field.encode()
        out += len(raw).to_bytes(8, "big") + raw
    return out


def test_sorted_v1_digest_of_older_records_is_the_length_prefixed_encoding() -> None:
    """Records written before multiset-v1 keep this digest: it must not drift."""
    import hashlib

    items = [FingerprintItem("db0", "k", 1, "d"), FingerprintItem("db1", "é", 2, "e")]
    h = hashlib.sha256()
    for i in items:
        h.update(_encode(i))
    summary = Fingerprint(reversed(items)).summary("sorted-v1")
    assert summary.digest == h.hexdigest()
    assert summary.groups["db1"].items == 1 and summary.groups["db1"].size == 2


def test_multiset_v1_digest_definition() -> None:
    """The current records' digest, computed here from its written definition."""
    import hashlib

    items = [
        FingerprintItem("db0", "k", 1, "d"),
        FingerprintItem("db0", "k2", 1, "d2"),
        FingerprintItem("db1", "é", 2, "e"),
    ]
    groups = {}
    for group in ("db0", "db1"):
        members = [i for i in items if i.group == group]
        total = sum(int.from_bytes(hashlib.sha256(_encode(i)).digest(), "big") for i in members)
        tag = b"stategate.fingerprint.multiset/v1\n"
        head = len(group).to_bytes(8, "big") + group.encode()
        body = len(members).to_bytes(8, "big") + (total % 2**256).to_bytes(32, "big")
        groups[group] = hashlib.sha256(tag + head + body).hexdigest()
    whole = hashlib.sha256(b"stategate.fingerprint.multiset/v1 whole\n")
    for group in ("db0", "db1"):
        whole.update(len(group).to_bytes(8, "big") + group.encode() + bytes.fromhex(groups[group]))
    for order in (items, list(reversed(items))):
        summary = Fingerprint(order).summary()
        assert summary.scheme == "multiset-v1"
        assert {g: s.digest for g, s in summary.groups.items()} == groups
        assert summary.digest == whole.hexdigest()
    # a changed item changes its group's digest and the whole, not the other group's
    changed = Fingerprint([*items[:2], FingerprintItem("db1", "é", 2, "E")]).summary()
    assert changed.groups["db0"].digest == groups["db0"]
    assert changed.groups["db1"].digest != groups["db1"]


def test_order_is_the_tuple_order_even_with_shared_names() -> None:
    import random

    items = [FingerprintItem(g, n, s, d) for g in "ba" for n in "yx" for s in (2, 1) for d in "qp"]
    items += [FingerprintItem("a", "x", 1, "p", detail) for detail in ("2", "1")]
    expected = tuple(sorted(items))
    for seed in range(5):
        random.Random(seed).shuffle(items)
        fp = Fingerprint(items)
        assert fp.items == expected
        assert fp.to_jsonl() == Fingerprint(reversed(items)).to_jsonl()


def test_expired_items_are_told_apart_from_missing_ones() -> None:
    expected = Fingerprint(
        [
            FingerprintItem("db0", "kept", 1, "a"),
            FingerprintItem("db0", "ttl-passed", 1, "b", "expires-ms:1000"),
            FingerprintItem("db0", "ttl-ahead", 1, "c", "expires-ms:9000"),
            FingerprintItem("db0", "lost", 1, "d"),
        ]
    )
    observed = Fingerprint([FingerprintItem("db0", "kept", 1, "a")])
    plain = compare(expected, observed)
    assert (plain.missing, plain.expired) == (3, 0)
    timed = compare(expected, observed, now_ms=5000)
    assert (timed.missing, timed.expired, timed.match) == (2, 1, False)
    assert any("ttl-ahead" in e for e in timed.examples)
    assert not any("ttl-passed" in e for e in timed.examples)
    lost = FingerprintItem("db0", "lost", 1, "d")
    later = compare(expected, Fingerprint([*observed.items, lost]), now_ms=10_000)
    assert later.match and later.expired == 2
