"""Pins the stategate.evidence-verify/v1 JSON contract: changing it needs a new schema version."""

from __future__ import annotations

from stategate.evidence.audit import VERIFY_SCHEMA, VerifyReport
from stategate.evidence.findings import Finding, FindingCode
from tests.schema_check import validate

FINDING_CODES = {
    "ledger-malformed",
    "entry-edited",
    "chain-broken",
    "entry-removed",
    "entry-reordered",
    "duplicate-entry",
    "ledger-rewritten",
    "record-missing",
    "record-edited",
    "unledgered-record",
    "record-malformed",
    "unsafe-path",
    "re-signed",
    "bad-signature",
    "unknown-key",
    "wrong-role",
    "key-not-yet-valid",
    "key-expired",
    "key-revoked",
    "signed-in-future",
    "artifact-mismatch",
}


def test_evidence_verify_contract() -> None:
    report = VerifyReport(records=3, artifacts_checked=2)
    report.add_unreachable(
        "evidence/b.json", "postgres:16", "not a file path (an image or a remote)"
    )
    report.findings.append(
        Finding("evidence/ledger.jsonl", FindingCode.ENTRY_REORDERED, "out of order", 2)
    )
    report.findings.append(Finding("evidence/x.json", FindingCode.RECORD_EDITED, "edited"))
    doc = report.to_json_obj()
    assert VERIFY_SCHEMA == "stategate.evidence-verify/v1"
    assert set(doc) == {"schema", "ok", "records", "artifacts", "findings"}
    assert doc["schema"] == VERIFY_SCHEMA
    assert doc["ok"] is False
    assert doc["artifacts"] == {
        "checked": 2,
        "unreachable": 1,
        "unreachable_files": [
            {
                "record": "evidence/b.json",
                "artifact": "postgres:16",
                "why": "not a file path (an image or a remote)",
            }
        ],
    }
    assert doc["findings"] == [
        {
            "file": "evidence/ledger.jsonl",
            "line": 2,
            "code": "entry-reordered",
            "message": "out of order",
        },
        {"file": "evidence/x.json", "line": None, "code": "record-edited", "message": "edited"},
    ]
    assert {c.value for c in FindingCode} == FINDING_CODES
    validate("evidence-verify", doc)  # the published schema agrees
