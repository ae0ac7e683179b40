"""Attacks on the apply gate, on a real signed chain built by the CLI.

One demo run (real PostgreSQL, Redis and S3 servers, real keys, backups, drills,
smoke runs, a DR drill, a packet and an operator approval) gives a platform repo
whose apply check says ``approved``. Every test copies it, attacks it the way a
pull request author (or a stolen checkout) could, and runs the real CLI: the
verdict must never be ``approved`` or ``ready_for_operator``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from stategate.commands.demo import PACKET_ID
from stategate.evidence.approvals.packet import read_packet
from stategate.evidence.approvals.store import approve_packet
from stategate.evidence.layout import RepoLayout
from stategate.evidence.store import EvidenceStore
from stategate.evidence.trust.keys import SigningKey, load_signing_key
from stategate.evidence.trust.trustfile import Role, add_trusted_key, trust_entry
from stategate.policy.load import load_policy
from stategate.source import WorkTree
from tests.conftest import installed_cli

pytestmark = pytest.mark.integration

PACKET = f"packets/{PACKET_ID}.yaml"
BRANCH = "upgrade/postgres-16.6"
TRUST = "trust/allowed_signers.yaml"
REDIS_OLD = (
    "redis:7.2.5-alpine@sha256:9b09359c0f75e53b0a02347d05b2de7513c763a85500ebeeb80091d3774a7c7e"
)
REDIS_NEW = "redis:7.2.6-alpine@sha256:" + "7e" * 32


@dataclass
class Chain:
    """A copy of the demo's platform repo, keys and artifacts."""

    root: Path

    @property
    def repo(self) -> Path:
        return self.root / "platform"

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    @property
    def keys(self) -> Path:
        return self.root / "keys"

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            k: v for k, v in os.environ.items() if not k.startswith("STATEGATE_") and k != "GIT_DIR"
        }
        env.update(
            STATEGATE_KEYS=str(self.keys), STATEGATE_ARTIFACTS=str(self.artifacts), COLUMNS="200"
        )
        env.update(extra)
        return env

    def sg(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [installed_cli(), *args],
            cwd=self.repo,
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=120,
        )

    def apply(self, *extra: str, **env: str) -> dict[str, object]:
        done = self.sg(
            "check", "--base", "main", "--stage", "apply", "--format", "json", *extra, **env
        )
        assert done.returncode in (0, 1, 3), done.stderr
        doc: dict[str, object] = json.loads(done.stdout)
        assert doc["verdict"] in ("approved", "blocked", "stop")
        expected = {"approved": 0, "blocked": 1, "stop": 3}[str(doc["verdict"])]
        assert done.returncode == expected
        return doc

    def git(self, *args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(self.repo), *args],
            capture_output=True,
            text=True,
            check=True,
            env=self.env(
                GIT_AUTHOR_NAME="t",
                GIT_AUTHOR_EMAIL="t@example.test",
                GIT_COMMITTER_NAME="t",
                GIT_COMMITTER_EMAIL="t@example.test",
            ),
        )
        return done.stdout

    def commit(self, message: str) -> None:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)

    def operator_key(self) -> SigningKey:
        return load_signing_key(next(self.keys.glob("operator-*.key")))

    def self_approve(self, key: SigningKey) -> None:
        """What a PR author can do with the library: sign an approval with their own key,
        trusted by the work tree's trust file (which they control)."""
        repo = self.repo
        layout = RepoLayout(repo)
        store = EvidenceStore.open(layout)
        relied = [
            str(p.relative_to(repo))
            for p in sorted((repo / "evidence").rglob("*.json"))
            if "_approvals" not in p.parts
        ]
        approve_packet(
            store,
            read_packet(layout, repo / PACKET),
            key,
            policy=load_policy(WorkTree(repo)).policy,
            evidence_paths=relied,
        )


def _unmet(doc: dict[str, object]) -> dict[str, str]:
    reqs = doc["requirements"]
    assert isinstance(reqs, list)
    return {
        f"{r['id']} {r.get('module') or ''}".strip(): r["hint"]
        for r in reqs
        if r["status"] != "met"
    }


def _stops(doc: dict[str, object]) -> list[str]:
    stops = doc["stops"]
    assert isinstance(stops, list)
    return [s["condition"] for s in stops]


