from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from stategate.errors import InputError
from stategate.evidence.artifact import (
    PartInfo,
    hash_file,
    open_backup,
    safe_part_name,
    verify_parts,
)


def test_backup_is_renamed_into_place_with_hashes(tmp_path: Path) -> None:
    final = tmp_path / "m" / "b1"
    with open_backup(final) as writer:
        with writer.part("a.bin") as out:
            out.write(b"hello ")
            out.write(b"world")
        assert not final.exists() and (tmp_path / "m" / "b1.partial").is_dir()
    assert final.is_dir() and not (tmp_path / "m" / "b1.partial").exists()
    assert writer.parts == [PartInfo("a.bin", 11, hashlib.sha256(b"hello world").hexdigest())]
    assert verify_parts(final, writer.parts) == []


def test_failed_backup_leaves_nothing(tmp_path: Path) -> None:
    final = tmp_path / "b1"
    with pytest.raises(RuntimeError), open_backup(final) as writer:
        with writer.part("a.bin") as out:
            out.write(b"partial")
        raise RuntimeError("server gone")
    assert list(tmp_path.iterdir()) == []


def test_existing_backup_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "b1").mkdir()
    with pytest.raises(InputError), open_backup(tmp_path / "b1"):
        pass


@pytest.mark.parametrize("name", ["", "/etc/passwd", "../x", "a/../../x", "a//b", "./a"])
def test_unsafe_part_names_are_refused(name: str) -> None:
    with pytest.raises(InputError):
        safe_part_name(name)


def test_verify_reports_size_digest_and_missing(tmp_path: Path) -> None:
    final = tmp_path / "b"
    with open_backup(final) as writer:
        for name in ("one", "two", "three"):
            with writer.part(name) as out:
                out.write(name.encode() * 100)
    parts = writer.parts
    (final / "one").write_bytes(b"one" * 99)
    data = bytearray((final / "two").read_bytes())
    data[0] ^= 1
    (final / "two").write_bytes(bytes(data))
    (final / "three").unlink()
    problems = {f.name: f.problem for f in verify_parts(final, parts)}
    assert "size" in problems["one"]
    assert "sha256" in problems["two"]
    assert problems["three"] == "missing"


def test_hash_file_matches_hashlib(tmp_path: Path) -> None:
    path = tmp_path / "f"
    blob = bytes(range(256)) * 9000
    path.write_bytes(blob)
    assert hash_file(path) == (len(blob), hashlib.sha256(blob).hexdigest())
