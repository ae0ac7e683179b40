"""Fingerprint edge cases: lazy items, line parsing, comparison limits and boundaries.

Complements test_fingerprint.py (written against surviving mutants): what a drill
reports must be exact at the edges, and a fingerprint line read back is always
text fields and an integer size, whatever JSON types it was written with.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from stategate.providers.fingerprint import Fingerprint, FingerprintItem, compare, fields_digest


def test_prepared_fingerprint_parses_its_lines_only_when_asked() -> None:
    full = Fingerprint([FingerprintItem("db0", "b", 1, "y"), FingerprintItem("db0", "a", 2, "x")])
    summary = full.summary()
    lines = b'["db0", "b", 1, "y", ""]\n["db0", "a", 2, "x", ""]\n'  # any order
    prepared = Fingerprint.prepared(summary, lines)
    assert prepared.summary() == summary
    assert prepared.to_jsonl() == lines
    assert prepared.items == full.items
    handed_out = prepared.summary()
    handed_out.items = 99  # a copy: the fingerprint's own summary is unchanged
    assert prepared.summary().items == 2


def test_prepared_without_lines_has_only_its_summary() -> None:
    summary = Fingerprint([FingerprintItem("db0", "k", 1, "d")]).summary()
    prepared = Fingerprint.prepared(summary)
    assert prepared.summary() == summary
    with pytest.raises(ValueError) as caught:
        _ = prepared.items
    assert str(caught.value) == "this fingerprint's items were written to its artifact only"


def test_blank_jsonl_is_an_empty_fingerprint() -> None:
    assert Fingerprint.from_jsonl(b"\n\n").items == ()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b'"abcde"\n', "not a fingerprint line: 'abcde'"),
        (b'["g", "n", 1, "d"]\n', "not a fingerprint line: ['g', 'n', 1, 'd']"),
        (b'{"a": 1}\n', "not a fingerprint line: {'a': 1}"),
    ],
)
def test_malformed_lines(line: bytes, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        Fingerprint.from_jsonl(line)
    assert str(caught.value) == message


@pytest.mark.parametrize("position", [0, 1, 3, 4])
def test_fields_are_read_as_text_whatever_their_json_type(position: int) -> None:
    row: list[object] = ["g", "n", "12", "d", "e"]
    row[position] = 7
    (item,) = Fingerprint.from_jsonl(json.dumps(row).encode() + b"\n").items
    assert all(type(value) is str for value in (item.group, item.name, item.digest, item.detail))
    assert item[position] == "7"
    assert item.size == 12 and type(item.size) is int


def test_examples_are_capped_at_ten_by_default() -> None:
    expected = Fingerprint(FingerprintItem("db0", f"k{i:02}", 1, "d") for i in range(12))
    result = compare(expected, Fingerprint([]))
    assert result.missing == 12
    assert len(result.examples) == 10
    assert len(compare(expected, Fingerprint([]), examples=3).examples) == 3


def test_an_unexpected_item_alone_is_a_mismatch() -> None:
    one = FingerprintItem("db0", "k", 1, "d")
    result = compare(Fingerprint([one]), Fingerprint([one, FingerprintItem("db0", "new", 1, "e")]))
    assert (result.match, result.unexpected, result.changed, result.missing) == (False, 1, 0, 0)
    assert result.examples == ["db0/new: not in the backup's fingerprint"]


def test_an_item_expiring_exactly_now_counts_as_expired() -> None:
    expected = Fingerprint([FingerprintItem("db0", "k", 1, "d", "expires-ms:5000")])
    at = compare(expected, Fingerprint([]), now_ms=5000)
    assert (at.match, at.expired, at.missing) == (True, 1, 0)
    before = compare(expected, Fingerprint([]), now_ms=4999)
    assert (before.match, before.expired, before.missing) == (False, 0, 1)


def test_sorted_v1_digest_of_a_name_that_is_not_utf8() -> None:
    odd = "caf\udce9"  # a redis key's raw bytes, carried as surrogate escapes
    item = FingerprintItem("db0", odd, 1, "d")
    blob = b""
    for field in ("db0", odd, "1", "d"):
        raw = field.encode("utf-8", "surrogateescape")
        blob += len(raw).to_bytes(8, "big") + raw
    summary = Fingerprint([item]).summary("sorted-v1")
    assert summary.groups["db0"].digest == hashlib.sha256(blob).hexdigest()


def test_group_names_that_are_not_utf8_are_digested_too() -> None:
    group = "vol\udcff"  # a volume or bucket name read as raw bytes
    items = [FingerprintItem(group, "k", 1, "d")]

    def field(text: str) -> bytes:
        raw = text.encode("utf-8", "surrogateescape")
        return len(raw).to_bytes(8, "big") + raw

    encoded = field(group) + field("k") + field("1") + field("d")
    total = int.from_bytes(hashlib.sha256(encoded).digest(), "big")
    expected = hashlib.sha256(
        b"stategate.fingerprint.multiset/v1\n"
        + field(group)
        + (1).to_bytes(8, "big")
        + total.to_bytes(32, "big")
    ).hexdigest()
    fp = Fingerprint(items)
    assert fp.summary().groups[group].digest == expected
    assert fp.summary("sorted-v1").digest == hashlib.sha256(encoded).hexdigest()


def test_two_items_sharing_a_name_are_in_tuple_order() -> None:
    fp = Fingerprint([FingerprintItem("a", "x", 2, "p"), FingerprintItem("a", "x", 1, "p")])
    assert [i.size for i in fp.items] == [1, 2]


def test_group_summary_counts_items_and_adds_sizes() -> None:
    fp = Fingerprint(
        [
            FingerprintItem("db0", "a", 3, "d"),
            FingerprintItem("db0", "b", 4, "e"),
            FingerprintItem("db1", "c", 5, "f"),
        ]
    )
    groups = fp.summary().groups
    assert [(g.items, g.size) for g in groups.values()] == [(2, 7), (1, 5)]
    assert fp.summary().items == 3


def test_a_handed_out_summary_is_a_copy() -> None:
    fp = Fingerprint([FingerprintItem("db0", "a", 3, "d")])
    handed_out = fp.summary()
    handed_out.groups["db0"].items = 99
    assert fp.summary().groups["db0"].items == 1


def test_multiset_digest_of_a_name_that_is_not_utf8() -> None:
    name = "caf\udce9"

    def field(text: str) -> bytes:
        raw = text.encode("utf-8", "surrogateescape")
        return len(raw).to_bytes(8, "big") + raw

    encoded = field("db0") + field(name) + field("1") + field("d")
    total = int.from_bytes(hashlib.sha256(encoded).digest(), "big")
    expected = hashlib.sha256(
        b"stategate.fingerprint.multiset/v1\n"
        + field("db0")
        + (1).to_bytes(8, "big")
        + total.to_bytes(32, "big")
    ).hexdigest()
    summary = Fingerprint([FingerprintItem("db0", name, 1, "d")]).summary()
    assert summary.groups["db0"].digest == expected


def test_a_moved_expiry_is_a_change_named_with_both_times() -> None:
    def fp(expires: str, other: str = "") -> Fingerprint:
        return Fingerprint(
            [
                FingerprintItem("db0", "k", 1, "string:expiring:aa", f"expires-ms:{expires}"),
                FingerprintItem("db0", "e", 1, "string:persistent:bb", other),
            ]
        )

    assert compare(fp("2000"), fp("2000")).match
    moved = compare(fp("2000"), fp("3000"))
    assert not moved.match and moved.changed == 1
    assert moved.examples == ["db0/k: expires at 3000 ms instead of 2000 ms"]
    # a detail that is not an expiry (an etag) is never compared
    assert compare(fp("2000", "etag-1"), fp("2000", "etag-2")).match


def test_field_digests_name_what_differs() -> None:
    want = fields_digest({"type": "file", "mode": "0755", "sha256": "a" * 64, "xattr:user.k": "b"})
    have = fields_digest({"type": "file", "mode": "0700", "sha256": "c" * 64, "acl": "d" * 41})
    result = compare(
        Fingerprint([FingerprintItem("volume", "f", 3, want)]),
        Fingerprint([FingerprintItem("volume", "f", 3, have)]),
    )
    assert not result.match and result.changed == 1
    assert result.examples == [
        "volume/f: acl added, mode 0700 instead of 0755, sha256 differs, "
        "xattr:user.k absent instead of b"
    ]


def test_field_digests_of_another_size_name_both() -> None:
    want = fields_digest({"sparse": "yes"})
    have = fields_digest({"sparse": "no"})
    result = compare(
        Fingerprint([FingerprintItem("volume", "f", 3, want)]),
        Fingerprint([FingerprintItem("volume", "f", 4, have)]),
    )
    assert result.examples == ["volume/f: size 4 instead of 3, sparse no instead of yes"]


def test_a_field_digest_against_another_form_is_content_differs() -> None:
    result = compare(
        Fingerprint([FingerprintItem("volume", "f", 3, fields_digest({"type": "dir"}))]),
        Fingerprint([FingerprintItem("volume", "f", 3, "dir")]),
    )
    assert result.examples == ["volume/f: content differs"]


def test_definitions_printed_by_other_majors_are_counted_as_presence_only() -> None:
    def fp(major: str, digest: str) -> Fingerprint:
        return Fingerprint(
            [
                FingerprintItem("db (schema)", "view v", 1, f"printed-by:{major}:{digest}"),
                FingerprintItem("db (schema)", "relation t", 1, "plain"),
            ]
        )

    across = compare(fp("15", "aa"), fp("16", "bb"))
    assert across.match and across.presence_only == 1
    same = compare(fp("16", "aa"), fp("16", "aa"))
    assert same.match and same.presence_only == 0
    differs = compare(fp("16", "aa"), fp("16", "bb"))
    assert not differs.match and differs.presence_only == 0


def _changes(want: dict[str, str], have: dict[str, str]) -> list[str]:
    result = compare(
        Fingerprint([FingerprintItem("volume", "f", 1, fields_digest(want))]),
        Fingerprint([FingerprintItem("volume", "f", 1, fields_digest(have))]),
    )
    return result.examples


def test_a_field_shown_whole_up_to_its_limit_and_named_past_it() -> None:
    at_limit, past = "a" * 40, "b" * 41
    assert _changes({"k": at_limit}, {"k": "c" * 40}) == [
        f"volume/f: k {'c' * 40} instead of {at_limit}"
    ]
    assert _changes({"k": past}, {"k": "c" * 41}) == ["volume/f: k differs"]
    # long values: a field gone, one new
    assert _changes({"k": past}, {}) == ["volume/f: k absent"]
    assert _changes({}, {"k": past}) == ["volume/f: k added"]
    # short values: both sides shown, the missing one as absent
    assert _changes({}, {"mode": "0700"}) == ["volume/f: mode 0700 instead of absent"]
    assert _changes({"mode": "0700"}, {}) == ["volume/f: mode absent instead of 0700"]


def test_merged_adds_groups_as_if_summarised_together_and_refuses_a_group_twice() -> None:
    from stategate.providers.fingerprint import merged, multiset_summary

    base = [FingerprintItem("db0", "k", 1, "string:persistent:aa")]
    extra = [
        FingerprintItem("acl", "default", 1, "sha256:bb"),
        FingerprintItem("config", "appendonly", 1, "yes"),
    ]
    together = merged(multiset_summary(base), extra)
    assert together == multiset_summary(base + extra)
    assert set(together.groups) == {"db0", "acl", "config"}
    with pytest.raises(ValueError, match=r"given twice: \['db0'\]"):
        merged(multiset_summary(base), [FingerprintItem("db0", "x", 1, "y")])
