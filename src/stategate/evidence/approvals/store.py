"""Approvals in the platform repo: writing them, and checking one against current facts."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from stategate.errors import InputError
from stategate.evidence.approvals.approval import (
    Approval,
    ApprovalCheck,
    ApprovalExpectation,
    ApprovalIssue,
    ApprovalReason,
    ApprovalRequest,
    EvidenceRef,
    PacketRef,
    approval_record_path,
    approval_statement,
    approval_window,
    verify_approval,
)
from stategate.evidence.approvals.packet import PacketFacts
from stategate.evidence.findings import FindingCode, VerificationError
from stategate.evidence.signing.canonical import utc_now
from stategate.evidence.signing.statement import SIGNER_FIELD
from stategate.evidence.store import EvidenceStore, VerifiedRecord, parse_record, read_record_file
from stategate.evidence.trust.keys import SigningKey
from stategate.evidence.trust.trustfile import Role
from stategate.policy.load import policy_digest
from stategate.policy.schema import Policy

_LEDGER_CODES = frozenset(
    {
        FindingCode.UNLEDGERED_RECORD,
        FindingCode.RECORD_EDITED,
        FindingCode.RESIGNED,
        FindingCode.LEDGER_MALFORMED,
        FindingCode.ENTRY_EDITED,
        FindingCode.CHAIN_BROKEN,
        FindingCode.ENTRY_REMOVED,
        FindingCode.ENTRY_REORDERED,
        FindingCode.DUPLICATE_ENTRY,
    }
)


def evidence_refs(
    store: EvidenceStore, paths: Iterable[str | os.PathLike[str]]
) -> tuple[EvidenceRef, ...]:
    """Reference each record (path + sha256); every one must verify (``VerificationError``)."""
    refs: dict[str, EvidenceRef] = {}
    for path in paths:
        record = store.load_verified(path)
        refs[record.path] = EvidenceRef(path=record.path, sha256=record.sha256)
    return tuple(refs.values())


def evidence_digests(store: EvidenceStore, paths: Iterable[str]) -> dict[str, str | None]:
    """Current sha256 of each record file (None when it is gone or unreadable)."""
    result: dict[str, str | None] = {}
    for path in paths:
        try:
            result[path] = read_record_file(store.layout, store.layout.record_rel(path)).sha256
        except InputError:
            result[path] = None
    return result


def write_approval(
    store: EvidenceStore,
    request: ApprovalRequest,
    key: SigningKey,
    *,
    max_age_hours: float,
    hours: float | None = None,
    now: datetime | None = None,
) -> VerifiedRecord:
    """Sign ``request`` with an operator key and write it as a ledgered record."""
    created, expires = approval_window(now or utc_now(), hours, max_age_hours)
    try:
        statement = approval_statement(request, key.keyid, created, expires)
    except ValueError as exc:
        raise InputError(str(exc), file=request.packet.path) from exc
    rel = approval_record_path(store.layout.evidence_dir, request.packet.id, created, key.keyid)
    return store.write_signed(rel, statement, key, Role.OPERATOR, signed_at=created)


def check_approval(
    store: EvidenceStore,
    record_path: str | os.PathLike[str],
    expected: ApprovalExpectation,
    *,
    now: datetime | None = None,
) -> ApprovalCheck:
    """Check a ledgered approval record against the current facts.

    When ``expected.evidence`` is empty, the current digests of the approval's
    own evidence references are read from the repo.
    """
    moment = now or utc_now()
    rel = store.layout.record_rel(store.layout.to_rel(record_path))
    ledger_issues: list[ApprovalIssue] = []
    try:
        store.load_verified(rel)
    except VerificationError as exc:
        ledger_issues = [
            ApprovalIssue(ApprovalReason.NOT_LEDGERED, p.message)
            for p in exc.problems
            if p.code in _LEDGER_CODES
        ]
    try:
        envelope = parse_record(read_record_file(store.layout, rel))
    except (VerificationError, InputError) as exc:
        return ApprovalCheck(
            None, None, (*ledger_issues, ApprovalIssue(ApprovalReason.MALFORMED, str(exc)))
        )
    if not expected.evidence:
        first = verify_approval(envelope, store.trust, expected, moment)
        if first.approval is not None:
            paths = [ref.path for ref in first.approval.evidence]
            expected = replace(expected, evidence=evidence_digests(store, paths))
    check = verify_approval(envelope, store.trust, expected, moment)
    return replace(check, issues=(*ledger_issues, *check.issues))


@dataclass(frozen=True)
class ApprovalWritten:
    """What ``stategate approve`` wrote."""

    record: VerifiedRecord
    approval: Approval
    capped: bool  # the requested validity exceeded the policy's maximum


def approve_packet(
    store: EvidenceStore,
    packet: PacketFacts,
    key: SigningKey,
    *,
    policy: Policy,
    evidence_paths: Iterable[str | os.PathLike[str]] = (),
    hours: float | None = None,
    now: datetime | None = None,
) -> ApprovalWritten:
    """Approve ``packet`` with an operator key, bound to the evidence it relies on.

    Every evidence record must verify now; an approval of evidence that does not
    count would be worthless.
    """
    max_age = policy.freshness.approval_max_age_hours
    request = ApprovalRequest(
        packet=PacketRef(id=packet.id, path=packet.path, sha256=packet.sha256),
        modules=packet.modules,
        evidence=evidence_refs(store, evidence_paths),
        policy_digest=policy_digest(policy),
    )
    record = write_approval(store, request, key, max_age_hours=max_age, hours=hours, now=now)
    fields = {k: v for k, v in record.statement.predicate.items() if k != SIGNER_FIELD}
    return ApprovalWritten(
        record=record,
        approval=Approval.model_validate(fields),
        capped=hours is not None and hours > max_age,
    )
