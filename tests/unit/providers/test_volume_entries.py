"""The pure parts of volume backups: ACL text, fingerprint fields, consistency."""

from __future__ import annotations

import json

import pytest

from stategate.providers.fingerprint import FIELDS
from stategate.providers.volume import RECENT_NS, Meta, judge, recent_window, timestamp_grain
from stategate.providers.volume_entries import Entry, acl_text, items, xattr_name

NO_ID = 0xFFFFFFFF


def _acl(*entries: tuple[int, int, int]) -> bytes:
    return (2).to_bytes(4, "little") + b"".join(
        t.to_bytes(2, "little") + p.to_bytes(2, "little") + i.to_bytes(4, "little")
        for t, p, i in entries
    )


def test_acl_text_names_each_entry_and_leaves_out_what_the_mode_says() -> None:
    full = _acl(
        (1, 7, NO_ID), (2, 4, 1234), (4, 5, NO_ID), (8, 6, 55), (16, 7, NO_ID), (32, 0, NO_ID)
    )
    assert acl_text(full) == "user::rwx,user:1234:r--,group::r-x,group:55:rw-,mask::rwx,other::---"
    assert acl_text(_acl((1, 6, NO_ID), (4, 4, NO_ID), (32, 4, NO_ID))) == ""
    assert acl_text(b"\x01\x00\x00\x00").startswith("unreadable:")  # version 1
    assert acl_text(_acl((1, 7, NO_ID))[:-1]).startswith("unreadable:")  # cut short


def _fields(entry: Entry, *others: Entry) -> dict[str, str]:
    digest = items([entry, *others])[0].digest
    assert digest.startswith(FIELDS)
    loaded = json.loads(digest[len(FIELDS) :])
    assert isinstance(loaded, dict)
    return loaded


def test_fields_per_type() -> None:
    assert _fields(Entry("f", "file", 0o4755, 1, 2, size=3, sha256="ab", sparse=True)) == {
        "type": "file",
        "uid": "1",
        "gid": "2",
        "mode": "4755",
        "sha256": "ab",
        "sparse": "yes",
    }
    assert _fields(Entry("l", "symlink", 0o777, 0, 0, target="x")) == {
        "type": "symlink",
        "uid": "0",
        "gid": "0",
        "target": "x",
    }
    xattrs = _fields(
        Entry("d", "dir", 0o1777, 0, 0, xattrs=(("user.a", b"v"),), acl="a", default_acl="b")
    )
    assert xattrs["mode"] == "1777"
    assert xattrs["acl"] == "a" and xattrs["default-acl"] == "b"
    assert set(xattrs) >= {"xattr:user.a"} and "sha256" not in xattrs


def test_hard_links_name_their_groups_first_path_and_a_lone_inode_none() -> None:
    b = Entry("b", "file", 0o644, 0, 0, inode=7)
    a = Entry("a", "file", 0o644, 0, 0, inode=7)
    alone = Entry("c", "file", 0o644, 0, 0, inode=8)
    listed = {i.name: json.loads(i.digest[len(FIELDS) :]) for i in items([b, a, alone])}
    assert listed["a"]["hardlink"] == listed["b"]["hardlink"] == "a"
    assert "hardlink" not in listed["c"]


def _meta(ctime_ns: int, size: int = 1) -> Meta:
    return Meta(1, 0o100644, 0, 0, size, ctime_ns, ctime_ns, 1)


def test_an_unchanged_quiet_tree_is_one_point_in_time() -> None:
    started = 10 * RECENT_NS
    tree = {".": _meta(0), "a": _meta(started - RECENT_NS)}
    consistent, note = judge(tree, dict(tree), started)
    assert consistent and "so it holds one point in time" in note


def test_changes_during_and_just_before_the_archive_are_named() -> None:
    started = 10 * RECENT_NS
    before = {".": _meta(0), "a": _meta(0), "gone": _meta(0)}
    after = {".": _meta(0), "a": _meta(0, size=2), "new": _meta(0)}
    consistent, note = judge(before, after, started)
    assert not consistent
    assert "not one point in time: 3 entries changed while it was written (a, gone, new); " in note
    fresh = {".": _meta(0), "a": _meta(started - RECENT_NS + 1)}
    consistent, note = judge(fresh, dict(fresh), started)
    assert not consistent and "changed just before it began (a)" in note


@pytest.mark.parametrize(
    ("keyword", "name"),
    [
        ("user.a%3Db", "user.a=b"),
        ("user.p%2541", "user.p%41"),
        ("user.x%253D", "user.x%3D"),  # a literal "%3D": its "%" escaped
        ("user.%41%3d%2", "user.%41%3d%2"),  # only %3D and %25 are tar's, as it writes them
        ("user.plain", "user.plain"),
    ],
)
def test_xattr_names_are_unescaped_as_gnu_tar_escapes_them(keyword: str, name: str) -> None:
    assert xattr_name(keyword) == name


SECOND = 1_000_000_000


def test_timestamp_grain_is_the_coarsest_unit_every_stamp_is_a_multiple_of() -> None:
    assert timestamp_grain({"a": _meta(7 * SECOND), "b": _meta(9 * SECOND)}) == SECOND
    assert timestamp_grain({"a": _meta(8 * SECOND)}, {"a": _meta(4 * SECOND)}) == 2 * SECOND
    assert timestamp_grain({"a": _meta(7 * SECOND), "b": _meta(9 * SECOND + 1)}) == 1
    assert timestamp_grain({"a": _meta(7 * SECOND + 20_000_000)}) == 10_000_000
    assert timestamp_grain({}) == 2 * SECOND  # nothing seen: the longest wait
    assert recent_window(SECOND) == 2 * SECOND and recent_window(1) == RECENT_NS


def test_on_whole_second_timestamps_a_change_two_seconds_before_counts() -> None:
    # a same-size rewrite in the same second leaves ctime as it was: only its age tells
    started = 10 * SECOND + SECOND // 2
    torn = {".": _meta(SECOND), "a": _meta(9 * SECOND)}  # 1.5 s before: RECENT_NS missed it
    consistent, note = judge(torn, dict(torn), started)
    assert not consistent
    assert "changed just before it began (a)" in note
    assert (
        "keeps timestamps to 1 s only" in note
        and "a change up to 2 s before the archive counts" in note
    )
    quiet = {".": _meta(SECOND), "a": _meta(8 * SECOND)}  # 2.5 s before
    consistent, note = judge(quiet, dict(quiet), started)
    assert consistent and "keeps timestamps to 1 s only" in note


def test_on_fine_timestamps_the_window_stays_short() -> None:
    started = 10 * SECOND
    tree = {".": _meta(1), "a": _meta(started - RECENT_NS - 1)}
    consistent, note = judge(tree, dict(tree), started)
    assert consistent and "timestamps are fine-grained" in note


def test_a_hundredth_of_a_second_is_named_not_called_fine() -> None:
    tree = {".": _meta(SECOND + 10_000_000), "a": _meta(5 * SECOND + 20_000_000)}
    consistent, note = judge(tree, dict(tree), 10 * SECOND)
    assert consistent
    assert "keeps timestamps to 0.01 s only" in note and "up to 0.1 s before" in note
