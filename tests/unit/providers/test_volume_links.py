"""Symlinks that stay inside one by one and leave the volume through each other."""

from __future__ import annotations

import os
import re
import subprocess
import tarfile
from pathlib import Path

import pytest

from stategate.errors import ExternalError
from stategate.providers.volume import (
    Fence,
    check_restored_links,
    create_argv,
    extract_safely,
)
from stategate.providers.volume_links import MAX_HOPS, escape, escapes

# the reviewer's chain: each link's text alone stays inside, together they reach /etc
CHAIN = {
    "y": ".",
    "s1": "y/..",
    "s2": "s1/..",
    "s3": "s2/..",
    "s4": "s3/..",
    "leak": "s4/etc/shadow",
}


def test_a_chain_of_links_climbing_one_level_each_is_found() -> None:
    assert escapes(CHAIN) == [
        (name, "it climbs above the volume's root") for name in ["leak", "s1", "s2", "s3", "s4"]
    ]
    assert escape(CHAIN, "y") is None


@pytest.mark.parametrize(
    ("links", "name"),
    [
        # mixed: a link to the root two directories down, then ".." through it
        ({"a/b/c": "../..", "a/x": "b/c/../etc"}, "a/x"),
        # a link to a link to a directory (the root), then ".."
        ({"sub/up": "..", "sub/hop": "up", "sub/out": "hop/../x"}, "sub/out"),
        # through a link whose own text is absolute
        ({"abs": "/etc", "via": "abs/passwd"}, "via"),
        # a link named by a path through a link: "d" is the root, "d/y/.." its parent
        ({"d": ".", "d2": "d/d/d/.."}, "d2"),
    ],
)
def test_links_leaving_through_other_links_are_found(links: dict[str, str], name: str) -> None:
    assert escape(links, name) is not None


@pytest.mark.parametrize(
    ("links", "name"),
    [
        ({"a/b/c": "../..", "a/x": "b/c/etc"}, "a/x"),  # the root's etc
        ({"sub/up": "..", "sub/hop": "up", "sub/in": "hop/sub/up/x"}, "sub/in"),
        ({"cur": "releases/2", "releases/2/logs": "../../logs", "l": "cur/logs"}, "l"),
        ({"dangling": "no/such/../../x"}, "dangling"),
    ],
)
def test_links_staying_inside_are_kept(links: dict[str, str], name: str) -> None:
    assert escape(links, name) is None


def test_a_loop_or_a_chain_longer_than_the_kernel_follows_is_refused() -> None:
    assert escape({"a": "b", "b": "a"}, "a") == f"it goes through more than {MAX_HOPS} symlinks"
    long = {f"l{i}": f"l{i + 1}" for i in range(MAX_HOPS)} | {f"l{MAX_HOPS}": "x"}
    assert escape(long, "l0") is not None
    assert escape(long, "l1") is None  # exactly 40


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info


def test_the_fence_refuses_the_chain_in_gnu_tars_order() -> None:
    fence = Fence()
    fence.admit(_member(".", tarfile.DIRTYPE))
    for name in sorted(CHAIN):  # --sort=name: "leak" before the "s4" it goes through
        fence.admit(_member(f"./{name}", tarfile.SYMTYPE, CHAIN[name]))
    with pytest.raises(ExternalError, match="'leak' -> 's4/etc/shadow': it climbs above"):
        fence.finish()


def test_the_fence_follows_a_hard_link_to_a_symlink() -> None:
    # tar links the symlink itself: "y" gets the text "../..", read from the root
    fence = Fence()
    for member in [
        _member("./a/", tarfile.DIRTYPE),
        _member("./a/b/", tarfile.DIRTYPE),
        _member("./a/b/x", tarfile.SYMTYPE, "../.."),
        _member("./y", tarfile.LNKTYPE, "./a/b/x"),
    ]:
        fence.admit(member)
    with pytest.raises(ExternalError, match=re.escape("'y' -> '../..'")):
        fence.finish()


def _archive(src: Path, out: Path) -> Path:
    with out.open("wb") as handle:
        subprocess.run(create_argv(src), stdout=handle, check=True)
    return out


@pytest.mark.parametrize("hard_link", [False, True])
def test_a_restore_of_a_chain_is_refused_before_tar_extracts(
    tmp_path: Path, hard_link: bool
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    if hard_link:
        (src / "a" / "b").mkdir(parents=True)
        (src / "a" / "b" / "x").symlink_to("../..")
        os.link(src / "a" / "b" / "x", src / "y", follow_symlinks=False)
    else:
        for name, text in CHAIN.items():
            (src / name).symlink_to(text)
    archive = _archive(src, tmp_path / "chain.tar")
    target = tmp_path / "sandbox" / "volume"
    target.mkdir(parents=True)
    with pytest.raises(ExternalError, match="leaves the target through other symlinks"):
        extract_safely(archive, target)
    assert list(target.iterdir()) == []


def test_links_that_stay_inside_restore(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "releases" / "2").mkdir(parents=True)
    (src / "logs").mkdir()
    (src / "current").symlink_to("releases/2")
    (src / "releases" / "2" / "logs").symlink_to("../../logs")
    (src / "l").symlink_to("current/logs")
    target = tmp_path / "volume"
    target.mkdir()
    extract_safely(_archive(src, tmp_path / "ok.tar"), target)
    assert os.path.realpath(target / "l") == str((target / "logs").resolve())


def test_a_restored_tree_with_a_link_outside_is_refused(tmp_path: Path) -> None:
    volume = tmp_path / "v"
    (volume / "d").mkdir(parents=True)
    (volume / "d" / "up").symlink_to("..")
    check_restored_links(volume)
    (volume / "d" / "out").symlink_to("../..")
    with pytest.raises(ExternalError, match=r"symlink .*d/out -> '../..' resolves outside"):
        check_restored_links(volume)
