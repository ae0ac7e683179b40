"""Volume backups on a real filesystem, as root: what a restore must reproduce.

A source volume holds hard links, a FIFO, a socket, extended attributes, a POSIX
ACL, a sparse file, a private directory of another user, a setuid file, a
symlink, a name that is not UTF-8 and one with a newline. A backup and a drill must carry every one
of them, and a sandbox that lost any one must fail the comparison, naming it.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
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
from stategate.evidence.records.predicates import BackupPredicate, DrillPredicate
from stategate.operations.backup import run_backup
from stategate.operations.drill import run_restore_drill
from stategate.providers.access import VolumeAccess
from stategate.providers.base import FINGERPRINT_PART, BackupHooks, BackupOutput, StoredBackup
from stategate.providers.config import VolumeSource
from stategate.providers.fingerprint import Fingerprint, FingerprintItem, compare
from stategate.providers.volume import TAR_PART, VolumeProvider, create_argv, tar_failure
from stategate.sandbox.local import LocalEngine

from .conftest import Workspace

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
    (root / "line\nbreak").write_text("a newline in its name\n")


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
    # the volume keeps its 0755, but sits in a 0700 sandbox: no other user reaches setuid
    assert stat.S_IMODE(root.stat().st_mode) == 0o755
    assert stat.S_IMODE(root.parent.stat().st_mode) == 0o700


# GNU tar writes "=" and "%" in a PAX keyword as %3D and %25: each name must come back
ESCAPED_NAMES = ["user.a=b", "user.p%41", "user.x%3D", "user.%25=%"]


def test_attribute_names_tar_escapes_are_read_as_named(tmp_path: Path) -> None:
    source = tmp_path / "volume"
    source.mkdir()
    _require_xattrs(source)
    (source / "f").write_bytes(b"x")
    for number, name in enumerate(ESCAPED_NAMES):
        os.setxattr(source / "f", name, str(number).encode())
    output = backup(source, tmp_path / "backup")
    tree = VolumeProvider(VolumeAccess(source)).fingerprint()
    result = compare(tree, output.fingerprint)
    assert result.match, result.examples
    with VolumeProvider(VolumeAccess(source)).restore(
        stored(tmp_path / "backup"), LocalEngine()
    ) as sandbox:
        assert isinstance(sandbox, VolumeProvider)
        restored = sandbox.access.path / "f"
        assert sorted(os.listxattr(restored)) == sorted(ESCAPED_NAMES)
        result = compare(output.fingerprint, sandbox.fingerprint())
        assert result.match, result.examples


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


def test_sockets_are_findings_and_a_quiet_tree_is_one_point_in_time(
    volume: Path, tmp_path: Path
) -> None:
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(volume / "app.sock"))
        time.sleep(0.3)  # older than RECENT_NS: ctime cannot hide a change any more
        output = backup(volume, tmp_path / "backup")
    assert output.findings == (
        "socket app.sock is not in the backup: a socket cannot be archived "
        "(the program listening on it creates it again)",
    )
    assert output.consistent, output.note
    assert "no entry changed from before the archive to after it" in output.note
    assert "app.sock" not in {i.name for i in output.fingerprint.items}


def test_a_change_during_the_archive_is_not_one_point_in_time(volume: Path, tmp_path: Path) -> None:
    time.sleep(0.3)
    hooks = BackupHooks(after_fingerprint=lambda: (volume / "late.log").write_text("late\n"))
    output = backup(volume, tmp_path / "backup", hooks)
    assert not output.consistent
    assert "not one point in time: 2 entries changed while it was written (., late.log); " in (
        output.note
    )


def test_a_fresh_change_cannot_be_proved_absent(volume: Path, tmp_path: Path) -> None:
    (volume / "attrs").chmod(0o600)  # just now: within the timestamp granularity
    output = backup(volume, tmp_path / "backup")
    assert not output.consistent
    assert "not provably one point in time" in output.note and "attrs" in output.note


@pytest.fixture
def coarse_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory on ext4 with 128-byte inodes (timestamps in whole seconds, as on
    ext3 or vfat), loop-mounted; skipped, naming why, where that cannot be made."""
    image, mount = tmp_path / "ext4-128.img", tmp_path / "coarse"
    mount.mkdir()
    with image.open("wb") as handle:
        handle.truncate(16 << 20)
    for argv in (["mkfs.ext4", "-q", "-F", "-I", "128", str(image)], ["mount", "-o", "loop"]):
        if argv[0] == "mount":
            argv += [str(image), str(mount)]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, check=False)
        except FileNotFoundError:
            pytest.skip(f"{argv[0]} is not installed: no loop-mounted ext4 to test on")
        if done.returncode != 0:
            pytest.skip(f"{' '.join(argv[:3])} failed here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_on_whole_second_timestamps_a_same_size_rewrite_is_not_hidden(
    coarse_dir: Path, tmp_path: Path
) -> None:
    # the reviewer's transfer: both balances rewritten, same sizes, within the second
    # they were written in, leaves every ctime, mtime and size as the first scan saw it
    volume = coarse_dir / "volume"
    volume.mkdir()
    (volume / "a_balance").write_bytes(b"100")
    (volume / "z_balance").write_bytes(b"000")

    def transfer() -> None:
        (volume / "a_balance").write_bytes(b"000")
        (volume / "z_balance").write_bytes(b"100")

    output = backup(volume, tmp_path / "backup", BackupHooks(after_fingerprint=transfer))
    assert not output.consistent, output.note
    # a few stamps in one second may all be even, which 2 s (vfat) would give too
    assert re.search(r"this file system keeps timestamps to [12] s only", output.note)


