"""The full sandbox DR drill on the bundled example platform's stand-in services.

Real PostgreSQL, Redis and S3 (SeaweedFS) servers stand in for production on free
ports, which a copy of the example policy is pointed at; the drill restores their backups into
sandboxes that are all up together, and records one signed DR attestation.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from pyrage import x25519

from stategate.evidence.records.predicates import BackupPredicate, DrDrillPredicate
from stategate.evidence.records.typed import StoredRecord, latest_dr_drill, read_record
from stategate.evidence.store import EvidenceStore
from stategate.evidence.trust.keys import SigningKey
from stategate.example import example_root
from stategate.operations.backup import run_backup
from stategate.operations.dr import run_dr_drill
from stategate.operations.module import module_context
from stategate.providers.access import S3Access
from stategate.providers.s3 import client_for
from stategate.sandbox.services import (
    ProductionServices,
    point_policy_at,
    production_services,
)
from stategate.workspace import Workspace, open_workspace

from .conftest import key_file, trust_keys

pytestmark = pytest.mark.integration
SRC = Path(__file__).resolve().parents[2] / "src"
STATEFUL = ["platform/minio", "platform/postgres", "platform/redis"]

# Run from postgres's cross-smoke: reaches the postgres, redis and S3 sandboxes at once,
# so it passes only when every sandbox is up at the same time.
ALL_UP = textwrap.dedent("""\
    import os, socket, urllib.error, urllib.request
    import psycopg
    with psycopg.connect(dbname="notes") as conn:
        assert conn.execute("select count(*) from notes").fetchone()[0] > 0
    socket.create_connection(
        (os.environ["STATEGATE_REDIS_HOST"], int(os.environ["STATEGATE_REDIS_PORT"])), timeout=5
    ).close()
    try:
        urllib.request.urlopen(os.environ["STATEGATE_S3_ENDPOINT"], timeout=5)
    except urllib.error.HTTPError:
        pass  # an answer is all we need
