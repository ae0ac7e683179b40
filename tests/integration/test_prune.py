"""`stategate prune` on a real evidence chain: backups of a real redis stand-in in an
S3 repository with Object Lock (a real SeaweedFS server) and a local one, a restore
drill, a rehearsal and a DR drill taken by the CLI, operator approvals signed by
`stategate approve`, and an open packet that lives only on a branch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pyrage import x25519

from stategate.apply_inputs import evidence_facts
from stategate.engines import discover
from stategate.providers.access import S3Access
from stategate.providers.config import RedisSource
from stategate.providers.s3 import client_for
from stategate.sandbox.servers import LocalS3
from tests.gitrepo import Repo, init_repo

from .conftest import Workspace, key_file

pytestmark = pytest.mark.integration
SRC = Path(__file__).resolve().parents[2] / "src"
MODULE = "data/redis"
FROM = "redis:7.0.15@sha256:" + "ab" * 32
TO = "redis:7.0.16@sha256:" + "cd" * 32
PACKET = f"""\
id: redis-up
modules:
  - module: {MODULE}
    from: {FROM}
    to: {TO}
    rollback: {{to: '{FROM}', needs_restore: false}}
allowed_paths: [compose/data.yml]
"""
BUCKET = "locked"


@pytest.fixture(scope="module")
def offsite() -> Iterator[S3Access]:
    """An S3 server whose backup bucket has Object Lock enabled."""
    with LocalS3(binary=discover().newest("seaweedfs").path) as access:
        client_for(access).create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
        yield access


class Platform:
    def __init__(self, workspace: Workspace, offsite: S3Access, identity: x25519.Identity):
        self.workspace = workspace
        self.offsite = offsite
        self.repo: Repo = init_repo(workspace.repo)  # it already holds the trust file
        self.env = {
            **os.environ,
            "PYTHONPATH": str(SRC),
            "STATEGATE_ARTIFACTS": str(workspace.artifacts),
            "STATEGATE_EVIDENCE_KEY": str(workspace.key_path()),
            "STATEGATE_KEYS": str(workspace.repo.parent / "no-keys"),
            "STATEGATE_AGE_IDENTITY": str(identity),
            "OFFSITE_ACCESS_KEY": offsite.access_key,
            "OFFSITE_SECRET_KEY": offsite.secret_key,
        }
        self.operator = key_file(
            workspace.operator_key, workspace.repo.parent / "op" / "operator.key"
        )

    def sg(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "stategate", *args],
            capture_output=True,
            text=True,
            cwd=self.repo.path,
            env=self.env,
            timeout=540,
        )
        if ok:
            assert done.returncode == 0, done.stdout + done.stderr
        return done

    def backup(self) -> dict[str, str]:
        doc = json.loads(self.sg("backup", MODULE, "--format", "json").stdout)
        pred = doc["statement"]["predicate"]
        return {"id": pred["backup_id"], "record": doc["record"], "location": pred["location"]}

    def prune(self, *args: str, ok: bool = True) -> tuple[int, dict[str, object]]:
        done = self.sg("prune", "--format", "json", *args, ok=ok)
        return done.returncode, json.loads(done.stdout)

    def stored(self, location: str) -> list[str]:
        listed = client_for(self.offsite).list_objects_v2(
            Bucket=BUCKET, Prefix=f"stategate/{location}/"
        )
        return [o["Key"] for o in listed.get("Contents", [])]


@pytest.fixture
def platform(workspace: Workspace, offsite: S3Access) -> Platform:
    identity = x25519.Identity.generate()
    p = Platform(workspace, offsite, identity)
    source = workspace.services.sources[MODULE]
    assert isinstance(source, RedisSource)
    p.repo.write(
        "compose/data.yml",
        f"name: data\nservices:\n  redis:\n    image: {FROM}\n"
        '    command: [redis-server, --appendonly, "yes"]\n'
        "    volumes: [redisdata:/data]\nvolumes: {redisdata: {}}\n",
    )
    p.repo.write("trust/backup-recipients.txt", f"{identity.to_public()}\n")
    evidence = json.dumps(source.model_dump(mode="json", exclude={"sandbox"}))
    p.repo.write(
        "stategate.yaml",
        "version: 1\ncompose:\n  files: [compose/data.yml]\n"
        "evidence:\n"
        "  repositories:\n"
        f"    - {{name: offsite, type: s3, endpoint: '{offsite.endpoint}', bucket: {BUCKET},\n"
        "       prefix: stategate, access_key: {env: OFFSITE_ACCESS_KEY},\n"
        "       secret_key: {env: OFFSITE_SECRET_KEY}}\n"
        "    - {name: here, type: local}\n"
        "  backup_to: [offsite, here]\n"
        "  encryption: {recipients_file: trust/backup-recipients.txt}\n"
        "modules:\n"
        f"  {MODULE}:\n    evidence: {evidence}\n"
        "    smoke: [{kind: redis, name: ping, command: [PING], expect: PONG}]\n",
    )
    p.repo.commit("platform")
    return p


def _approve(p: Platform, record: str, hours: str) -> str:
    done = p.sg(
        "approve", "packets/redis-up.yaml", "--role", "operator", "--key", str(p.operator),
        "--evidence", record, "--expires", hours,
    )  # fmt: skip
    return done.stdout


def _decisions(doc: dict[str, object]) -> dict[str, dict[str, object]]:
    backups = doc["backups"]
    assert isinstance(backups, list)
    return {b["backup_id"]: b for b in backups}


def _reasons(doc: dict[str, object], backup: dict[str, str]) -> str:
    return " | ".join(_decisions(doc)[backup["id"]]["reasons"])  # type: ignore[arg-type]


def test_prune_keeps_what_the_gate_relies_on_says_why_and_deletes_the_rest(
    platform: Platform,
) -> None:
    p = platform
    b1 = p.backup()
    p.sg("restore-drill", MODULE)
    p.repo.write("packets/redis-up.yaml", PACKET)
    p.sg("rehearse", MODULE, "--packet", "packets/redis-up.yaml")  # of b1, the drilled one
    b2 = p.backup()
    p.sg("restore-drill", MODULE)  # drills b2: the open packet's newest drill
    b3 = p.backup()
    p.sg("dr-drill")  # restores b3: the newest passing DR drill
    b4 = p.backup()
    approved = _approve(p, b4["record"], "2")  # a live approval binds b4
    # at once retained until it expires: Object Lock on every object of b4 in offsite
    assert f"retained (Object Lock) {b4['location']} in offsite until" in approved
    assert "here" not in approved.split("retained", 1)[1]  # a folder has no Object Lock
    retained = client_for(p.offsite).get_object_retention(
        Bucket=BUCKET, Key=p.stored(b4["location"])[0]
    )["Retention"]
    assert retained["RetainUntilDate"] > datetime.now(UTC) + timedelta(hours=1, minutes=55)
    b5 = p.backup()
    _approve(p, b5["record"], "0.0005")  # expires within two seconds: binds nothing
    b6 = p.backup()
    # the packet's file lives on a branch only (an open PR), not in the work tree
    p.repo.git("checkout", "-q", "-b", "upgrade")
    p.repo.git("add", "packets/redis-up.yaml")
    p.repo.git("commit", "-q", "-m", "packet redis-up")
    p.repo.git("checkout", "-q", "main")
    assert not (p.repo.path / "packets").exists()
    time.sleep(2.5)

    code, doc = p.prune("--keep-last", "1")
    assert code == 0 and doc["dry_run"] is True
    keep = {bid: d["keep"] for bid, d in _decisions(doc).items()}
    assert keep == {
        b1["id"]: True, b2["id"]: True, b3["id"]: True,
        b4["id"]: True, b5["id"]: False, b6["id"]: True,
    }  # fmt: skip
    packet = "open packet redis-up (packets/redis-up.yaml, branch upgrade)"
    assert f"{packet}: its newest passing rehearsal of {MODULE} (through rehearsal " in _reasons(
        doc, b1
    )
    assert f"{packet}: its newest passing drill of {MODULE} (through restore-drill " in _reasons(
        doc, b2
    )
    assert "the newest passing DR drill evidence/_platform/dr-drill-" in _reasons(doc, b3)
    assert "live approval evidence/_approvals/redis-up/approval-" in _reasons(doc, b4)
    assert _reasons(doc, b5) == ""
    assert _reasons(doc, b6) == (
        f"the newest passing backup of {MODULE} (the apply gate's backup) | "
        f"one of the last 1 of {MODULE}"
    )
    assert p.stored(b5["location"])  # a dry run deletes nothing

    # the PR is closed: its drill and rehearsal no longer keep anything
    p.repo.git("branch", "-q", "-D", "upgrade")
    code, doc = p.prune("--keep-last", "1", "--yes")
    assert code == 0, doc
    assert {bid for bid, d in _decisions(doc).items() if not d["keep"]} == {
        b1["id"],
        b2["id"],
        b5["id"],
    }
    record = doc["record"]
    assert isinstance(record, str) and record.startswith("evidence/_platform/prune-")
    assert sorted(doc["deleted"]) == sorted(  # type: ignore[arg-type]
        f"{b['location']} from {repo}" for b in (b1, b2, b5) for repo in ("offsite", "here")
    )
    for gone in (b1, b2, b5):
        assert p.stored(gone["location"]) == []
        assert not (p.workspace.artifacts / gone["location"]).exists()
    for kept in (b3, b4, b6):
        assert p.stored(kept["location"])
        assert (p.workspace.artifacts / kept["location"]).is_dir()

    # the gate no longer sees the pruned backups, nor the prune record as evidence
    facts = evidence_facts(p.workspace.store())
    paths = {f.path for f in facts}
    assert not paths & {b["record"] for b in (b1, b2, b5)}
    assert {b["record"] for b in (b3, b4, b6)} <= paths
    assert {f.kind for f in facts} == {"backup", "restore-drill", "rehearsal", "dr-drill"}

    # Object Lock: the live approval's backup is retained until the approval expires
    client = client_for(p.offsite)
    expiry = datetime.now(UTC) + timedelta(hours=2)
    for key in p.stored(b4["location"]):
        retention = client.get_object_retention(Bucket=BUCKET, Key=key)["Retention"]
        assert retention["Mode"] == "GOVERNANCE"
        assert abs(retention["RetainUntilDate"] - expiry) < timedelta(minutes=5)
    assert any(line.startswith(f"{b4['location']} in offsite until") for line in doc["locked"])  # type: ignore[union-attr]
    for key in p.stored(b6["location"]):
        with pytest.raises(client.exceptions.ClientError):
            client.get_object_retention(Bucket=BUCKET, Key=key)

    # repo check tells pruned from lost
    check = json.loads(p.sg("repo", "check", "--format", "json").stdout)
    reports = {r["repository"]: r for r in check["repositories"]}
    assert reports["offsite"]["pruned"] == 3 and reports["offsite"]["backups"] == 3
    assert reports["offsite"]["missing"] == [] and reports["offsite"]["clean"] is True

    # a pruned backup is no longer drilled, by id or as the newest
    drill = p.sg("restore-drill", MODULE, "--backup", b5["id"], ok=False)
    assert drill.returncode == 2 and f"backup {b5['id']} of {MODULE} was pruned" in drill.stderr

    # a prune cut short: files of a pruned backup still there are orphans, the next
    # prune --yes removes them
    left = p.workspace.artifacts / b5["location"] / "dump.rdb.age"
    left.parent.mkdir(parents=True)
    left.write_bytes(b"left behind")
    check_done = p.sg("repo", "check", "--format", "json", ok=False)
    assert check_done.returncode == 1
    here = {r["repository"]: r for r in json.loads(check_done.stdout)["repositories"]}["here"]
    assert [o["reason"] for o in here["orphans"]] == [
        f"left by {record} (cut short): prune --yes removes it"
    ]
    code, again = p.prune("--keep-last", "1", "--yes")
    assert code == 0 and again["record"] is None and again["deleted"] == []
    assert again["leftovers_removed"] == [f"{b5['location']} from here"]
    assert not left.parent.exists()
    assert p.sg("repo", "check").returncode == 0


def test_prune_deletes_nothing_while_evidence_does_not_verify(platform: Platform) -> None:
    p = platform
    old = p.backup()
    p.backup()
    p.repo.write("packets/redis-up.yaml", PACKET)
    approval_out = _approve(p, old["record"], "0.0005")
    assert "approval" in approval_out
    time.sleep(2)
    (approval,) = (p.repo.path / "evidence" / "_approvals" / "redis-up").glob("*.json")
    data = bytearray(approval.read_bytes())
    data[len(data) // 2] ^= 0x01
    approval.write_bytes(bytes(data))
    code, doc = p.prune("--keep-last", "1", "--yes", ok=False)
    assert code == 1
    assert doc["record"] is None and doc["deleted"] == []
    doubts = doc["doubts"]
    assert isinstance(doubts, list) and doubts[0].startswith(
        f"evidence/_approvals/redis-up/{approval.name}: "
    )
    assert p.stored(old["location"]) and (p.workspace.artifacts / old["location"]).is_dir()


def test_prune_needs_a_rule_and_a_valid_duration(platform: Platform) -> None:
    done = platform.sg("prune", ok=False)
    assert done.returncode == 2
    assert "say what to keep: --keep-last N and/or --keep-within DURATION" in done.stderr
    done = platform.sg("prune", "--keep-within", "3 months", ok=False)
    assert done.returncode == 2 and "not a duration: '3 months'" in done.stderr
