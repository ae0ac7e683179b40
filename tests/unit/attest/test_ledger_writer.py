"""The ledger writer's edges, in process: the lock, the size bound, the torn tail, a
short write, symlinks. The fault suite (tests/faults) does the same with real kills;
these are the fast tests mutation testing runs (docs/mutation.md)."""

from __future__ import annotations

import fcntl
import os
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
        assert str(caught.value).startswith(f"{SHOWN}: another stategate process has been ")
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
