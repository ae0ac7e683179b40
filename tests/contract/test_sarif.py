"""`check --format sarif` on real pull requests: valid SARIF 2.1.0 (the OASIS schema), a
location and a stable fingerprint on every result, as GitHub code scanning needs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from stategate.policy.gate import Verdict, evaluate_merge
from stategate.pullrequest import load_pull_request
from stategate.report.sarif import FINGERPRINT_KEY, SRCROOT, verdict_sarif
from tests.gitrepo import Repo, platform_repo
from tests.schema_check import sarif_validator

SRC = Path(__file__).resolve().parents[2] / "src"
PG_OLD = (
    "postgres:16.4-alpine@sha256:963dbe32ce63a7c52ced1eddc8ad975efb564238419e88628e701469a8226a8e"
)
PG_MINOR = "postgres:16.6-alpine@sha256:" + "ab" * 32
PG_MAJOR = "postgres:17.2-alpine@sha256:" + "cd" * 32
REDIS_OLD = (
    "redis:7.2.5-alpine@sha256:9b09359c0f75e53b0a02347d05b2de7513c763a85500ebeeb80091d3774a7c7e"
)


def judge(repo: Repo) -> Verdict:
    pr, _ = load_pull_request(repo.path, "main", "HEAD")
    return evaluate_merge(pr)


def pg_packet(
    repo: Repo, pid: str, to: str, extra: str = "", module: str = "", allowed: str = ""
) -> None:
    repo.write(
        f"packets/{pid}.yaml",
        f"id: {pid}\nmodules:\n  - module: platform/postgres\n    from: {PG_OLD}\n"
        f"    to: {to}\n    rollback: {{to: '{PG_OLD}', needs_restore: false}}\n{module}"
        f"allowed_paths:\n  - compose/*.yml\n{allowed}{extra}",
    )


def checked(v: Verdict) -> dict[str, Any]:
    """The SARIF of ``v``, validated against the OASIS schema and GitHub's needs."""
    doc = verdict_sarif(v)
    sarif_validator().validate(doc)
    (run,) = doc["runs"]
    assert SRCROOT in run["originalUriBaseIds"]
    driver = run["tool"]["driver"]
    assert "informationUri" not in driver  # no made-up home page
    rule_ids = [r["id"] for r in driver["rules"]]
    assert rule_ids == sorted(set(rule_ids))
    prints = []
    for result in run["results"]:
        assert result["ruleId"] in rule_ids
        (loc,) = result["locations"]
        artifact = loc["physicalLocation"]["artifactLocation"]
        assert artifact["uriBaseId"] == SRCROOT
        assert artifact["uri"] and not artifact["uri"].startswith("/")
        prints.append(result["partialFingerprints"][FINGERPRINT_KEY])
    assert len(prints) == len(set(prints)), "two results share a fingerprint"
    return doc


def results(doc: dict[str, Any]) -> list[tuple[str, str, int | None]]:
    out = []
    for r in doc["runs"][0]["results"]:
        where = r["locations"][0]["physicalLocation"]
        out.append(
            (
                r["ruleId"],
                where["artifactLocation"]["uri"],
                where.get("region", {}).get("startLine"),
            )
        )
    return out


def rules(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in doc["runs"][0]["tool"]["driver"]["rules"]}


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return platform_repo(tmp_path / "platform")


def test_pass_has_no_results(repo: Repo) -> None:
    repo.write("state/cycle/notes.md", "# Notes\n")
    repo.commit("docs")
    v = judge(repo)
    assert v.verdict.value == "pass"
    assert checked(v)["runs"][0]["results"] == []


def test_blocked_missing_requirements_point_at_the_changed_file(repo: Repo) -> None:
    repo.replace("compose/postgres.yml", PG_OLD, PG_MINOR)
    repo.commit("postgres 16.6 without a packet")
    v = judge(repo)
    assert v.verdict.value == "blocked"
    doc = checked(v)
    found = results(doc)
    assert ("merge/packet", "compose/postgres.yml") in {(r, f) for r, f, _ in found}
    assert all(f == "compose/postgres.yml" and line for _, f, line in found)
    packet_rule = rules(doc)["merge/packet"]
    assert "upgrade packet" in packet_rule["fullDescription"]["text"]
    assert packet_rule["help"]["text"].startswith("Satisfied by")


