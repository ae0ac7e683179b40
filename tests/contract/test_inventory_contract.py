"""Pins the stategate.inventory/v1 JSON contract: changing it needs a new schema version."""

from __future__ import annotations

from stategate.platform import load_platform
from stategate.report.inventory import INVENTORY_SCHEMA, inventory_json
from tests.conftest import EXAMPLE
from tests.schema_check import validate

MODULE_KEYS = {
    "id",
    "service",
    "file",
    "image",
    "classes",
    "reasons",
    "tier",
    "parent",
    "dependents",
}
# "confidence" (certain/likely) was added in issue 19: an added key, so still v1
REASON_KEYS = {"class", "reason", "file", "line", "confidence"}


def test_inventory_contract() -> None:
    platform = load_platform(EXAMPLE)
    doc = inventory_json(platform.inventory, platform.warnings)
    assert INVENTORY_SCHEMA == "stategate.inventory/v1"
    assert set(doc) == {"schema", "modules", "warnings"}
    validate("inventory", doc)  # the published schema agrees
    assert doc["schema"] == "stategate.inventory/v1"
    assert all(isinstance(w, str) for w in doc["warnings"])
    for module in doc["modules"]:
        assert set(module) == MODULE_KEYS
        assert module["id"] == f"platform/{module['service']}"
        assert module["file"].startswith("compose/") and not module["file"].startswith("/")
        assert module["tier"] in ("core", "leaf")
        assert isinstance(module["dependents"], list)
        for reason in module["reasons"]:
            assert set(reason) == REASON_KEYS
            assert isinstance(reason["line"], int) and reason["line"] > 0
            assert reason["confidence"] in ("certain", "likely")
    pg = next(m for m in doc["modules"] if m["service"] == "postgres")
    assert pg["classes"] == ["stateful", "secret-bearing"]
    assert pg["dependents"] == ["platform/app", "platform/authelia", "platform/worker"]
