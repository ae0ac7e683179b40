"""The ledger writer's edges, in process: the lock, the size bound, the torn tail, a
short write, symlinks. The fault suite (tests/faults) does the same with real kills;
these are the fast tests mutation testing runs (docs/mutation.md)."""

from __future__ import annotations

import fcntl
import os
import stat
import threading
import time
from pathlib import Path

import pytest

from stategate.errors import ExternalError, InputError
from stategate.evidence.ledger import chain as ledger
from stategate.evidence.ledger.chain import append_entry, check_chain, locked_ledger, read_ledger
from tests.unit.attest.test_ledger_findings import SHOWN, chain, new


def test_a_held_lock_is_waited_for_then_refused_naming_the_ledger(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    path.write_bytes(b"")
    holder = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        with pytest.raises(ExternalError) as caught, locked_ledger(path, shown=SHOWN, wait=0.05):
            pass
        assert str(caught.value) == (
            f"{SHOWN}: another stategate process has been appending for over 0.05 s "
            "(the ledger is locked); nothing was recorded, try again"
        )
    finally:
        os.close(holder)
    with locked_ledger(path, shown=SHOWN, wait=0.05) as writer:  # released: it goes on
        assert writer.last_entry() is None


def test_a_symlinked_ledger_is_refused_naming_it(tmp_path: Path) -> None:
    (tmp_path / "real.jsonl").write_bytes(b"")
    (tmp_path / "ledger.jsonl").symlink_to(tmp_path / "real.jsonl")
    with pytest.raises(InputError) as caught:
        append_entry(tmp_path / "ledger.jsonl", new("a"), shown=SHOWN)
    assert str(caught.value) == f"{SHOWN}: is a symlink, not a regular file; refused"


def test_a_ledger_read_stays_inside_the_repo(tmp_path: Path) -> None:
    outside = tmp_path / "outside.jsonl"
    outside.write_bytes(b"".join(e.line() for e in chain(1)))
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "ledger.jsonl").symlink_to(outside)
    assert read_ledger(repo / "ledger.jsonl", shown=SHOWN) == outside.read_bytes()
    with pytest.raises(InputError, match="resolves outside the repository"):
        read_ledger(repo / "ledger.jsonl", shown=SHOWN, root=repo)