def test_requirements_without_a_module_change_point_at_the_packet_or_the_doc(
    repo: Repo,
) -> None:
    repo.replace("compose/postgres.yml", PG_OLD, PG_MINOR)
    redis = f"  - module: platform/redis\n    from: {REDIS_OLD}\n    to: {REDIS_OLD}\n"
    pg_packet(
        repo,
        "pg-16-6",
        PG_MINOR,
        "after: [minio-pilot]\n",
        module=redis,
        allowed="  - docs/*.md\n",
    )
    repo.write("docs/run.md", "# Run\n\nThen run docker compose up -d postgres.\n")
    repo.commit("postgres 16.6 after the pilot, a packet entry the diff lacks, an ungated doc")
    v = judge(repo)
    assert v.verdict.value == "blocked"
    found = results(checked(v))
    assert ("merge/after", "packets/pg-16-6.yaml", None) in found
    assert ("merge/packet", "packets/pg-16-6.yaml", None) in found  # redis: not in the diff
    assert ("repo/docs-operator-gated", "docs/run.md", 3) in found
    assert ("docs-runtime-instruction", "docs/run.md", 3) in found


def test_stops_without_a_file_point_at_the_module_or_the_policy(repo: Repo) -> None:
    repo.replace("compose/postgres.yml", PG_OLD, PG_MAJOR)
    pg_packet(repo, "pg-17", PG_MAJOR)
    repo.write(
        "stategate.yaml",
        repo.path.joinpath("stategate.yaml").read_text()
        + "\nclasses:\n  public-edge: {always_manual: false}\n",
    )
    repo.commit("postgres 17 without a note, and a relaxed policy")
    v = judge(repo)
    assert v.verdict.value == "stop"
    doc = checked(v)
    found = {(r, f) for r, f, _ in results(doc)}
    assert ("stop/major-without-migration-note", "compose/postgres.yml") in found
    assert ("stop/policy-relaxation", "stategate.yaml") in found
    stop_rule = rules(doc)["stop/policy-relaxation"]
    assert stop_rule["help"]["text"].startswith("A stop condition")
    assert all(
        r["level"] == "error" for r in doc["runs"][0]["results"] if r["ruleId"][:5] == "stop/"
    )


def test_a_module_declared_twice_stops_at_its_packet(repo: Repo) -> None:
    repo.replace("compose/postgres.yml", PG_OLD, PG_MINOR)
    pg_packet(repo, "pg-a", PG_MINOR)
    pg_packet(repo, "pg-b", PG_MINOR)
    repo.commit("two packets for one module")
    v = judge(repo)
    stop = next(s for s in v.stops if s.condition.value == "undeclared-change")
    assert stop.file is None  # the stop has no file of its own
    found = {(r, f) for r, f, _ in results(checked(v))}
    assert ("stop/undeclared-change", "compose/postgres.yml") in found


def test_fingerprints_survive_a_rerun_and_a_line_shift(repo: Repo) -> None:
    repo.replace("compose/postgres.yml", PG_OLD, PG_MINOR)
    repo.write("docs/run.md", "# Run\n\nThen run docker compose up -d postgres.\n")
    repo.commit("bump without packet, ungated doc")
    first = checked(judge(repo))
    assert checked(judge(repo)) == first  # a re-run is the same document
    repo.write(
        "docs/run.md", "# Run\n\nIntro.\n\nMore intro.\n\nThen run docker compose up -d postgres.\n"
    )
    compose = repo.path / "compose/postgres.yml"
    compose.write_text("# a comment above\n# and another\n" + compose.read_text())
    repo.commit("lines added above every finding")
    shifted = checked(judge(repo))

    def prints(doc: dict[str, Any]) -> dict[str, tuple[str, int | None]]:
        return {
            r["partialFingerprints"][FINGERPRINT_KEY]: (
                r["ruleId"],
                r["locations"][0]["physicalLocation"].get("region", {}).get("startLine"),
            )
            for r in doc["runs"][0]["results"]
        }

    before, after = prints(first), prints(shifted)
    assert before.keys() == after.keys()
    assert all(before[k][1] != after[k][1] for k in before)  # every line moved, no id did