def test_the_honest_chain_is_approved(chain: Chain) -> None:
    doc = chain.apply()
    assert doc["verdict"] == "approved", _unmet(doc)
    met = {r["id"]: r["hint"] for r in doc["requirements"]}  # type: ignore[union-attr]
    assert "sha256 match" in met["apply/artifacts-verified"]


def test_a_pr_that_adds_its_own_key_and_approves_itself_is_a_stop(chain: Chain) -> None:
    chain.git("reset", "-q", "--hard", "HEAD~1")  # the PR before the operator's approval
    mallory = SigningKey.generate()
    # the PR author adds a key of their own, lists the trust file in the packet's allowed
    # paths, and signs an approval with that key
    packet = chain.repo / PACKET
    packet.write_text(packet.read_text() + f"  - {TRUST}\n")
    add_trusted_key(chain.repo / TRUST, trust_entry(mallory, Role.OPERATOR, "mallory"))
    chain.self_approve(mallory)
    chain.commit("self-approved")
    doc = chain.apply()
    assert doc["verdict"] == "stop"
    assert "trust-root-change" in _stops(doc)
    stop = next(s for s in doc["stops"] if s["condition"] == "trust-root-change")  # type: ignore[union-attr]
    assert stop["file"] == TRUST
    # and the self-signed approval does not count either: the base does not know mallory
    assert "apply/operator-approval platform/postgres" in _unmet(doc)
    # the merge stage stops it too: such a change is merged on its own, by an operator
    merge = chain.sg("check", "--base", "main", "--format", "json")
    assert merge.returncode == 3 and json.loads(merge.stdout)["verdict"] == "stop"


def test_a_pr_that_repoints_the_trust_file_is_a_stop(chain: Chain) -> None:
    mallory = SigningKey.generate()
    (chain.repo / "evil").mkdir()
    shutil.copy(chain.repo / TRUST, chain.repo / "evil" / "trust.yaml")
    add_trusted_key(chain.repo / "evil" / "trust.yaml", trust_entry(mallory, Role.OPERATOR, "m"))
    policy = chain.repo / "stategate.yaml"
    text = policy.read_text()
    assert "trust_file" not in text
    policy.write_text(text.replace("evidence:\n", "evidence:\n  trust_file: evil/trust.yaml\n", 1))
    chain.commit("evil trust")
    doc = chain.apply()
    assert doc["verdict"] == "stop"
    files = {s["file"]: s["message"] for s in doc["stops"] if s["condition"] == "trust-root-change"}  # type: ignore[union-attr]
    assert "evidence.trust_file" in files["stategate.yaml"]
    assert "evil/trust.yaml" in files  # the new trust file is a trust input too


def test_a_longer_approval_lifetime_in_the_pr_is_a_stop(chain: Chain) -> None:
    policy = chain.repo / "stategate.yaml"
    policy.write_text(policy.read_text() + "freshness:\n  approval_max_age_hours: 100000\n")
    chain.commit("longer approvals")
    doc = chain.apply()
    assert doc["verdict"] == "stop"
    assert "trust-root-change" in _stops(doc)


def test_a_key_revoked_on_main_after_the_branch_was_cut_no_longer_approves(chain: Chain) -> None:
    chain.git("checkout", "-q", "main")
    trust = chain.repo / TRUST
    keyid = chain.operator_key().keyid
    lines = trust.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if keyid in line)
    block_end = next(
        (i for i in range(at + 1, len(lines)) if lines[i].startswith("  - ")), len(lines)
    )
    revoked = next(i for i in range(at, block_end) if "revoked:" in lines[i])
    lines[revoked] = lines[revoked].split("revoked:")[0] + "revoked: true"
    trust.write_text("\n".join(lines) + "\n")
    chain.commit("revoke the operator key (leaked)")
    chain.git("checkout", "-q", BRANCH)  # not rebased: its merge base predates the revocation
    for extra in ((), ("--base", "main")):
        done = chain.sg("check", "--stage", "apply", "--format", "json", *extra)
        doc = json.loads(done.stdout)
        # an explicit --base main judges the PR from its merge base (the branch does not
        # "undo" main's later revocation) and takes trust from main itself: revoked
        assert doc["verdict"] == "blocked", extra
        assert "revoked" in _unmet(doc)["apply/operator-approval platform/postgres"]


