"""Reading a backup back from a local repository: every byte the record names, the
parts its listing names included; names from a record never leave the folder."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from pyrage import x25519

from stategate.errors import ExternalError, InputError
from stategate.evidence.records.artifact import PartInfo, parts_jsonl
from stategate.policy.schema import EvidenceSettings
from stategate.repository.repositories import (
    ArtifactMismatch,
    Repositories,
    _Part,
    from_policy,
)
from stategate.repository.s3 import S3Store


def _part(name: str, data: bytes) -> PartInfo:
    return PartInfo(name, len(data), hashlib.sha256(data).hexdigest())


def _backup(root: Path) -> tuple[Repositories, list[PartInfo]]:
    folder = root / "artifacts" / "data" / "minio" / "b1"
    (folder / "objects" / "bk").mkdir(parents=True)
    (folder / "objects" / "bk" / "k").write_bytes(b"object")
    listed = parts_jsonl([_part("objects/bk/k", b"object")])
    (folder / "parts.jsonl").write_bytes(listed)
    repositories = from_policy(EvidenceSettings(), root, root / "artifacts")
    return repositories, [_part("parts.jsonl", listed)]


def test_an_unencrypted_local_backup_verifies_the_parts_its_listing_names(
    tmp_path: Path,
) -> None:
    repositories, parts = _backup(tmp_path)
    legacy = repositories.legacy
    with repositories.fetched(legacy, "data/minio/b1", parts, listed_in="parts.jsonl") as d:
        assert (d / "objects" / "bk" / "k").read_bytes() == b"object"
    (tmp_path / "artifacts" / "data" / "minio" / "b1" / "objects" / "bk" / "k").write_bytes(
        b"OBJECT"
    )
    with (
        pytest.raises(ArtifactMismatch, match="objects/bk/k: sha256 differs"),
        repositories.fetched(legacy, "data/minio/b1", parts, listed_in="parts.jsonl"),
    ):
        pass


@pytest.mark.parametrize(
    ("location", "name"), [("../elsewhere/b1", "x"), ("data/minio/b1", "../../x"), ("", "x")]
)
def test_names_from_a_record_never_leave_the_backup_folder(
    tmp_path: Path, location: str, name: str
) -> None:
    repositories, _parts = _backup(tmp_path)
    with (
        pytest.raises(InputError, match="unsafe artifact name"),
        repositories.fetched(repositories.legacy, location, [_part(name, b"")]),
    ):
        pass


def test_removing_everything_of_an_s3_repository_is_refused() -> None:
    store = S3Store(client=None, bucket="b", prefix="", where="s3 test")
    with pytest.raises(ExternalError, match="refusing to remove everything"):
        store.remove("")


class _FailsLast:
    def __init__(self) -> None:
        self.calls = 0

    def write(self, data: bytes) -> int:
        self.calls += 1
        raise OSError(5, "Input/output error")

    def finish(self) -> None:
        raise AssertionError("a part whose writes failed must not be finished")

    def discard(self) -> None:
        return None


def test_an_encrypted_part_whose_sink_failed_is_not_stored() -> None:
    key = str(x25519.Identity.generate().to_public())
    part = _Part("fingerprint.jsonl.age", [_FailsLast()], [key])  # type: ignore[list-item]
    part.write(b"{}\n")  # small: pyrage writes it all at the end, where it ignored errors
    with pytest.raises(ExternalError, match="Input/output error"):
        part.finish()
