from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from stategate.evidence.testing import trust_entry, trust_roots
from stategate.evidence.trust.keys import SigningKey
from stategate.evidence.trust.trustfile import Role, TrustRoots

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)  # the tests' "now"


@pytest.fixture(scope="session")
def evidence_key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture(scope="session")
def operator_key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture(scope="session")
def stranger_key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture
def trust(evidence_key: SigningKey, operator_key: SigningKey) -> TrustRoots:
    since = T0 - timedelta(days=30)
    return trust_roots(
        [
            trust_entry(evidence_key, Role.EVIDENCE, "ci-host", valid_after=since),
            trust_entry(operator_key, Role.OPERATOR, "alice", valid_after=since),
        ]
    )