def test_a_device_node_fails_the_backup(volume: Path, tmp_path: Path) -> None:
    os.mknod(volume / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    with pytest.raises(ExternalError, match=r"volume entry .*/null is a device node"):
        backup(volume, tmp_path / "backup")
    assert not (tmp_path / "backup").exists()


def test_a_device_node_that_appears_during_the_archive_fails_the_backup(
    volume: Path, tmp_path: Path
) -> None:
    def plant() -> None:  # after the scan, before tar: only the archive's reader sees it
        os.mknod(volume / "late-null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))

    with pytest.raises(ExternalError, match=r"member '\./late-null' is a device node"):
        backup(volume, tmp_path / "backup", BackupHooks(after_fingerprint=plant))
    assert not (tmp_path / "backup").exists()


def _without_dac(argv: list[str]) -> list[str]:
    """``argv`` as root without the capabilities that let root read anything (as in a
    container that drops them, or on an NFS export that squashes root)."""
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed: cannot drop root's DAC bypass")
    return [
        "setpriv",
        "--inh-caps=-all",
        "--bounding-set=-dac_override,-dac_read_search",
        "--",
        *argv,
    ]


def test_an_unreadable_directory_fails_the_backup_naming_it(volume: Path, tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from stategate.errors import ExternalError
        from stategate.evidence.records.artifact import open_backup
        from stategate.providers.access import VolumeAccess
        from stategate.providers.base import BackupHooks
        from stategate.providers.volume import VolumeProvider
        try:
            with open_backup(Path({str(tmp_path / "backup")!r})) as writer:
                VolumeProvider(VolumeAccess(Path({str(volume)!r}))).backup(writer, BackupHooks())
        except ExternalError as exc:
            print(exc)
            raise SystemExit(3)
        """
    )
    env = {"PYTHONPATH": os.pathsep.join(sys.path)}
    done = execute.run(_without_dac([sys.executable, "-c", script]), env=env, check=False)
    assert done.returncode == 3, done.stderr.decode()
    assert (
        done.text().strip() == f"cannot read volume directory {volume}/private: Permission denied"
    )
    assert not (tmp_path / "backup").exists()


def test_tar_that_cannot_read_a_directory_fails_naming_it(volume: Path) -> None:
    # the backup's own tar command, run where root cannot read the private directory
    argv = [*create_argv(volume)[:2], "--file=/dev/stdout", *create_argv(volume)[3:]]
    done = execute.run(_without_dac(argv), env={"LC_ALL": "C.UTF-8"}, check=False)
    assert done.returncode == 2
    error = tar_failure(done.returncode, done.stderr.decode(), volume)
    assert error is not None
    assert str(error) == (
        f"GNU tar could not archive volume {volume}: ./private: Cannot open: Permission denied"
    )


def test_tar_statuses_are_named() -> None:
    root = Path("/srv/data")
    assert tar_failure(0, "", root) is None
    changed = tar_failure(1, "tar: ./db.log: file changed as we read it\n", root)
    assert str(changed) == (
        "volume /srv/data changed while GNU tar read it, so the archive holds a torn copy "
        "(./db.log: file changed as we read it): back up again when it is quiet"
    )
    assert (
        str(tar_failure(2, "", root)) == "GNU tar could not archive volume /srv/data: exit status 2"
    )


def _old_style_backup(source: Path, directory: Path) -> None:
    """A backup as stategate wrote it before GNU tar: Python's tarfile, files,
    directories and symlinks only, and a fingerprint of sha256 / ``dir`` / ``link:``."""
    directory.mkdir()
    items = []
    with tarfile.open(directory / TAR_PART, "w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(source.rglob("*")):
            rel = path.relative_to(source).as_posix()
            info = tar.gettarinfo(str(path), arcname=rel)
            if info.isreg():
                with open(path, "rb") as handle:
                    tar.addfile(info, handle)
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                items.append(FingerprintItem("volume", rel, info.size, digest))
            elif info.issym():
                tar.addfile(info)
                items.append(FingerprintItem("volume", rel, 0, "link:" + info.linkname))
            elif info.isdir():
                tar.addfile(info)
                items.append(FingerprintItem("volume", rel, 0, "dir"))
    (directory / FINGERPRINT_PART).write_bytes(Fingerprint(items).to_jsonl())


def test_a_backup_written_before_gnu_tar_still_restores_and_drills(tmp_path: Path) -> None:
    source = tmp_path / "old"
    (source / "sub").mkdir(parents=True)
    (source / "sub" / "file.bin").write_bytes(bytes(range(256)) * 40)
    (source / "config.yml").write_text("a: 1\n")
    (source / "link").symlink_to("config.yml")
    _old_style_backup(source, tmp_path / "backup")
    backed = stored(tmp_path / "backup")
    with VolumeProvider(VolumeAccess(source)).restore(backed, LocalEngine()) as sandbox:
        assert isinstance(sandbox, VolumeProvider) and sandbox.legacy
        result = compare(backed.fingerprint, sandbox.fingerprint())
        assert result.match, result.examples
        (sandbox.access.path / "config.yml").write_text("a: 2\n")
        result = compare(backed.fingerprint, sandbox.fingerprint())
        assert result.examples == ["volume/config.yml: content differs"]


def test_backup_record_and_drill_of_a_rich_volume(workspace: Workspace, volume: Path) -> None:
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(volume / "app.sock"))
        ctx = workspace.context("data/files", VolumeSource(path=str(volume)), smoke=[])
        record = run_backup(ctx)
    pred = record.statement.predicate
    assert isinstance(pred, BackupPredicate)
    assert pred.result == "pass", pred.reason
    assert pred.findings == [
        "socket app.sock is not in the backup: a socket cannot be archived "
        "(the program listening on it creates it again)"
    ]
    assert [a.name for a in pred.artifacts] == [FINGERPRINT_PART, TAR_PART]
    drill = run_restore_drill(ctx).statement.predicate
    assert isinstance(drill, DrillPredicate)
    assert drill.result == "pass", drill.reason
    assert drill.fingerprint is not None and drill.fingerprint.match
    assert pred.fingerprint is not None
    assert drill.fingerprint.observed.digest == pred.fingerprint.digest
