from __future__ import annotations

import errno
import hashlib
import os
import sys
from pathlib import Path

import pytest

from stategate.errors import InputError
from stategate.evidence.records import writeback
from stategate.evidence.records.artifact import (
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
    with (
        pytest.raises(InputError, match="backup directory already exists"),
        open_backup(tmp_path / "b1"),
    ):
        pass


@pytest.mark.parametrize("name", ["", "/etc/passwd", "../x", "a/../../x", "a//b", "./a"])
def test_unsafe_part_names_are_refused(name: str) -> None:
    with pytest.raises(InputError, match="unsafe artifact name"):
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


def test_deferred_parts_are_flushed_before_the_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    final = tmp_path / "m" / "b1"
    partial = tmp_path / "m" / "b1.partial"
    seen: list[tuple[bool, bool, int]] = []
    real_flush = writeback.DeferredSync.flush

    def flush(self: writeback.DeferredSync) -> None:
        seen.append((final.exists(), partial.is_dir(), self.pending))
        real_flush(self)

    monkeypatch.setattr(writeback.DeferredSync, "flush", flush)
    with open_backup(final) as writer:
        for i in range(3):
            with writer.part(f"objects/b/{i}", sync_at_commit=True) as out:
                out.write(b"x" * (i + 1))
        with writer.part("fingerprint.jsonl") as out:  # fsynced when closed, as before
            out.write(b"{}\n")
    assert seen == [(False, True, 3)]
    assert final.is_dir() and not partial.exists()
    assert verify_parts(final, writer.parts) == []


def test_a_failed_flush_leaves_no_backup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = writeback.fsync_path

    def failing(path: Path) -> None:
        if path.name == "k2":
            raise OSError(errno.EIO, f"fsync {path}: Input/output error")
        real(path)

    monkeypatch.setattr(writeback, "fsync_path", failing)
    final = tmp_path / "b1"
    with pytest.raises(OSError) as err, open_backup(final) as writer:
        for name in ("k1", "k2", "k3"):
            with writer.part(f"objects/b/{name}", sync_at_commit=True) as out:
                out.write(b"data")
    assert err.value.errno == errno.EIO and "k2" in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_every_deferred_file_is_fsynced_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[Path] = []
    real = writeback.fsync_path

    def recording(path: Path) -> None:
        real(path)
        synced.append(path)

    monkeypatch.setattr(writeback, "fsync_path", recording)
    deferred = writeback.DeferredSync()
    names = [f"f{i}" for i in range(20)]
    for name in names:
        with open(tmp_path / name, "wb") as handle:
            handle.write(b"1")
            handle.flush()
            deferred.written(handle.fileno(), tmp_path / name)
    assert deferred.pending == 20
    deferred.flush()
    assert sorted(synced) == sorted(tmp_path / n for n in names)
    deferred.flush()  # nothing pending any more
    assert len(synced) == 20 and deferred.pending == 0


def test_fsync_errors_name_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def eio(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    (tmp_path / "obj").write_bytes(b"x")
    monkeypatch.setattr(os, "fsync", eio)
    with pytest.raises(OSError) as err:
        writeback.fsync_path(tmp_path / "obj")
    assert err.value.errno == errno.EIO and str(tmp_path / "obj") in str(err.value)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sync_file_range is Linux's")
def test_writeback_uses_sync_file_range_without_starting_a_process() -> None:
    # libc's sync_file_range is found among the process's own symbols (no ldconfig run)
    assert writeback._SYNC_FILE_RANGE is not None
    fd = os.open(os.devnull, os.O_WRONLY)
    try:
        writeback.start_writeback(fd)
    finally:
        os.close(fd)
