"""What a verifier is told when a key may not sign: the exact problem, with its times.

test_signing.py shows each state is refused; these pin the words, which carry the
key, who holds it and the moments that decide (written against surviving mutants).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from stategate.evidence.findings import FindingCode, Problem
from stategate.evidence.signing.canonical import canonical_json
from stategate.evidence.signing.dsse import IN_TOTO_PAYLOAD_TYPE, Envelope, sign_payload
from stategate.evidence.signing.sign import check_envelope, sign_statement
from stategate.evidence.testing import sign_as, statement, trust_entry, trust_roots
from stategate.evidence.trust.keys import SigningKey
from stategate.evidence.trust.trustfile import Role

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
BEFORE = datetime(2026, 4, 1, tzinfo=UTC)
AFTER = datetime(2026, 6, 1, tzinfo=UTC)


def problems(
    key: SigningKey,
    *,
    valid_after: datetime | None = None,
    valid_before: datetime | None = None,
    revoked: bool | datetime = False,
) -> list[Problem]:
    entry = trust_entry(
        key,
        Role.EVIDENCE,
        "ci-host",
        valid_after=valid_after,
        valid_before=valid_before,
        revoked=revoked,
    )
    trust = trust_roots([entry])
    env = sign_statement(statement("backup"), key, Role.EVIDENCE, signed_at=T0)
    return list(check_envelope(env, trust, now=T0).problems)


def test_revoked_as_of_a_time(evidence_key: SigningKey) -> None:
    assert problems(evidence_key, revoked=BEFORE) == [
        Problem(
            FindingCode.KEY_REVOKED,
            f"key {evidence_key.keyid} (ci-host) is revoked as of 2026-04-01T00:00:00Z "
            "(signed 2026-05-01T12:00:00Z)",
        )
    ]


def test_revoked_for_good(evidence_key: SigningKey) -> None:
    assert problems(evidence_key, revoked=True) == [
        Problem(
            FindingCode.KEY_REVOKED,
            f"key {evidence_key.keyid} (ci-host) is revoked (signed 2026-05-01T12:00:00Z)",
        )
    ]


def test_expired_names_the_expiry(evidence_key: SigningKey) -> None:
    assert problems(evidence_key, valid_before=BEFORE) == [
        Problem(
            FindingCode.KEY_EXPIRED,
            f"key {evidence_key.keyid} (ci-host) expired at 2026-04-01T00:00:00Z, "
            "before signing time 2026-05-01T12:00:00Z",
        )
    ]


def test_not_yet_valid_names_the_start(evidence_key: SigningKey) -> None:
    assert problems(evidence_key, valid_after=AFTER) == [
        Problem(
            FindingCode.KEY_NOT_YET_VALID,
            f"key {evidence_key.keyid} (ci-host) is valid only from 2026-06-01T00:00:00Z, "
            "signed 2026-05-01T12:00:00Z",
        )
    ]


def test_key_trusted_for_the_other_role(evidence_key: SigningKey) -> None:
    trust = trust_roots([trust_entry(evidence_key, Role.EVIDENCE, "ci-host")])
    env = sign_as(statement("approval"), evidence_key, Role.OPERATOR, signed_at=T0)
    assert list(check_envelope(env, trust, now=T0).problems) == [
        Problem(
            FindingCode.WRONG_ROLE,
            f"key {evidence_key.keyid} (ci-host) is trusted for evidence, not operator",
        )
    ]


def test_signed_a_little_ahead_of_the_clock_is_accepted(evidence_key: SigningKey) -> None:
    trust = trust_roots([trust_entry(evidence_key, Role.EVIDENCE, "ci-host")])
    ahead = T0 + timedelta(minutes=5)  # exactly the allowed skew
    env = sign_statement(statement("backup"), evidence_key, Role.EVIDENCE, signed_at=ahead)
    assert check_envelope(env, trust, now=T0).ok


def test_other_payload_type_is_named(evidence_key: SigningKey) -> None:
    trust = trust_roots([trust_entry(evidence_key, Role.EVIDENCE, "ci-host")])
    env = sign_payload("text/plain", b"{}", evidence_key)
    assert list(check_envelope(env, trust, now=T0).problems) == [
        Problem(
            FindingCode.RECORD_MALFORMED,
            f"payloadType is 'text/plain', not {IN_TOTO_PAYLOAD_TYPE}",
        )
    ]


def in_toto(payload: bytes, key: SigningKey) -> Envelope:
    return sign_payload(IN_TOTO_PAYLOAD_TYPE, payload, key)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"{", "payload is not valid JSON: "),
        (b'{"a": 1}', "payload is not canonical JSON"),
        (b"[]", "payload is not a JSON object"),
    ],
)
def test_undecodable_payloads(evidence_key: SigningKey, payload: bytes, message: str) -> None:
    check = check_envelope(in_toto(payload, evidence_key), trust_roots([]), now=T0)
    (problem,) = check.problems
    assert problem.code is FindingCode.RECORD_MALFORMED
    assert problem.message.startswith(message)
    assert message.endswith(": ") or problem.message == message


def test_malformed_signer_binding(evidence_key: SigningKey) -> None:
    raw = statement("backup", predicate={"signer": "me"})
    check = check_envelope(in_toto(canonical_json(raw), evidence_key), trust_roots([]), now=T0)
    assert list(check.problems) == [
        Problem(FindingCode.RECORD_MALFORMED, "predicate.signer is malformed")
    ]


def test_refusals_keep_the_statement_and_claim(
    evidence_key: SigningKey, stranger_key: SigningKey
) -> None:
    trust = trust_roots([trust_entry(evidence_key, Role.EVIDENCE, "ci-host")])
    env = sign_statement(statement("backup"), evidence_key, Role.EVIDENCE, signed_at=T0)
    doubled = Envelope(env.payload_type, env.payload, env.signatures * 2)
    stranger = sign_statement(statement("backup"), stranger_key, Role.EVIDENCE, signed_at=T0)
    forged = sign_as(
        statement("backup"),
        stranger_key,
        Role.EVIDENCE,
        signed_at=T0,
        claimed_keyid=evidence_key.keyid,
    )
    expected = {
        doubled: "expected exactly one signature, found 2",
        stranger: f"signed by key {stranger_key.keyid}, which trust/allowed_signers.yaml "
        "does not list",
        forged: f"signature does not verify with key {evidence_key.keyid} (ci-host): "
        "forged or altered",
    }
    for envelope, message in expected.items():
        check = check_envelope(envelope, trust, now=T0)
        assert [p.message for p in check.problems] == [message]
        assert check.statement is not None and check.statement.kind == "backup"
        assert check.claim is not None and check.claim.signed_time == T0
        assert check.signer is None and not check.ok


def test_record_kind_needs_its_role(evidence_key: SigningKey) -> None:
    trust = trust_roots(
        [
            trust_entry(evidence_key, Role.EVIDENCE, "ci-host"),
            trust_entry(evidence_key, Role.OPERATOR, "ci-host as operator"),
        ]
    )
    env = sign_as(statement("backup"), evidence_key, Role.OPERATOR, signed_at=T0)
    check = check_envelope(env, trust, now=T0)
    assert list(check.problems) == [
        Problem(
            FindingCode.WRONG_ROLE,
            "a backup record needs role evidence, but was signed as operator",
        )
    ]
    # the signer is named by the trust entry for the role it signed in, not the first one
    assert check.signer is not None and check.signer.name == "ci-host as operator"


def test_signed_too_far_ahead_of_the_clock(evidence_key: SigningKey) -> None:
    trust = trust_roots([trust_entry(evidence_key, Role.EVIDENCE, "ci-host")])
    ahead = T0 + timedelta(minutes=5, seconds=1)
    env = sign_statement(statement("backup"), evidence_key, Role.EVIDENCE, signed_at=ahead)
    check = check_envelope(env, trust, now=T0)
    assert list(check.problems) == [
        Problem(FindingCode.SIGNED_IN_FUTURE, "signing time 2026-05-01T12:05:01Z is in the future")
    ]


def test_a_good_record_carries_its_claim(evidence_key: SigningKey) -> None:
    trust = trust_roots([trust_entry(evidence_key, Role.EVIDENCE, "ci-host")])
    env = sign_statement(statement("backup"), evidence_key, Role.EVIDENCE, signed_at=T0)
    check = check_envelope(env, trust, now=T0)
    assert check.ok
    assert check.claim is not None
    assert (check.claim.keyid, check.claim.role) == (evidence_key.keyid, Role.EVIDENCE)
