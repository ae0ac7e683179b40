"""Hostile names: S3 keys and tar members that would leave the backup or sandbox."""

from __future__ import annotations

import io
import logging
import os
import tarfile
from pathlib import Path

import pytest

from stategate.errors import ExternalError
from stategate.providers.access import VolumeAccess
from stategate.providers.base import StoredBackup
from stategate.providers.fingerprint import Fingerprint
from stategate.providers.registry import PROVIDERS
from stategate.providers.s3 import object_part
from stategate.providers.s3_layout import check_key, version_part
from stategate.providers.volume import (
    TAR_PART,
    Fence,
    VolumeProvider,
    check_member,
    extract_safely,
)
from stategate.sandbox.local import LocalEngine


@pytest.mark.parametrize(
    "key", ["../x", "a/../../x", "/etc/passwd", "a//b", "dir/", "a\\b", ".", "a/./b", ""]
)
def test_escaping_s3_keys_fail_closed_in_a_layout_1_mirror(key: str) -> None:
    """Backups written before the manifest mirror keys as paths: reading one back
    never follows a key out of the backup."""
    with pytest.raises(ExternalError, match="would escape the backup target: refused"):
        object_part("bucket", key)


def test_only_the_empty_s3_key_is_refused() -> None:
    with pytest.raises(ExternalError, match="bucket bucket: an object with an empty key"):
        check_key("bucket", "")


@pytest.mark.parametrize(
    "key",
    [
        *("invoices/2024/", "a", "a/b", "x/", "x", "a//b", "../x", "a/../../x", "/etc/passwd"),
        *("a\\b", ".", "..", "a/./b", "nul\0x"),
    ],
)
def test_every_key_is_kept_as_no_key_is_a_path(key: str) -> None:
    check_key("bucket", key)  # parts are numbered: keys from Windows clients fit too


def test_parts_are_numbered_never_named_by_key() -> None:
    assert version_part("b", 7) == "objects/b/7"
    with pytest.raises(ExternalError, match="not usable as a directory"):
        version_part("../b", 1)


def test_plain_keys_map_into_the_mirror() -> None:
    assert object_part("b", "users/1/photo.jpg") == "objects/b/users/1/photo.jpg"


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        (_member("/abs"), "member escapes the target"),
        (_member("../up"), "member escapes the target"),
        (_member("a/../../up"), "member escapes the target"),
        (_member("dev", tarfile.CHRTYPE), "member is a device node"),
        (_member("disk", tarfile.BLKTYPE), "member is a device node"),
        (_member("hard", tarfile.LNKTYPE, "../x"), "hard link leaves the target"),
        (_member("hard", tarfile.LNKTYPE, "/etc/shadow"), "hard link leaves the target"),
        (_member("hard", tarfile.LNKTYPE, ""), "hard link leaves the target"),
        (_member("link", tarfile.SYMTYPE, ""), "symlink leaves the target"),
        (_member("odd", b"V"), "unknown type"),
        (_member("link", tarfile.SYMTYPE, "/etc/passwd"), "symlink leaves the target"),
        (_member("a/link", tarfile.SYMTYPE, "../../x"), "symlink leaves the target"),
    ],
)
def test_hostile_tar_members_are_refused(member: tarfile.TarInfo, reason: str) -> None:
    with pytest.raises(ExternalError, match=reason):
        check_member(member)


def test_inner_symlink_fifo_and_hard_link_are_fine() -> None:
    check_member(_member("a/link", tarfile.SYMTYPE, "../b"))
    check_member(_member("fifo", tarfile.FIFOTYPE))
    check_member(_member("a/hard", tarfile.LNKTYPE, "b/file"))


@pytest.mark.parametrize(
    ("members", "reason"),
    [
        # a hard link to a file tar did not extract from this archive: a host file
        ([_member("hard", tarfile.LNKTYPE, "etc/shadow")], "names no earlier file"),
        ([_member("d", tarfile.DIRTYPE), _member("hard", tarfile.LNKTYPE, "d")], "no earlier"),
        # writing through a symlink the archive made, even one that stays inside
        ([_member("up", tarfile.SYMTYPE, "sub"), _member("up/x")], "below a symlink"),
        (
            [
                _member("f"),
                _member("up", tarfile.SYMTYPE, "sub"),
                _member("h", tarfile.LNKTYPE, "up/f"),
            ],
            "below a symlink",
        ),
        ([_member("f"), _member("./f")], "twice"),
    ],
)
def test_fence_checks_members_against_those_before(
    members: list[tarfile.TarInfo], reason: str
) -> None:
    fence = Fence()
    with pytest.raises(ExternalError, match=reason):
        for member in members:
            fence.admit(member)


