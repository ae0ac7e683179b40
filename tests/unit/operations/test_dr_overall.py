"""A DR drill passes only if every module and every cross-module check passed."""

from __future__ import annotations

from typing import Literal

import pytest

from stategate.evidence.records.predicates import CrossCheckOutcome, DrModule
from stategate.operations.dr import _overall

Status = Literal["pass", "fail", "error", "skipped"]
MODULES = [
    DrModule(module="platform/postgres", provider="postgres", result="pass"),
    DrModule(module="platform/redis", provider="redis", result="pass"),
]


def _cross(result: Status, detail: str = "") -> CrossCheckOutcome:
    return CrossCheckOutcome(
        module="platform/app",
        name="app sessions",
        kind="tcp",
        result=result,
        detail=detail,
        duration_s=0.0,
    )


def test_every_cross_check_passing_is_a_pass() -> None:
    assert _overall(MODULES, [_cross("pass")], [], set()) == ("pass", None)


def test_a_skipped_cross_module_check_is_a_failure() -> None:
    """A check that could not run against the sandboxes proved nothing."""
    result, reason = _overall(
        MODULES, [_cross("pass"), _cross("skipped", "10.0.0.5:6379 is not a sandbox")], [], set()
    )
    assert result == "fail"
    assert (
        reason == "cross-smoke platform/app app sessions: skipped: 10.0.0.5:6379 is not a sandbox"
    )


@pytest.mark.parametrize(("status", "expected"), [("fail", "fail"), ("error", "error")])
def test_a_failing_or_erring_cross_check_does_not_pass(status: Status, expected: str) -> None:
    result, reason = _overall(MODULES, [_cross(status)], [], set())
    assert (result, reason) == (expected, f"cross-smoke platform/app app sessions: {status}")
