"""Strict JSON for ledgers, envelopes and payloads: bounded depth, valid Unicode only."""

from __future__ import annotations

import pytest

from stategate.evidence.findings import FindingCode
from stategate.evidence.ledger.chain import check_chain
from stategate.evidence.signing.canonical import MAX_JSON_DEPTH, parse_json


def test_depth_limit() -> None:
    assert parse_json("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH) is not None
    deeper = "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1)
    with pytest.raises(ValueError, match="nested deeper"):
        parse_json(deeper)
    with pytest.raises(ValueError, match="nested deeper"):  # past the interpreter's recursion
        parse_json("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match="nested deeper"):
        parse_json('{"a":' * 100 + "1" + "}" * 100)


def test_lone_surrogates_are_refused_in_values_and_keys() -> None:
    with pytest.raises(ValueError, match="lone surrogate"):
        parse_json('{"path": "evidence/\\udc80.json"}')
    with pytest.raises(ValueError, match="lone surrogate"):
        parse_json('{"\\ud800": 1}')
    assert parse_json('"\\ud83d\\ude00"') == "\U0001f600"  # a proper pair is fine


def test_a_deep_or_surrogate_ledger_line_is_a_finding() -> None:
    data = b'{"path": "evidence/\\udc80.json"}\n' + b"[" * 5000 + b"]" * 5000 + b"\n"
    check = check_chain(data, shown="evidence/ledger.jsonl")
    assert [f.code for f in check.findings] == [FindingCode.LEDGER_MALFORMED] * 2
    assert [f.line for f in check.findings] == [1, 2]
