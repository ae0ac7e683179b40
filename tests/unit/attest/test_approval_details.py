"""Operator approvals: the exact issue (reason and words) for each way an approval
fails to count, the edges of its validity window, and where it is written.

The messages are what ``stategate apply`` shows the operator next to the reason
(``apply_inputs``), so each is pinned here; written against the survivors of the
mutation run of ``evidence/approvals/approval.py`` (docs/mutation.md).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from stategate.evidence.approvals.approval import (
    ApprovalExpectation,
    ApprovalIssue,
    ApprovalReason,
    ApprovalRequest,
    EvidenceRef,
    PacketRef,
    approval_record_path,
    approval_statement,
    approval_window,
    sign_approval,
    verify_approval,
)
from stategate.evidence.signing.dsse import Envelope
from stategate.evidence.signing.sign import CLOCK_SKEW, sign_statement
from stategate.evidence.testing import sign_as, statement
from stategate.evidence.trust.keys import SigningKey
from stategate.evidence.trust.trustfile import Role, TrustRoots
from tests.unit.attest.test_approval import EXPECTED, REQUEST, module

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
B, C, D = ("sha256:" + c * 64 for c in "bcd")
BACKUP, DRILL = "evidence/backups/pg.json", "evidence/drills/pg.json"


def signed(
    key: SigningKey,
    *,
    request: ApprovalRequest = REQUEST,
    approver: str | None = None,
    created: datetime = T0,
    expires: datetime = T0 + timedelta(hours=24),
    signed_at: datetime | None = None,
) -> Envelope:
    """An approval with any window and approver, signed as the operator."""
    stmt = approval_statement(request, approver or key.keyid, created, expires)
    return sign_statement(stmt, key, Role.OPERATOR, signed_at=signed_at or created)


def issues(
    env: Envelope,
    trust: TrustRoots,
    expected: ApprovalExpectation = EXPECTED,
    now: datetime = T0,
) -> list[ApprovalIssue]:
    return list(verify_approval(env, trust, expected, now).issues)


# --- the envelope -------------------------------------------------------------


def test_an_envelope_that_does_not_decode_is_malformed_with_the_reason(
    trust: TrustRoots,
) -> None:
    garbage = Envelope("application/vnd.in-toto+json", b"not json", ())
    check = verify_approval(garbage, trust, EXPECTED, T0)
    assert check.issues == (
        ApprovalIssue(
            ApprovalReason.MALFORMED,
            "payload is not valid JSON: Expecting value: line 1 column 1 (char 0)",
        ),
    )
    assert check.approval is None and check.signer is None
    assert not check.valid


def test_a_signature_problem_keeps_the_signature_checks_words(
    stranger_key: SigningKey, trust: TrustRoots
) -> None:
    env = sign_approval(REQUEST, stranger_key, now=T0, hours=24, max_age_hours=72)
    assert issues(env, trust) == [
        ApprovalIssue(
            ApprovalReason.UNKNOWN_KEY,
            f"signed by key {stranger_key.keyid}, which trust/allowed_signers.yaml does not list",
        )
    ]


def test_the_signing_time_is_judged_at_the_given_now_not_the_clock(
    operator_key: SigningKey, trust: TrustRoots
) -> None:
    # signed at T0 (long past by the wall clock), checked as if it were an hour earlier:
    # the signature check and the window both say it is in the future
    env = sign_approval(REQUEST, operator_key, now=T0, hours=24, max_age_hours=72)
    assert issues(env, trust, now=T0 - timedelta(hours=1)) == [
        ApprovalIssue(
            ApprovalReason.NOT_YET_VALID, "signing time 2026-05-01T12:00:00Z is in the future"
        ),
        ApprovalIssue(
            ApprovalReason.NOT_YET_VALID, "created 2026-05-01T12:00:00Z is in the future"
        ),
    ]


def test_a_record_of_another_kind_is_not_an_approval_but_names_its_signer(
    evidence_key: SigningKey, trust: TrustRoots
) -> None:
    env = sign_statement(statement("backup"), evidence_key, Role.EVIDENCE, signed_at=T0)
    check = verify_approval(env, trust, EXPECTED, T0)
    assert check.issues == (
        ApprovalIssue(
            ApprovalReason.NOT_AN_APPROVAL,
            "predicate type is https://stategate.dev/backup/v1, "
            "not https://stategate.dev/approval/v1",
        ),
    )
    assert check.approval is None
    assert check.signer is not None and check.signer.name == "ci-host"


def test_a_malformed_predicate_names_the_error_and_its_signer(
    operator_key: SigningKey, trust: TrustRoots
) -> None:
    env = sign_as(
        statement("approval", predicate={"packet": "pg"}),
        operator_key,
        Role.OPERATOR,
        signed_at=T0,
    )
    check = verify_approval(env, trust, EXPECTED, T0)
    assert check.issues == (
        ApprovalIssue(
            ApprovalReason.MALFORMED,
            "approval predicate is malformed: 6 validation errors for Approval",
        ),
    )
    assert check.signer is not None and check.signer.name == "alice"


@pytest.mark.parametrize("which", ["approver", "created", "both"])
def test_the_approval_must_name_the_key_and_time_it_was_signed_with(
    operator_key: SigningKey, trust: TrustRoots, which: str
) -> None:
    env = signed(
        operator_key,
        approver="SHA256:someone-else" if which != "created" else None,
        signed_at=T0 + timedelta(minutes=1) if which != "approver" else None,
    )
    assert issues(env, trust, now=T0 + timedelta(hours=1)) == [
        ApprovalIssue(
            ApprovalReason.MALFORMED, "approver or created differ from the signature binding"
        )
    ]


# --- the validity window --------------------------------------------------------


def test_created_exactly_at_the_clock_skew_is_not_in_the_future(
    operator_key: SigningKey, trust: TrustRoots
) -> None:
    env = signed(operator_key)
    assert issues(env, trust, now=T0 - CLOCK_SKEW) == []
    assert issues(env, trust, now=T0 - CLOCK_SKEW - timedelta(seconds=1)) == [
        ApprovalIssue(
            ApprovalReason.NOT_YET_VALID, "signing time 2026-05-01T12:00:00Z is in the future"
        ),
        ApprovalIssue(
            ApprovalReason.NOT_YET_VALID, "created 2026-05-01T12:00:00Z is in the future"
        ),
    ]


def test_an_expired_approval_says_when_it_expired(
    operator_key: SigningKey, trust: TrustRoots
) -> None:
    env = signed(operator_key)
    assert issues(env, trust, now=T0 + timedelta(hours=25)) == [
        ApprovalIssue(ApprovalReason.EXPIRED, "expired at 2026-05-02T12:00:00Z")
    ]


def test_a_window_over_the_policy_maximum_says_by_how_much(
    operator_key: SigningKey, trust: TrustRoots
) -> None:
    env = signed(operator_key)
    tightened = replace(EXPECTED, max_age_hours=12)
    assert issues(env, trust, tightened, T0 + timedelta(hours=1)) == [
        ApprovalIssue(ApprovalReason.TOO_LONG, "valid for 24 h, the policy allows at most 12 h")
    ]


def test_the_window_may_exceed_the_maximum_by_one_second_only(
    operator_key: SigningKey, trust: TrustRoots
) -> None:
    day = replace(EXPECTED, max_age_hours=24)
    one = signed(operator_key, expires=T0 + timedelta(hours=24, seconds=1))
    assert issues(one, trust, day, T0 + timedelta(hours=1)) == []
    two = signed(operator_key, expires=T0 + timedelta(hours=24, seconds=2))
    assert [i.reason for i in issues(two, trust, day, T0 + timedelta(hours=1))] == [
        ApprovalReason.TOO_LONG
    ]


def test_a_window_shorter_than_an_hour_is_allowed() -> None:
    assert approval_window(T0, 0.5, 72) == (T0, T0 + timedelta(minutes=30))
    assert approval_window(T0, 1, 72) == (T0, T0 + timedelta(hours=1))
    with pytest.raises(
        ValueError, match=r"^an approval must be valid for a positive number of hours$"
    ):
        approval_window(T0, -1, 72)


# --- what the approval binds -----------------------------------------------------


def test_another_packet_or_an_edited_one_is_named_in_the_issue(
    operator_key: SigningKey, trust: TrustRoots
) -> None:
    env = signed(operator_key)
    now = T0 + timedelta(hours=1)
    other = replace(EXPECTED, packet_id="redis-7-2")
    assert issues(env, trust, other, now) == [
        ApprovalIssue(ApprovalReason.PACKET_CHANGED, "approves packet pg-16-3, not redis-7-2")
    ]
    edited = replace(EXPECTED, packet_sha256="8" * 64)
    assert issues(env, trust, edited, now) == [
        ApprovalIssue(
            ApprovalReason.PACKET_CHANGED,
            "packet packets/pg-16-3.yaml changed since it was approved (sha256 differs)",
        )
    ]


def test_a_changed_policy_and_changed_evidence_are_each_named(
    operator_key: SigningKey, trust: TrustRoots
) -> None:
    env = signed(operator_key)
    changed = replace(
        EXPECTED,
        policy_digest="sha256:" + "0" * 64,
        evidence={DRILL: "3" * 64},  # the backup is gone, the drill changed
        required_evidence=(DRILL, "evidence/smoke/pg.json"),
    )
    assert issues(env, trust, changed, T0 + timedelta(hours=1)) == [
        ApprovalIssue(ApprovalReason.POLICY_CHANGED, "the policy changed since the approval"),
        ApprovalIssue(ApprovalReason.EVIDENCE_MISSING, f"approved evidence {BACKUP} is gone"),
        ApprovalIssue(
            ApprovalReason.EVIDENCE_CHANGED, f"approved evidence {DRILL} changed since the approval"
        ),
        ApprovalIssue(
            ApprovalReason.EVIDENCE_NOT_APPROVED,
            "evidence evidence/smoke/pg.json was not part of the approval",
        ),
    ]


def test_module_differences_are_each_named(operator_key: SigningKey, trust: TrustRoots) -> None:
    request = replace(
        REQUEST,
        modules=(
            module("app/postgres").model_copy(update={"config": "5" * 64}),
            module("app/redis"),
        ),
    )
    env = signed(operator_key, request=request)
    current = replace(
        EXPECTED,
        modules=(
            module("app/postgres", frm=C, to=D).model_copy(update={"config": "6" * 64}),
            module("app/minio"),
        ),
    )
    a = "sha256:" + "a" * 64
    assert issues(env, trust, current, T0 + timedelta(hours=1)) == [
        ApprovalIssue(
            ApprovalReason.DIGESTS_CHANGED, "module app/minio is not covered by the approval"
        ),
        ApprovalIssue(
            ApprovalReason.DIGESTS_CHANGED,
            "approval covers module app/redis, which the packet no longer changes",
        ),
        ApprovalIssue(
            ApprovalReason.DIGESTS_CHANGED, f"module app/postgres: approved from {a}, now from {C}"
        ),
        ApprovalIssue(
            ApprovalReason.DIGESTS_CHANGED, f"module app/postgres: approved to {B}, now to {D}"
        ),
        ApprovalIssue(
            ApprovalReason.CONFIG_CHANGED,
            "module app/postgres: its runtime configuration is not the one approved",
        ),
    ]


def test_the_statement_lists_modules_in_name_order() -> None:
    request = replace(REQUEST, modules=(module("app/redis"), module("app/postgres")))
    stmt = approval_statement(request, "SHA256:k", T0, T0 + timedelta(hours=1))
    assert [m["module"] for m in stmt.predicate["modules"]] == ["app/postgres", "app/redis"]


def test_an_unsafe_packet_id_is_refused_with_the_rule() -> None:
    request = replace(
        REQUEST, packet=PacketRef(id="../pg", path="packets/pg.yaml", sha256="9" * 64)
    )
    with pytest.raises(
        ValueError, match=r"^packet id '\.\./pg' must be letters, digits, '\.', '_' or '-'$"
    ):
        approval_statement(request, "SHA256:k", T0, T0 + timedelta(hours=1))


def test_a_bound_file_digest_must_be_64_lowercase_hex_digits() -> None:
    with pytest.raises(ValidationError, match=r"Value error, must be 64 lowercase hex digits \["):
        EvidenceRef(path=BACKUP, sha256="A" * 64)


# --- where it is written -----------------------------------------------------------


def test_the_record_path_carries_the_packet_the_time_and_the_key() -> None:
    created = datetime(2026, 5, 1, 9, 8, 7, tzinfo=UTC)
    keyid = "SHA256:ab+cd/ef1234567890XYZ"
    assert approval_record_path("evidence", "pg-16-3", created, keyid) == (
        "evidence/_approvals/pg-16-3/approval-20260501T090807Z-abcdef1234.json"
    )
