"""The README's main job, end to end: `stategate demo` ends with an approved apply check."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import installed_cli
from tests.schema_check import sarif_validator, validate, validate_records

pytestmark = pytest.mark.integration


def test_demo_runs_the_whole_chain(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    proc = subprocess.run(
        [installed_cli(), "demo", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "COLUMNS": "120"},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = proc.stdout
    # the story, in order: blocked PR, ready for the operator, apply blocked, then approved
    order = [
        "verdict: blocked (merge stage)",
        "verdict: ready_for_operator (merge stage)",
        "verdict: blocked (apply stage)",
        "verdict: approved (apply stage)",
    ]
    positions = [text.index(marker) for marker in order]
    assert positions == sorted(positions)
    apply = json.loads((out / "reports" / "apply.json").read_text())
    assert apply["verdict"] == "approved" and apply["stage"] == "apply"
    # backup, restore drill, rehearsal on the target, smoke baseline, DR drill
    assert len(apply["evidence"]) == 5
    assert any("/rehearsal-" in path for path in apply["evidence"])
    assert (out / "reports" / "apply-plan.md").is_file()
    # the major upgrades, rehearsed: 18's checksum default found, the flags that fix it
    # in the runbook, and a redis -> valkey move whose rollback needs the backup
    flat = " ".join(text.split())
    assert (
        "upgrade-check-defaults: fail" in flat
        and "old cluster does not use data checksums but the new one does" in flat
    )
    major_plan = (out / "reports" / "w8-postgres-18-plan.md").read_text()
    assert "--lc-ctype=C --no-data-checksums" in major_plan
    assert "Rollback, as rehearsed: PostgreSQL 18." in major_plan
    assert "hazard/postgres-18-pgdata compose/postgres.yml:" in major_plan
    valkey_plan = (out / "reports" / "w8-redis-to-valkey-plan.md").read_text()
    assert "Rollback, as rehearsed: Redis 7.0." in valkey_plan
    assert "cannot load the RDB that valkey 8.1." in " ".join(valkey_plan.split())
    assert (out / "reports" / "W8-stateful-sidecar-gate.md").is_file()
    # backups in minio's bucket and on the host, encrypted; drills read minio's copy back
    assert "stored in: minio (s3 http://127.0.0.1:" in flat
    assert "age-encrypted to 1 recipient(s)" in flat
    assert re.search(
        r"minio \(http://127\.0\.0\.1:\d+/backups/stategate\): 3 backup\(s\) whole, 0 pruned, "
        r"clean",
        flat,
    )
    # the dry-run prune keeps the backups the approval relies on, and says so
    assert re.search(r"keep: platform/postgres \S+ \(minio, host\) - live approval", flat)
    assert "dry run: nothing to delete; run with --yes to delete" in flat
    assert re.search(r"read back from: minio \(http://127\.0\.0\.1:\d+/backups/stategate\)", flat)
    sarif = json.loads((out / "reports" / "check.sarif").read_text())
    assert sarif["version"] == "2.1.0"
    # what peers read: SARIF GitHub accepts, the verdict and every signed record as published
    sarif_validator().validate(sarif)
    results = sarif["runs"][0]["results"]  # ready_for_operator: possibly none
    assert all(r["locations"] and r["partialFingerprints"] for r in results)
    validate("verdict", apply)
    kinds = {k.rsplit("/", 2)[1] for k in validate_records(out / "platform")}
    assert {"backup", "restore-drill", "smoke", "dr-drill", "rehearsal", "approval"} <= kinds
    assert "Stand-in services stopped" in text
    # the demo's own leak check searched every seeded credential (plain and encoded) in
    # every raw command output, report, record, decoded signed payload and the ledger
    assert re.search(
        r"leak check: 5 seeded secrets, searched plain and encoded in [1-9]\d* command "
        r"outputs and [1-9]\d* files \([1-9]\d* JSON documents, base64 payloads decoded\): "
        r"none found",
        " ".join(text.split()),
    ), text[-2000:]
