"""Pins the stategate.status/v1 JSON contract: changing it needs a new schema version."""

from __future__ import annotations

from datetime import UTC, datetime

import jsonschema

from stategate.evidence.records.typed import Rejected
from stategate.report.status import KINDS, Cell, Mark, ModuleStatus, State, StatusModel
from stategate.report.status_json import status_json
from stategate.schemas import find, load

WHEN = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def test_status_contract() -> None:
    cells = tuple(
        Cell(k, State.STALE, 24.0, 30.04, WHEN, "pass", "redis 7.2.5", f"evidence/{k}.json")
        if k == "backup"
        else Cell(k, State.MISSING, 24.0)
        for k in KINDS
    )
    module = ModuleStatus(
        "platform/redis",
        ("stateful",),
        "core",
        None,
        False,
        cells,
        (Mark("backup", WHEN, "pass", "evidence/backup.json"),),
    )
    limits = dict.fromkeys(KINDS, 24.0) | {"dr-drill": 720.0}
    model = StatusModel(
        WHEN, limits, (module,), (Rejected("evidence/x.json", "unknown-key: ..."),), "git abc"
    )
    doc = status_json(model)
    assert list(doc) == [
        "schema",
        "generated",
        "trust",
        "limits_hours",
        "attention",
        "modules",
        "untrusted",
    ]
    assert doc["schema"] == "stategate.status/v1"
    jsonschema.Draft202012Validator(load(find("status"))).validate(doc)
    assert doc["generated"] == "2026-12-01T10:00:00Z"
    assert doc["attention"] == 5
    (mod,) = doc["modules"]
    assert list(mod) == [
        "id",
        "classes",
        "tier",
        "parent",
        "backup_reference",
        "evidence",
        "timeline",
    ]
    assert list(mod["evidence"]) == ["backup", "restore-drill", "rehearsal", "smoke", "dr-drill"]
    assert mod["evidence"]["backup"] == {
        "state": "stale",
        "age_hours": 30.0,
        "limit_hours": 24.0,
        "finished": "2026-12-01T10:00:00Z",
        "result": "pass",
        "engine": "redis 7.2.5",
        "record": "evidence/backup.json",
        "reason": None,
        # added to v1 as an optional key (documents of earlier versions lack it): a
        # restore drill's or rehearsal's steps, empty for the other kinds
        "steps": [],
    }
    assert mod["timeline"] == [
        {
            "kind": "backup",
            "when": "2026-12-01T10:00:00Z",
            "result": "pass",
            "record": "evidence/backup.json",
            "counts": True,
        }
    ]
    assert doc["untrusted"] == [{"record": "evidence/x.json", "reason": "unknown-key: ..."}]
    assert {s.value for s in State} == {"fresh", "stale", "failed", "untrusted", "missing", "none"}
