"""Pins the stategate.verdict/v1 JSON contract and the SARIF shape."""

from __future__ import annotations

from pathlib import Path

from stategate.policy.gate import evaluate_merge
from stategate.pullrequest import load_pull_request
from stategate.report.sarif import verdict_sarif
from stategate.report.verdict import VERDICT_SCHEMA, verdict_json
from tests.gitrepo import platform_repo

TOP = {
    "schema",
    "verdict",
    "stage",
    "revisions",
    "changes",
    "requirements",
    "stops",
    "findings",
    "labels",
    "touched_paths",
    "packets",
    "evidence",
}
CHANGE = {"module", "service", "file", "kind", "from", "to", "semver", "fields", "renamed_from"}
REQUIREMENT = {"id", "module", "class", "status", "hint"}
STOP = {"condition", "module", "message", "file", "line"}
FINDING = {"rule", "file", "line", "message"}


def test_verdict_contract_and_sarif(tmp_path: Path) -> None:
    repo = platform_repo(tmp_path / "p")
    old = "postgres:16.4-alpine@sha256:963dbe32ce63a7c52ced1eddc8ad975efb564238419e88628e701469a8226a8e"
    repo.replace("compose/postgres.yml", old, "postgres:16.6-alpine")
    repo.write("docs/run.md", "docker compose up -d\n")
    repo.commit("bump without packet, ungated doc")
    pr, sides = load_pull_request(repo.path, "main", "HEAD")
    verdict = evaluate_merge(pr)
    doc = verdict_json(verdict, (sides.base_rev, sides.head_rev))
    assert VERDICT_SCHEMA == "stategate.verdict/v1" == doc["schema"]
    assert set(doc) == TOP
    # a stateful module on a floating tag is a stop, whatever else is missing
    assert doc["verdict"] == "stop"
    assert doc["stage"] == "merge"
    # the commits judged: publish sets the commit status on the head
    assert doc["revisions"] == {"base": sides.base_rev, "head": sides.head_rev}
    assert all(len(sha) == 40 for sha in doc["revisions"].values())
    assert doc["changes"] and all(set(c) == CHANGE for c in doc["changes"])
    assert doc["requirements"] and all(set(r) == REQUIREMENT for r in doc["requirements"])
    assert all(r["status"] in ("met", "missing") for r in doc["requirements"])
    assert doc["stops"] and all(set(s) == STOP for s in doc["stops"])
    assert [(s["condition"], s["module"]) for s in doc["stops"]] == [
        ("floating-tag", "platform/postgres")
    ]
    assert doc["findings"] and all(set(f) == FINDING for f in doc["findings"])
    assert all(isinstance(label, str) for label in doc["labels"])
    assert doc["touched_paths"] == ["compose/postgres.yml", "docs/run.md"]

    sarif = verdict_sarif(verdict)
    assert sarif["version"] == "2.1.0"
    (run,) = sarif["runs"]
    assert run["tool"]["driver"]["name"] == "stategate"
    rule_ids = {r["id"] for r in run["tool"]["driver"]["rules"]}
    for result in run["results"]:
        assert result["ruleId"] in rule_ids
        assert result["level"] in ("error", "warning", "note")
        for loc in result.get("locations", []):
            assert loc["physicalLocation"]["artifactLocation"]["uri"]
    assert any(r["ruleId"] == "stop/floating-tag" and r["level"] == "error" for r in run["results"])
