"""Every corpus compose file (and each labelled multi-file combination) through Docker
Compose and stategate: the same canonical model, or both refuse."""

from __future__ import annotations

import pytest

from tests.parity.corpus import CorpusCase, corpus_cases
from tests.parity.harness import allowlist, oracle_binary, run_in

pytestmark = [pytest.mark.oracle, pytest.mark.corpus]
CASES = corpus_cases()


@pytest.mark.skipif(not CASES, reason="../shared/corpus is absent")
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_corpus_project_agrees_with_compose(case: CorpusCase) -> None:
    binary = oracle_binary()
    if binary is None:
        pytest.skip("Docker Compose oracle not installed: run scripts/setup.sh")
    verdict = run_in(binary, case.root, case.files, dict(case.env), (), allowlist())
    assert verdict.agrees, verdict.explain()
