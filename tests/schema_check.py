"""Validate real outputs against the published schemas (for tests that produce them)."""

from __future__ import annotations

import base64
import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from stategate.schemas import find, load

SARIF_SCHEMA = Path(__file__).resolve().parent / "schemas" / "sarif-schema-2.1.0.json"


@cache
def sarif_validator() -> Any:
    """A validator of the vendored OASIS SARIF 2.1.0 schema (draft-04)."""
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def validate(name: str, doc: Any) -> None:
    """``doc`` against the schema ``name`` (or document type), formats (date-time) checked."""
    jsonschema.Draft202012Validator(
        load(find(name)), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    ).validate(doc)


def validate_records(repo: Path) -> dict[str, int]:
    """Every signed record under ``repo``/evidence: its payload against the schema of its
    predicate type. Returns a count per type."""
    counts: dict[str, int] = {}
    for path in sorted((repo / "evidence").rglob("*.json")):
        envelope = json.loads(path.read_text(encoding="utf-8"))
        statement = json.loads(base64.b64decode(envelope["payload"]))
        kind = statement["predicateType"]
        validate(kind, statement)
        counts[kind] = counts.get(kind, 0) + 1
    return counts
