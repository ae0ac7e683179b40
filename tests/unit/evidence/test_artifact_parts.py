"""Parts as stored: the parts.jsonl listing, the part sinks of a local folder, and a part
that fails to store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stategate.errors import ExternalError, InputError
from stategate.evidence.records.artifact import (
    BackupWriter,
    FolderPart,
    LocalFolder,
    NoProgress,
    PartInfo,
    StoredPart,
    open_backup,
    parse_parts_jsonl,
    parts_jsonl,
)

PARTS = [
    PartInfo("objects/a/x.bin", 3, "aa" * 32),
    PartInfo("objects/a/y.bin", 0, "bb" * 32, StoredPart("objects/a/y.bin.age", 200, "cc" * 32)),
]


def test_parts_jsonl_round_trips_and_is_one_sorted_line_per_part() -> None:
    data = parts_jsonl(PARTS)
    lines = data.decode().splitlines()
    assert data.endswith(b"\n") and len(lines) == 2
    assert json.loads(lines[0]) == {"name": "objects/a/x.bin", "sha256": "aa" * 32, "size": 3}
    assert lines[1] == (
        '{"name":"objects/a/y.bin","sha256":"' + "bb" * 32 + '","size":0,"stored":'
        '{"name":"objects/a/y.bin.age","sha256":"' + "cc" * 32 + '","size":200}}'
    )
    assert parse_parts_jsonl(data, shown="p") == PARTS
    assert parts_jsonl([]) == b"" and parse_parts_jsonl(b"", shown="p") == []


@pytest.mark.parametrize(
    ("line", "number"),
    [
        ('{"name":"a","size":1}', 1),  # no sha256
        ('{"name":"../x","size":1,"sha256":"a"}', 1),  # escapes the backup
        ('{"name":"a","size":"many","sha256":"a"}', 1),
        ('{"name":"a","size":1,"sha256":"a","stored":{"name":"b"}}', 1),
        ('{"name":"a","size":1,"sha256":"a","stored":{"name":"/etc","size":1,"sha256":"s"}}', 1),
        ("not json", 1),
        ("[1, 2]", 1),
    ],
)
def test_a_bad_line_is_refused_by_number(line: str, number: int) -> None:
    good = '{"name":"ok","size":1,"sha256":"a"}\n'
    with pytest.raises(InputError) as refused:
        parse_parts_jsonl((good + line + "\n").encode(), shown="b1/parts.jsonl")
    assert str(refused.value) == f"b1/parts.jsonl: line {number + 1} is not a part entry"


def test_a_listing_that_is_not_utf8_is_refused() -> None:
    with pytest.raises(InputError) as refused:
        parse_parts_jsonl(b'{"name":"\xff"}\n', shown="b1/parts.jsonl")
    assert str(refused.value) == "b1/parts.jsonl: is not UTF-8"


def test_discarding_a_part_someone_removed_is_quiet(tmp_path: Path) -> None:
    part = FolderPart(tmp_path / "p.bin", None)
    (tmp_path / "p.bin").unlink()
    part.discard()  # the original error, not this one, is what the caller reports


def test_aborting_twice_or_after_the_folder_is_gone_is_quiet(tmp_path: Path) -> None:
    folder = LocalFolder(tmp_path / "b1")
    folder.start()
    folder.abort()
    folder.abort()
    assert not folder.partial.exists()


def test_a_backup_folder_gets_every_missing_parent(tmp_path: Path) -> None:
    final = tmp_path / "artifacts" / "project" / "service" / "b1"
    with open_backup(final) as writer, writer.part("x") as out:
        out.write(b"1")
    assert (final / "x").read_bytes() == b"1"


def test_a_folder_part_counts_only_when_finished(tmp_path: Path) -> None:
    part = FolderPart(tmp_path / "sub" / "p.bin", None)
    assert part.write(b"abc") == 3 and part.write(memoryview(b"de")) == 2
    assert part.size == 5
    part.finish()
    assert (tmp_path / "sub" / "p.bin").read_bytes() == b"abcde"
    dropped = FolderPart(tmp_path / "q.bin", None)
    dropped.write(b"x")
    dropped.discard()
    assert not (tmp_path / "q.bin").exists()
    with pytest.raises(FileExistsError):
        FolderPart(tmp_path / "sub" / "p.bin", None)  # never over an existing part


def test_a_part_whose_size_on_disk_differs_fails(tmp_path: Path) -> None:
    part = FolderPart(tmp_path / "p.bin", None)
    part.write(b"abcdef")
    part.size = 7  # as if a write had been lost
    with pytest.raises(ExternalError) as failed:
        part.finish()
    assert str(failed.value) == f"{tmp_path / 'p.bin'}: 6 bytes stored, not 7"


class _Refusing:
    """A target whose second part fails to store."""

    def __init__(self, folder: LocalFolder) -> None:
        self.folder = folder
        self.opened = 0

    def open_part(self, name: str, *, sync_at_commit: bool) -> FolderPart:
        self.opened += 1
        part = self.folder.open_part(name, sync_at_commit=sync_at_commit)
        if self.opened == 2:
            part.size += 1  # its read-back will not match
        return part


def test_a_part_that_does_not_store_whole_is_not_listed_and_is_removed(tmp_path: Path) -> None:
    folder = LocalFolder(tmp_path / "b1")
    folder.start()
    writer = BackupWriter(_Refusing(folder), NoProgress())
    with writer.part("one") as out:
        out.write(b"1")
    with pytest.raises(ExternalError), writer.part("two") as out:
        out.write(b"22")
    assert [p.name for p in writer.parts] == ["one"]
    assert [p.stored for p in writer.parts] == [None]
    assert not (folder.partial / "two").exists()
    folder.abort()
    assert not folder.partial.exists() and not (tmp_path / "b1").exists()


def test_a_committed_folder_has_its_final_name_and_no_partial(tmp_path: Path) -> None:
    with open_backup(tmp_path / "m" / "b1") as writer, writer.part("a/b.txt") as out:
        out.write(b"hi")
    assert (tmp_path / "m" / "b1" / "a" / "b.txt").read_bytes() == b"hi"
    assert not (tmp_path / "m" / "b1.partial").exists()
    leftover = tmp_path / "m" / "b2.partial"
    leftover.mkdir()
    (leftover / "stale").write_bytes(b"old")
    folder = LocalFolder(tmp_path / "m" / "b2")
    folder.start()  # a leftover of a killed run is cleared first
    assert list(folder.partial.iterdir()) == []
