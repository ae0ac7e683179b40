"""Real evidence and apply-stage outputs validate against the published schemas.

The CLI takes the evidence of a real redis stand-in (backup, restore drill, smoke, DR
drill, each `--format json`), audits it (`evidence verify --format json`), and judges a
PR at both stages up to `approved`; every document it prints, every SARIF report and
every record it signs is checked against its schema.
"""

from __future__ import annotations

import json

import pytest

from tests.schema_check import sarif_validator, validate, validate_records

from .conftest import Workspace, key_file
from .test_apply_stage_cli import FROM, MODULE, PACKET, TO, _ok, _platform, _sg

pytestmark = pytest.mark.integration


def _sarif(workspace: Workspace, *args: str) -> dict[str, object]:
    done = _sg(workspace, "check", "--base", "main", "--format", "sarif", *args)
    assert done.returncode in (0, 1, 3), done.stderr
    doc = json.loads(done.stdout)
    sarif_validator().validate(doc)
    for result in doc["runs"][0]["results"]:
        assert result["locations"] and result["partialFingerprints"]
    return doc  # type: ignore[no-any-return]


def test_evidence_and_apply_outputs_match_their_schemas(workspace: Workspace) -> None:
    repo = _platform(workspace)
    for args in (
        ["backup", MODULE],
        ["restore-drill", MODULE],
        ["smoke", MODULE, "--target", "source"],
        ["dr-drill"],
    ):
        doc = json.loads(_ok(_sg(workspace, *args, "--format", "json")))
        validate("evidence-result", doc)
        assert doc["kind"] == args[0] and doc["result"] == "pass"
    audit = _sg(workspace, "evidence", "verify", "--format", "json")
    assert audit.returncode == 0, audit.stderr
    validate("evidence-verify", json.loads(audit.stdout))

    repo.git("checkout", "-q", "-b", "pr")
    repo.replace("compose/data.yml", FROM, TO)
    repo.write("packets/redis-7-0-16.yaml", PACKET)
    repo.commit("redis 7.0.16")
    seen = {}
    for stage in ("merge", "apply"):
        done = _sg(workspace, "check", "--base", "main", "--stage", stage, "--format", "json")
        doc = json.loads(done.stdout)
        validate("verdict", doc)
        seen[stage] = doc["verdict"]
        _sarif(workspace, "--stage", stage)
    assert seen == {"merge": "ready_for_operator", "apply": "blocked"}
    blocked = _sarif(workspace, "--stage", "apply")
    (result,) = blocked["runs"][0]["results"]  # type: ignore[index]
    assert result["ruleId"] == "apply/operator-approval"
    where = result["locations"][0]["physicalLocation"]
    assert where["artifactLocation"]["uri"] == "compose/data.yml"

    operator = key_file(workspace.operator_key, workspace.repo.parent / "op" / "operator.key")
    _ok(_sg(workspace, "approve", "packets/redis-7-0-16.yaml", "--role", "operator",
            "--key", str(operator), "--base", "main"))  # fmt: skip
    repo.commit("operator approval")
    done = _sg(workspace, "check", "--base", "main", "--stage", "apply", "--format", "json")
    approved = json.loads(done.stdout)
    assert (done.returncode, approved["verdict"]) == (0, "approved")
    validate("verdict", approved)
    assert _sarif(workspace, "--stage", "apply")["runs"][0]["results"] == []  # type: ignore[index]

    kinds = {k.rsplit("/", 2)[1]: n for k, n in validate_records(workspace.repo).items()}
    assert set(kinds) == {"backup", "restore-drill", "smoke", "dr-drill", "approval"}
