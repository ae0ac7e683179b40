"""`stategate prune` on a real evidence chain: backups of a real redis stand-in in an
S3 repository with Object Lock (a real SeaweedFS server) and a local one, a restore
drill, a rehearsal and a DR drill taken by the CLI, operator approvals signed by
`stategate approve`, and an open packet that lives only on a branch."""

from __future__ import annotations

import json
import os
import shutil
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
from tests.schema_check import validate, validate_records

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
        validate("evidence-result", doc)
        pred = doc["statement"]["predicate"]
        return {"id": pred["backup_id"], "record": doc["record"], "location": pred["location"]}

    def prune(self, *args: str, ok: bool = True) -> tuple[int, dict[str, object]]:
        done = self.sg("prune", "--format", "json", *args, ok=ok)
        doc = json.loads(done.stdout)
        validate("prune", doc)
        return done.returncode, doc

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
    shutil.rmtree(p.workspace.artifacts / b5["location"])  # someone removed this copy by hand
    code, doc = p.prune("--keep-last", "1", "--yes")
    assert code == 0, doc
    assert doc["already_gone"] == [f"{b5['location']} from here"]
    assert {bid for bid, d in _decisions(doc).items() if not d["keep"]} == {
        b1["id"],
        b2["id"],
        b5["id"],
    }
    record = doc["record"]
    assert isinstance(record, str) and record.startswith("evidence/_platform/prune-")
    assert sorted(doc["deleted"]) == sorted(  # type: ignore[arg-type]
        f"{b['location']} from {repo}"
        for b in (b1, b2, b5)
        for repo in ("offsite", "here")
        if (b, repo) != (b5, "here")
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
    validate("repo-check", check)
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
    validate("repo-check", json.loads(check_done.stdout))
    here = {r["repository"]: r for r in json.loads(check_done.stdout)["repositories"]}["here"]
    assert [o["reason"] for o in here["orphans"]] == [
        f"left by {record} (cut short): prune --yes removes it"
    ]
    code, again = p.prune("--keep-last", "1", "--yes")
    assert code == 0 and again["record"] is None and again["deleted"] == []
    assert again["leftovers_removed"] == [f"{b5['location']} from here"]
    assert not left.parent.exists()
    assert p.sg("repo", "check").returncode == 0
    # every record written on the way matches the published schema of its type
    kinds = {k.rsplit("/", 2)[1] for k in validate_records(p.repo.path)}
    assert kinds == {"backup", "restore-drill", "rehearsal", "dr-drill", "prune", "approval"}


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


def test_prune_judges_with_the_default_branch_or_the_base_given(platform: Platform) -> None:
    platform.repo.git("branch", "-m", "main", "trunk")  # no main, no origin/HEAD
    done = platform.sg("prune", "--keep-last", "1", ok=False)
    assert done.returncode == 2 and "no default branch found; pass --base REV" in done.stderr
    code, doc = platform.prune("--keep-last", "1", "--base", "trunk")
    assert code == 0 and doc["dry_run"] is True


def test_prune_needs_a_rule_and_a_valid_duration(platform: Platform) -> None:
    done = platform.sg("prune", ok=False)
    assert done.returncode == 2
    assert "say what to keep: --keep-last N and/or --keep-within DURATION" in done.stderr
    done = platform.sg("prune", "--keep-within", "3 months", ok=False)
    assert done.returncode == 2 and "not a duration: '3 months'" in done.stderr


def test_what_a_pull_request_branch_relies_on_is_kept_and_a_shadow_packet_hides_nothing(
    platform: Platform,
) -> None:
    """The PR's packet, drill and approval live on its branch (where the apply gate reads
    them), not in the work tree; another branch's packet with the same id changes nothing."""
    p = platform
    b1 = p.backup()
    p.repo.git("add", "-A")
    p.repo.commit("backup b1")
    p.repo.git("checkout", "-q", "-b", "upgrade")
    p.sg("restore-drill", MODULE)  # drills b1, on the PR branch
    p.repo.write("packets/redis-up.yaml", PACKET)
    p.repo.commit("packet and drill")
    (drill,) = (p.repo.path / "evidence" / "data" / "redis").glob("restore-drill-*.json")
    _approve(p, drill.relative_to(p.repo.path).as_posix(), "3")
    p.repo.commit("approval")
    p.repo.git("checkout", "-q", "main")
    p.repo.git("checkout", "-q", "-b", "a-shadow")
    p.repo.write("packets/zzz.yaml", "id: redis-up\nmodules: []\n")
    p.repo.commit("a packet that claims the same id")
    p.repo.git("checkout", "-q", "main")
    assert not (p.repo.path / "packets").exists() and not drill.exists()
    b2 = p.backup()

    code, doc = p.prune("--keep-last", "1", "--yes")
    assert code == 0, doc
    reasons = _reasons(doc, b1)
    assert "live approval evidence/_approvals/redis-up/approval-" in reasons
    assert "(branch upgrade) of packet redis-up (through restore-drill " in reasons
    assert (
        "open packet redis-up (packets/redis-up.yaml, branch upgrade): its newest passing drill"
        in reasons
    )
    assert doc["deleted"] == [] and doc["record"] is None
    assert p.stored(b1["location"]) and p.stored(b2["location"])


def test_a_prune_record_cannot_take_a_kept_backup_and_an_unreachable_copy_is_kept(
    platform: Platform,
) -> None:
    from stategate.evidence.records.predicates import (
        PrunedBackup,
        PrunePredicate,
        RetentionRule,
        content_subject,
        statement,
    )
    from stategate.evidence.records.typed import new_id, write_record
    from stategate.operations.context import run_fields

    p = platform
    b0, b1, b2 = p.backup(), p.backup(), p.backup()
    store = p.workspace.store()
    record_sha = {
        r: __import__("hashlib").sha256((p.repo.path / r).read_bytes()).hexdigest()
        for r in (b1["record"], b2["record"])
    }

    def prune_record(entry: dict[str, str], location: str) -> None:
        now = datetime.now(UTC)
        pred = PrunePredicate(
            **run_fields(new_id(now), now, "pass", None, None),
            rule=RetentionRule(keep_last=1),
            pruned=[
                PrunedBackup(
                    module=MODULE,
                    backup_id=entry["id"],
                    backup_record=entry["record"],
                    backup_record_sha256=record_sha[entry["record"]],
                    location=location,
                    repositories=["offsite", "here"],
                )
            ],
        )
        write_record(store, statement([content_subject("x", [])], pred), p.workspace.key)

    # signed with the evidence key: names b1's record, but b2's location
    prune_record(b1, b2["location"])
    # and one that names the newest backup itself, b2
    prune_record(b2, b2["location"])
    code, doc = p.prune("--keep-last", "1", "--yes")
    assert code == 0, doc
    notes = " | ".join(doc["notes"])  # type: ignore[arg-type]
    assert f"names {b1['record']} at {b2['location']}, which no backup record here matches" in notes
    assert f"pruned backup {b2['id']} of {MODULE}, but now it is kept" in notes
    assert doc["leftovers_removed"] == []
    assert p.stored(b2["location"]) and (p.workspace.artifacts / b2["location"]).is_dir()

    # a repository dropped from the policy: what is stored there is kept, and prune works
    policy = p.repo.path / "stategate.yaml"
    text = policy.read_text()
    policy.write_text(
        text.replace("    - {name: here, type: local}\n", "").replace(
            "[offsite, here]", "[offsite]"
        )
    )
    p.repo.commit("the local repository is retired")
    b3 = p.backup()
    (p.workspace.artifacts / b3["location"]).mkdir(parents=True, exist_ok=True)
    code, doc = p.prune("--keep-last", "1", "--yes")
    assert code == 0, doc
    assert "stored in here, which the policy no longer names: prune cannot reach it there" in (
        _reasons(doc, b0)
    )
    assert p.stored(b0["location"])
    assert "repository here is no longer in the policy: not checked" in doc["notes"]  # type: ignore[operator]


def test_a_rehearsal_never_picks_a_pruned_backup(platform: Platform) -> None:
    p = platform
    p.backup()
    p.sg("restore-drill", MODULE)
    p.backup()
    code, doc = p.prune("--keep-last", "1", "--yes")  # no packet open: the drilled one goes
    assert code == 0 and len(doc["deleted"]) == 2, doc  # type: ignore[arg-type]
    p.repo.write("packets/redis-up.yaml", PACKET)
    done = p.sg("rehearse", MODULE, "--packet", "packets/redis-up.yaml", ok=False)
    assert done.returncode == 2
    assert "no passing restore drill of data/redis (of a backup not pruned)" in done.stderr


def test_object_lock_extends_a_retention_keeping_its_mode_and_never_shortens_it(
    offsite: S3Access,
) -> None:
    from stategate.repository.s3 import S3Store

    client = client_for(offsite)
    now = datetime.now(UTC).replace(microsecond=0)
    client.put_object(
        Bucket=BUCKET,
        Key="lock-test/data/m/b1/part.age",
        Body=b"x",
        ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=now + timedelta(hours=1),
    )
    client.put_object(Bucket=BUCKET, Key="lock-test/data/m/b1/other.age", Body=b"y")
    store = S3Store(client, BUCKET, "lock-test", "test")
    assert store.retain("data/m/b1", now + timedelta(hours=2)) is True

    def retention(key: str) -> dict[str, object]:
        got = client.get_object_retention(Bucket=BUCKET, Key=f"lock-test/data/m/b1/{key}")
        return dict(got["Retention"])

    assert retention("part.age") == {
        "Mode": "COMPLIANCE",
        "RetainUntilDate": now + timedelta(hours=2),
    }
    assert retention("other.age")["Mode"] == "GOVERNANCE"  # the default without a bucket rule
    store.retain("data/m/b1", now + timedelta(minutes=30))  # never shortened
    assert retention("part.age")["RetainUntilDate"] == now + timedelta(hours=2)
    client.create_bucket(Bucket="plain-bucket")
    assert S3Store(client, "plain-bucket", "p", "test").retain("data/m/b1", now) is False
