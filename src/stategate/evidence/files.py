"""File primitives: bounded reads and atomic writes."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from stategate.errors import ExternalError, InputError
from stategate.regularfile import read_regular


def read_bounded(path: Path, limit: int, *, shown: str, root: Path | None = None) -> bytes:
    """Read a whole regular file, refusing files larger than ``limit`` bytes, FIFOs,
    devices and (with ``root``) symlinks that resolve outside ``root``."""
    try:
        return read_regular(path, limit, shown=shown, root=root)
    except FileNotFoundError as exc:
        raise InputError("file not found", file=shown) from exc


def atomic_write(path: Path, data: bytes, *, exclusive: bool = False, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` via a temporary file, fsync and rename.

    A reader sees the old file or the whole new one, never a partial file.
    With ``exclusive`` an existing ``path`` is an error (records are write-once).
    A failing disk (full, read-only) is an ``ExternalError`` naming the file.
    """
    try:
        _atomic_write(path, data, exclusive=exclusive, mode=mode)
    except OSError as exc:
        raise ExternalError(f"cannot write: {exc.strerror or exc}", file=str(path)) from exc


def _atomic_write(path: Path, data: bytes, *, exclusive: bool, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if exclusive and path.exists():
        raise InputError("file already exists; records are never overwritten", file=str(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        if exclusive:
            # link() fails if the target appeared meanwhile; rename() would replace it
            try:
                os.link(tmp, path)
            except FileExistsError as exc:
                raise InputError(
                    "file already exists; records are never overwritten", file=str(path)
                ) from exc
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
