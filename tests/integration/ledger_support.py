"""A real platform repo (git) with trusted keys, three signed records and an artifact."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from stategate.evidence.layout import RepoLayout
from stategate.evidence.store import EvidenceStore
from stategate.evidence.testing import statement, trust_entry, write_trust_file
from stategate.evidence.trust.keys import SigningKey
from stategate.evidence.trust.trustfile import Role
from stategate.execute import run

NOW = datetime.now(UTC).replace(microsecond=0)
SINCE = NOW - timedelta(days=30)

BACKUP = "evidence/app/postgres/backup-20260501T120000Z-aaaaaa.json"
DRILL = "evidence/app/postgres/restore-drill-20260501T121000Z-bbbbbb.json"
SMOKE = "evidence/app/postgres/smoke-20260501T122000Z-cccccc.json"
RECORDS = (BACKUP, DRILL, SMOKE)
ARTIFACT = "app/postgres/20260501T120000Z-aaaaaa/db/app.dump"


def git(repo: Path, *args: str) -> str:
    return run(["git", "-C", str(repo), *args]).text()


@dataclass
class Platform:
    layout: RepoLayout
    artifacts: Path
    evidence_key: SigningKey
    other_evidence_key: SigningKey
    operator_key: SigningKey

    @property
    def root(self) -> Path:
        return self.layout.root

    def store(self) -> EvidenceStore:
        return EvidenceStore.open(self.layout)

    def ledger_lines(self) -> list[bytes]:
        return self.layout.path(self.layout.ledger).read_bytes().splitlines(keepends=True)

    def write_ledger(self, lines: list[bytes]) -> None:
        self.layout.path(self.layout.ledger).write_bytes(b"".join(lines))

    def commit(self, message: str = "evidence") -> None:
        git(self.root, "add", "-A")
        git(self.root, "commit", "-q", "-m", message)


def make_platform(tmp_path: Path) -> Platform:
    root = tmp_path / "platform"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "test@example.invalid")
    git(root, "config", "user.name", "test")
    layout = RepoLayout(root)
    evidence_key, other, operator = (SigningKey.generate() for _ in range(3))
    write_trust_file(
        layout,
        [
            trust_entry(evidence_key, Role.EVIDENCE, "ci-host", valid_after=SINCE),
            trust_entry(other, Role.EVIDENCE, "other-host", valid_after=SINCE),
            trust_entry(operator, Role.OPERATOR, "alice", valid_after=SINCE),
        ],
    )
    artifacts = tmp_path / "artifacts"
    (artifacts / ARTIFACT).parent.mkdir(parents=True)
    (artifacts / ARTIFACT).write_bytes(b"PGDMP pretend custom-format dump\n" * 100)
    dump_sha = hashlib.sha256((artifacts / ARTIFACT).read_bytes()).hexdigest()
    platform = Platform(layout, artifacts, evidence_key, other, operator)
    store = platform.store()
    store.write_signed(
        BACKUP,
        statement(
            "backup",
            subject_name=ARTIFACT,
            subject_sha256=dump_sha,
            predicate={"module": "app/postgres"},
        ),
        evidence_key,
        Role.EVIDENCE,
        signed_at=NOW - timedelta(hours=3),
    )
    store.write_signed(
        DRILL,
        statement(
            "restore-drill",
            subject_name=ARTIFACT,
            subject_sha256=dump_sha,
            predicate={"result": "passed"},
        ),
        evidence_key,
        Role.EVIDENCE,
        signed_at=NOW - timedelta(hours=2),
    )
    store.write_signed(
        SMOKE,
        statement("smoke", subject_name="app/postgres", predicate={"result": "passed"}),
        evidence_key,
        Role.EVIDENCE,
        signed_at=NOW - timedelta(hours=1),
    )
    (root / "README.md").write_text("platform\n")
    platform.commit("initial evidence")
    return platform
