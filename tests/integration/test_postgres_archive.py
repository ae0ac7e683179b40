"""The postgres part: a pg_dump custom archive in a zstd frame, and the plain ``.dump``
parts of earlier versions, which must still restore."""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
from pathlib import Path

import pytest
import zstandard

from stategate.errors import ExternalError
from stategate.evidence.records.artifact import PartInfo
from stategate.evidence.records.compression import CorruptStream, compressing
from stategate.evidence.records.predicates import Artifact, BackupPredicate, Subject, statement
from stategate.evidence.records.typed import module_path, new_id, write_record
from stategate.operations.backup import run_backup
from stategate.operations.drill import run_restore_drill
from stategate.providers.access import PostgresAccess
from stategate.providers.base import StoredBackup
from stategate.providers.fingerprint import Fingerprint
from stategate.providers.postgres import PostgresProvider, dump_part, part_db
from stategate.sandbox.local import LocalEngine

from .conftest import Workspace
from .test_backup_drill import backup_pred, drill_pred

pytestmark = pytest.mark.integration

MODULE = "data/postgres"
PART = "db/app.dump.zst"


def _backup(workspace: Workspace) -> tuple[BackupPredicate, Path]:
    pred = backup_pred(run_backup(workspace.context(MODULE)))
    assert pred.result == "pass", pred.reason
    return pred, workspace.artifacts / pred.location


def _pg_restore_list(archive: Path) -> str:
    done = subprocess.run(["pg_restore", "--list", str(archive)], capture_output=True, check=True)
    return done.stdout.decode()


def test_part_names_round_trip() -> None:
    for db in ("app", "a b/c%d", "Ünïcode"):
        assert dump_part(db).endswith(".dump.zst")
        assert part_db(dump_part(db)) == db
        assert part_db(dump_part(db).removesuffix(".zst")) == db  # an earlier version's part


def test_the_part_is_a_zstd_frame_of_an_uncompressed_custom_archive(
    workspace: Workspace, tmp_path: Path
) -> None:
    pred, directory = _backup(workspace)
    names = {a.name for a in pred.artifacts}
    assert PART in names and "db/app.dump" not in names
    data = zstandard.ZstdDecompressor().decompressobj().decompress((directory / PART).read_bytes())
    assert data.startswith(b"PGDMP")
    archive = tmp_path / "app.dump"
    archive.write_bytes(data)
    listing = _pg_restore_list(archive)
    assert "Format: CUSTOM" in listing
    assert "Compression: 0" in listing  # compressed once, by zstd, not twice
    assert "TABLE DATA public users" in listing


def _legacy_copy(workspace: Workspace, pred: BackupPredicate) -> str:
    """A backup as an earlier version recorded it: ``db/app.dump`` written by plain
    ``pg_dump --format=custom`` (zlib inside), signed like any backup record."""
    access = workspace.services.access[MODULE]
    assert isinstance(access, PostgresAccess)
    legacy_id = new_id()
    location = module_path(MODULE) / legacy_id
    directory = workspace.artifacts / location
    shutil.copytree(workspace.artifacts / pred.location, directory)
    (directory / PART).unlink()
    legacy = directory / "db" / "app.dump"
    target = ["-h", access.host, "-p", str(access.port), "-U", access.user, "--no-password"]
    subprocess.run(
        ["pg_dump", "--format=custom", *target, "--dbname", "app", "-f", str(legacy)],
        env={"PATH": "/usr/bin:/bin", **access.env()},
        check=True,
        capture_output=True,
    )
    assert legacy.read_bytes().startswith(b"PGDMP")
    assert "Compression: -1" in _pg_restore_list(legacy)  # pg_dump's own zlib (default)
    blob = legacy.read_bytes()
    artifacts = sorted(
        [a for a in pred.artifacts if a.name != PART]
        + [Artifact(name="db/app.dump", size=len(blob), sha256=hashlib.sha256(blob).hexdigest())],
        key=lambda a: a.name,
    )
    old = pred.model_copy(
        update={
            "id": legacy_id,
            "backup_id": legacy_id,
            "location": location.as_posix(),
            "artifacts": artifacts,
            "total_size": sum(a.size for a in artifacts),
        }
    )
    subjects = [
        Subject(name=f"{location.as_posix()}/{a.name}", digest={"sha256": a.sha256})
        for a in artifacts
    ]
    write_record(workspace.store(), statement(subjects, old), workspace.key)
    return legacy_id


def test_an_earlier_versions_plain_dump_part_still_drills(workspace: Workspace) -> None:
    pred, _ = _backup(workspace)
    legacy_id = _legacy_copy(workspace, pred)
    drill = drill_pred(run_restore_drill(workspace.context(MODULE), backup_id=legacy_id))
    assert drill.result == "pass", drill.reason
    assert drill.artifacts_verified
    assert drill.fingerprint is not None and drill.fingerprint.match
    assert drill.fingerprint.observed.digest == pred.fingerprint.digest  # type: ignore[union-attr]


def _restore_part(workspace: Workspace, directory: Path, part: bytes) -> None:
    """Restore ``directory`` with its database part replaced by ``part``, past the
    sha256 check (as if the record described these bytes): the restore itself must
    refuse them."""
    (directory / PART).write_bytes(part)
    parts = (PartInfo(PART, len(part), ""),)
    provider = PostgresProvider(PostgresAccess("127.0.0.1", 1, "postgres", "not-used"))
    stored = StoredBackup(directory, parts, Fingerprint([]), version="15")
    with provider.restore(stored, LocalEngine()):
        pass


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        ("checksum", "checksum"),  # content intact, its checksum not: found at the end
        ("middle", "corrupt zstd data"),  # pg_restore may see changed data first
        ("truncate", "truncated zstd frame"),  # found before pg_restore runs
        ("trailing", "unexpected bytes after the zstd frame"),
    ],
)
def test_a_damaged_stream_is_a_clear_error(workspace: Workspace, damage: str, problem: str) -> None:
    _, directory = _backup(workspace)
    data = bytearray((directory / PART).read_bytes())
    if damage == "checksum":
        data[-2] ^= 0x01
    elif damage == "middle":
        middle = len(data) // 2
        data[middle : middle + 64] = b"\xff" * 64
    elif damage == "truncate":
        del data[-7:]
    else:
        data += b"\0"
    with pytest.raises(CorruptStream) as caught:
        _restore_part(workspace, directory, bytes(data))
    message = str(caught.value)
    assert message.startswith(f"{PART}: ") and problem in message


def test_an_archive_pg_restore_refuses_is_a_clear_error(workspace: Workspace) -> None:
    _, directory = _backup(workspace)
    frame = compressing(io.BytesIO(b"not a pg_dump archive\n" * 1000)).read()
    with pytest.raises(ExternalError) as caught:
        _restore_part(workspace, directory, frame)
    message = str(caught.value)
    assert "pg_restore" in message and "exited with 1" in message
    assert "did not find magic string in file header" in message
