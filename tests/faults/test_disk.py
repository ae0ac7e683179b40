"""Full disks and read-only folders, on real mounts.

We run as root, so ``chmod`` stops nothing: a size-limited ``tmpfs`` gives a
real ENOSPC (for the artifacts folder, the evidence folder and the sandboxes'
``TMPDIR``), and a read-only bind mount gives a real EROFS for the evidence
folder. Both need CAP_SYS_ADMIN; without it these tests skip, saying so.
"""

from __future__ import annotations

import contextlib
import errno
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from stategate.evidence.records.predicates import BackupPredicate, DrillPredicate
from stategate.evidence.records.typed import list_records

from .conftest import MODULES, FaultPlatform, assert_next_backup_works, backed_up

pytestmark = pytest.mark.integration


def _mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount here ({done.stderr.strip()}): needs root with CAP_SYS_ADMIN")


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], check=True)


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A size-limited tmpfs at ``path`` (its previous content copied in), unmounted after."""
    path.mkdir(parents=True, exist_ok=True)
    saved = path.with_name(path.name + ".saved")
    shutil.copytree(path, saved)
    _mount("-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path))
    try:
        shutil.copytree(saved, path, dirs_exist_ok=True)
        yield path
    finally:
        # keep what was written, as the folder would after the disk is grown
        shutil.rmtree(saved)
        shutil.copytree(path, saved)
        _umount(path)
        shutil.copytree(saved, path, dirs_exist_ok=True)
        shutil.rmtree(saved)


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[Path]:
    """``path`` bind-mounted read-only onto itself (root cannot write through it)."""
    _mount("--bind", str(path), str(path))
    try:
        _mount("-o", "remount,ro,bind", str(path))
        yield path
    finally:
        _umount(path)


def _fill(folder: Path) -> Path:
    """Write a filler file until the filesystem of ``folder`` is full."""
    filler = folder / ".filler"
    with open(filler, "wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def _last_backup(platform: FaultPlatform, module_id: str) -> BackupPredicate:
    pred = list_records(platform.store(), module_id, "backup")[-1].statement.predicate
    assert isinstance(pred, BackupPredicate)
    return pred


@pytest.mark.parametrize("module_id", MODULES)
def test_artifacts_folder_full(platform: FaultPlatform, module_id: str) -> None:
    with tmpfs(platform.artifacts, "48k"):
        done = platform.run("backup", module_id)
        assert done.returncode == 1, done
        assert "Traceback" not in done.output
        pred = _last_backup(platform, module_id)
        assert pred.result == "error" and "No space left on device" in (pred.reason or "")
        assert platform.backup_dirs(module_id) == []  # the .partial was removed too
        assert platform.verify().ok
    assert_next_backup_works(platform, module_id)


@pytest.mark.parametrize("module_id", MODULES)
def test_evidence_folder_full(platform: FaultPlatform, module_id: str) -> None:
    """The dump succeeds but its record cannot be written: a clear error naming the
    record, no record, no ledger line, and the artifact nothing describes is removed."""
    backed_up(platform, module_id)
    evidence = platform.repo / "evidence"
    records = platform.record_count()
    ledger = (evidence / "ledger.jsonl").read_bytes()
    with tmpfs(evidence, "1m"):
        filler = _fill(evidence)
        done = platform.run("backup", module_id)
        assert done.returncode == 1, done
        assert "cannot write: No space left on device" in done.output, done
        assert f"evidence/{module_id}/backup-" in done.output  # names the record
        assert "Traceback" not in done.output
        assert (evidence / "ledger.jsonl").read_bytes() == ledger
        filler.unlink()
    assert platform.record_count() == records
    assert len(platform.backup_dirs(module_id)) == 1  # only the earlier, recorded one
    assert platform.verify().ok
    assert_next_backup_works(platform, module_id)


@pytest.mark.parametrize("module_id", MODULES)
def test_sandbox_folder_full(platform: FaultPlatform, module_id: str) -> None:
    """The drill's sandbox cannot be created: a failed drill record, nothing left in TMPDIR."""
    backed_up(platform, module_id)
    with tmpfs(platform.tmp / "small", "48k") as small:
        platform.extra_env["TMPDIR"] = str(small)
        done = platform.run("restore-drill", module_id)
        assert done.returncode == 1, done
        assert "Traceback" not in done.output
        drills = list_records(platform.store(), module_id, "restore-drill")
        pred = drills[-1].statement.predicate
        assert isinstance(pred, DrillPredicate) and pred.result in ("error", "fail")
        assert [p.name for p in small.iterdir()] == []
    del platform.extra_env["TMPDIR"]
    again = platform.run("restore-drill", module_id)
    assert again.returncode == 0, again


@pytest.mark.parametrize("module_id", MODULES)
def test_evidence_folder_read_only(platform: FaultPlatform, module_id: str) -> None:
    backed_up(platform, module_id)
    evidence = platform.repo / "evidence"
    records = platform.record_count()
    with read_only(evidence):
        done = platform.run("backup", module_id)
        assert done.returncode == 1, done
        # the ledger is opened (and locked) before the record is written: it names it
        assert "evidence/ledger.jsonl: cannot open the ledger: Read-only file system" in (
            done.output
        ), done
        assert "Traceback" not in done.output
    assert platform.record_count() == records
    assert len(platform.backup_dirs(module_id)) == 1
    assert platform.verify().ok
    assert_next_backup_works(platform, module_id)


def test_artifacts_folder_read_only(platform: FaultPlatform) -> None:
    """No backup can start (its lock cannot even be taken): a clear error, no record."""
    module_id = "data/redis"
    backed_up(platform, module_id)
    records = platform.record_count()
    with read_only(platform.artifacts):
        done = platform.run("backup", module_id)
        assert done.returncode == 1, done
        assert f"cannot lock {platform.module_dir(module_id)}: Read-only file system" in (
            done.output
        ), done
        assert "Traceback" not in done.output
    assert platform.record_count() == records
    assert len(platform.backup_dirs(module_id)) == 1
    assert platform.verify().ok
    assert_next_backup_works(platform, module_id)
