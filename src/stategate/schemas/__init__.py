"""The JSON Schemas of every versioned document stategate prints or signs.

Each schema ships as a file in this package. The verdict, inventory, explain, audit,
engines, prune and repo-check schemas are written by hand (their producers build plain
dicts); the evidence statement schemas are generated from the pydantic models by
:mod:`stategate.schemas.generate`, and a test fails when a file and its model drift.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from stategate.errors import InputError


@dataclass(frozen=True)
class SchemaEntry:
    name: str  # what ``stategate schema NAME`` takes
    document: str  # the schema string, predicate type or version the document carries
    file: str  # in this package
    what: str


PREDICATE_BASE = "https://stategate.dev"

CATALOGUE: tuple[SchemaEntry, ...] = (
    SchemaEntry("verdict", "stategate.verdict/v1", "verdict.v1.json", "check --format json"),
    SchemaEntry(
        "inventory", "stategate.inventory/v1", "inventory.v1.json", "classify --format json"
    ),
    SchemaEntry(
        "explain", "stategate.explain/v1", "explain.v1.json", "classify --explain M --format json"
    ),
    SchemaEntry(
        "evidence-verify",
        "stategate.evidence-verify/v1",
        "evidence-verify.v1.json",
        "evidence verify --format json",
    ),
    SchemaEntry("engines", "stategate.engines/v1", "engines.v1.json", "engines --format json"),
    SchemaEntry("prune", "stategate.prune/v1", "prune.v1.json", "prune --format json"),
    SchemaEntry(
        "repo-check", "stategate.repo-check/v1", "repo-check.v1.json", "repo check --format json"
    ),
    SchemaEntry("status", "stategate.status/v1", "status.v1.json", "status --format json"),
    SchemaEntry(
        "evidence-result",
        "schema_version 1",
        "evidence-result.v1.json",
        "backup, restore-drill, smoke, dr-drill, rehearse --format json",
    ),
    SchemaEntry(
        "evidence-statement",
        "https://in-toto.io/Statement/v1",
        "evidence-statement.v1.json",
        "the unsigned statement in evidence-result (no predicate.signer)",
    ),
    *(
        SchemaEntry(
            f"evidence-{kind}",
            f"{PREDICATE_BASE}/{kind}/v1",
            f"evidence-{kind}.v1.json",
            f"a signed {kind} record's payload",
        )
        for kind in ("backup", "restore-drill", "smoke", "dr-drill", "rehearsal", "prune")
    ),
    SchemaEntry(
        "evidence-approval",
        f"{PREDICATE_BASE}/approval/v1",
        "evidence-approval.v1.json",
        "a signed operator approval's payload",
    ),
)


def find(name: str) -> SchemaEntry:
    """An entry by its name or by the schema string / predicate type its documents carry."""
    for entry in CATALOGUE:
        if name in (entry.name, entry.document):
            return entry
    known = ", ".join(e.name for e in CATALOGUE)
    raise InputError(f"no schema named {name!r} (known: {known})")


def schema_text(entry: SchemaEntry) -> str:
    return resources.files(__package__).joinpath(entry.file).read_text(encoding="utf-8")


def load(entry: SchemaEntry) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(schema_text(entry))
    return doc