def test_fence_admits_what_gnu_tar_writes() -> None:
    fence = Fence()
    for member in [
        _member(".", tarfile.DIRTYPE),
        _member("./a"),
        _member("./b", tarfile.LNKTYPE, "./a"),
        _member("./l", tarfile.SYMTYPE, "a"),
        _member("./f", tarfile.FIFOTYPE),
        _member("./sub/", tarfile.DIRTYPE),
        _member("./sub/x"),
    ]:
        fence.admit(member)


def test_extraction_stops_at_the_first_escape(tmp_path: Path) -> None:
    archive = tmp_path / "evil.tar"
    with tarfile.open(archive, "w") as tar:
        good = tarfile.TarInfo("ok.txt")
        good.size = 2
        tar.addfile(good, io.BytesIO(b"ok"))
        bad = tarfile.TarInfo("../escaped.txt")
        bad.size = 2
        tar.addfile(bad, io.BytesIO(b"no"))
    target = tmp_path / "out"
    target.mkdir()
    with pytest.raises(ExternalError, match="escapes"):
        extract_safely(archive, target)
    assert not (tmp_path / "escaped.txt").exists()


def test_registry_is_explicit() -> None:
    assert set(PROVIDERS) == {"postgres", "redis", "s3", "volume"}


def test_an_archive_gnu_tar_reads_differently_is_refused(tmp_path: Path) -> None:
    # a header with a bad checksum: tarfile takes it for the end of the archive, GNU
    # tar skips it and goes on, so "hidden" would be extracted without being checked
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in ["ok", "bad", "hidden"]:
            info = tarfile.TarInfo(name)
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
    data = bytearray(buffer.getvalue())
    data[1024 + 148 : 1024 + 156] = b"0000000\x00"  # the second header's checksum
    archive = tmp_path / "differs.tar"
    archive.write_bytes(bytes(data))
    target = tmp_path / "out"
    target.mkdir()
    with pytest.raises(ExternalError, match=r"GNU tar cannot read volume archive .*Skipping"):
        extract_safely(archive, target)
    assert list(target.iterdir()) == []


def _padded(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % tarfile.BLOCKSIZE)


def test_a_member_named_differently_by_gnu_tar_is_refused(tmp_path: Path) -> None:
    # a GNU long name, then a PAX header naming the same member otherwise: tarfile
    # takes the long name, GNU tar the PAX path; the check must see what tar extracts
    long_name = tarfile.TarInfo("././@LongLink")
    long_name.type, long_name.size = tarfile.GNUTYPE_LONGNAME, 8
    record = b"14 path=other\n"
    pax = tarfile.TarInfo("././@PaxHeader")
    pax.type, pax.size = tarfile.XHDTYPE, len(record)
    member = tarfile.TarInfo("short")
    member.size = 1
    archive = tmp_path / "two-names.tar"
    archive.write_bytes(
        long_name.tobuf(format=tarfile.GNU_FORMAT)
        + _padded(b"checked\0")
        + pax.tobuf(format=tarfile.USTAR_FORMAT)
        + _padded(record)
        + member.tobuf(format=tarfile.USTAR_FORMAT)
        + _padded(b"x")
        + b"\0" * 2 * tarfile.BLOCKSIZE
    )
    target = tmp_path / "out"
    target.mkdir()
    with pytest.raises(ExternalError, match="reads differently to GNU tar and to the member check"):
        extract_safely(archive, target)
    assert list(target.iterdir()) == []


def test_what_tar_could_not_set_is_returned_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # an attribute in a namespace no file system has: GNU tar warns and exits 0
    backup = tmp_path / "backup"
    backup.mkdir()
    with tarfile.open(backup / TAR_PART, "w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("./f")
        info.size = 1
        info.pax_headers = {"SCHILY.xattr.bogus.name": "v", "SCHILY.xattr.user.ok": "w"}
        tar.addfile(info, io.BytesIO(b"x"))
    stored = StoredBackup(directory=backup, parts=(), fingerprint=Fingerprint([]))
    provider = VolumeProvider(VolumeAccess(tmp_path / "unused"))
    with caplog.at_level(logging.WARNING), provider.restore(stored, LocalEngine()) as sandbox:
        assert isinstance(sandbox, VolumeProvider)
        assert os.getxattr(sandbox.access.path / "f", "user.ok") == b"w"
    (warning,) = sandbox.restore_warnings
    assert "Cannot set 'bogus.name' extended attribute for file './f'" in warning
    assert [r.getMessage() for r in caplog.records] == [
        f"restoring volume into {sandbox.access.path}: tar: {warning}"
    ]
