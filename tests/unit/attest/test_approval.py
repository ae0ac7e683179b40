from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from stategate.evidence.approvals.approval import (
    ApprovalExpectation,
    ApprovalReason,
    ApprovalRequest,
    EvidenceRef,
    ImageBinding,
    ModuleApproval,
    PacketRef,
    approval_window,
    image_digest,
    sign_approval,
    verify_approval,
)
from stategate.evidence.signing.canonical import canonical_json
from stategate.evidence.signing.dsse import Envelope
from stategate.evidence.signing.sign import sign_statement
from stategate.evidence.testing import sign_as, statement, trust_entry, trust_roots
from stategate.evidence.trust.keys import SigningKey
from stategate.evidence.trust.trustfile import Role, TrustRoots
from stategate.policy.load import policy_digest
from stategate.policy.schema import Freshness, Policy

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
A, B, C = ("sha256:" + c * 64 for c in "abc")
BACKUP_SHA, DRILL_SHA = "1" * 64, "2" * 64
POLICY = policy_digest(Policy())


def module(name: str = "app/postgres", frm: str | None = A, to: str = B) -> ModuleApproval:
    return ModuleApproval.model_validate(
        {
            "module": name,
            "from": None if frm is None else {"image": f"postgres@{frm}", "digest": frm},
            "to": {"image": f"postgres@{to}", "digest": to},
        }
    )


REQUEST = ApprovalRequest(
    packet=PacketRef(id="pg-16-3", path="packets/pg-16-3.yaml", sha256="9" * 64),
    modules=(module(),),
    evidence=(
        EvidenceRef(path="evidence/backups/pg.json", sha256=BACKUP_SHA),
        EvidenceRef(path="evidence/drills/pg.json", sha256=DRILL_SHA),
    ),
    policy_digest=POLICY,
)

EXPECTED = ApprovalExpectation(
    packet_id="pg-16-3",
    packet_sha256="9" * 64,
    modules=(module(),),
    evidence={"evidence/backups/pg.json": BACKUP_SHA, "evidence/drills/pg.json": DRILL_SHA},
    policy_digest=POLICY,
    max_age_hours=72,
)


@pytest.fixture
def approval(operator_key: SigningKey) -> Envelope:
    return sign_approval(REQUEST, operator_key, now=T0, hours=24, max_age_hours=72)


def reasons(
    env: Envelope, trust: TrustRoots, expected: ApprovalExpectation = EXPECTED, now: datetime = T0
) -> list[ApprovalReason]:
    return [i.reason for i in verify_approval(env, trust, expected, now).issues]


def test_valid_approval(approval: Envelope, trust: TrustRoots) -> None:
    check = verify_approval(approval, trust, EXPECTED, T0 + timedelta(hours=1))
    assert check.valid, check.issues
    assert check.approval is not None and check.signer is not None
    assert check.signer.name == "alice"
    assert check.approval.approver == check.signer.keyid
    assert check.approval.expires == "2026-05-02T12:00:00Z"
    assert [m.to.digest for m in check.approval.modules] == [B]


def test_approval_binds_everything_it_claims(approval: Envelope) -> None:
    payload = json.loads(approval.payload)
    assert payload["predicateType"] == "https://stategate.dev/approval/v1"
    assert payload["subject"] == [{"name": "packets/pg-16-3.yaml", "digest": {"sha256": "9" * 64}}]
    pred = payload["predicate"]
    assert pred["packet"]["id"] == "pg-16-3"
    assert pred["modules"][0]["from"]["digest"] == A
    assert [e["path"] for e in pred["evidence"]] == [
        "evidence/backups/pg.json",
        "evidence/drills/pg.json",
    ]
    assert pred["policy_digest"] == POLICY
    assert pred["signer"]["role"] == "operator"


def test_approval_for_other_digests(approval: Envelope, trust: TrustRoots) -> None:
    other_target = replace(EXPECTED, modules=(module(to=C),))
    assert reasons(approval, trust, other_target) == [ApprovalReason.DIGESTS_CHANGED]
    other_base = replace(EXPECTED, modules=(module(frm=C),))
    assert reasons(approval, trust, other_base) == [ApprovalReason.DIGESTS_CHANGED]
    extra_module = replace(EXPECTED, modules=(module(), module("app/redis")))
    assert reasons(approval, trust, extra_module) == [ApprovalReason.DIGESTS_CHANGED]


def test_approval_for_another_packet(approval: Envelope, trust: TrustRoots) -> None:
    edited = replace(EXPECTED, packet_sha256="8" * 64)
    assert reasons(approval, trust, edited) == [ApprovalReason.PACKET_CHANGED]
    other = replace(EXPECTED, packet_id="redis-7-2")
    assert reasons(approval, trust, other) == [ApprovalReason.PACKET_CHANGED]


def test_approval_after_evidence_changed(approval: Envelope, trust: TrustRoots) -> None:
    changed = replace(
        EXPECTED,
        evidence={"evidence/backups/pg.json": "3" * 64, "evidence/drills/pg.json": DRILL_SHA},
    )
    assert reasons(approval, trust, changed) == [ApprovalReason.EVIDENCE_CHANGED]
    gone = replace(EXPECTED, evidence={"evidence/backups/pg.json": BACKUP_SHA})
    assert reasons(approval, trust, gone) == [ApprovalReason.EVIDENCE_MISSING]


