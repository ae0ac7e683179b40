"""The composite action (action.yml): valid metadata, no expression inside a script, and
its scripts run for real on a pull request in a temporary git repository.

The runner is simulated in the smallest honest way: each `run:` step's script goes to
`bash -eo pipefail` (as the runner runs `shell: bash`) with its `env:` evaluated from the
inputs and a pull_request event; GITHUB_OUTPUT and GITHUB_PATH are files read back. The
install step (pip install of this repository) and `uses:` steps are left out: stategate
comes from this checkout, and `stategate publish` (a forge's API) is a recording stub.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.ci.expressions import evaluate
from tests.conftest import REPO_ROOT
from tests.gitrepo import Repo, platform_repo

ACTION = REPO_ROOT / "action.yml"
SCHEMA = REPO_ROOT / "tests" / "ci" / "schemastore" / "github-action.json"


def load_action() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(ACTION.read_text(encoding="utf-8"))
    return doc


def schema_problems(doc: dict[str, Any]) -> list[str]:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema)
    return [e.message for e in validator.iter_errors(doc)]


def test_action_metadata_is_valid() -> None:
    assert schema_problems(load_action()) == []


def test_the_schema_refuses_broken_metadata() -> None:
    broken = load_action()
    del broken["runs"]["steps"][2]["shell"]  # a composite run step without its shell
    assert schema_problems(broken)
    broken = load_action()
    broken["inputs"]["stage"]["defualt"] = "merge"
    assert schema_problems(broken)


def test_every_input_and_output_is_documented() -> None:
    action = load_action()
    for section in ("inputs", "outputs"):
        for name, spec in action[section].items():
            assert spec.get("description", "").strip(), f"{section}.{name}"


def test_no_expression_is_interpolated_into_a_script() -> None:
    """Event data (branch names, titles) reach scripts only through env: (no injection)."""
    steps = load_action()["runs"]["steps"]
    scripts = [s["run"] for s in steps if "run" in s]
    assert len(scripts) == 4
    for script in scripts:
        assert "${{" not in script


# --- the scripts, run ---------------------------------------------------------------


@dataclass
class Run:
    code: int
    outputs: dict[str, str]
    log: str
    published: list[str] | None = None
    token_seen: bool = False
    steps_run: list[str] = field(default_factory=list)


STUB = """#!/bin/bash
# stategate, with `publish` recorded instead of reaching a forge
if [ "$1" = check ] && [ -n "${FAKE_VERDICT:-}" ]; then
  # a verdict this repository cannot reach without operator approvals (approved): the
  # judgement is stubbed, the action's handling of it is what runs
  out=""; prev=""
  for arg in "$@"; do [ "$prev" = -o ] && out="$arg"; prev="$arg"; done
  printf '{"verdict": "%s"}\\n' "$FAKE_VERDICT" > "$out"
  exit "${FAKE_CODE:-0}"
fi
if [ "$1" = publish ]; then
  printf '%s\\n' "$@" > "$PUBLISH_LOG"
  [ -n "${STATEGATE_FORGE_TOKEN:-}" ] && echo token > "$PUBLISH_LOG.token"
  exit "${PUBLISH_EXIT:-0}"
