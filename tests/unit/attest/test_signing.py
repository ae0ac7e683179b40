from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from stategate.evidence.findings import FindingCode
from stategate.evidence.signing.canonical import canonical_json, parse_json
from stategate.evidence.signing.dsse import Envelope, Signature, parse_envelope, sign_payload
from stategate.evidence.signing.sign import check_envelope, sign_statement
from stategate.evidence.testing import sign_as, statement, trust_entry, trust_roots
from stategate.evidence.trust.keys import SigningKey
from stategate.evidence.trust.trustfile import Role, TrustRoots

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def codes(envelope: Envelope, trust: TrustRoots) -> list[FindingCode]:
    return [p.code for p in check_envelope(envelope, trust, now=T0).problems]


def test_valid_signature(evidence_key: SigningKey, trust: TrustRoots) -> None:
    env = sign_statement(statement("backup"), evidence_key, Role.EVIDENCE, signed_at=T0)
    check = check_envelope(env, trust, now=T0)
    assert check.ok, check.problems
    assert check.signer is not None
    assert (check.signer.name, check.signer.role, check.signer.signed_at) == (
        "ci-host",
        Role.EVIDENCE,
        T0,
    )
    assert check.statement is not None and check.statement.kind == "backup"


def test_signing_is_deterministic_over_canonical_json(evidence_key: SigningKey) -> None:
    a = statement("backup", predicate={"b": 1, "a": [1, 2]})
    b = json.loads(json.dumps(a, indent=4))  # same content, another serialisation
    one = sign_statement(a, evidence_key, Role.EVIDENCE, signed_at=T0)
    two = sign_statement(b, evidence_key, Role.EVIDENCE, signed_at=T0)
    assert one.to_json() == two.to_json()
    assert canonical_json(parse_json(one.payload)) == one.payload


def test_role_and_key_are_bound_into_the_payload(evidence_key: SigningKey) -> None:
    env = sign_statement(statement("smoke"), evidence_key, Role.EVIDENCE, signed_at=T0)
    signer = json.loads(env.payload)["predicate"]["signer"]
    assert signer == {
        "keyid": evidence_key.keyid,
        "role": "evidence",
        "signed_at": "2026-05-01T12:00:00Z",
    }


def test_forged_payload_does_not_verify(evidence_key: SigningKey, trust: TrustRoots) -> None:
    env = sign_statement(statement("backup"), evidence_key, Role.EVIDENCE, signed_at=T0)
    doc = json.loads(env.payload)
    doc["predicate"]["status"] = "passed"  # an attacker improves the record
    forged = Envelope(env.payload_type, canonical_json(doc), env.signatures)
    assert codes(forged, trust) == [FindingCode.BAD_SIGNATURE]


def test_signature_by_an_untrusted_key_claiming_a_trusted_id(
    evidence_key: SigningKey, stranger_key: SigningKey, trust: TrustRoots
) -> None:
    env = sign_as(
        statement("backup"),
        stranger_key,
        Role.EVIDENCE,
        signed_at=T0,
        claimed_keyid=evidence_key.keyid,
    )
    assert codes(env, trust) == [FindingCode.BAD_SIGNATURE]


def test_unknown_key(stranger_key: SigningKey, trust: TrustRoots) -> None:
    env = sign_statement(statement("backup"), stranger_key, Role.EVIDENCE, signed_at=T0)
    assert codes(env, trust) == [FindingCode.UNKNOWN_KEY]


def test_approval_signed_by_an_evidence_key_is_wrong_role(
    evidence_key: SigningKey, trust: TrustRoots
) -> None:
    # the evidence key claims the operator role: it is not trusted for it
    claimed_operator = sign_statement(
        statement("approval"), evidence_key, Role.OPERATOR, signed_at=T0
    )
    assert codes(claimed_operator, trust) == [FindingCode.WRONG_ROLE]
    # or it signs in its own role: an approval needs operator
    own_role = sign_as(statement("approval"), evidence_key, Role.EVIDENCE, signed_at=T0)
    assert codes(own_role, trust) == [FindingCode.WRONG_ROLE]


def test_evidence_signed_by_an_operator_key_is_wrong_role(
    operator_key: SigningKey, trust: TrustRoots
) -> None:
    env = sign_statement(statement("backup"), operator_key, Role.EVIDENCE, signed_at=T0)
    check = check_envelope(env, trust, now=T0)
    assert [p.code for p in check.problems] == [FindingCode.WRONG_ROLE]
    assert "trusted for operator, not evidence" in check.problems[0].message


def test_a_key_in_both_roles_cannot_replay_a_record_under_the_other(
    evidence_key: SigningKey,
) -> None:
    both = trust_roots(
        [
            trust_entry(evidence_key, Role.EVIDENCE, "ci"),
            trust_entry(evidence_key, Role.OPERATOR, "ci-operator"),
        ]
    )
    env = sign_statement(statement("backup"), evidence_key, Role.EVIDENCE, signed_at=T0)
    assert codes(env, both) == []
    doc = json.loads(env.payload)
    doc["predicate"]["signer"]["role"] = "operator"
    replayed = Envelope(env.payload_type, canonical_json(doc), env.signatures)
    assert codes(replayed, both) == [FindingCode.BAD_SIGNATURE]


