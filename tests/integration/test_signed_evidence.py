"""Evidence counts only when it is signed by a trusted evidence key and ledgered.

Real backups of the stand-in services; then records are tampered with, forged
with an operator key or left unledgered, and the restore drill must refuse them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stategate.errors import InputError
from stategate.evidence.findings import VerificationError
from stategate.evidence.records.predicates import BackupPredicate, DrillPredicate
from stategate.evidence.records.typed import StoredRecord, find_backup, latest_record, scan_records
from stategate.evidence.testing import sign_as, write_envelope
from stategate.evidence.trust.keys import SigningKey
from stategate.evidence.trust.trustfile import Role
from stategate.operations.backup import run_backup
from stategate.operations.drill import run_restore_drill

from .conftest import Workspace, key_file, write_platform

pytestmark = pytest.mark.integration
SRC = Path(__file__).resolve().parents[2] / "src"
MODULE = "data/redis"
LATER_ID = "20990101T000000Z-abcdef"  # sorts after every real backup


def _drill(ctx_record: StoredRecord) -> DrillPredicate:
    pred = ctx_record.statement.predicate
    assert isinstance(pred, DrillPredicate)
    return pred


def _backup_id(record: StoredRecord) -> str:
    pred = record.statement.predicate
    assert isinstance(pred, BackupPredicate)
    return pred.backup_id


def _copy_as(workspace: Workspace, real: StoredRecord, key: SigningKey, *, ledger: bool) -> str:
    """A newer backup record with the real one's content, signed by ``key`` as evidence."""
    pred = real.statement.predicate.model_copy(update={"id": LATER_ID, "backup_id": LATER_ID})
    raw = real.statement.model_copy(update={"predicate": pred}).to_json_obj()
    store = workspace.store()
    rel = store.layout.record_path(MODULE, "backup", LATER_ID)
    write_envelope(store.layout, rel, sign_as(raw, key, Role.EVIDENCE))
    if ledger:
        store.append(rel, require_trusted=False)
    return rel


def _cli(args: list[str], workspace: Workspace, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stategate", *args, "--repo", str(workspace.repo)],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "PYTHONPATH": str(SRC),
            "STATEGATE_ARTIFACTS": str(workspace.artifacts),
            **env,
        },
        timeout=300,
    )


def test_a_tampered_backup_record_is_refused(workspace: Workspace) -> None:
    ctx = workspace.context(MODULE)
    first, second = run_backup(ctx), run_backup(ctx)
    assert first.result == second.result == "pass"
    data = bytearray(second.path.read_bytes())
    data[len(data) // 2] ^= 0x01  # one edited byte
    second.path.write_bytes(bytes(data))

    drill = _drill(run_restore_drill(workspace.context(MODULE)))
    assert drill.result == "pass" and drill.backup_id == _backup_id(first)
    with pytest.raises(VerificationError, match="record-edited") as caught:
        run_restore_drill(workspace.context(MODULE), backup_id=_backup_id(second))
    assert caught.value.file == second.rel

    write_platform(workspace.repo, workspace.services)
    done = _cli(
        ["restore-drill", MODULE, "--backup", _backup_id(second)],
        workspace,
        STATEGATE_EVIDENCE_KEY=str(workspace.key_path()),
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith(f"stategate: error: {second.rel}: record-edited")
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    verified = _cli(["evidence", "verify"], workspace)
    assert verified.returncode == 1 and f"{second.rel}: record-edited" in verified.stdout


def test_a_backup_signed_by_an_operator_key_is_not_evidence(workspace: Workspace) -> None:
    ctx = workspace.context(MODULE)
    real = run_backup(ctx)
    forged = _copy_as(workspace, real, workspace.operator_key, ledger=True)
    store = workspace.store()
    latest = latest_record(store, MODULE, "backup")
    assert latest is not None and latest.rel == real.rel
    rejected = {r.rel: r.reason for r in scan_records(store, MODULE).rejected}
    assert "wrong-role" in rejected[forged]
    assert _drill(run_restore_drill(workspace.context(MODULE))).backup_id == _backup_id(real)
    with pytest.raises(VerificationError, match="wrong-role"):
        run_restore_drill(workspace.context(MODULE), backup_id=LATER_ID)


def test_an_unledgered_backup_record_does_not_count(workspace: Workspace) -> None:
    ctx = workspace.context(MODULE)
    real = run_backup(ctx)
    loose = _copy_as(workspace, real, workspace.key, ledger=False)  # validly signed
    assert find_backup(workspace.store(), MODULE, None).rel == real.rel
    with pytest.raises(VerificationError, match="unledgered-record"):
        run_restore_drill(workspace.context(MODULE), backup_id=LATER_ID)
    # alone, it is no backup at all
    (workspace.repo / real.rel).unlink()
    with pytest.raises(InputError, match=rf"no passing backup.*{loose}"):
        run_restore_drill(workspace.context(MODULE))


def test_the_cli_needs_a_trusted_evidence_key(workspace: Workspace, tmp_path: Path) -> None:
    write_platform(workspace.repo, workspace.services)
    empty = tmp_path / "no-keys"
    empty.mkdir()
    done = _cli(["backup", MODULE], workspace, STATEGATE_KEYS=str(empty))
    assert done.returncode == 2
    assert "stategate keys init --role evidence --name NAME" in done.stderr
    # the operator key is trusted, but not for evidence: refused before any backup is taken
    operator = key_file(workspace.operator_key, tmp_path / "op" / "evidence-op.key")
    done = _cli(["backup", MODULE], workspace, STATEGATE_EVIDENCE_KEY=str(operator))
    assert done.returncode == 2
    assert "cannot sign evidence: it is trusted for operator, not evidence" in done.stderr
    assert not workspace.artifacts.exists() and not (workspace.repo / "evidence").exists()
    # a key found in the key folder signs, and the record verifies
    keys = tmp_path / "keys"
    key_file(workspace.key, keys / "evidence-ci-host.key")
    done = _cli(["backup", MODULE, "--format", "json"], workspace, STATEGATE_KEYS=str(keys))
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["signer"] == {"keyid": workspace.key.keyid, "name": "ci-host"}
    assert _cli(["evidence", "verify"], workspace).returncode == 0