fi
exec "$STATEGATE_PYTHON" -m stategate "$@"
"""


def run_action(
    repo: Repo,
    tmp: Path,
    inputs: dict[str, str],
    event: dict[str, Any] | None,
    env: dict[str, str] | None = None,
    actor: str = "someone",
) -> Run:
    action = load_action()
    given = {name: spec.get("default", "") for name, spec in action["inputs"].items()}
    given["token"] = "test-token-not-a-secret"
    given.update(inputs)
    temp = tmp / "runner-temp"
    temp.mkdir(parents=True)
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    stub = bin_dir / "stategate"
    stub.write_text(STUB, encoding="utf-8")
    stub.chmod(0o755)
    log = tmp / "publish.log"
    context: dict[str, Any] = {
        "inputs": given,
        "github": {
            "action_path": str(REPO_ROOT),
            "repository": "platform/infra",
            "api_url": "https://forge.example.test/api/v1",
            "event": event or {},
            "actor": actor,
        },
        "runner": {"temp": str(temp)},
        "steps": {},
    }
    base_env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "HOME": os.environ.get("HOME", str(tmp)),
        "PYTHONPATH": str(REPO_ROOT / "src"),
        "STATEGATE_PYTHON": sys.executable,
        "PUBLISH_LOG": str(log),
        "RUNNER_TEMP": str(temp),
        **(env or {}),
    }
    result = Run(code=0, outputs={}, log="")
    for index, step in enumerate(action["runs"]["steps"]):
        if "uses" in step or step.get("id") == "install":
            continue
        assert "if" not in step, "a step condition this simulation does not evaluate"
        output_file = tmp / f"output-{index}"
        output_file.touch()
        env = dict(base_env)
        env["GITHUB_OUTPUT"] = str(output_file)
        env["GITHUB_PATH"] = str(tmp / "path")
        for name, value in step.get("env", {}).items():
            env[name] = evaluate(str(value), context)
        cwd = repo.path / evaluate(step.get("working-directory", "."), context)
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        result.steps_run.append(step["name"])
        result.log += done.stdout + done.stderr
        outputs = dict(
            line.split("=", 1) for line in output_file.read_text().splitlines() if "=" in line
        )
        if step.get("id"):
            context["steps"][step["id"]] = {"outputs": outputs}
        if step.get("id") == "check":
            result.outputs = outputs
        if done.returncode != 0:  # the runner skips the rest of a failed composite action
            result.code = done.returncode
            break
    if log.exists():
        result.published = log.read_text().splitlines()
        result.token_seen = Path(f"{log}.token").exists()
    return result


def pr_event(repo: Repo, number: int = 7, head_repo: str = "platform/infra") -> dict[str, Any]:
    return {
        "pull_request": {
            "number": number,
            "base": {"sha": repo.git("rev-parse", "main").strip()},
            "head": {
                "sha": repo.git("rev-parse", "HEAD").strip(),
                "repo": {"full_name": head_repo},
            },
        }
    }


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return platform_repo(tmp_path / "platform")


@pytest.mark.integration
def test_a_passing_pr_is_published_and_the_job_succeeds(repo: Repo, tmp_path: Path) -> None:
    repo.write("state/cycle/W8-notes.md", "# Notes\n\nThe backup of postgres must exist.\n")
    repo.commit("docs")
    run = run_action(repo, tmp_path, {"forge": "forgejo"}, pr_event(repo))
    assert run.code == 0, run.log
    assert run.outputs["exit-code"] == "0" and run.outputs["verdict"] == "pass"
    verdict = json.loads(Path(run.outputs["verdict-json"]).read_text())
    assert verdict["verdict"] == "pass"
    sarif = json.loads(Path(run.outputs["sarif"]).read_text())
    assert sarif["version"] == "2.1.0"
    assert run.published == [
        "publish", "--forge", "forgejo", "--repo", "platform/infra", "--pr", "7",
        "--verdict", run.outputs["verdict-json"],
        "--api-url", "https://forge.example.test/api/v1",
    ]  # fmt: skip
    assert run.token_seen
    assert "test-token-not-a-secret" not in run.log


@pytest.mark.integration
def test_a_blocked_pr_is_still_published_then_the_job_fails_with_1(
    repo: Repo, tmp_path: Path
) -> None:
    repo.write("state/cycle/W8-notes.md", "# Notes\n\nThen run docker compose up -d postgres.\n")
    repo.commit("docs")
    run = run_action(repo, tmp_path, {"api-url": "https://ghe.example.test/api/v3"}, pr_event(repo))
    assert run.code == 1, run.log
    assert run.outputs["verdict"] == "blocked" and run.outputs["exit-code"] == "1"
    assert run.published is not None and run.published[:3] == ["publish", "--forge", "github"]
    assert run.published[-2:] == ["--api-url", "https://ghe.example.test/api/v3"]
    # the last step ran: it is the one that failed the job
    assert run.steps_run[-1] == "Fail the job with the verdict's exit code"


@pytest.mark.integration
def test_an_input_error_publishes_nothing_and_fails_with_2(repo: Repo, tmp_path: Path) -> None:
    repo.write("state/cycle/W8-notes.md", "# Notes\n")
    repo.commit("docs")
    # the extra args (a multi-line input) reach `check`: a compose file on neither side
    run = run_action(repo, tmp_path, {"args": "-f\n  compose/nothing.yml\n"}, pr_event(repo))
    assert run.code == 2, run.log
    assert "compose/nothing.yml" in run.log
    assert run.outputs == {"exit-code": "2"}
    assert run.published is None
    assert "no verdict to publish" in run.log


@pytest.mark.integration
def test_publish_off_and_a_bad_stage(repo: Repo, tmp_path: Path) -> None:
    repo.write("state/cycle/W8-notes.md", "# Notes\n")
    repo.commit("docs")
    run = run_action(repo, tmp_path / "a", {"publish": "false"}, pr_event(repo))
    assert run.code == 0 and run.published is None, run.log
    run = run_action(repo, tmp_path / "b", {"stage": "deploy"}, pr_event(repo))
    assert run.code == 2 and "stage must be merge or apply" in run.log
    run = run_action(repo, tmp_path / "c", {"publish": "yes"}, pr_event(repo))
    assert run.code == 2 and "publish must be true or false" in run.log


@pytest.mark.integration
def test_without_a_pull_request_nothing_is_published(repo: Repo, tmp_path: Path) -> None:
    """A manual run without a PR number (apply stage, base and head given) reports only."""
    repo.write("state/cycle/W8-notes.md", "# Notes\n")
    head = repo.commit("docs")
    run = run_action(repo, tmp_path, {"base": "main", "head": head}, event=None)
    assert run.code == 0, run.log
    assert run.published is None and "nothing published" in run.log


# --- the apply stage: only `approved` authorises ---------------------------------------


@pytest.mark.integration
def test_the_apply_stage_fails_on_a_pass(repo: Repo, tmp_path: Path) -> None:
    repo.write("state/cycle/W8-notes.md", "# Notes\n\nThe backup of postgres must exist.\n")
    head = repo.commit("docs")
    run = run_action(
        repo, tmp_path, {"stage": "apply", "publish": "false", "base": "main", "head": head}, None
    )
    assert run.outputs["exit-code"] == "0", run.log
    assert run.outputs["verdict"] != "approved"
    assert run.code == 1, run.log
    assert "only when the verdict is approved" in run.log


@pytest.mark.parametrize(
    ("verdict", "code"),
    [("approved", 0), ("pass", 1), ("ready_for_operator", 1)],
)
def test_the_apply_stage_succeeds_only_on_approved(
    repo: Repo, tmp_path: Path, verdict: str, code: int
) -> None:
    repo.write("state/cycle/W8-notes.md", "# Notes\n")
    head = repo.commit("docs")
    inputs = {"stage": "apply", "publish": "false", "base": "main", "head": head}
    run = run_action(repo, tmp_path, inputs, None, env={"FAKE_VERDICT": verdict})
    assert run.outputs["verdict"] == verdict, run.log
    assert run.code == code, run.log
    # the merge stage takes the same verdicts as a success
    run = run_action(
        repo, tmp_path / "merge", {**inputs, "stage": "merge"}, None, env={"FAKE_VERDICT": verdict}
    )
    assert run.code == 0, run.log


def test_an_apply_after_the_merge_is_refused(repo: Repo, tmp_path: Path) -> None:
    """After the PR merged, main is the merge commit: judged from main, nothing changed."""
    repo.write("state/cycle/W8-notes.md", "# Notes\n")
    head = repo.commit("docs")
    repo.git("checkout", "-q", "main")
    repo.git("merge", "-q", "--no-ff", "-m", "merge", head)
    merged = repo.git("rev-parse", "HEAD").strip()
    for base, given_head in (("main", merged), ("main", head), (merged, "")):
        inputs = {"stage": "apply", "publish": "false", "base": base, "head": given_head}
        run = run_action(repo, tmp_path / f"{base}-{given_head}", inputs, None)
        assert run.code == 2, run.log
        assert "give the pre-merge base and the merge commit as base/head" in run.log
        assert run.outputs == {"exit-code": "2"}
    # the fix the message names: the pre-merge base and the merge commit
    pre_merge = repo.git("rev-parse", "main^1").strip()
    inputs = {"stage": "apply", "publish": "false", "base": pre_merge, "head": merged}
    run = run_action(repo, tmp_path / "fixed", inputs, None, env={"FAKE_VERDICT": "approved"})
    assert run.code == 0, run.log


def test_the_apply_stage_needs_a_base(repo: Repo, tmp_path: Path) -> None:
    run = run_action(repo, tmp_path, {"stage": "apply", "publish": "false"}, None)
    assert run.code == 2 and "the apply stage needs a base" in run.log


# --- publishing: forks, Dependabot, a failed publish ----------------------------------


@pytest.mark.integration
def test_a_pr_from_a_fork_is_not_published(repo: Repo, tmp_path: Path) -> None:
    repo.write("state/cycle/W8-notes.md", "# Notes\n\nThen run docker compose up -d postgres.\n")
    repo.commit("docs")
    run = run_action(repo, tmp_path, {}, pr_event(repo, head_repo="someone/infra"))
    assert run.published is None and "comes from another repository" in run.log
    assert run.code == 1, run.log  # the verdict still decides the job
    run = run_action(repo, tmp_path / "bot", {}, pr_event(repo), actor="dependabot[bot]")
    assert run.published is None and "Dependabot" in run.log
    assert run.code == 1, run.log


@pytest.mark.parametrize(("verdict", "code"), [("blocked", 1), ("stop", 3), ("pass", 2)])
def test_a_failed_publish_never_hides_the_verdict(
    repo: Repo, tmp_path: Path, verdict: str, code: int
) -> None:
    repo.write("state/cycle/W8-notes.md", "# Notes\n")
    repo.commit("docs")
    run = run_action(
        repo,
        tmp_path,
        {},
        pr_event(repo),
        env={"FAKE_VERDICT": verdict, "FAKE_CODE": str(code if verdict != "pass" else 0),
             "PUBLISH_EXIT": "2"},
    )  # fmt: skip
    assert run.published is not None, run.log
    assert "publish failed (exit 2)" in run.log
    assert run.steps_run[-1] == "Fail the job with the verdict's exit code"
    assert run.code == code, run.log
    if verdict == "pass":
        assert "publishing it failed" in run.log
