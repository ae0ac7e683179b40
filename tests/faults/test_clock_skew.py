"""Clock skew between the host that signs evidence and the one that checks it.

Decided behaviour (tolerance: ``CLOCK_SKEW``, 5 minutes, in signing, approvals
and freshness alike):

- a record signed up to 5 min "in the future" of the checker counts; beyond
  that it does not count until the checker's clock catches up (never forever);
- an approval created beyond the tolerance in the future is not yet valid;
  one whose expiry the checker's clock has passed is expired, whatever the
  signer's clock said;
- evidence whose finish time lies beyond the tolerance in the checker's future
  is not fresh (blocked); a signer whose clock is behind makes its evidence look
  older, which can only block earlier, never approve longer.

Time is controlled (``now`` is passed explicitly), never raced.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from stategate.evidence.approvals.approval import ApprovalReason, sign_approval, verify_approval
from stategate.evidence.findings import FindingCode, VerificationError
from stategate.evidence.signing.sign import CLOCK_SKEW
from stategate.evidence.store import EvidenceStore
from stategate.evidence.testing import statement, trust_entry, trust_roots
from stategate.evidence.trust.keys import SigningKey
from stategate.evidence.trust.trustfile import Role, TrustRoots
from stategate.policy.apply_gate import evaluate_apply
from tests.integration.ledger_support import NOW, make_platform
from tests.unit.attest.test_approval import EXPECTED, REQUEST, T0
from tests.unit.policy.test_apply_gate import NOW as GATE_NOW
from tests.unit.policy.test_apply_gate import _evidence, _facts, _pr

AHEAD_OK = CLOCK_SKEW - timedelta(minutes=1)
AHEAD_TOO_FAR = CLOCK_SKEW + timedelta(minutes=5)


@pytest.mark.parametrize("ahead", [AHEAD_OK, AHEAD_TOO_FAR])
def test_record_signed_ahead_of_the_checker(tmp_path: Path, ahead: timedelta) -> None:
    platform = make_platform(tmp_path)
    signer_now = NOW + ahead
    signer = EvidenceStore.open(platform.layout, now=signer_now)  # its own clock
    rel = "evidence/smoke/skewed/0.json"
    signer.write_signed(
        rel, statement("smoke"), platform.evidence_key, Role.EVIDENCE, signed_at=signer_now
    )
    checker = EvidenceStore.open(platform.layout, now=NOW)
    if ahead <= CLOCK_SKEW:
        checker.load_verified(rel)
    else:
        with pytest.raises(VerificationError) as caught:
            checker.load_verified(rel)
        assert [p.code for p in caught.value.problems] == [FindingCode.SIGNED_IN_FUTURE]
        # it counts once the checker's clock is within the tolerance
        EvidenceStore.open(platform.layout, now=signer_now - CLOCK_SKEW).load_verified(rel)


def test_approval_created_ahead_of_the_checker(
    operator_key_and_trust: tuple[SigningKey, TrustRoots],
) -> None:
    key, trust = operator_key_and_trust
    env = sign_approval(REQUEST, key, now=T0, hours=24, max_age_hours=72)
    assert verify_approval(env, trust, EXPECTED, T0 - AHEAD_OK).valid
    late = verify_approval(env, trust, EXPECTED, T0 - AHEAD_TOO_FAR)
    assert ApprovalReason.NOT_YET_VALID in [i.reason for i in late.issues]
    # a checker whose clock runs a day ahead sees it expired: fail closed
    expired = verify_approval(env, trust, EXPECTED, T0 + timedelta(hours=24))
    assert ApprovalReason.EXPIRED in [i.reason for i in expired.issues]


@pytest.fixture
def operator_key_and_trust() -> tuple[SigningKey, TrustRoots]:
    key = SigningKey.generate()
    trust = trust_roots(
        [trust_entry(key, Role.OPERATOR, "alice", valid_after=T0 - timedelta(days=30))]
    )
    return key, trust


@pytest.mark.parametrize(
    ("age_h", "verdict"),
    [
        (-AHEAD_OK.total_seconds() / 3600, "approved"),  # finished 4 min "from now"
        (-AHEAD_TOO_FAR.total_seconds() / 3600, "blocked"),  # 10 min "from now"
        (23, "approved"),  # a signer 23 h behind: looks 23 h old, still within 24 h
        (25, "blocked"),  # looks older than the 24 h window: blocked, never approved
    ],
)
def test_freshness_under_skew(tmp_path: Path, age_h: float, verdict: str) -> None:
    facts = _facts(_evidence(age_h=age_h))
    v = evaluate_apply(_pr(tmp_path), replace(facts, now=GATE_NOW))
    assert v.verdict.value == verdict, [r for r in v.requirements if r.status != "met"]
    if verdict == "blocked":
        unmet = {r.id for r in v.requirements if r.status != "met"}
        assert "apply/backup" in unmet
