"""Fingerprints read from a redis RDB stream by the native scanner.

The scanner (``stategate.native.rdbscan``, C) runs in its own thread with the
GIL released and reads the RDB through a pipe, so it keeps pace with the
transfer instead of adding to it: it checks the RDB's structure and CRC64,
computes every key's canonical digest, writes the fingerprint's JSON lines to a
sink and returns each database's multiset sum.

Its memory is bounded whatever the RDB holds: every buffer it grows is charged to
``memory_limit``, and a declared length or count that cannot fit in the rest of a
snapshot file or in that limit is refused before anything is allocated for it. A few
MB of LZF strings (each may declare 88 times its size) or a hash declaring 2^63
entries is a refused snapshot, not an exhausted drill host.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from stategate.errors import ExternalError
from stategate.providers.fingerprint import (
    Fingerprint,
    FingerprintItem,
    FingerprintSummary,
    GroupSummary,
    assemble,
    group_digest,
    multiset_summary,
)

_PIPE_SIZE = 1024 * 1024
# what the scanner may hold at once: the largest key decoded (its elements and their
# index) with its input and output buffers. Redis' default cap on one string
# (proto-max-bulk-len) is as large: a key past it is refused, not scanned.
MEMORY_LIMIT = 512 * 1024 * 1024
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


def _native() -> Any:
    try:
        from stategate.native import rdbscan
    except ImportError as exc:
        raise ExternalError(
            "stategate's native RDB scanner is not built (stategate.native.rdbscan): "
            "reinstall stategate with a C compiler and OpenSSL headers present "
            "(bash scripts/setup.sh does both)"
        ) from exc
    return rdbscan


FUNCTIONS_GROUP = "functions"  # the function libraries a snapshot holds (Redis 7+)


def _functions(result: dict[str, object]) -> list[FingerprintItem]:
    """One item per function library: its name and the SHA-256 of its code. A name
    met twice (two libraries named alike once cut to the scanner's 127 bytes, or an
    unnamed one's ``#<n>``) gets ``#<n>`` appended, so no library hides another."""
    found = result.get("functions", [])
    assert isinstance(found, list)
    items: list[FingerprintItem] = []
    seen: set[str] = set()
    for name, digest in found:
        unique, n = str(name), 1
        while unique in seen:
            n += 1
            unique = f"{name}#{n}"
        seen.add(unique)
        items.append(FingerprintItem(FUNCTIONS_GROUP, unique, 1, "sha256:" + digest.hex()))
    return items


def _without_functions(result: dict[str, object], functions: bool) -> dict[str, object]:
    """``result`` as a scanner before function libraries would have seen it (a backup
    recorded before they were fingerprinted is verified and compared without them)."""
    return result if functions else {**result, "functions": []}


def _summary(result: dict[str, object]) -> FingerprintSummary:
    groups_raw = result["groups"]
    assert isinstance(groups_raw, dict)
    groups: dict[str, GroupSummary] = {}
    for name, (count, total) in groups_raw.items():
        digest = group_digest(name, count, int.from_bytes(total, "big"))
        groups[name] = GroupSummary(items=count, size=count, digest=digest)
    functions = _functions(result)
    if functions:
        groups[FUNCTIONS_GROUP] = multiset_summary(functions).groups[FUNCTIONS_GROUP]
    return assemble(groups)


def _lines(result: dict[str, object]) -> bytes:
    """The functions' JSON lines (the scanner writes the keys' own)."""
    return Fingerprint(_functions(result)).to_jsonl()


def _refused(what: str, error: BaseException) -> ExternalError:
    return ExternalError(f"{what} is not a valid redis snapshot: {error}")


def scan_file(
    path: Path, memory_limit: int = MEMORY_LIMIT, *, functions: bool = True
) -> tuple[FingerprintSummary, bytes]:
    """Fingerprint an RDB file: its summary and JSON lines (in the file's key order);
    ``functions``: with its function libraries."""
    native = _native()
    chunks: list[bytes] = []
    fd = os.open(path, os.O_RDONLY)
    try:
        result = native.scan(fd, chunks.append, memory_limit)
    except native.RDBError as exc:
        raise _refused(path.name, exc) from exc
    finally:
        os.close(fd)
    result = _without_functions(result, functions)
    return _summary(result), b"".join(chunks) + _lines(result)


class RDBScanner:
    """``feed`` it the RDB's bytes in order, then ``finish`` for the summary.

    ``sink`` receives the fingerprint's JSON lines in chunks; None: only the summary
    is computed (the lines can be had again from the RDB with :func:`scan_file`)."""

    def __init__(
        self,
        sink: Callable[[bytes], object] | None,
        what: str = "RDB",
        memory_limit: int = MEMORY_LIMIT,
        *,
        functions: bool = True,
    ) -> None:
        self._native = _native()
        self._functions = functions
        self._what = what
        self._sink = sink
        self._memory_limit = memory_limit
        self._read, self._write = os.pipe()
        # an unprivileged cap below 1 MiB refuses this: the default size still works
        with contextlib.suppress(OSError):
            fcntl.fcntl(self._write, _F_SETPIPE_SZ, _PIPE_SIZE)
        self._result: dict[str, object] | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="rdbscan", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._result = self._native.scan(self._read, self._sink, self._memory_limit)
        except BaseException as exc:  # reported by finish()
            self._error = exc
        finally:
            os.close(self._read)

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        while view:
            try:
                written = os.write(self._write, view)
            except BrokenPipeError:
                # the scanner stopped reading: it failed, and says why
                self._close_write()
                self._thread.join()
                raise self._failure() from None
            view = view[written:]

    def _close_write(self) -> None:
        if self._write >= 0:
            os.close(self._write)
            self._write = -1

    def _failure(self) -> ExternalError:
        error = self._error
        if isinstance(error, self._native.RDBError):
            return _refused(self._what, error)
        return ExternalError(f"{self._what}: fingerprint scan failed: {error}")

    def finish(self) -> FingerprintSummary:
        """Wait for the scanner; the fingerprint's summary, or an ExternalError. With a
        sink, the function libraries' lines are its last chunk."""
        self._close_write()
        self._thread.join()
        if self._error is not None or self._result is None:
            raise self._failure()
        result = _without_functions(self._result, self._functions)
        if self._sink is not None:
            extra = _lines(result)
            if extra:
                self._sink(extra)
        return _summary(result)

    def __enter__(self) -> RDBScanner:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._close_write()  # the scanner sees a truncated stream and stops
        self._thread.join()
