"""Backup artifacts on disk: streamed, hashed on the fly, committed atomically.

A backup is a directory of parts. It is built under a ``.partial`` name and
renamed into place only after every part is written, hashed and durable on
disk (fsynced as it is closed, or, for many small parts, all flushed at once
before the rename), so a backup that is killed or fails midway never exists
under its final name and can never be mistaken for a valid one.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO, Protocol

from stategate.errors import ExternalError, InputError
from stategate.evidence.records.writeback import DeferredSync

CHUNK = 1024 * 1024
PARTIAL_SUFFIX = ".partial"


@dataclass(frozen=True)
class StoredPart:
    """How a part is stored when that differs from its content (encrypted): the stored
    name, size and sha256, which anyone can check without the key."""

    name: str
    size: int
    sha256: str


@dataclass(frozen=True)
class PartInfo:
    """One file of a backup: its name inside the backup, size and sha256 (of the
    content), and how it is stored when that differs."""

    name: str
    size: int
    sha256: str
    stored: StoredPart | None = None


def parts_jsonl(parts: list[PartInfo]) -> bytes:
    """One JSON line per part (name, size, sha256, and the stored form when it differs)."""
    lines = []
    for part in parts:
        item: dict[str, object] = {"name": part.name, "size": part.size, "sha256": part.sha256}
        if part.stored is not None:
            item["stored"] = {
                "name": part.stored.name,
                "size": part.stored.size,
                "sha256": part.stored.sha256,
            }
        lines.append(json.dumps(item, sort_keys=True, separators=(",", ":")))
    return ("\n".join(lines) + "\n").encode() if lines else b""


def parse_parts_jsonl(data: bytes, *, shown: str) -> list[PartInfo]:
    """The parts of :func:`parts_jsonl`; anything else is an error naming ``shown``."""
    parts: list[PartInfo] = []
    try:
        text = data.decode()
    except UnicodeDecodeError:
        raise InputError("is not UTF-8", file=shown) from None
    for number, line in enumerate(text.splitlines(), 1):
        try:
            item = json.loads(line)
            stored = item.get("stored")
            parts.append(
                PartInfo(
                    safe_part_name(str(item["name"])),
                    int(item["size"]),
                    str(item["sha256"]),
                    StoredPart(
                        safe_part_name(str(stored["name"])),
                        int(stored["size"]),
                        str(stored["sha256"]),
                    )
                    if stored is not None
                    else None,
                )
            )
        except (ValueError, KeyError, TypeError, AttributeError, InputError):
            raise InputError(f"line {number} is not a part entry", file=shown) from None
    return parts


class PartSink(Protocol):
    """Where one part's bytes go (a file, an upload, an encryptor in front of them)."""

    def write(self, data: bytes | bytearray | memoryview, /) -> int: ...

    def finish(self) -> StoredPart | None:
        """Store what was written and read it back; raise when it is not all there.
        Returns how it is stored when that differs from the content written."""
        ...

    def discard(self) -> None:
        """Drop what was written: the part does not count."""
        ...


class PartTarget(Protocol):
    """Opens the sinks of one backup's parts."""

    def open_part(self, name: str, *, sync_at_commit: bool) -> PartSink: ...


class Progress(Protocol):
    """Receives byte counts of long operations (a terminal bar, or nothing)."""

    def advance(self, nbytes: int) -> None: ...


class NoProgress:
    def advance(self, nbytes: int) -> None:
        return None


class HashingFile:
    """A write-only file that hashes and counts what goes through it."""

    def __init__(self, handle: PartSink | BinaryIO, progress: Progress) -> None:
        self._handle = handle
        self._hash = hashlib.sha256()
        self._progress = progress
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._handle.write(data)
        self._hash.update(data)
        self.size += len(data)
        self._progress.advance(len(data))
        return len(data)

    def copy_from(self, stream: IO[bytes]) -> None:
        """Copy a whole stream (a child's stdout, a download) into the file."""
        while chunk := stream.read(CHUNK):
            self.write(chunk)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


class BackupWriter:
    """Builds one backup, part by part, into a :class:`PartTarget` (a local folder:
    :func:`open_backup`; repositories: :mod:`stategate.repository`)."""

    def __init__(self, target: PartTarget, progress: Progress) -> None:
        self.target = target
        self.progress = progress
        self.parts: list[PartInfo] = []

    @contextmanager
    def part(self, name: str, *, sync_at_commit: bool = False) -> Iterator[HashingFile]:
        """Write one part; it counts only if the block finishes without error and the
        target stored it whole.

        With ``sync_at_commit`` (for backups of many files) a local file's writeback
        only starts when it is closed, and the commit makes all such parts durable at
        once, before the backup gets its final name.
        """
        sink = self.target.open_part(safe_part_name(name), sync_at_commit=sync_at_commit)
        out = HashingFile(sink, self.progress)
        try:
            yield out
            stored = sink.finish()
        except BaseException:
            sink.discard()
            raise
        self.parts.append(PartInfo(name, out.size, out.hexdigest(), stored))


