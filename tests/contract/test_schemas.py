"""The published JSON Schemas: each is a valid Draft 2020-12 schema, the catalogue and
the package agree, `stategate schema` prints them, generated ones match their models,
and the hand-written enums match the code's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import typing
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from stategate.diff.changes import ChangeKind
from stategate.engines.catalogue import EngineKind
from stategate.evidence.findings import FindingCode
from stategate.policy.gate import VerdictKind
from stategate.policy.schema import StopCondition, UpgradeClass
from stategate.policy.signals import Confidence
from stategate.schemas import CATALOGUE, find, load
from stategate.schemas.generate import generated, render

SRC = Path(__file__).resolve().parents[2] / "src"


def sg(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stategate", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(SRC)},
    )


@pytest.mark.parametrize("entry", CATALOGUE, ids=lambda e: e.name)
def test_every_schema_is_a_valid_2020_12_schema(entry: Any) -> None:
    doc = load(entry)
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(doc)
    assert doc["additionalProperties"] is False and doc["required"]


def test_the_catalogue_and_the_package_files_agree() -> None:
    shipped = {
        p.name for p in resources.files("stategate.schemas").iterdir() if p.name.endswith(".json")
    }
    assert shipped == {e.file for e in CATALOGUE}
    assert len({e.name for e in CATALOGUE}) == len(CATALOGUE)
    assert len({e.document for e in CATALOGUE}) == len(CATALOGUE)
    assert len({load(e)["$id"] for e in CATALOGUE}) == len(CATALOGUE)


def test_generated_schemas_match_their_models() -> None:
    for name, doc in generated().items():
        shipped = resources.files("stategate.schemas").joinpath(name).read_text(encoding="utf-8")
        assert shipped == render(doc), f"{name} is stale: python -m stategate.schemas.generate"


def test_schema_list_names_every_schema() -> None:
    done = sg("schema", "--list")
    assert done.returncode == 0, done.stderr
    listed = [line.split()[0] for line in done.stdout.splitlines()]
    assert listed == [e.name for e in CATALOGUE]


@pytest.mark.parametrize("how", ["name", "document"])
def test_schema_prints_the_file(how: str) -> None:
    for entry in CATALOGUE:
        done = sg("schema", entry.name if how == "name" else entry.document)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == load(entry)


def test_schema_refuses_an_unknown_name_and_no_name() -> None:
    unknown = sg("schema", "stategate.verdict/v2")
    assert unknown.returncode == 2 and unknown.stdout == ""
    assert "no schema named 'stategate.verdict/v2'" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    both = sg("schema", "verdict", "--list")
    assert both.returncode == 2 and "one of them" in both.stderr
    assert sg("schema").returncode == 2


def test_help_does_not_load_the_schema_catalogue() -> None:
    # --help reads each command's summary without importing it; the catalogue waits for a run
    done = sg("--help")
    assert done.returncode == 0 and "schema" in done.stdout
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from click.testing import CliRunner; from stategate.cli import cli; "
            "CliRunner().invoke(cli, ['--help']); "
            "print('stategate.commands.schema' in sys.modules, 'stategate.schemas' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(SRC)},
    )
    assert probe.stdout.split() == ["False", "False"], probe.stderr


def _enum_at(doc: dict[str, Any], *path: str) -> list[Any]:
    node: Any = doc
    for key in path:
        node = node[key]
    values: list[Any] = node["enum"]
    return values


def test_hand_written_enums_match_the_code() -> None:
    verdict = load(find("verdict"))
    assert _enum_at(verdict, "properties", "verdict") == [k.value for k in VerdictKind]
    defs = verdict["$defs"]
    assert _enum_at(defs, "stop", "properties", "condition") == [s.value for s in StopCondition]
    assert _enum_at(defs, "change", "properties", "kind") == [k.value for k in ChangeKind]
    inventory = load(find("inventory"))
    classes = [c.value for c in UpgradeClass]
    assert _enum_at(inventory["$defs"], "reason", "properties", "class") == classes
    assert _enum_at(inventory["$defs"], "reason", "properties", "confidence") == list(
        typing.get_args(Confidence)
    )
    audit = load(find("evidence-verify"))
    codes = audit["properties"]["findings"]["items"]["properties"]["code"]["enum"]
    assert codes == [c.value for c in FindingCode]
    engines = load(find("engines"))
    kinds = engines["properties"]["engines"]["items"]["properties"]["engine"]["enum"]
    assert kinds == list(typing.get_args(EngineKind))


def test_the_verdict_schema_catches_drift() -> None:
    validator = jsonschema.Draft202012Validator(load(find("verdict")))
    good = {
        "schema": "stategate.verdict/v1",
        "verdict": "pass",
        "stage": "merge",
        "revisions": {"base": "a" * 40, "head": "b" * 40},
        "changes": [],
        "requirements": [],
        "stops": [],
        "findings": [],
        "labels": ["merge/auto"],
        "touched_paths": [],
        "packets": [],
        "evidence": [],
    }
    validator.validate(good)
    for bad in (
        {**good, "extra": 1},
        {k: v for k, v in good.items() if k != "labels"},
        {**good, "verdict": "maybe"},
        {**good, "revisions": {"base": "main", "head": "b" * 40}},
        {k: v for k, v in good.items() if k != "revisions"},
        {**good, "schema": "stategate.verdict/v2"},
        {**good, "stops": [{"condition": "floating-tag", "module": None, "message": "m"}]},
    ):
        assert not validator.is_valid(bad), bad
