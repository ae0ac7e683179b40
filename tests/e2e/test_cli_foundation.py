"""The installed CLI, end to end: exit codes, one-line errors, the gate document."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE, Tree, installed_cli


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [installed_cli(), *args], capture_output=True, text=True, cwd=cwd, timeout=60
    )


def test_classify_json_on_the_example() -> None:
    proc = run("classify", "--repo", str(EXAMPLE), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    ids = {m["id"] for m in doc["modules"]}
    assert {"platform/minio-init", "platform/minio", "platform/redis", "platform/postgres"} <= ids


def test_classify_table_is_readable() -> None:
    proc = run("classify", "--repo", str(EXAMPLE))
    assert proc.returncode == 0
    assert "platform/postgres" in proc.stdout and "core" in proc.stdout


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"services:\n  a: [\n", "invalid YAML"),
        (b"services:\n  a: !!python/object:os.system {}\n", "unsupported YAML tag"),
        (b"services:\n  a:\n    image: caf\xe9\n", "not valid UTF-8"),
        (b"include: [missing.yml]\n", "include target missing.yml not found"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, content: bytes, needle: str) -> None:
    (tmp_path / "compose.yml").write_bytes(content)
    proc = run("classify", "--repo", str(tmp_path))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert needle in proc.stderr
    assert "compose.yml" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_relaxing_policy_exits_with_stop(tree: Tree) -> None:
    root = tree({"stategate.yaml": "classes:\n  auth: {always_manual: false}\n"})
    proc = run("policy", "check", "--repo", str(root))
    assert proc.returncode == 3
    assert "stategate.yaml:2" in proc.stdout


def test_invalid_policy_lists_every_error(tree: Tree) -> None:
    root = tree({"stategate.yaml": "version: 2\nfreshness: {backup_max_age_hours: x}\n"})
    proc = run("policy", "check", "--repo", str(root))
    assert proc.returncode == 2
    assert "stategate.yaml:1: version" in proc.stderr
    assert "stategate.yaml:2: freshness.backup_max_age_hours" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_policy_schema_is_json_schema() -> None:
    proc = run("policy", "schema")
    schema = json.loads(proc.stdout)
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert "modules" in schema["properties"]
    assert schema["properties"]["freshness"]


def test_gate_doc_has_every_section_and_the_four_examples() -> None:
    proc = run("doc", "--repo", str(EXAMPLE))
    assert proc.returncode == 0
    text = proc.stdout
    for heading in (
        "## Two stages",
        "### stateful",
        "### sidecar-bound",
        "### secret-bearing",
        "### public-edge",
        "### auth",
        "### privileged",
        "## When the full sandbox DR drill is mandatory",
        "## Stop conditions",
        "### minio-init (`platform/minio-init`)",
        "### minio (`platform/minio`)",
        "### redis (`platform/redis`)",
        "### postgres (`platform/postgres`)",
    ):
        assert heading in text, heading
    assert "Repo-only packet PR" in text and "Runtime apply/recreate" in text
    # the known image hazards, each with its upstream source; the always-on trust stop
    assert "## Known image hazards" in text
    for hazard in ("postgres-18-pgdata", "redis-rdb-version", "minio-legacy-fs"):
        assert f"`hazard/{hazard}`" in text
    assert "https://github.com/docker-library/postgres/pull/1259" in text
    assert "changes its own trust inputs" in text
    # metadata-only: no imperative runtime commands
    for phrase in ("docker compose up", "docker compose pull", "pg_restore ", "run now"):
        assert phrase not in text


def test_gate_doc_follows_the_policy(tmp_path: Path) -> None:
    repo = tmp_path / "platform"
    shutil.copytree(EXAMPLE, repo, symlinks=True)
    before = run("doc", "--repo", str(repo)).stdout
    policy = repo / "stategate.yaml"
    policy.write_text(
        policy.read_text()
        + "\nfreshness: {backup_max_age_hours: 6}\ndr_drill: {mode: core-and-broad}\n"
        + "classes:\n  secret-bearing: {always_manual: true, manual_reason: security-sensitive}\n"
    )
    after = run("doc", "--repo", str(repo)).stdout
    assert before != after
    assert "at most 24 hours old" in before and "at most 6 hours old" in after
    assert "policy mode `strict`" in before and "policy mode `core-and-broad`" in after
    assert (
        "a major version changes on a stateful module"
        not in after.split("## Stop")[0].split("mandatory before an apply")[1]
    )
    secret_section = after.split("### secret-bearing")[1].split("###")[0]
    assert "Always manual: label `merge/manual-security-sensitive`" in secret_section