def test_gate_relying_on_unapproved_evidence(approval: Envelope, trust: TrustRoots) -> None:
    newer = replace(EXPECTED, required_evidence=("evidence/drills/pg-newer.json",))
    assert reasons(approval, trust, newer) == [ApprovalReason.EVIDENCE_NOT_APPROVED]


def test_policy_changed(approval: Envelope, trust: TrustRoots) -> None:
    stricter = policy_digest(Policy(freshness=Freshness(backup_max_age_hours=12)))
    assert stricter != POLICY
    assert reasons(approval, trust, replace(EXPECTED, policy_digest=stricter)) == [
        ApprovalReason.POLICY_CHANGED
    ]


def test_expired_approval(approval: Envelope, trust: TrustRoots) -> None:
    assert reasons(approval, trust, now=T0 + timedelta(hours=23, minutes=59)) == []
    assert reasons(approval, trust, now=T0 + timedelta(hours=24)) == [ApprovalReason.EXPIRED]


def test_approval_longer_than_the_policy_allows(approval: Envelope, trust: TrustRoots) -> None:
    tightened = replace(EXPECTED, max_age_hours=12)
    assert reasons(approval, trust, tightened) == [ApprovalReason.TOO_LONG]


def test_window_is_capped_by_the_policy() -> None:
    created, expires = approval_window(T0, 500, 72)
    assert expires - created == timedelta(hours=72)
    assert approval_window(T0, None, 48)[1] == T0 + timedelta(hours=48)
    with pytest.raises(ValueError, match="positive number of hours"):
        approval_window(T0, 0, 72)


def test_approval_signed_by_an_evidence_key(evidence_key: SigningKey, trust: TrustRoots) -> None:
    env = sign_approval(REQUEST, evidence_key, now=T0, hours=24, max_age_hours=72)
    assert reasons(env, trust) == [ApprovalReason.NOT_OPERATOR]


def test_approval_by_revoked_or_expired_operator_key(
    approval: Envelope, operator_key: SigningKey
) -> None:
    revoked = trust_roots([trust_entry(operator_key, Role.OPERATOR, "alice", revoked=True)])
    assert reasons(approval, revoked) == [ApprovalReason.KEY_REVOKED]
    expired = trust_roots(
        [trust_entry(operator_key, Role.OPERATOR, "alice", valid_before=T0 - timedelta(days=1))]
    )
    assert reasons(approval, expired) == [ApprovalReason.KEY_EXPIRED]


def test_forged_approval(approval: Envelope, trust: TrustRoots) -> None:
    doc = json.loads(approval.payload)
    doc["predicate"]["expires"] = "2027-01-01T00:00:00Z"
    forged = Envelope(approval.payload_type, canonical_json(doc), approval.signatures)
    assert ApprovalReason.FORGED_SIGNATURE in reasons(forged, trust)
    check = verify_approval(forged, trust, EXPECTED, T0)
    assert not check.valid


def test_approval_by_unknown_key(stranger_key: SigningKey, trust: TrustRoots) -> None:
    env = sign_approval(REQUEST, stranger_key, now=T0, hours=24, max_age_hours=72)
    assert reasons(env, trust) == [ApprovalReason.UNKNOWN_KEY]


def test_a_backup_record_is_not_an_approval(evidence_key: SigningKey, trust: TrustRoots) -> None:
    env = sign_statement(statement("backup"), evidence_key, Role.EVIDENCE, signed_at=T0)
    assert reasons(env, trust) == [ApprovalReason.NOT_AN_APPROVAL]


def test_malformed_approval_predicate(operator_key: SigningKey, trust: TrustRoots) -> None:
    env = sign_as(
        statement("approval", predicate={"packet": "pg"}),
        operator_key,
        Role.OPERATOR,
        signed_at=T0,
    )
    assert reasons(env, trust) == [ApprovalReason.MALFORMED]


def test_approval_in_the_future(approval: Envelope, trust: TrustRoots) -> None:
    got = reasons(approval, trust, now=T0 - timedelta(hours=1))
    assert ApprovalReason.NOT_YET_VALID in got


def test_image_digest() -> None:
    assert image_digest("postgres:16.3@" + B) == B
    assert image_digest("registry:5000/x/postgres@" + B) == B
    assert image_digest("postgres:16.3") is None
    assert image_digest("postgres@sha256:abc") is None


def test_module_binding_rejects_a_bad_digest() -> None:
    with pytest.raises(ValueError, match="must be sha256:<64 hex digits>"):
        ImageBinding(image="x", digest="sha256:xyz")


def test_approval_binds_the_modules_runtime_configuration(
    operator_key: SigningKey, trust: TrustRoots
) -> None:
    bound = module().model_copy(update={"config": "5" * 64})
    request = replace(REQUEST, modules=(bound,))
    env = sign_approval(request, operator_key, now=T0, hours=24, max_age_hours=72)
    same = replace(EXPECTED, modules=(bound,))
    assert reasons(env, trust, same) == []
    changed = replace(EXPECTED, modules=(bound.model_copy(update={"config": "6" * 64}),))
    assert reasons(env, trust, changed) == [ApprovalReason.CONFIG_CHANGED]
    # an approval that bound no configuration does not cover a configured module
    unbound = sign_approval(REQUEST, operator_key, now=T0, hours=24, max_age_hours=72)
    assert reasons(unbound, trust, same) == [ApprovalReason.CONFIG_CHANGED]
