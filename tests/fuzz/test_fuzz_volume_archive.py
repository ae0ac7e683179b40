"""Fuzzing the volume restore's fence with archives built to escape the target.

Members are drawn from names and link targets made of ``a``, ``b``, ``..``, ``.``
and ``/``, of every type GNU tar extracts. The property: a restore either refuses
the archive (one of stategate's errors) or GNU tar extracts it, and in both cases
nothing appears or changes outside the target directory. A second target builds
chains of symlinks: whatever the member check admits, no symlink GNU tar extracts
resolves outside the target.
"""

from __future__ import annotations

import contextlib
import io
import os
import tarfile
import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from stategate import execute
from stategate.errors import StategateError
from stategate.providers.volume import TAR_ENV, check_archive, extract_argv, extract_safely
from tests.fuzz.profile import COUNTS, FUZZ

segments = st.sampled_from(["a", "b", "..", ".", ""])
paths = st.builds(
    lambda lead, parts: lead + "/".join(parts),
    st.sampled_from(["", "/", "./"]),
    st.lists(segments, min_size=1, max_size=4),
)
# link chains: links named by the words the links' texts go through (y -> ., s -> y/..)
words = st.sampled_from(["a", "b", "c"])
link_paths = st.builds("/".join, st.lists(st.one_of(words, st.just("..")), min_size=1, max_size=3))
link_members = st.tuples(
    st.builds("/".join, st.lists(words, min_size=1, max_size=2)),
    st.sampled_from([tarfile.SYMTYPE] * 3 + [tarfile.DIRTYPE, tarfile.LNKTYPE]),
    st.one_of(st.just("."), link_paths),
)
KINDS = [tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.FIFOTYPE]
members = st.tuples(paths, st.sampled_from(KINDS), paths)


def _archive(spec: list[tuple[str, bytes, str]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, link in spec:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.mode = 0o755
            if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                info.linkname = link
            data = b"escaped?\n" if kind == tarfile.REGTYPE else b""
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _outside(sandbox: Path, target: Path) -> set[str]:
    return {
        p.relative_to(sandbox).as_posix()
        for p in sandbox.rglob("*")
        if p != target and target not in p.parents
    }


@FUZZ
@given(st.lists(members, min_size=1, max_size=6))
def test_a_restore_never_writes_outside_its_target(spec: list[tuple[str, bytes, str]]) -> None:
    COUNTS["volume archive"] += 1
    with tempfile.TemporaryDirectory() as tmp:
        sandbox = Path(tmp)
        target = sandbox / "a" / "target"  # "a" is also a member name: ../a must not reach it
        target.mkdir(parents=True)
        archive = sandbox / "volume.tar"
        archive.write_bytes(_archive(spec))
        before = _outside(sandbox, target)
        with contextlib.suppress(StategateError):  # refused: fine, if nothing leaked
            extract_safely(archive, target)
        assert _outside(sandbox, target) == before
        assert (sandbox / "volume.tar").read_bytes() == _archive(spec)


def _leaving_links(target: Path) -> list[str]:
    root = target.resolve()
    resolved = {p: Path(os.path.realpath(p)) for p in target.rglob("*") if p.is_symlink()}
    return [
        p.relative_to(target).as_posix()
        for p, to in resolved.items()
        if to != root and root not in to.parents
    ]


@FUZZ
@given(st.lists(link_members, min_size=1, max_size=6))
def test_the_member_check_admits_no_link_that_resolves_outside(
    spec: list[tuple[str, bytes, str]],
) -> None:
    # the member check alone (no second look after tar): whatever it admits, GNU tar
    # extracts with no symlink that the kernel resolves outside the target
    COUNTS["volume links"] += 1
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "target"
        target.mkdir()
        archive = Path(tmp) / "volume.tar"
        archive.write_bytes(_archive(spec))
        try:
            check_archive(archive)
        except StategateError:
            return
        execute.run(extract_argv(archive, target), env=TAR_ENV, check=False)
        assert _leaving_links(target) == []
