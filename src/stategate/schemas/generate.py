"""Build the JSON Schemas of the evidence statements from their pydantic models.

The shipped files (``stategate/schemas/*.json``) are this module's output; a test
regenerates them and fails on any difference, so a model change that is not
republished is caught. Regenerate with ``python -m stategate.schemas.generate``.

Statements are dumped with every field present (``model_dump`` without ``exclude_*``),
so every property is required; the models forbid extra fields, and so does the schema.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from stategate.evidence.approvals.approval import APPROVAL_PREDICATE_TYPE, Approval
from stategate.evidence.records.predicates import (
    PREDICATE_TYPES,
    STATEMENT_TYPE,
    BackupPredicate,
    DrDrillPredicate,
    DrillPredicate,
    PrunePredicate,
    RehearsalPredicate,
    SmokePredicate,
    Statement,
    Subject,
)
from stategate.evidence.signing.statement import SIGNER_FIELD, SignerClaim

DRAFT = "https://json-schema.org/draft/2020-12/schema"
ID_BASE = "https://stategate.dev/schema"
HERE = Path(__file__).parent

_PREDICATES: dict[str, type[BaseModel]] = {
    "backup": BackupPredicate,
    "restore-drill": DrillPredicate,
    "smoke": SmokePredicate,
    "dr-drill": DrDrillPredicate,
    "rehearsal": RehearsalPredicate,
    "prune": PrunePredicate,
}


def strict(node: Any) -> Any:
    """Every declared property required, nothing undeclared allowed (recursively)."""
    if isinstance(node, dict):
        out = {key: strict(value) for key, value in node.items()}
        if isinstance(out.get("properties"), dict):
            out["required"] = list(out["properties"])
            out.setdefault("additionalProperties", False)
        return out
    if isinstance(node, list):
        return [strict(item) for item in node]
    return node


def _model_schema(model: type[BaseModel]) -> dict[str, Any]:
    doc = model.model_json_schema(mode="serialization", by_alias=True)
    return strict(doc)  # type: ignore[no-any-return]


def statement_schema(name: str, title: str, model: type[BaseModel], type_: str) -> dict[str, Any]:
    """The signed payload of a record: an in-toto Statement v1 whose predicate is ``model``
    plus the ``signer`` binding signing adds, and whose type is ``type_``."""
    predicate = _model_schema(model)
    subject = _model_schema(Subject)
    defs: dict[str, Any] = {**predicate.pop("$defs", {}), **subject.pop("$defs", {})}
    predicate["properties"][SIGNER_FIELD] = {"$ref": "#/$defs/SignerClaim"}
    predicate["required"].append(SIGNER_FIELD)
    defs[model.__name__] = predicate
    defs["Subject"] = subject
    claim = _model_schema(SignerClaim)
    defs.update(claim.pop("$defs", {}))
    defs["SignerClaim"] = claim
    return {
        "$schema": DRAFT,
        "$id": f"{ID_BASE}/{name}.json",
        "title": title,
        "description": f"The signed payload (in-toto Statement v1, in a DSSE envelope) of a "
        f"stategate record with predicateType {type_}.",
        "type": "object",
        "properties": {
            "_type": {"const": STATEMENT_TYPE},
            "subject": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/Subject"}},
            "predicateType": {"const": type_},
            "predicate": {"$ref": f"#/$defs/{model.__name__}"},
        },
        "required": ["_type", "subject", "predicateType", "predicate"],
        "additionalProperties": False,
        "$defs": dict(sorted(defs.items())),
    }


def any_statement_schema() -> dict[str, Any]:
    """Any evidence statement as ``--format json`` prints it: before signing, so without
    the ``predicate.signer`` binding a stored record's payload has."""
    doc = _model_schema(Statement)
    doc["properties"]["predicateType"] = {"enum": sorted(PREDICATE_TYPES.values())}
    return {
        "$schema": DRAFT,
        "$id": f"{ID_BASE}/evidence-statement-v1.json",
        "title": "stategate evidence statement",
        **{k: v for k, v in doc.items() if k != "title"},
    }


def evidence_result_schema() -> dict[str, Any]:
    """What ``backup``, ``restore-drill``, ``smoke``, ``dr-drill`` and ``rehearse`` print
    with ``--format json`` (``schema_version`` 1): the record written, and its statement."""
    statement = any_statement_schema()
    defs = statement.pop("$defs")
    for key in ("$schema", "$id", "title"):
        statement.pop(key)
    defs["Statement"] = statement
    return {
        "$schema": DRAFT,
        "$id": f"{ID_BASE}/evidence-result-v1.json",
        "title": "stategate evidence command result",
        "type": "object",
        "properties": {
            "schema_version": {"const": 1},
            "kind": {"enum": list(PREDICATE_TYPES)},
            "result": {"enum": ["pass", "fail", "error"]},
            "record": {"type": "string", "minLength": 1},
            "record_sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            "signer": {
                "type": "object",
                "properties": {"keyid": {"type": "string"}, "name": {"type": "string"}},
                "required": ["keyid", "name"],
                "additionalProperties": False,
            },
            "statement": {"$ref": "#/$defs/Statement"},
        },
        "required": [
            "schema_version",
            "kind",
            "result",
            "record",
            "record_sha256",
            "signer",
            "statement",
        ],
        "additionalProperties": False,
        "$defs": dict(sorted(defs.items())),
    }


def generated() -> dict[str, dict[str, Any]]:
    """File name -> schema, for every schema derived from a model."""
    out = {
        f"evidence-{kind}.v1.json": statement_schema(
            f"evidence-{kind}-v1",
            f"stategate {kind} evidence statement",
            model,
            PREDICATE_TYPES[kind],  # type: ignore[index]
        )
        for kind, model in _PREDICATES.items()
    }
    out["evidence-approval.v1.json"] = statement_schema(
        "evidence-approval-v1",
        "stategate operator approval statement",
        Approval,
        APPROVAL_PREDICATE_TYPE,
    )
    out["evidence-statement.v1.json"] = any_statement_schema()
    out["evidence-result.v1.json"] = evidence_result_schema()
    return out


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    for name, doc in generated().items():
        (HERE / name).write_text(render(doc), encoding="utf-8")
        print(f"wrote {name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
