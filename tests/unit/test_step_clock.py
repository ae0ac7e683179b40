"""StepClock: steps one after another, durations rounded down, failures recorded."""

from __future__ import annotations

import time

import pytest

from stategate.errors import ExternalError
from stategate.evidence.records.steps import StepClock
from stategate.sandbox.engine import EngineUnavailable


def test_steps_in_order_rounded_down_and_within_the_total() -> None:
    clock = StepClock()
    started = time.monotonic()
    with clock.step("one") as notes:
        time.sleep(0.0105)
        notes.append("first")
    with clock.step("two") as notes:
        notes.failed = True
        notes.append("it did not hold")
    total = time.monotonic() - started
    one, two = clock.steps
    assert (one.name, one.result, one.detail) == ("one", "pass", "first")
    assert (two.name, two.result, two.detail) == ("two", "fail", "it did not hold")
    assert one.duration_s >= 0.01 and two.duration_s >= 0
    assert round(one.duration_s, 3) == one.duration_s  # whole milliseconds
    assert one.duration_s + two.duration_s <= total


def test_an_exception_fails_the_step_and_goes_on() -> None:
    clock = StepClock()
    with pytest.raises(ExternalError), clock.step("restore-db app"):
        raise ExternalError("pg_restore exited with 1: password=hunter2 refused")
    with pytest.raises(EngineUnavailable), clock.step("sandbox-start"):
        raise EngineUnavailable("no postgres 12 here")
    with pytest.raises(KeyError), clock.step("bug"):
        raise KeyError("a bug is not a step's result")
    assert [(s.name, s.result) for s in clock.steps] == [
        ("restore-db app", "fail"),
        ("sandbox-start", "error"),
    ]
    masked = clock.masked(("hunter2",))
    assert "hunter2" not in masked[0].detail and "password=" in masked[0].detail
    assert "hunter2" in clock.steps[0].detail  # masking returns copies


def test_negative_time_is_zero() -> None:
    clock = StepClock()
    clock.add("teardown", "pass", -0.5)
    assert clock.steps[0].duration_s == 0.0