def test_a_flipped_byte_in_a_relied_artifact_blocks(chain: Chain) -> None:
    # the stored (age-encrypted) dump: the gate hashes it without the key
    dump = max((chain.artifacts).rglob("*.zst.age"), key=lambda p: p.stat().st_size)
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0x01
    dump.write_bytes(bytes(data))
    doc = chain.apply()
    assert doc["verdict"] == "blocked"
    hint = _unmet(doc)["apply/artifacts-verified"]
    assert "failed" in hint and "sha256 differs" in hint


def test_a_truncated_artifact_blocks(chain: Chain) -> None:
    # the stored (age-encrypted) dump: the gate hashes it without the key
    dump = max((chain.artifacts).rglob("*.zst.age"), key=lambda p: p.stat().st_size)
    with dump.open("r+b") as handle:
        handle.truncate(dump.stat().st_size - 1)
    doc = chain.apply()
    assert doc["verdict"] == "blocked"
    assert "size" in _unmet(doc)["apply/artifacts-verified"]


def test_unreachable_artifacts_cannot_be_approved(chain: Chain, tmp_path: Path) -> None:
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    doc = chain.apply(STATEGATE_ARTIFACTS=str(empty))
    assert doc["verdict"] == "blocked"
    assert "unreachable" in _unmet(doc)["apply/artifacts-verified"]


def test_head_is_read_from_git_not_the_work_tree(chain: Chain) -> None:
    before_approval = chain.git("rev-parse", "HEAD~1").strip()
    # the work tree holds the approval; the revision judged does not
    doc = chain.apply("--head", before_approval)
    assert doc["verdict"] == "blocked"
    assert (
        "no operator approval recorded" in _unmet(doc)["apply/operator-approval platform/postgres"]
    )
    # and the reverse: an approved head judged from a work tree where main is checked out
    chain.git("checkout", "-q", "main")
    doc = chain.apply("--head", BRANCH)
    assert doc["verdict"] == "approved", _unmet(doc)


def test_an_uncommitted_forged_approval_in_the_work_tree_does_not_count(chain: Chain) -> None:
    chain.git("reset", "-q", "--hard", "HEAD~1")  # before the approval
    chain.self_approve(chain.operator_key())  # a real operator key, but never committed
    doc = chain.apply()
    assert doc["verdict"] == "blocked"


def test_an_approval_covers_only_its_own_packets_modules(chain: Chain) -> None:
    compose = chain.repo / "compose" / "redis.yml"
    compose.write_text(compose.read_text().replace(REDIS_OLD, REDIS_NEW))
    (chain.repo / "packets" / "w8-redis.yaml").write_text(
        "id: w8-redis\nmodules:\n  - module: platform/redis\n"
        f"    from: {REDIS_OLD}\n    to: {REDIS_NEW}\n"
        f"    rollback: {{to: '{REDIS_OLD}', needs_restore: false}}\n"
        "allowed_paths: [compose/redis.yml, packets/w8-redis.yaml]\n"
    )
    chain.commit("redis too, riding on the postgres approval")
    doc = chain.apply()
    assert doc["verdict"] in ("blocked", "stop")
    unmet = _unmet(doc)
    assert (
        "no operator approval names platform/redis"
        in unmet["apply/operator-approval platform/redis"]
    )


def test_an_edited_approval_record_does_not_count(chain: Chain) -> None:
    record = next((chain.repo / "evidence" / "_approvals").rglob("*.json"))
    doc = json.loads(record.read_text())
    doc["signatures"][0]["sig"] = doc["signatures"][0]["sig"][::-1]
    record.write_text(json.dumps(doc))
    chain.commit("tamper")
    assert chain.apply()["verdict"] == "blocked"


def test_an_operator_trust_file_inside_the_repo_is_refused(chain: Chain) -> None:
    done = chain.sg("check", "--base", "main", "--stage", "apply", "--trust", TRUST)
    assert done.returncode == 2
    assert "outside the repository" in done.stderr and "Traceback" not in done.stderr


def test_an_operator_trust_file_outside_the_repo_replaces_the_base(chain: Chain) -> None:
    outside = chain.root / "operator-trust.yaml"
    shutil.copy(chain.repo / TRUST, outside)
    assert chain.apply(STATEGATE_TRUST_FILE=str(outside))["verdict"] == "approved"
    # the operator's file lacks the operator key: nothing approves, whatever the repo says
    other = SigningKey.generate()
    lonely = chain.root / "lonely.yaml"
    add_trusted_key(lonely, trust_entry(other, Role.OPERATOR, "someone-else"))
    doc = chain.apply("--trust", str(lonely))
    assert doc["verdict"] == "blocked"
