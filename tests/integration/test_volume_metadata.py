"""Volume backups on a real filesystem, as root: what a restore must reproduce.

A source volume holds hard links, a FIFO, a socket, extended attributes, a POSIX
ACL, a sparse file, a private directory of another user, a setuid file, a
symlink and a name that is not UTF-8. A backup and a drill must carry every one
of them, and a sandbox that lost any one must fail the comparison, naming it.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import stat
import subprocess
import sys
import tarfile
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from stategate import execute
from stategate.errors import ExternalError
from stategate.evidence.records.artifact import open_backup
from stategate.providers.access import VolumeAccess
from stategate.providers.base import FINGERPRINT_PART, BackupHooks, BackupOutput, StoredBackup
from stategate.providers.fingerprint import Fingerprint, FingerprintItem, compare
from stategate.providers.volume import TAR_PART, VolumeProvider, create_argv, tar_failure
from stategate.sandbox.local import LocalEngine

pytestmark = pytest.mark.integration

OTHER_UID = 1234
XATTR = "user.stategate"
SPARSE_SIZE = 64 << 20
ODD_NAME = os.fsdecode(b"latin1-\xe9.txt")  # a name that is not UTF-8


def _acl(*entries: tuple[int, int, int]) -> bytes:
    """A POSIX ACL extended attribute: version 2, then (tag, perm, id) per entry."""
    return (2).to_bytes(4, "little") + b"".join(
        tag.to_bytes(2, "little") + perm.to_bytes(2, "little") + ident.to_bytes(4, "little")
        for tag, perm, ident in entries
    )


NO_ID = 0xFFFFFFFF
# user::rwx user:1234:r-- group::r-x mask::r-x other::r-x
ACL = _acl((1, 7, NO_ID), (2, 4, OTHER_UID), (4, 5, NO_ID), (16, 5, NO_ID), (32, 5, NO_ID))


def _require_xattrs(path: Path) -> None:
    try:
        os.setxattr(path, XATTR, b"probe")
        os.removexattr(path, XATTR)
    except OSError as exc:
        if exc.errno in (errno.ENOTSUP, errno.EPERM):
            pytest.skip(f"the filesystem of {path} refuses user.* extended attributes: {exc}")
        raise


def _has_hole(path: Path) -> bool:
    with open(path, "rb") as handle:
        return os.lseek(handle.fileno(), 0, os.SEEK_HOLE) < path.stat().st_size


def make_volume(root: Path) -> None:
    root.mkdir()
    _require_xattrs(root)
    (root / "hard").mkdir()
    (root / "hard" / "a").write_bytes(b"one inode, two names\n")
    os.link(root / "hard" / "a", root / "hard" / "b")
    os.mkfifo(root / "pipe")
    (root / "attrs").write_text("has an attribute\n")
    os.setxattr(root / "attrs", XATTR, b"\xffbinary\x00value")
    (root / "shared").mkdir()
    os.setxattr(root / "shared", "system.posix_acl_access", ACL)
    os.setxattr(root / "shared", "system.posix_acl_default", ACL)
    with open(root / "sparse.img", "wb") as handle:
        handle.truncate(SPARSE_SIZE)
        handle.seek(1 << 20)
        handle.write(b"x" * 4096)
    if not _has_hole(root / "sparse.img"):
        pytest.skip(f"the filesystem of {root} stores no holes (SEEK_HOLE finds none)")
    (root / "private").mkdir()
    (root / "private" / "secret").write_text("theirs\n")
    for path in (root / "private", root / "private" / "secret"):
        os.chown(path, OTHER_UID, OTHER_UID)
    (root / "private").chmod(0o700)
    (root / "setuid").write_bytes(b"#!/bin/sh\n")
    (root / "setuid").chmod(0o4755)
    (root / "link").symlink_to("attrs")
    (root / ODD_NAME).write_text("odd name\n")


@pytest.fixture
def volume(tmp_path: Path) -> Path:
    root = tmp_path / "volume"
    make_volume(root)
    return root


def backup(source: Path, out: Path, hooks: BackupHooks | None = None) -> BackupOutput:
    with open_backup(out) as writer:
        output = VolumeProvider(VolumeAccess(source)).backup(writer, hooks or BackupHooks())
        with writer.part(FINGERPRINT_PART) as dest:
            dest.write(output.fingerprint.to_jsonl())
    return output


def stored(directory: Path) -> StoredBackup:
    listing = Fingerprint.from_jsonl((directory / FINGERPRINT_PART).read_bytes())
    return StoredBackup(directory=directory, parts=(), fingerprint=listing)


@pytest.fixture
def backed_up(volume: Path, tmp_path: Path) -> StoredBackup:
    backup(volume, tmp_path / "backup")
    return stored(tmp_path / "backup")


@pytest.fixture
def restored(backed_up: StoredBackup) -> Iterator[tuple[StoredBackup, VolumeProvider]]:
    with VolumeProvider(VolumeAccess(Path("/nonexistent"))).restore(
        backed_up, LocalEngine()
    ) as sandbox:
        assert isinstance(sandbox, VolumeProvider)
        yield backed_up, sandbox


def test_a_restore_reproduces_every_kind_of_entry(
    restored: tuple[StoredBackup, VolumeProvider], volume: Path
) -> None:
    backed, sandbox = restored
    result = compare(backed.fingerprint, sandbox.fingerprint())
    assert result.match, result.examples
    # the source itself fingerprints alike: the archive's stream and the tree agree
    assert compare(backed.fingerprint, VolumeProvider(VolumeAccess(volume)).fingerprint()).match
    # and the sandbox holds them, not only a fingerprint that is blind on both sides
    root = sandbox.access.path
    hard = (root / "hard" / "a").stat(), (root / "hard" / "b").stat()
    assert hard[0].st_ino == hard[1].st_ino and hard[0].st_nlink == 2
    assert stat.S_ISFIFO((root / "pipe").lstat().st_mode)
    assert os.getxattr(root / "attrs", XATTR) == b"\xffbinary\x00value"
    assert os.getxattr(root / "shared", "system.posix_acl_access") == ACL
    assert os.getxattr(root / "shared", "system.posix_acl_default") == ACL
    assert _has_hole(root / "sparse.img")
    assert (root / "sparse.img").stat().st_blocks * 512 < SPARSE_SIZE // 2
    private = (root / "private").stat()
    assert (private.st_uid, private.st_gid, stat.S_IMODE(private.st_mode)) == (
        OTHER_UID,
        OTHER_UID,
        0o700,
    )
    assert (root / "private" / "secret").stat().st_uid == OTHER_UID
    assert stat.S_IMODE((root / "setuid").stat().st_mode) == 0o4755
    assert os.readlink(root / "link") == "attrs"
    assert (root / ODD_NAME).read_text() == "odd name\n"


def _refill(path: Path) -> None:
    data = path.read_bytes()
    path.unlink()
    path.write_bytes(data)  # the same bytes, every block written: no hole left


def _break_link(path: Path) -> None:
    data = path.read_bytes()
    path.unlink()
    path.write_bytes(data)


def _fifo_to_file(path: Path) -> None:
    path.unlink()
    path.write_bytes(b"")


def _retarget(path: Path) -> None:
    path.unlink()
    path.symlink_to("setuid")


Change = Callable[[Path], None]
# the path changed in the sandbox, how, and what the drill's example line must say
CHANGES: list[tuple[str, Change, str]] = [
    ("private", lambda p: os.chown(p, 0, OTHER_UID), "uid 0 instead of 1234"),
    ("private", lambda p: os.chmod(p, 0o755), "mode 0755 instead of 0700"),
    ("setuid", lambda p: os.chmod(p, 0o755), "mode 0755 instead of 4755"),
    (".", lambda p: os.chmod(p, 0o700), "mode 0700 instead of 0755"),
    ("attrs", lambda p: os.removexattr(p, XATTR), f"xattr:{XATTR} absent"),
    ("attrs", lambda p: os.setxattr(p, XATTR, b"other"), f"xattr:{XATTR} differs"),
    ("shared", lambda p: os.removexattr(p, "system.posix_acl_access"), "acl absent"),
    ("shared", lambda p: os.removexattr(p, "system.posix_acl_default"), "default-acl absent"),
    ("hard/b", _break_link, "hardlink absent instead of hard/a"),
    ("pipe", _fifo_to_file, "type file instead of fifo"),
    ("sparse.img", _refill, "sparse no instead of yes"),
    ("link", _retarget, "target setuid instead of attrs"),
    ("attrs", lambda p: p.write_text("changed\n"), "size 8 instead of 17, sha256 differs"),
    ("setuid", lambda p: p.unlink(), "missing after restore"),
]


@pytest.mark.parametrize(
    ("rel", "change", "named"), CHANGES, ids=[f"{c[0]}: {c[2]}" for c in CHANGES]
)
def test_a_sandbox_that_lost_anything_fails_naming_it(
    restored: tuple[StoredBackup, VolumeProvider], rel: str, change: Change, named: str
) -> None:
    backed, sandbox = restored
    change(sandbox.access.path / rel)
    result = compare(backed.fingerprint, sandbox.fingerprint())
    assert not result.match
    lines = [line for line in result.examples if line.startswith(f"volume/{rel}: ")]
    assert lines and named in lines[0], result.examples
