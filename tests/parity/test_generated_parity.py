"""Generated projects (tests/parity/generate.py) through Docker Compose and stategate.

A bounded sample here (``STATEGATE_PARITY_EXAMPLES``, default 150); the full run of
10,000 and the per-feature figures are ``scripts/compose_parity.py``.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings

from tests.parity.generate import cases
from tests.parity.harness import Case, allowlist, oracle_binary, run_case

pytestmark = pytest.mark.oracle
BINARY = oracle_binary()
ALLOWED = allowlist()
EXAMPLES = int(os.environ.get("STATEGATE_PARITY_EXAMPLES", "150"))


@pytest.mark.skipif(
    BINARY is None, reason="Docker Compose oracle not installed: run scripts/setup.sh"
)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(cases())
def test_generated_project_agrees_with_compose(case: Case) -> None:
    assert BINARY is not None
    verdict = run_case(BINARY, case, ALLOWED)
    assert verdict.agrees, (
        verdict.explain()
        + "\n"
        + "\n".join(f"--- {rel}\n{text}" for rel, text in case.files.items())
    )
