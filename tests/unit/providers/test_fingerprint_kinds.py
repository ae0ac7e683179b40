"""Items compared by more than equality: positions that only move forward, and
definitions as one major of a server prints them."""

from __future__ import annotations

import pytest

from stategate.providers.fingerprint import (
    AT_LEAST,
    Fingerprint,
    FingerprintItem,
    compare,
    printed_digest,
)


def _one(digest: str, size: int = 1) -> Fingerprint:
    return Fingerprint([FingerprintItem("app (schema)", "sequence public.s", size, digest)])


@pytest.mark.parametrize(
    ("recorded", "restored", "match"),
    [
        ("7", "7", True),
        ("7", "8", True),  # the dump read it later: further on
        ("7", "07", True),
        ("-3", "-2", True),
        ("7", "6", False),  # reset behind where the backup saw it
        ("7", "x", False),
        ("x", "7", False),
    ],
)
def test_a_position_matches_when_it_is_not_behind(
    recorded: str, restored: str, match: bool
) -> None:
    found = compare(_one(AT_LEAST + recorded), _one(AT_LEAST + restored))
    assert found.match is match
    assert found.changed == (0 if match else 1)
    if recorded == "7" and restored == "6":
        assert found.examples == ["app (schema)/sequence public.s: behind the position recorded"]


def test_a_position_is_compared_only_with_a_position_of_the_same_size() -> None:
    assert not compare(_one(AT_LEAST + "7"), _one("7")).match
    assert not compare(_one("7"), _one(AT_LEAST + "7")).match
    assert not compare(_one(AT_LEAST + "7"), _one("1234567899")).match  # not a position
    assert not compare(_one("1234567899"), _one(AT_LEAST + "7")).match
    other_size = compare(_one(AT_LEAST + "7"), _one(AT_LEAST + "9", size=2))
    assert not other_size.match
    assert other_size.examples == ["app (schema)/sequence public.s: size 2 instead of 1"]
    assert compare(_one(AT_LEAST + "7", size=2), _one(AT_LEAST + "9", size=2)).match


def test_a_definition_is_compared_only_when_one_major_printed_both() -> None:
    a, b = "a" * 64, "b" * 64
    assert printed_digest("16", a) == f"printed-by:16:{a}"
    same = compare(_one(printed_digest("16", a)), _one(printed_digest("16", a)))
    assert same.match
    changed = compare(_one(printed_digest("16", a)), _one(printed_digest("16", b)))
    assert not changed.match and changed.examples == [
        "app (schema)/sequence public.s: content differs"
    ]
    # printed by another major: present on both sides is all that is compared
    assert compare(_one(printed_digest("16", a)), _one(printed_digest("18", b))).match
    # the major is what precedes the first colon after the tag
    assert not compare(_one("printed-by:15:x:1"), _one("printed-by:15:y:1")).match
    # a printed definition is never the same as a plain digest, either way round
    assert not compare(_one(printed_digest("16", a)), _one(a)).match
    assert not compare(_one(a), _one(printed_digest("16", b))).match
    assert not compare(_one(printed_digest("16", a)), _one(printed_digest("18", b), size=2)).match