def test_the_size_bound_is_exact_and_names_the_ledger(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ledger.jsonl"
    data = b"".join(e.line() for e in chain(2))
    path.write_bytes(data)
    monkeypatch.setattr(ledger, "MAX_LEDGER_BYTES", len(data))
    third = append_entry(path, new("c"), shown=SHOWN)  # exactly at the bound: read
    assert third.seq == 3
    monkeypatch.setattr(ledger, "MAX_LEDGER_BYTES", len(path.read_bytes()) - 1)
    with pytest.raises(InputError) as caught:
        append_entry(path, new("d"), shown=SHOWN)
    assert str(caught.value) == (
        f"{SHOWN}: ledger is over the {len(path.read_bytes()) - 1}-byte limit"
    )


def test_a_ledger_over_one_read_chunk_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    entries = chain(3000)  # about 1.3 MB: two reads of 1 MiB
    data = b"".join(e.line() for e in entries)
    assert len(data) > 1024 * 1024
    path.write_bytes(data)
    appended = append_entry(path, new("next"), shown=SHOWN)
    assert (appended.seq, appended.prev) == (3001, entries[-1].digest)
    assert check_chain(path.read_bytes(), shown=SHOWN).findings == ()


def test_a_torn_tail_is_cut_before_the_append(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    one, two = chain(2)
    path.write_bytes(one.line() + two.line()[:40])  # a writer killed mid-line
    appended = append_entry(path, new("c"), shown=SHOWN)
    assert (appended.seq, appended.prev) == (2, one.digest)
    assert path.read_bytes() == one.line() + appended.line()


def test_a_short_write_leaves_the_ledger_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ledger.jsonl"
    before = b"".join(e.line() for e in chain(2))
    path.write_bytes(before)

    def half_then_full_disk(fd: int, data: bytes) -> None:
        os.write(fd, data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ledger, "_write_all", half_then_full_disk)
    with pytest.raises(ExternalError, match="No space left on device"):
        append_entry(path, new("c"), shown=SHOWN)
    assert path.read_bytes() == before


def _release_later(path: Path, seconds: float) -> threading.Thread:
    holder = os.open(path, os.O_RDWR)
    fcntl.flock(holder, fcntl.LOCK_EX)

    def release() -> None:
        time.sleep(seconds)
        os.close(holder)

    thread = threading.Thread(target=release)
    thread.start()
    return thread


def test_a_lock_released_within_the_wait_is_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ledger.jsonl"
    path.write_bytes(b"")
    # the default wait would refuse at once: the caller's wait is the one that counts
    monkeypatch.setattr(ledger, "LOCK_WAIT_SECONDS", 0.0)
    released = _release_later(path, 0.2)
    try:
        entry = append_entry(path, new("a"), shown=SHOWN, wait=30)
    finally:
        released.join()
    assert entry.seq == 1


def test_a_torn_tail_after_several_lines_keeps_them_all(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    one, two, three = chain(3)
    path.write_bytes(one.line() + two.line() + three.line()[:30])
    appended = append_entry(path, new("d"), shown=SHOWN)
    assert (appended.seq, appended.prev) == (3, two.digest)
    assert path.read_bytes() == one.line() + two.line() + appended.line()


def test_a_new_ledger_is_created_readable_by_all(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        append_entry(tmp_path / "ledger.jsonl", new("a"), shown=SHOWN)
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "ledger.jsonl").stat().st_mode) == 0o644


def test_the_ledger_descriptor_is_not_inherited(tmp_path: Path) -> None:
    with locked_ledger(tmp_path / "ledger.jsonl", shown=SHOWN) as writer:
        flags = fcntl.fcntl(writer._fd, fcntl.F_GETFD)
    assert flags & fcntl.FD_CLOEXEC


def test_a_fifo_ledger_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "ledger.jsonl")
    with pytest.raises(InputError) as caught:
        append_entry(tmp_path / "ledger.jsonl", new("a"), shown=SHOWN)
    assert str(caught.value) == f"{SHOWN}: is a FIFO, not a regular file; refused"


def test_read_ledger_names_the_ledger_when_it_refuses(tmp_path: Path) -> None:
    (tmp_path / "ledger.jsonl").mkdir()
    with pytest.raises(InputError) as caught:
        read_ledger(tmp_path / "ledger.jsonl", shown=SHOWN, root=tmp_path)
    assert str(caught.value).startswith(f"{SHOWN}: ")


def test_the_size_bound_counts_every_chunk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "ledger.jsonl"
    data = b"".join(e.line() for e in chain(3000))  # over one 1 MiB read
    path.write_bytes(data)
    monkeypatch.setattr(ledger, "MAX_LEDGER_BYTES", 1024 * 1024 + 1)  # over one chunk
    with pytest.raises(InputError, match="over the 1048577-byte limit"):
        append_entry(path, new("x"), shown=SHOWN)
    with (
        pytest.raises(InputError, match=f"^{SHOWN}: ledger is over"),
        locked_ledger(path, shown=SHOWN) as writer,
    ):
        writer.last_entry()


def test_short_writes_are_completed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "ledger.jsonl"
    real_write = os.write

    def a_few_bytes(fd: int, data: bytes | memoryview) -> int:
        return real_write(fd, bytes(data[:7]))

    monkeypatch.setattr(ledger.os, "write", a_few_bytes)
    first = append_entry(path, new("a"), shown=SHOWN)
    second = append_entry(path, new("b"), shown=SHOWN)
    monkeypatch.undo()
    assert path.read_bytes() == first.line() + second.line()
    assert check_chain(path.read_bytes(), shown=SHOWN).findings == ()


def test_a_failed_cleanup_after_a_short_write_still_reports_the_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ledger.jsonl"
    path.write_bytes(b"".join(e.line() for e in chain(1)))

    def full_disk(fd: int, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    def cannot_truncate(fd: int, length: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(ledger, "_write_all", full_disk)
    monkeypatch.setattr(ledger.os, "ftruncate", cannot_truncate)
    with pytest.raises(ExternalError, match="No space left on device"):
        append_entry(path, new("c"), shown=SHOWN)


def test_last_entry_is_the_last_line(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    with locked_ledger(path, shown=SHOWN) as writer:
        assert writer.last_entry() is None
    entries = chain(3)
    path.write_bytes(b"".join(e.line() for e in entries) + b"torn")
    with locked_ledger(path, shown=SHOWN) as writer:
        assert writer.last_entry() == entries[-1]
    path.write_bytes(entries[0].line() + b"junk\n")
    with locked_ledger(path, shown=SHOWN) as writer:
        assert writer.last_entry() is None  # a damaged last line names nothing
