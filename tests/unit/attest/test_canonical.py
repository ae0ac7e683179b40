from __future__ import annotations

import math

import pytest

from stategate.evidence.signing.canonical import canonical_json, format_time, parse_json, parse_time


def test_canonical_json_is_independent_of_key_order_and_whitespace() -> None:
    a = canonical_json({"b": 1, "a": {"y": [1, 2], "x": "é"}})
    b = canonical_json({"a": {"x": "é", "y": [1, 2]}, "b": 1})
    assert a == b == '{"a":{"x":"é","y":[1,2]},"b":1}'.encode()


def test_canonical_json_refuses_nan() -> None:
    with pytest.raises(ValueError, match="Out of range float values"):
        canonical_json({"x": math.nan})


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"a":1,"a":2}', "duplicate key 'a'"),
        ('{"a":NaN}', "non-finite number NaN"),
        ('{"a":Infinity}', "non-finite number Infinity"),
    ],
)
def test_parse_json_is_strict(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_json(text)


def test_times_round_trip_in_utc() -> None:
    moment = parse_time("2026-05-01T14:00:00+02:00")
    assert format_time(moment) == "2026-05-01T12:00:00Z"
    assert format_time(parse_time("2026-05-01T12:00:00")) == "2026-05-01T12:00:00Z"
