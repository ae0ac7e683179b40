"""The trust layer through the CLI: keys init -> sign -> approve -> evidence verify."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from stategate.cli import main
from stategate.evidence.approvals.approval import ApprovalExpectation, ApprovalReason
from stategate.evidence.approvals.packet import read_packet
from stategate.evidence.approvals.store import check_approval
from stategate.evidence.layout import RepoLayout
from stategate.evidence.store import EvidenceStore
from stategate.evidence.testing import statement
from stategate.evidence.trust.keys import load_signing_key
from stategate.evidence.trust.trustfile import Role, load_trust
from stategate.workspace import open_policy
from tests.integration.ledger_support import BACKUP, DRILL, git, make_platform

pytestmark = pytest.mark.integration

FROM = "sha256:" + "a" * 64
TO = "sha256:" + "b" * 64


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(done.value.code or 0), out, err


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "platform"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    monkeypatch.setenv("STATEGATE_KEYS", str(tmp_path / "keys"))
    monkeypatch.delenv("STATEGATE_ARTIFACTS", raising=False)
    return root


def commit_trust(repo: Path) -> None:
    """Trust roots count once they are on the base branch (approvals are judged from there)."""
    ident = ("-c", "user.email=t@example.test", "-c", "user.name=t")
    git(repo, *ident, "add", "-A")
    git(repo, *ident, "commit", "-qm", "trust roots")


def write_packet(repo: Path, to: str = TO) -> Path:
    path = repo / "packets" / "pg-16-3.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(
        "id: pg-16-3\n"
        "modules:\n"
        "  - module: app/postgres\n"
        f"    from: postgres:16.2@{FROM}\n"
        f"    to: postgres:16.3@{to}\n"
    )
    return path


def test_keys_init_sign_approve_verify_round_trip(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = tmp_path / "keys"
    code, out, _ = cli(
        capsys, "keys", "init", "--role", "evidence", "--name", "ci", "--repo", str(repo)
    )
    assert code == 0, out
    code, out, _ = cli(
        capsys,
        "keys",
        "init",
        "--role",
        "operator",
        "--name",
        "alice",
        "--repo",
        str(repo),
        "--expires",
        "30",
    )
    assert code == 0
    assert "SHA256:" in out and "trust/allowed_signers.yaml" in out
    private = keys / "operator-alice.key"
    assert private.stat().st_mode & 0o777 == 0o600
    trust = load_trust(repo / "trust/allowed_signers.yaml")
    assert [(k.name, k.role) for k in trust.keys] == [
        ("ci", Role.EVIDENCE),
        ("alice", Role.OPERATOR),
    ]
    assert trust.keys[1].valid_before is not None
    commit_trust(repo)

    # an evidence producer signs with the CLI-made key
    store = EvidenceStore.open(RepoLayout(repo))
    store.write_signed(
        BACKUP, statement("backup"), load_signing_key(keys / "evidence-ci.key"), Role.EVIDENCE
    )

    packet = write_packet(repo)
    code, out, err = cli(
        capsys,
        "approve",
        str(packet),
        "--role",
        "operator",
        "--repo",
        str(repo),
        "--evidence",
        BACKUP,
        "--expires",
        "8",
    )
    assert code == 0, err
    assert "approved packet pg-16-3" in out and f"{FROM} -> {TO}" in out

    code, out, _ = cli(capsys, "evidence", "verify", "--repo", str(repo))
    assert code == 0, out
    assert out.startswith("ok: 2 ledgered records")
    code, out, _ = cli(capsys, "evidence", "verify", "--repo", str(repo), "--format", "json")
    doc = json.loads(out)
    assert (doc["schema"], doc["ok"], doc["records"], doc["findings"]) == (
        "stategate.evidence-verify/v1",
        True,
        2,
        [],
    )

    # the gate's view of the approval: valid now, invalid once its evidence changes
    approval_rel = next(p for p in store.chain().by_path() if p.startswith("evidence/_approvals/"))
    facts = read_packet(RepoLayout(repo), packet)
    expected = ApprovalExpectation(
        packet_id=facts.id,
        packet_sha256=facts.sha256,
        modules=facts.modules,
        evidence={},
        policy_digest=open_policy(repo)[0].digest,
        max_age_hours=72,
    )
    assert check_approval(EvidenceStore.open(RepoLayout(repo)), approval_rel, expected).valid
    backup = repo / BACKUP
    backup.write_bytes(backup.read_bytes() + b" ")
    check = check_approval(EvidenceStore.open(RepoLayout(repo)), approval_rel, expected)
    assert [i.reason for i in check.issues] == [ApprovalReason.EVIDENCE_CHANGED]

    code, out, _ = cli(capsys, "evidence", "verify", "--repo", str(repo))
    assert code == 1
    assert f"{BACKUP}: record-edited:" in out

    # nothing printed ever contains private key material
    secret_body = "".join(private.read_text().splitlines()[1:-1])
    assert secret_body[:24] not in out + err


def test_approval_for_other_digests_via_cli(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cli(capsys, "keys", "init", "--role", "operator", "--name", "alice", "--repo", str(repo))
    commit_trust(repo)
    packet = write_packet(repo)
    code, _, err = cli(capsys, "approve", str(packet), "--role", "operator", "--repo", str(repo))
    assert code == 0, err
    store = EvidenceStore.open(RepoLayout(repo))
    (approval_rel,) = store.chain().by_path()
    write_packet(repo, to="sha256:" + "c" * 64)  # the PR moved on to another image
    facts = read_packet(RepoLayout(repo), packet)
    check = check_approval(
        store,
        approval_rel,
        ApprovalExpectation(
            packet_id=facts.id,
            packet_sha256=facts.sha256,
            modules=facts.modules,
            evidence={},
            policy_digest=open_policy(repo)[0].digest,
            max_age_hours=72,
        ),
    )
    assert {i.reason for i in check.issues} == {
        ApprovalReason.PACKET_CHANGED,
        ApprovalReason.DIGESTS_CHANGED,
    }


def test_approve_refuses_an_evidence_key(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli(capsys, "keys", "init", "--role", "evidence", "--name", "ci", "--repo", str(repo))
    commit_trust(repo)
    packet = write_packet(repo)
    code, _, err = cli(
        capsys,
        "approve",
        str(packet),
        "--role",
        "operator",
        "--repo",
        str(repo),
        "--key",
        str(tmp_path / "keys" / "evidence-ci.key"),
    )
    assert code == 1
    assert "trusted for evidence, not operator" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (repo / "evidence").exists()


def test_approve_refuses_a_floating_tag(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cli(capsys, "keys", "init", "--role", "operator", "--name", "alice", "--repo", str(repo))
    commit_trust(repo)
    packet = repo / "packets" / "p.yaml"
    packet.parent.mkdir()
    packet.write_text("id: p\nmodules:\n  app/redis: {from: 'redis:7.0', to: 'redis:7.2'}\n")
    code, _, err = cli(capsys, "approve", str(packet), "--role", "operator", "--repo", str(repo))
    assert code == 2
    assert err.startswith("stategate: error: packets/p.yaml: module app/redis: 'from' image")
    assert "not pinned by digest" in err


def test_approve_refuses_unverified_evidence(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli(capsys, "keys", "init", "--role", "operator", "--name", "alice", "--repo", str(repo))
    commit_trust(repo)
    packet = write_packet(repo)
    (repo / "evidence").mkdir()
    (repo / "evidence" / "fake.json").write_text("{}")
    code, _, err = cli(
        capsys,
        "approve",
        str(packet),
        "--role",
        "operator",
        "--repo",
        str(repo),
        "--evidence",
        "evidence/fake.json",
    )
    assert code == 1
    assert err.startswith("stategate: error: evidence/fake.json: ")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("keys: [\n", "invalid YAML"),
        ("keys:\n  - name: x\n    role: root\n    public_key: y\n", "keys.0.role"),
    ],
)
def test_malformed_trust_file_is_one_line(
    repo: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    (repo / "trust").mkdir()
    (repo / "trust" / "allowed_signers.yaml").write_text(text)
    code, _out, err = cli(capsys, "evidence", "verify", "--repo", str(repo))
    assert code == 2
    assert err.startswith("stategate: error: trust/allowed_signers.yaml")
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_keys_init_refuses_a_key_folder_inside_the_repo(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli(
        capsys,
        "keys",
        "init",
        "--role",
        "evidence",
        "--name",
        "ci",
        "--repo",
        str(repo),
        "--key-dir",
        str(repo / "keys"),
    )
    assert code == 2
    assert "inside the repo" in err
    assert not (repo / "keys").exists()
    assert not (repo / "trust").exists()


def test_keys_init_refuses_to_overwrite(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        cli(capsys, "keys", "init", "--role", "evidence", "--name", "ci", "--repo", str(repo))[0]
        == 0
    )
    before = (tmp_path / "keys" / "evidence-ci.key").read_bytes()
    code, _, err = cli(
        capsys, "keys", "init", "--role", "evidence", "--name", "ci", "--repo", str(repo)
    )
    assert code == 2 and "already exists" in err
    assert (tmp_path / "keys" / "evidence-ci.key").read_bytes() == before
    assert len(load_trust(repo / "trust/allowed_signers.yaml").keys) == 1


def test_verify_cli_on_a_tampered_platform(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    platform = make_platform(tmp_path)
    lines = platform.ledger_lines()
    platform.write_ledger([lines[0], lines[2], lines[1]])
    (platform.root / DRILL).write_text("garbage")
    code, out, _ = cli(
        capsys,
        "evidence",
        "verify",
        "--repo",
        str(platform.root),
        "--artifacts",
        str(platform.artifacts),
        "--base",
        "HEAD",
    )
    assert code == 1
    printed = out.splitlines()
    assert "evidence/ledger.jsonl:2: entry-reordered: " in printed[0]
    assert any(line.startswith(f"{DRILL}: record-malformed: ") for line in printed)
    assert printed[-1].startswith("5 finding(s): 3 ledgered records")
    code, out, _ = cli(capsys, "evidence", "verify", "--repo", str(platform.root), "--base", "nope")
    assert code == 2


def test_verify_reads_artifacts_from_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    platform = make_platform(tmp_path)
    monkeypatch.setenv("STATEGATE_ARTIFACTS", str(platform.artifacts))
    code, out, _ = cli(capsys, "evidence", "verify", "--repo", str(platform.root))
    assert code == 0
    assert "2 artifacts checked, 1 unreachable" in out
    named = [line for line in out.splitlines() if line.startswith("unreachable in evidence/")]
    assert len(named) == 1 and named[0].count(": ") == 2
    assert os.environ["STATEGATE_ARTIFACTS"] == str(platform.artifacts)
