"""A directory (bind source or named-volume mountpoint) as a tar with a file manifest.

The manifest is computed from the very bytes that go into the tar. Extraction
is safe: members must be regular files, directories or symlinks that stay
inside the target; anything absolute, with ``..``, a device or a link leaving
the tree fails the restore.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Literal

from stategate.errors import ExternalError
from stategate.evidence.records.artifact import CHUNK, BackupWriter
from stategate.providers.access import VolumeAccess
from stategate.providers.base import BackupHooks, BackupOutput, Origin, SmokeTarget, StoredBackup
from stategate.providers.fingerprint import Fingerprint, FingerprintItem
from stategate.sandbox.engine import Engine

TAR_PART = "volume.tar"
GROUP = "volume"


class _HashingReader:
    """Reads a file for tarfile while hashing exactly what it hands over."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self.hash = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        self.hash.update(data)
        return data


class VolumeProvider:
    name: Literal["volume"] = "volume"

    def __init__(self, access: VolumeAccess) -> None:
        self.access = access

    def address(self) -> str:
        return self.access.address()

    def secrets(self) -> tuple[str, ...]:
        return ()

    def identity(self) -> str:
        return f"volume:{self.access.path.resolve()}"

    def settings(self) -> dict[str, str]:
        return {}

    def client_version(self) -> str | None:
        return None

    def server_version(self) -> str:
        return "filesystem"

    def origin(self) -> Origin:
        """The directory's device and inode: another folder at the same path (a volume
        re-created, a mount missing) is another source."""
        st = self._require_dir().stat()
        return Origin(
            None,
            {"path": str(self.access.path.resolve()), "device_inode": f"{st.st_dev}:{st.st_ino}"},
        )

    def _require_dir(self) -> Path:
        root = self.access.path
        if not root.is_dir():
            raise ExternalError(f"volume path is not a directory: {root}")
        return root

    def fingerprint(self) -> Fingerprint:
        root = self._require_dir()
        items = []
        for rel, path in _walk(root):
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                items.append(FingerprintItem(GROUP, rel, 0, "link:" + os.readlink(path)))
            elif stat.S_ISDIR(st.st_mode):
                items.append(FingerprintItem(GROUP, rel, 0, "dir"))
            elif stat.S_ISREG(st.st_mode):
                h = hashlib.sha256()
                with open(path, "rb") as handle:
                    while chunk := handle.read(CHUNK):
                        h.update(chunk)
                items.append(FingerprintItem(GROUP, rel, st.st_size, h.hexdigest()))
        return Fingerprint(items)

    def backup(self, out: BackupWriter, hooks: BackupHooks) -> BackupOutput:
        root = self._require_dir()
        items: list[FingerprintItem] = []
        hooks.fingerprinted()
        with (
            out.part(TAR_PART) as dest,
            tarfile.open(
                fileobj=dest,
                mode="w|",  # type: ignore[call-overload]
                format=tarfile.PAX_FORMAT,
            ) as tar,
        ):
            for rel, path in _walk(root):
                info = tar.gettarinfo(str(path), arcname=rel)
                if info.isreg():
                    with open(path, "rb") as handle:
                        reader = _HashingReader(handle)
                        tar.addfile(info, reader)
                    items.append(FingerprintItem(GROUP, rel, info.size, reader.hash.hexdigest()))
                elif info.issym():
                    tar.addfile(info)
                    items.append(FingerprintItem(GROUP, rel, 0, "link:" + info.linkname))
                elif info.isdir():
                    tar.addfile(info)
                    items.append(FingerprintItem(GROUP, rel, 0, "dir"))
                # sockets, fifos and devices are not data: left out on purpose
        return BackupOutput(
            Fingerprint(items),
            consistent=True,
            note="manifest computed from the bytes written to the tar",
        )

    def derived_fingerprint(self, directory: Path) -> None:
        return None  # every backup stores its listing part

    @contextmanager
    def restore(self, backup: StoredBackup, engine: Engine) -> Iterator[VolumeProvider]:
        with engine.volume() as target:
            extract_safely(backup.directory / TAR_PART, target)
            yield VolumeProvider(VolumeAccess(target))

    def smoke_target(self, name: Literal["source", "sandbox"]) -> SmokeTarget:
        return SmokeTarget(name=name, volume=self.access)


def _walk(root: Path) -> Iterator[tuple[str, Path]]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        base = Path(dirpath)
        for name in [*sorted(dirnames), *sorted(filenames)]:
            path = base / name
            yield path.relative_to(root).as_posix(), path


def check_member(member: tarfile.TarInfo) -> None:
    """Refuse a tar member that could write outside the target or is not data."""
    name = PurePosixPath(member.name)
    if name.is_absolute() or ".." in name.parts or not member.name:
        raise ExternalError(f"volume archive member escapes the target: {member.name!r}")
    if member.isdev() or member.isfifo() or member.islnk():
        raise ExternalError(f"volume archive member is not plain data: {member.name!r}")
    if member.issym():
        target = PurePosixPath(member.linkname)
        resolved = (name.parent / target).parts
        depth = 0
        for part in resolved:
            depth += -1 if part == ".." else (0 if part == "." else 1)
            if depth < 0:
                break
        if target.is_absolute() or depth < 0:
            raise ExternalError(f"volume archive symlink leaves the target: {member.name!r}")
    elif not (member.isreg() or member.isdir()):
        raise ExternalError(f"volume archive member has an unknown type: {member.name!r}")


def extract_safely(archive: Path, target: Path) -> None:
    with tarfile.open(archive, mode="r:") as tar:
        for member in tar:
            check_member(member)
            # the stdlib "data" filter is a second fence (ownership, modes, links)
            tar.extract(member, target, filter="data")
