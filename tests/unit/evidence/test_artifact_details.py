"""Artifact details: streamed copies, progress counts and every verification failure.

Complements test_artifact.py (written against surviving mutants): verification
must report each bad part, not stop at the first, in words an operator can act on.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from stategate.errors import ExternalError, InputError
from stategate.evidence.records import artifact
from stategate.evidence.records.artifact import (
    CHUNK,
    PartInfo,
    VerifyFailure,
    hash_file,
    open_backup,
    safe_part_name,
    verify_parts,
)


class Counter:
    def __init__(self) -> None:
        self.steps: list[int] = []

    def advance(self, nbytes: int) -> None:
        self.steps.append(nbytes)


def test_a_stream_is_copied_whole_in_chunks_with_progress(tmp_path: Path) -> None:
    data = bytes(range(256)) * (CHUNK // 128 + 3)  # a little over two chunks
    progress = Counter()
    with open_backup(tmp_path / "b", progress) as writer, writer.part("dump.bin") as out:
        out.copy_from(io.BytesIO(data))
    assert writer.parts == [PartInfo("dump.bin", len(data), hashlib.sha256(data).hexdigest())]
    assert (tmp_path / "b" / "dump.bin").read_bytes() == data
    assert progress.steps == [CHUNK, CHUNK, len(data) - 2 * CHUNK]


def test_hashing_reports_progress(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * (CHUNK + 5))
    progress = Counter()
    assert hash_file(path, progress) == (CHUNK + 5, hashlib.sha256(b"x" * (CHUNK + 5)).hexdigest())
    assert progress.steps == [CHUNK, 5]


def test_verification_reports_every_bad_part(tmp_path: Path) -> None:
    with open_backup(tmp_path / "b") as writer:
        for name in ("gone", "short", "edited", "fine"):
            with writer.part(name) as out:
                out.write(b"content")
    (tmp_path / "b" / "gone").unlink()
    (tmp_path / "b" / "short").write_bytes(b"cont")
    (tmp_path / "b" / "edited").write_bytes(b"CONTENT")
    progress = Counter()
    assert verify_parts(tmp_path / "b", writer.parts, progress) == [
        VerifyFailure("gone", "missing"),
        VerifyFailure("short", "size 4 differs from recorded 7"),
        VerifyFailure("edited", "sha256 differs from the recorded digest"),
    ]
    assert progress.steps == [4, 7, 7]


def test_a_missing_backup_directory_is_one_failure(tmp_path: Path) -> None:
    parts = [PartInfo("a", 1, "0" * 64)]
    assert verify_parts(tmp_path / "none", parts) == [
        VerifyFailure(str(tmp_path / "none"), "backup directory is missing")
    ]


def test_a_directory_that_cannot_be_opened_names_itself(tmp_path: Path) -> None:
    with pytest.raises(ExternalError) as caught:
        artifact._fsync_dir(tmp_path / "none")
    assert str(caught.value) == (
        f"cannot open directory {tmp_path / 'none'}: No such file or directory"
    )


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "a//b", "./a", ""])
def test_an_unsafe_part_name_is_quoted_in_the_refusal(name: str) -> None:
    with pytest.raises(InputError) as caught:
        safe_part_name(name)
    assert str(caught.value) == f"unsafe artifact name: {name!r}"
