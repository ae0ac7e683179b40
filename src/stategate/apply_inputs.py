"""The I/O edge of the apply stage: verified evidence facts and approval checks.

Reads the platform repo's evidence folder (records that do not verify are not
returned by the store and so do not count) and checks operator approvals with
the trust layer; :func:`stategate.policy.apply_gate.evaluate_apply` stays pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from stategate.attest import EvidenceStore
from stategate.attest.approval import ApprovalExpectation
from stategate.attest.approval_store import check_approval
from stategate.attest.inputs import layout_for, read_packet
from stategate.attest.layout import APPROVALS_SCOPE
from stategate.evidence.record import DrDrillPredicate, DrillPredicate, SmokePredicate
from stategate.evidence.store import StoredRecord, list_records
from stategate.packet import LoadedPacket
from stategate.policy.apply_gate import ApprovalChecker, ApprovalResult, EvidenceFact
from stategate.policy.load import policy_digest
from stategate.policy.schema import Policy


def evidence_facts(repo: Path, policy: Policy) -> list[EvidenceFact]:
    store = EvidenceStore.open(layout_for(repo, policy))
    return [_fact(record) for record in list_records(store)]


def _fact(record: StoredRecord) -> EvidenceFact:
    pred = record.statement.predicate
    if isinstance(pred, DrDrillPredicate):
        return EvidenceFact(
            path=record.rel,
            sha256=record.sha256,
            kind=pred.kind,
            module=None,
            result=pred.result,
            finished=pred.finished,
            covers=tuple(m.module for m in pred.modules if m.result == "pass"),
        )
    backup_id: str | None = None
    backup_record: str | None = None
    match: bool | None = None
    engine: str | None = None
    server_version = pred.source.server_version
    target: str | None = None
    check_kinds: tuple[str, ...] = ()
    if pred.kind == "backup":
        backup_id = pred.backup_id
    elif isinstance(pred, DrillPredicate):
        backup_id, backup_record = pred.backup_id, pred.backup_record
        match = pred.fingerprint.match if pred.fingerprint else None
        engine = pred.engine.name
        # the version the drill ran on: the sandbox's, not the source's
        server_version = (pred.sandbox.server_version if pred.sandbox else None) or (
            pred.engine.version
        )
    elif isinstance(pred, SmokePredicate):
        target, check_kinds = pred.target, tuple(c.kind for c in pred.checks)
    return EvidenceFact(
        path=record.rel,
        sha256=record.sha256,
        kind=pred.kind,
        module=pred.module,
        result=pred.result,
        finished=pred.finished,
        image_digest=pred.source.image_digest,
        backup_id=backup_id,
        backup_record=backup_record,
        target=target,
        fingerprint_match=match,
        check_kinds=check_kinds,
        engine=engine,
        server_version=server_version,
    )


def approval_checker(
    repo: Path, policy: Policy, packets: Sequence[LoadedPacket], now: datetime
) -> ApprovalChecker:
    """Checks every approval recorded for the PR's packets against the current facts."""

    def check(relied: Sequence[str]) -> list[ApprovalResult]:
        layout = layout_for(repo, policy)
        store = EvidenceStore.open(layout, now=now)
        results: list[ApprovalResult] = []
        for loaded in packets:
            folder = repo / policy.evidence.dir / APPROVALS_SCOPE / loaded.packet.id
            if not folder.is_dir():
                continue
            facts = read_packet(layout, repo / loaded.path)
            expected = ApprovalExpectation(
                packet_id=facts.id,
                packet_sha256=facts.sha256,
                modules=facts.modules,
                evidence={},
                policy_digest=policy_digest(policy),
                max_age_hours=policy.freshness.approval_max_age_hours,
                required_evidence=tuple(relied),
            )
            for path in sorted(folder.glob("*.json")):
                result = check_approval(store, path, expected, now=now)
                rel = path.relative_to(repo).as_posix()
                issues = tuple(f"{i.reason.value}: {i.message}" for i in result.issues)
                results.append(ApprovalResult(rel, result.valid, issues))
        return results

    return check
