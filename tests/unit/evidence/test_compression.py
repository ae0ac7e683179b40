from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from stategate.evidence.records.compression import (
    CorruptStream,
    compressing,
    decompressing,
    frame_problem,
)

# several blocks of each kind: raw (random bytes), RLE (one repeated byte), compressed
CONTENT = os.urandom(300_000) + b"\0" * 400_000 + b"row\t42\tsome text\n" * 40_000


def frame_of(data: bytes, level: int = 3) -> bytes:
    reader = compressing(io.BytesIO(data), level)
    out = b""
    while chunk := reader.read(65536):
        out += chunk
    return out


def read_back(path: Path) -> bytes:
    with decompressing(path) as content:
        return content.read()


FRAME = frame_of(CONTENT)


def test_round_trip_is_one_checksummed_frame(tmp_path: Path) -> None:
    params = zstandard.get_frame_parameters(FRAME)
    assert params.has_checksum
    assert len(FRAME) < len(CONTENT) // 2
    assert frame_problem(io.BytesIO(FRAME)) is None
    path = tmp_path / "a.zst"
    path.write_bytes(FRAME)
    assert read_back(path) == CONTENT
    # what the zstd CLI (and any zstd reader) would decompress
    assert zstandard.ZstdDecompressor().decompressobj().decompress(FRAME) == CONTENT


def test_empty_input_is_a_valid_frame(tmp_path: Path) -> None:
    path = tmp_path / "empty.zst"
    path.write_bytes(frame_of(b""))
    assert read_back(path) == b""


@pytest.mark.parametrize("cut", [1, 3, 4, 7, len(FRAME) // 2, len(FRAME) - 5, len(FRAME) - 1])
def test_truncated_frame_is_refused_before_reading(tmp_path: Path, cut: int) -> None:
    path = tmp_path / "cut.zst"
    path.write_bytes(FRAME[:cut])
    with pytest.raises(CorruptStream, match=r"cut\.zst: .*(truncated|not zstd)"):
        read_back(path)


def test_bytes_after_the_frame_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "tail.zst"
    path.write_bytes(FRAME + b"\0\0")
    with pytest.raises(CorruptStream, match="2 unexpected bytes after the zstd frame"):
        read_back(path)
    path.write_bytes(FRAME + FRAME)  # a second frame is not part of the dump either
    with pytest.raises(CorruptStream, match="unexpected bytes"):
        read_back(path)


@pytest.mark.parametrize("data", [b"", b"PGDMP\x01\x0e\x00", b"\x28\xb5\x2f"])
def test_not_zstd_is_refused(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "x.zst"
    path.write_bytes(data)
    with pytest.raises(CorruptStream):
        read_back(path)


@pytest.mark.parametrize("where", [0.1, 0.5, 0.9])
def test_changed_byte_is_caught_while_streaming(tmp_path: Path, where: float) -> None:
    data = bytearray(FRAME)
    data[int(len(data) * where)] ^= 0x01
    path = tmp_path / "flip.zst"
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptStream, match=r"flip\.zst"):
        read_back(path)


def test_leaving_the_block_checks_the_rest_of_the_frame(tmp_path: Path) -> None:
    """A reader that stops early (pg_restore at the archive's end) still gets the
    checksum verified: the rest is read when the block ends."""
    data = bytearray(FRAME)
    data[-2] ^= 0x01  # inside the checksum
    path = tmp_path / "sum.zst"
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptStream, match="checksum"), decompressing(path) as content:
        assert content.read(1000) == CONTENT[:1000]


def test_missing_file_is_an_external_error(tmp_path: Path) -> None:
    from stategate.errors import ExternalError

    with pytest.raises(ExternalError, match="cannot open"):
        read_back(tmp_path / "nope.zst")


@settings(max_examples=40, deadline=None)
@given(data=st.binary(max_size=4000), level=st.integers(1, 5), cut=st.integers(1, 10_000))
def test_any_truncation_is_detected(data: bytes, level: int, cut: int) -> None:
    frame = frame_of(data * 50, level)
    assert frame_problem(io.BytesIO(frame)) is None
    cut = cut % len(frame) or 1
    assert frame_problem(io.BytesIO(frame[:-cut])) is not None
