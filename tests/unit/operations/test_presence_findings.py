"""A drill on another major than the backup's says what it compared by presence only."""

from __future__ import annotations

from stategate.operations.drill import presence_findings
from stategate.providers.fingerprint import Fingerprint, FingerprintItem, compare


def _fp(major: str) -> Fingerprint:
    return Fingerprint([FingerprintItem("db (schema)", "view v", 1, f"printed-by:{major}:x")])


def test_a_comparison_across_majors_is_a_finding_naming_the_count() -> None:
    (finding,) = presence_findings(compare(_fp("15"), _fp("16")))
    assert finding.startswith("1 definition(s)") and "presence only" in finding


def test_one_major_or_no_comparison_is_no_finding() -> None:
    assert presence_findings(compare(_fp("16"), _fp("16"))) == []
    assert presence_findings(None) == []
