"""Deferred durability for many backup files: one flush pass before the commit.

Fsyncing each file as it is closed makes the writer threads wait for the disk
one file at a time (a backup of many objects spent a fifth of its time there).
Instead a file's writeback is started as soon as it is complete (Linux
``sync_file_range``, which does not wait), and before the backup is renamed
into place every file is fsynced, by a few threads: by then the data is mostly
on disk and each fsync is short. An fsync of the file itself (not ``syncfs`` of
the whole filesystem) waits only for our own files, not for whatever else a
shared host has dirty on the same disk.

The final fsync reopens each file. Linux reports a writeback error to a file
opened after it as long as nobody has seen it, but an error on an inode evicted
from memory in between would go unreported (the "fsyncgate" caveat); a backup
that matters is in any case verified by its drill, which reads every byte.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SYNC_FILE_RANGE_WRITE = 2
FLUSH_THREADS = 8


def _sync_file_range() -> Callable[[int, int, int, int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        # the process's own symbols, libc's among them (find_library would run ldconfig)
        libc = ctypes.CDLL(None, use_errno=True)
        function = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    call: Callable[[int, int, int, int], int] = function
    return call


_SYNC_FILE_RANGE = _sync_file_range()


def start_writeback(fd: int) -> None:
    """Start writing ``fd``'s dirty pages to disk now, without waiting for them.

    Only spreads the disk work over the backup (a no-op where unsupported):
    durability comes from :meth:`DeferredSync.flush`, which also reports any
    write error, so the result is ignored here.
    """
    if _SYNC_FILE_RANGE is not None:
        _SYNC_FILE_RANGE(fd, 0, 0, SYNC_FILE_RANGE_WRITE)


class DeferredSync:
    """Complete files whose fsync is deferred to one :meth:`flush`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._paths: list[Path] = []

    def written(self, fd: int, path: Path) -> None:
        """``path`` (still open as ``fd``) is complete: start its writeback, fsync it later."""
        start_writeback(fd)
        with self._lock:
            self._paths.append(path)

    @property
    def pending(self) -> int:
        return len(self._paths)

    def flush(self) -> None:
        """Fsync every file passed to :meth:`written`; raises the first OSError."""
        with self._lock:
            paths, self._paths = self._paths, []
        if len(paths) <= 1:
            for path in paths:
                fsync_path(path)
            return
        with ThreadPoolExecutor(min(FLUSH_THREADS, len(paths))) as pool:
            for _ in pool.map(fsync_path, paths):
                pass


def fsync_path(path: Path) -> None:
    """Fsync a closed file by opening it again (Linux reports an earlier writeback
    error of the file to the next fsync, whichever descriptor it comes from)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as exc:
        raise OSError(exc.errno, f"fsync {path}: {exc.strerror}") from exc
    finally:
        os.close(fd)
