"""Deferred durability for many backup files: one flush before the commit.

Fsyncing each file as it is closed makes the writer threads wait for the disk
one file at a time (a backup of many objects spends a good part of its time
there). Instead, a file's writeback is started as soon as it is complete
(Linux ``sync_file_range``, which does not wait), and before the backup is
renamed into place the whole set is made durable at once: ``syncfs`` of the
target filesystem where it reports write errors (Linux 5.8 and later), else an
fsync of every file.

``syncfs`` reports an error that happened since the descriptor it is given was
opened, so the directory is opened before the first deferred file is written.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import sys
import threading
from collections.abc import Callable
from pathlib import Path

SYNC_FILE_RANGE_WRITE = 2
SYNCFS_REPORTS_ERRORS = (5, 8)  # before 5.8 syncfs returned 0 even when writeback failed


def _libc_function(name: str) -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        function: Callable[..., int] = getattr(libc, name)
    except (OSError, AttributeError):
        return None
    return function


_sync_file_range = _libc_function("sync_file_range")
if _sync_file_range is not None:
    _sync_file_range.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]  # type: ignore[attr-defined]
    _sync_file_range.restype = ctypes.c_int  # type: ignore[attr-defined]

_syncfs = _libc_function("syncfs")
if _syncfs is not None:
    _syncfs.argtypes = [ctypes.c_int]  # type: ignore[attr-defined]
    _syncfs.restype = ctypes.c_int  # type: ignore[attr-defined]


def kernel_version(release: str) -> tuple[int, int]:
    """``(major, minor)`` of a Linux release string such as ``6.1.0-18-amd64``."""
    found = re.match(r"(\d+)\.(\d+)", release)
    return (int(found.group(1)), int(found.group(2))) if found else (0, 0)


def syncfs_usable() -> bool:
    """Whether ``syncfs`` exists here and reports writeback errors."""
    return _syncfs is not None and kernel_version(os.uname().release) >= SYNCFS_REPORTS_ERRORS


def start_writeback(fd: int) -> None:
    """Start writing ``fd``'s dirty pages now, without waiting for them.

    Only spreads the disk work over the backup: durability comes from
    :meth:`DeferredSync.flush`, so a failure here is left for that to report.
    """
    if _sync_file_range is not None:
        _sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE)


class DeferredSync:
    """Files under ``directory`` written now and made durable by one :meth:`flush`."""

    def __init__(self, directory: Path, *, use_syncfs: bool | None = None) -> None:
        self.directory = directory
        self._use_syncfs = syncfs_usable() if use_syncfs is None else use_syncfs
        self._lock = threading.Lock()
        self._paths: list[Path] = []
        self._fd: int | None = None

    def watch(self) -> None:
        """Call before the first deferred file is written (opens the directory once)."""
        with self._lock:
            if self._fd is None and self._use_syncfs:
                self._fd = os.open(self.directory, os.O_RDONLY)

    def written(self, fd: int, path: Path) -> None:
        """``path`` (open as ``fd``) is complete: start its writeback, flush it later."""
        start_writeback(fd)
        with self._lock:
            self._paths.append(path)

    @property
    def pending(self) -> int:
        return len(self._paths)

    def flush(self) -> None:
        """Make every file passed to :meth:`written` durable; raises OSError if not."""
        with self._lock:
            paths, self._paths = self._paths, []
        if not paths:
            return
        if self._fd is not None and _syncfs is not None:
            if _syncfs(self._fd) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"syncfs {self.directory}: {os.strerror(err)}")
            return
        for path in paths:
            fsync_path(path)

    def close(self) -> None:
        with self._lock:
            fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