def test_expired_key_at_signing_time(evidence_key: SigningKey) -> None:
    trust = trust_roots([trust_entry(evidence_key, Role.EVIDENCE, "ci", valid_before=T0)])
    late = sign_statement(statement("backup"), evidence_key, Role.EVIDENCE, signed_at=T0)
    early = sign_statement(
        statement("backup"), evidence_key, Role.EVIDENCE, signed_at=T0 - timedelta(hours=1)
    )
    assert codes(late, trust) == [FindingCode.KEY_EXPIRED]
    # signed while the key was valid: still counts after expiry
    assert check_envelope(early, trust, now=T0 + timedelta(days=300)).ok


def test_revoked_key(evidence_key: SigningKey) -> None:
    env = sign_statement(statement("backup"), evidence_key, Role.EVIDENCE, signed_at=T0)
    leaked = trust_roots([trust_entry(evidence_key, Role.EVIDENCE, "ci", revoked=True)])
    retired_after = trust_roots(
        [trust_entry(evidence_key, Role.EVIDENCE, "ci", revoked=T0 + timedelta(days=1))]
    )
    retired_before = trust_roots(
        [trust_entry(evidence_key, Role.EVIDENCE, "ci", revoked=T0 - timedelta(days=1))]
    )
    assert codes(env, leaked) == [FindingCode.KEY_REVOKED]
    assert codes(env, retired_after) == []
    assert codes(env, retired_before) == [FindingCode.KEY_REVOKED]


def test_key_not_yet_valid(evidence_key: SigningKey) -> None:
    trust = trust_roots([trust_entry(evidence_key, Role.EVIDENCE, "ci", valid_after=T0)])
    env = sign_statement(
        statement("backup"), evidence_key, Role.EVIDENCE, signed_at=T0 - timedelta(days=1)
    )
    assert codes(env, trust) == [FindingCode.KEY_NOT_YET_VALID]


def test_signing_time_in_the_future(evidence_key: SigningKey, trust: TrustRoots) -> None:
    env = sign_statement(
        statement("backup"), evidence_key, Role.EVIDENCE, signed_at=T0 + timedelta(hours=1)
    )
    assert codes(env, trust) == [FindingCode.SIGNED_IN_FUTURE]


def test_non_canonical_payload_is_malformed(evidence_key: SigningKey, trust: TrustRoots) -> None:
    env = sign_statement(statement("backup"), evidence_key, Role.EVIDENCE, signed_at=T0)
    pretty = json.dumps(json.loads(env.payload), indent=2).encode()
    resigned = sign_payload(env.payload_type, pretty, evidence_key)
    assert codes(resigned, trust) == [FindingCode.RECORD_MALFORMED]


def test_two_signatures_are_refused(evidence_key: SigningKey, trust: TrustRoots) -> None:
    env = sign_statement(statement("backup"), evidence_key, Role.EVIDENCE, signed_at=T0)
    doubled = Envelope(env.payload_type, env.payload, env.signatures * 2)
    assert codes(doubled, trust) == [FindingCode.RECORD_MALFORMED]


def test_dsse_keyid_hint_is_not_trusted(
    evidence_key: SigningKey, operator_key: SigningKey, trust: TrustRoots
) -> None:
    env = sign_statement(statement("backup"), evidence_key, Role.EVIDENCE, signed_at=T0)
    hinted = Envelope(
        env.payload_type, env.payload, (Signature(operator_key.keyid, env.signatures[0].sig),)
    )
    check = check_envelope(hinted, trust, now=T0)
    assert check.ok and check.signer is not None
    assert check.signer.keyid == evidence_key.keyid


def test_statement_without_signer_binding_is_malformed(
    evidence_key: SigningKey, trust: TrustRoots
) -> None:
    env = sign_payload(
        "application/vnd.in-toto+json", canonical_json(statement("backup")), evidence_key
    )
    check = check_envelope(env, trust, now=T0)
    assert [p.code for p in check.problems] == [FindingCode.RECORD_MALFORMED]
    assert "signer is missing" in check.problems[0].message


def test_sign_statement_guards(evidence_key: SigningKey, operator_key: SigningKey) -> None:
    with pytest.raises(ValueError, match="reserved"):
        sign_statement(statement("backup", predicate={"signer": {}}), evidence_key, Role.EVIDENCE)
    with pytest.raises(ValueError, match="role operator"):
        sign_statement(statement("approval"), evidence_key, Role.EVIDENCE)
    with pytest.raises(ValueError, match="invalid in-toto statement"):
        sign_statement({"subject": []}, operator_key, Role.OPERATOR)


def test_envelope_json_is_a_standard_dsse_envelope(evidence_key: SigningKey) -> None:
    env = sign_statement(statement("backup"), evidence_key, Role.EVIDENCE, signed_at=T0)
    doc = json.loads(env.to_json())
    assert set(doc) == {"payloadType", "payload", "signatures"}
    assert doc["payloadType"] == "application/vnd.in-toto+json"
    assert doc["signatures"][0]["keyid"] == evidence_key.keyid
    payload = json.loads(base64.b64decode(doc["payload"]))
    assert payload["_type"] == "https://in-toto.io/Statement/v1"
    assert parse_envelope(env.to_json()) == env


def test_statement_that_is_not_plain_json_is_refused(evidence_key: SigningKey) -> None:
    with pytest.raises(ValueError, match="not plain JSON"):
        sign_statement(statement("backup", predicate={"at": T0}), evidence_key, Role.EVIDENCE)