class FolderPart:
    """One part written to a file of a local folder (fsynced when it is finished, or at
    the commit)."""

    def __init__(self, path: Path, deferred: DeferredSync | None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._deferred = deferred
        self._handle: BinaryIO = open(path, "xb")  # noqa: SIM115 (closed by finish/discard)
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview, /) -> int:
        self._handle.write(data)
        self.size += len(data)
        return len(data)

    def finish(self) -> None:
        handle = self._handle
        handle.flush()
        if self._deferred is not None:
            self._deferred.written(handle.fileno(), self.path)
        else:
            os.fsync(handle.fileno())
        handle.close()
        if self.path.stat().st_size != self.size:  # read back: all of it is there
            raise ExternalError(
                f"{self.path}: {self.path.stat().st_size} bytes stored, not {self.size}"
            )

    def discard(self) -> None:
        self._handle.close()
        self.path.unlink(missing_ok=True)  # gone already: nothing to drop


class LocalFolder:
    """A :class:`PartTarget` building backup directory ``final`` under a ``.partial``
    name; see :func:`open_backup`."""

    def __init__(self, final: Path) -> None:
        if final.exists():
            raise InputError(f"backup directory already exists: {final}")
        self.final = final
        self.partial = final.with_name(final.name + PARTIAL_SUFFIX)
        self._deferred = DeferredSync()

    def start(self) -> None:
        self.final.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.partial, ignore_errors=True)
        self.partial.mkdir()

    def open_part(self, name: str, *, sync_at_commit: bool) -> FolderPart:
        return FolderPart(self.partial / name, self._deferred if sync_at_commit else None)

    def commit(self) -> None:
        """Every part and folder durable, then the final name."""
        self._deferred.flush()
        _fsync_tree(self.partial)
        os.rename(self.partial, self.final)
        _fsync_dir(self.final.parent)

    def abort(self) -> None:
        shutil.rmtree(self.partial, ignore_errors=True)


@contextmanager
def open_backup(final: Path, progress: Progress | None = None) -> Iterator[BackupWriter]:
    """Create backup directory ``final`` atomically.

    Parts are written under ``<final>.partial``; on success every part and
    directory is made durable and the directory renamed to ``final``; on any
    error (or interrupt) it is removed. A SIGKILL leaves only the ``.partial``
    directory, which nothing reads.
    """
    folder = LocalFolder(final)
    folder.start()
    writer = BackupWriter(folder, progress or NoProgress())
    try:
        yield writer
        folder.commit()
    except BaseException:
        folder.abort()
        raise


LOCK_NAME = ".backup.lock"


@contextmanager
def module_lock(module_dir: Path, what: str) -> Iterator[None]:
    """Hold the exclusive lock of one module's backups, or fail at once.

    Two backups of one module at once would only double the load on its
    server; the second one is refused with an error naming the lock. While
    the lock is held no other backup writes here, so ``.partial`` directories
    left by a killed backup are removed (the kernel drops a dead holder's lock).
    """
    try:
        module_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(module_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise ExternalError(f"cannot lock {module_dir}: {exc.strerror or exc}") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ExternalError(
                f"another backup of {what} is running (it holds {module_dir / LOCK_NAME}); "
                "nothing was done"
            ) from None
        for leftover in module_dir.glob("*" + PARTIAL_SUFFIX):
            shutil.rmtree(leftover, ignore_errors=True)
        yield
    finally:
        os.close(fd)


def safe_part_name(name: str) -> str:
    """Refuse part names that would leave the backup directory."""
    parts = name.split("/")
    if not name or name.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise InputError(f"unsafe artifact name: {name!r}")
    return name


@dataclass(frozen=True)
class VerifyFailure:
    name: str
    problem: str


def hash_file(path: Path, progress: Progress | None = None) -> tuple[int, str]:
    """Size and sha256 of a file, read in large chunks (as fast as sha256sum)."""
    digest = hashlib.sha256()
    size = 0
    prog = progress or NoProgress()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as handle:
        while n := handle.readinto(buf):
            digest.update(view[:n])
            size += n
            prog.advance(n)
    return size, digest.hexdigest()


def verify_parts(
    directory: Path, parts: list[PartInfo], progress: Progress | None = None
) -> list[VerifyFailure]:
    """Check every part's presence, size and sha256; return what does not match."""
    failures: list[VerifyFailure] = []
    if not directory.is_dir():
        return [VerifyFailure(str(directory), "backup directory is missing")]
    for part in parts:
        path = directory / safe_part_name(part.name)
        if not path.is_file() or path.is_symlink():
            failures.append(VerifyFailure(part.name, "missing"))
            continue
        size, sha = hash_file(path, progress)
        if size != part.size:
            failures.append(
                VerifyFailure(part.name, f"size {size} differs from recorded {part.size}")
            )
        elif sha != part.sha256:
            failures.append(VerifyFailure(part.name, "sha256 differs from the recorded digest"))
    return failures


def _fsync_tree(root: Path) -> None:
    for dirpath, _dirs, _files in os.walk(root):
        _fsync_dir(Path(dirpath))


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise ExternalError(f"cannot open directory {path}: {exc.strerror}") from exc
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