def test_a_different_problem_gets_a_different_fingerprint(repo: Repo) -> None:
    repo.replace("compose/postgres.yml", PG_OLD, PG_MINOR)
    repo.commit("postgres without packet")
    pg = {
        r["ruleId"]: r["partialFingerprints"][FINGERPRINT_KEY]
        for r in checked(judge(repo))["runs"][0]["results"]
    }
    repo.replace("compose/postgres.yml", PG_MINOR, PG_OLD)
    repo.replace("compose/redis.yml", REDIS_OLD, "redis:7.2.6-alpine@sha256:" + "01" * 32)
    repo.commit("redis instead")
    rd = {
        r["ruleId"]: r["partialFingerprints"][FINGERPRINT_KEY]
        for r in checked(judge(repo))["runs"][0]["results"]
    }
    shared = pg.keys() & rd.keys()
    assert "merge/packet" in shared
    assert all(pg[k] != rd[k] for k in shared)


def test_cli_sarif_is_valid_and_matches_the_report(repo: Repo) -> None:
    repo.replace("compose/postgres.yml", PG_OLD, "postgres:16.6-alpine")
    repo.commit("floating tag")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "stategate",
            "check",
            "--repo",
            str(repo.path),
            "--base",
            "main",
            "--format",
            "sarif",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(SRC)},
    )
    assert done.returncode == 3, done.stderr
    doc = json.loads(done.stdout)
    sarif_validator().validate(doc)
    assert doc == checked(judge(repo))
    assert ("stop/floating-tag", "compose/postgres.yml") in {(r, f) for r, f, _ in results(doc)}


def test_the_vendored_schema_rejects_what_github_would() -> None:
    # the validator is not a rubber stamp: a result without a message fails it
    bad = {
        "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": "x"}}, "results": [{"ruleId": "r"}]}],
    }
    with pytest.raises(jsonschema.ValidationError):
        sarif_validator().validate(bad)


def test_a_stop_on_an_unchanged_module_points_at_its_first_packet(repo: Repo) -> None:
    redis = f"  - module: platform/redis\n    from: {REDIS_OLD}\n    to: {REDIS_OLD}\n"
    for pid in ("redis-a", "redis-b"):
        repo.write(f"packets/{pid}.yaml", f"id: {pid}\nmodules:\n{redis}allowed_paths: []\n")
    repo.commit("redis declared twice, changed nowhere")
    v = judge(repo)
    assert v.changes == []
    found = {(r, f) for r, f, _ in results(checked(v))}
    assert ("stop/undeclared-change", "packets/redis-a.yaml") in found


def test_file_names_become_uri_references_and_fingerprints_number_repeats() -> None:
    from stategate.diff.scan import Finding
    from stategate.policy.gate import VerdictKind

    same = Finding("docs-runtime-instruction", "docs/my notes:#1.md", 4, "runtime instruction")
    v = Verdict(
        verdict=VerdictKind.BLOCKED,
        stage="merge",
        changes=[],
        requirements=[],
        stops=[],
        findings=[same, Finding(same.rule, same.file, 9, same.message)],
        labels=[],
        touched_paths=[],
    )
    doc = checked(v)
    found = doc["runs"][0]["results"]
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in found}
    assert uris == {"docs/my%20notes%3A%231.md"}
    first, second = (r["partialFingerprints"][FINGERPRINT_KEY] for r in found)
    assert first.endswith(":1") and second.endswith(":2")
    assert first.split(":")[0] == second.split(":")[0]
