"""Hostile names: S3 keys and tar members that would leave the backup or sandbox."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from stategate.errors import ExternalError
from stategate.providers.registry import PROVIDERS
from stategate.providers.s3 import object_part
from stategate.providers.s3_layout import check_key, version_part
from stategate.providers.volume import check_member, extract_safely


@pytest.mark.parametrize(
    "key", ["../x", "a/../../x", "/etc/passwd", "a//b", "dir/", "a\\b", ".", "a/./b", ""]
)
def test_escaping_s3_keys_fail_closed_in_a_layout_1_mirror(key: str) -> None:
    """Backups written before the manifest mirror keys as paths: reading one back
    never follows a key out of the backup."""
    with pytest.raises(ExternalError, match="would escape the backup target: refused"):
        object_part("bucket", key)


@pytest.mark.parametrize("key", ["../x", "a/../../x", "/etc/passwd", "a\\b", ".", "a/./b", ""])
def test_escaping_s3_keys_fail_closed(key: str) -> None:
    with pytest.raises(ExternalError, match="would escape the backup target: refused"):
        check_key("bucket", key)


@pytest.mark.parametrize("key", ["invoices/2024/", "a", "a/b", "x/", "x", "a//b"])
def test_folder_keys_and_keys_colliding_as_files_are_kept(key: str) -> None:
    check_key("bucket", key)  # no key is a path in the backup: parts are numbered


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
        (_member("dev", tarfile.CHRTYPE), "member is not plain data"),
        (_member("fifo", tarfile.FIFOTYPE), "member is not plain data"),
        (_member("hard", tarfile.LNKTYPE, "x"), "member is not plain data"),
        (_member("link", tarfile.SYMTYPE, "/etc/passwd"), "symlink leaves the target"),
        (_member("a/link", tarfile.SYMTYPE, "../../x"), "symlink leaves the target"),
    ],
)
def test_hostile_tar_members_are_refused(member: tarfile.TarInfo, reason: str) -> None:
    with pytest.raises(ExternalError, match=reason):
        check_member(member)


def test_inner_symlink_is_fine() -> None:
    check_member(_member("a/link", tarfile.SYMTYPE, "../b"))


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
