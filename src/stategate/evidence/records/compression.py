"""zstd streams for backup parts: compressed on the way in, checked on the way out.

A compressed part is one zstd frame with a content checksum. Reading one back
first walks the frame's block headers (cheap: no decompression) so that a
truncated file or bytes after the frame fail before anything is restored:
zstd's streaming readers end quietly at a truncated frame. The checksum then
catches changed bytes while the data streams.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, BinaryIO

import zstandard

from stategate.errors import ExternalError, StategateError

SUFFIX = ".zst"
LEVEL = 3
# compression runs on zstd's own worker thread: reading the input (a pipe from
# pg_dump) never waits for it, so the producer is not held up either
THREADS = 1
CHUNK = 1024 * 1024  # the input read per step: large, so the loop around it costs little
_MAGIC = b"\x28\xb5\x2f\xfd"
_MAX_HEADER = 18  # magic (4) + frame header descriptor (1) + at most 13 more bytes


class CorruptStream(ExternalError):
    """A compressed part is not one complete, intact zstd frame."""


def compressing(source: IO[bytes], level: int | None = None) -> BinaryIO:
    """A reader of one zstd frame (with a content checksum) of everything in ``source``.

    The work happens in ``read``, in the C library, outside the GIL; ``source`` is
    read ``CHUNK`` bytes at a time.
    """
    compressor = zstandard.ZstdCompressor(
        level=LEVEL if level is None else level, write_checksum=True, threads=THREADS
    )
    return compressor.stream_reader(source, read_size=CHUNK, closefd=False)


def frame_problem(handle: BinaryIO) -> str | None:
    """Why ``handle`` (read from its start) is not exactly one complete zstd frame, or
    None. Walks the block headers without decompressing."""
    handle.seek(0, 2)
    size = handle.tell()
    handle.seek(0)
    head = handle.read(_MAX_HEADER)
    if not head.startswith(_MAGIC):
        return "not zstd data (no zstd frame at its start)"
    try:
        pos = zstandard.frame_header_size(head)
        params = zstandard.get_frame_parameters(head)
    except zstandard.ZstdError:
        return "truncated or invalid zstd frame header"
    while True:
        handle.seek(pos)
        block = handle.read(3)
        if len(block) < 3:
            return "truncated zstd frame (it ends inside its blocks)"
        value = int.from_bytes(block, "little")
        last, kind, block_size = value & 1, (value >> 1) & 3, value >> 3
        if kind == 3:
            return f"invalid zstd block at byte {pos}"
        pos += 3 + (1 if kind == 1 else block_size)  # an RLE block stores one byte
        if last:
            break
    pos += 4 if params.has_checksum else 0
    if pos > size:
        return "truncated zstd frame (its last block or checksum is cut off)"
    if pos < size:
        return f"{size - pos} unexpected bytes after the zstd frame"
    return None


class Decompressed:
    """Decompressed bytes; a zstd error (a bad checksum, corrupt blocks) becomes a
    ``CorruptStream`` naming the file."""

    def __init__(self, reader: BinaryIO, name: str) -> None:
        self._reader = reader
        self._name = name

    def read(self, size: int = -1, /) -> bytes:
        try:
            return self._reader.read(size)
        except zstandard.ZstdError as exc:
            raise CorruptStream(f"{self._name}: corrupt zstd data: {exc}") from exc


@contextmanager
def decompressing(path: Path, name: str | None = None) -> Iterator[Decompressed]:
    """The content of the zstd file ``path``, streamed in bounded pieces.

    ``CorruptStream`` before anything is read if the file is not exactly one
    complete frame, and while reading if its data or checksum does not hold.
    When the block ends, whatever it left unread is read too, so the checksum at
    the frame's end is checked even if the consumer stopped early or failed (a
    ``StategateError``; the corruption is then raised instead). ``name``
    (default: the path) is how errors refer to the file.
    """
    shown = name or str(path)
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed by the with below
    except OSError as exc:
        raise ExternalError(f"{shown}: cannot open: {exc.strerror}") from exc
    with handle:
        problem = frame_problem(handle)
        if problem:
            raise CorruptStream(f"{shown}: {problem}")
        handle.seek(0)
        reader = zstandard.ZstdDecompressor().stream_reader(
            handle, read_size=CHUNK, read_across_frames=False, closefd=False
        )
        content = Decompressed(reader, shown)
        try:
            yield content
        except CorruptStream:
            raise
        except StategateError:
            # what a consumer makes of changed data (pg_restore on a damaged archive)
            # is a symptom: if the frame does not hold, that is the error to report
            _read_rest(content)
            raise
        _read_rest(content)


def _read_rest(content: Decompressed) -> None:
    while content.read(CHUNK):
        pass