""")


@pytest.fixture(scope="module")
def example_services() -> Iterator[ProductionServices]:
    with production_services(open_workspace(example_root()).evidence_sources()) as running:
        yield running


@dataclass
class Example:
    repo: Path
    artifacts: Path
    key: SigningKey
    key_path: Path

    def store(self) -> EvidenceStore:
        return self.open().store

    def open(self) -> Workspace:
        return open_workspace(self.repo)

    def backup(self, module_id: str) -> StoredRecord:
        ctx = module_context(self.open(), module_id, key=self.key, artifacts=self.artifacts)
        record = run_backup(ctx)
        assert record.result == "pass", record.statement.predicate.reason
        return record

    def dr_drill(self) -> StoredRecord:
        return run_dr_drill(self.open(), key=self.key, artifacts=self.artifacts)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "stategate", *args, "--repo", str(self.repo)],
            capture_output=True,
            text=True,
            env={
                **os.environ,
                "PYTHONPATH": str(SRC),
                "STATEGATE_ARTIFACTS": str(self.artifacts),
                "STATEGATE_EVIDENCE_KEY": str(self.key_path),
            },
            timeout=540,
        )


@pytest.fixture
def example(
    tmp_path: Path,
    example_services: ProductionServices,
    evidence_key: SigningKey,
    operator_key: SigningKey,
    monkeypatch: pytest.MonkeyPatch,
) -> Example:
    repo = tmp_path / "platform"
    shutil.copytree(example_root(), repo)
    trust_keys(repo, evidence_key, operator_key)
    identity = x25519.Identity.generate()  # backups are encrypted to it (the example's policy)
    (repo / "trust" / "backup-recipients.txt").write_text(f"{identity.to_public()}\n")
    monkeypatch.setenv("STATEGATE_AGE_IDENTITY", str(identity))
    policy_file = repo / "stategate.yaml"
    text = point_policy_at(policy_file.read_text(), example_services.sources, "stategate.yaml")
    policy = yaml.safe_load(text)
    policy["modules"]["platform/postgres"]["cross_smoke"].append(
        {"kind": "command", "name": "all sandboxes up", "argv": [sys.executable, "-c", ALL_UP]}
    )
    # cross-module checks declared on a module that is not drilled itself (the app)
    policy["modules"]["platform/app"] = {
        "cross_smoke": [
            {"kind": "redis", "name": "app sessions", "command": ["EXISTS", "session:1"]},
            {"kind": "s3", "name": "app uploads", "bucket": "app-uploads"},
        ]
    }
    policy_file.write_text(yaml.safe_dump(policy, sort_keys=False))
    key_path = key_file(evidence_key, tmp_path / "keys" / "evidence-ci-host.key")
    return Example(repo, tmp_path / "artifacts", evidence_key, key_path)


def _dr(record: StoredRecord) -> DrDrillPredicate:
    pred = record.statement.predicate
    assert isinstance(pred, DrDrillPredicate)
    return pred


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_dr_drill_of_the_example_platform_passes(example: Example) -> None:
    backups = {mid: example.backup(mid) for mid in STATEFUL}
    record = example.dr_drill()
    pred = _dr(record)
    assert pred.result == "pass", pred.reason
    assert record.rel == f"evidence/_platform/dr-drill-{pred.id}.json"
    assert record.signer.name == "ci-host"
    assert [m.module for m in pred.modules] == STATEFUL
    for module in pred.modules:
        backup = backups[module.module]
        bpred = backup.statement.predicate
        assert isinstance(bpred, BackupPredicate)
        assert module.result == "pass", module.reason
        assert module.backup_id == bpred.backup_id
        assert module.backup_record == backup.rel
        assert module.backup_record_sha256 == _sha256(example.repo / backup.rel)
        assert module.artifacts == bpred.artifacts and module.artifacts_verified
        assert module.fingerprint is not None and module.fingerprint.match
        assert module.smoke and all(o.result == "pass" for o in module.smoke)
        assert module.engine is not None and module.engine.name == "local"
        assert module.engine.version
        assert module.sandbox is not None and module.sandbox.server_version
        assert module.source is not None and module.source.address == bpred.source.address
    assert {(c.module, c.name, c.result) for c in pred.cross_smoke} == {
        ("platform/postgres", "app data readable", "pass"),
        ("platform/postgres", "all sandboxes up", "pass"),
        ("platform/app", "app sessions", "pass"),
        ("platform/app", "app uploads", "pass"),
    }
    assert pred.window is not None and pred.window.hours == 0.5  # the policy default: 30 minutes
    assert pred.window.start <= pred.window.end
    assert pred.policy_digest and pred.policy_digest.startswith("sha256:")
    assert pred.tool.version and pred.uncovered == []
    # every artifact restored is a subject of the attestation
    names = {s.name for s in record.statement.subject}
    for backup in backups.values():
        assert {s.name for s in backup.statement.subject} <= names

    latest = latest_dr_drill(example.store())
    assert latest is not None and latest.rel == record.rel
    assert read_record(example.store(), record.rel).statement == record.statement
    verified = example.cli("evidence", "verify", "--artifacts", str(example.artifacts))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    summary = verified.stdout.strip().splitlines()[-1]
    assert summary.startswith("ok: ")
    assert int(summary.split("; ")[1].split()[0]) >= len(record.statement.subject)


def test_a_corrupted_artifact_is_a_recorded_failing_dr_drill(
    example: Example, example_services: ProductionServices
) -> None:
    backups = {mid: example.backup(mid) for mid in STATEFUL}
    bpred = backups["platform/redis"].statement.predicate
    assert isinstance(bpred, BackupPredicate)
    # the drill reads the first repository back: minio's bucket (the example's policy)
    minio = example_services.access["platform/minio"]
    assert isinstance(minio, S3Access)
    client, key = client_for(minio), f"stategate/{bpred.location}/dump.rdb.age"
    data = bytearray(client.get_object(Bucket="backups", Key=key)["Body"].read())
    data[len(data) // 2] ^= 0x01
    client.put_object(Bucket="backups", Key=key, Body=bytes(data))

    done = example.cli("dr-drill", "--format", "json")
    assert done.returncode == 1, done.stderr
    out = json.loads(done.stdout)
    assert set(out) == {
        "schema_version",
        "kind",
        "result",
        "record",
        "record_sha256",
        "signer",
        "statement",
    }
    assert out["schema_version"] == 1 and out["kind"] == "dr-drill"
    assert out["statement"]["predicateType"] == "https://stategate.dev/dr-drill/v1"
    assert out["result"] == "fail" and out["record"].startswith("evidence/_platform/dr-drill-")
    assert out["record_sha256"] == _sha256(example.repo / out["record"])
    record = read_record(example.store(), out["record"])
    pred = _dr(record)
    by_module = {m.module: m for m in pred.modules}
    redis = by_module["platform/redis"]
    assert redis.result == "fail" and not redis.artifacts_verified
    assert (redis.reason or "").startswith(
        "dump.rdb.age in repository minio: the stored bytes differ from the record"
    )
    assert by_module["platform/postgres"].result == "pass"
    assert "platform/redis" in (pred.reason or "")
    assert latest_dr_drill(example.store()) is None  # no passing DR drill
    latest_any = latest_dr_drill(example.store(), result=None)
    assert latest_any is not None and latest_any.rel == record.rel


def test_a_module_without_a_backup_in_the_window_fails_clearly(example: Example) -> None:
    example.backup("platform/postgres")
    example.backup("platform/minio")
    done = example.cli("dr-drill")
    assert done.returncode == 1, done.stderr
    assert "platform/redis: no passing backup in the window" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    record = latest_dr_drill(example.store(), result=None)
    assert record is not None
    pred = _dr(record)
    assert pred.result == "fail"
    by_module = {m.module: m for m in pred.modules}
    assert by_module["platform/redis"].backup_id is None
    assert by_module["platform/postgres"].sandbox is None  # nothing was restored
    assert pred.reason and pred.reason.startswith("platform/redis: no passing backup")
    assert example.cli("evidence", "verify").returncode == 0
