"""`check` shares work between the two sides of a pull request (parsed, interpolated and
validated compose documents; classified projects): its judgement must be exactly that of
loading each side on its own, on the generated platform of ``bench/check_speed.py``."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from stategate.policy.classify import Inventory
from stategate.policy.gate import evaluate_merge
from stategate.pullrequest import load_pull_request
from stategate.report.verdict import verdict_json
from tests.gitrepo import Repo, init_repo

BENCH = Path(__file__).resolve().parents[2] / "bench" / "check_speed.py"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_speed_bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


gen = _generator()
SERVICES = 120  # six stacks of twenty


def _inventory(inv: Inventory) -> dict[str, Any]:
    return {
        mid: {
            "classes": [c.value for c in m.classes],
            "reasons": [(r.cls.value, r.reason, str(r.loc), r.confidence) for r in m.reasons],
            "parent": m.parent,
            "dependents": m.dependents,
            "tier": m.tier,
            "near": [(n.cls.value, n.rule, n.why, str(n.loc)) for n in m.near_misses],
        }
        for mid, m in inv.modules.items()
    }


def judged(repo: Repo, *, share: bool) -> dict[str, Any]:
    pr, sides = load_pull_request(repo.path, "main", "HEAD", share=share)
    verdict = verdict_json(evaluate_merge(pr), (sides.base_rev, sides.head_rev))
    return {
        "verdict": verdict,
        "base": _inventory(sides.base.inventory),
        "head": _inventory(sides.head.inventory),
        "warnings": [str(w) for w in sides.head.warnings],
    }


def _edit(repo: Repo, rel: str, old: str, new: str) -> None:
    repo.replace(rel, old, new)


def bumps(repo: Repo) -> None:
    gen.write_files(repo.path, gen.platform_files(gen.Layout(SERVICES), after=True))


def volume(repo: Repo) -> None:
    """An app gains a writable data volume: it becomes stateful, and its sidecar facts
    (which services share data with it) change."""
    app = gen._name(1, 3)
    _edit(
        repo,
        "stacks/s00001/compose.yaml",
        f"  {app}:\n",
        f"  {app}:\n    volumes: ['{gen._name(1, 0)}-data:/srv/shared']\n",
    )


def env_file(repo: Repo) -> None:
    """The stack's .env changes a variable every service of it interpolates, and the data
    env file bumps postgres."""
    _edit(repo, "stacks/s00002/.env", "LOG_LEVEL=info", "LOG_LEVEL=warn\nTEAM=platform")
    _edit(repo, "stacks/s00002/data.env", "PG_TAG=16.5", "PG_TAG=17.0")


def include(repo: Repo) -> None:
    """The include points at a new data file that adds a migration job bound to postgres."""
    text = (repo.path / "stacks/s00003/data.yml").read_text()
    pg = gen._name(3, 0)
    job = (
        "  migrate:\n    image: ghcr.io/example/migrate:1.0\n    restart: 'no'\n"
        f"    command: ['migrate', 'up']\n    depends_on: [{pg}]\n"
    )
    repo.write("stacks/s00003/data-v2.yml", text.replace("services:\n", "services:\n" + job, 1))
    _edit(repo, "stacks/s00003/compose.yaml", "- path: data.yml", "- path: data-v2.yml")


def removed(repo: Repo) -> None:
    """The last web front-end of a stack goes: the service it depended on loses a
    dependent (its tier may drop), though nothing else in that project changed."""
    rel = "stacks/s00004/compose.yaml"
    text = (repo.path / rel).read_text()
    last = gen._name(4, gen.STACK - 1)
    start = text.index(f"  {last}:\n")
    repo.write(rel, text[:start])


def dependents_across(repo: Repo) -> None:
    """A project the PR leaves alone names another project's container: renaming that
    container moves its binding, though its own files did not change."""
    _edit(
        repo,
        "stacks/s00005/compose.yaml",
        "container_name: edge-proxy\n",
        "container_name: edge-proxy-old\n",
    )
    _edit(
        repo,
        "stacks/s00005/compose.yaml",
        f"  {gen._name(5, 2)}:\n",
        f"  {gen._name(5, 2)}:\n    container_name: edge-proxy\n",
    )


def shared_template(repo: Repo) -> None:
    """The file every stack's services extend changes: no project may be reused."""
    _edit(repo, "common/base.yml", '      QUEUE_CONCURRENCY: "4"', '      QUEUE_CONCURRENCY: "8"')


def dockerfile(repo: Repo) -> None:
    """Only a built service's Dockerfile changes: its project's compose files do not,
    but its image (the Dockerfile's base) does."""
    _edit(repo, "stacks/s00001/tool/Dockerfile", "FROM alpine:3.19", "FROM alpine:3.20")


def env_removed(repo: Repo) -> None:
    """A stack's .env goes: its compose files are the same, their interpolation is not
    (and it warns of the variables now unset)."""
    (repo.path / "stacks/s00002/.env").unlink()


def override_added(repo: Repo) -> None:
    """A stack gains an override file, merged after its compose.yaml."""
    repo.write(
        "stacks/s00003/compose.override.yaml",
        f"services:\n  {gen._name(3, 3)}:\n    image: ghcr.io/example/override:2.0.0@sha256:"
        + "ab" * 32
        + "\n",
    )


def _base(repo: Repo) -> None:
    gen.write_files(repo.path, gen.platform_files(gen.Layout(SERVICES), after=False))
    # a service built from a Dockerfile of its stack (its image is the Dockerfile's base)
    _edit(
        repo,
        "stacks/s00001/compose.yaml",
        "services:\n",
        "services:\n  tool:\n    build: ./tool\n",
    )
    repo.write("stacks/s00001/tool/Dockerfile", "FROM alpine:3.19\nRUN true\n")
    # a sidecar in stack 0 shares the network of a container stack 5 names
    _edit(
        repo,
        "stacks/s00000/compose.yaml",
        f"  {gen._name(0, 4)}:\n",
        f"  {gen._name(0, 4)}:\n    network_mode: 'container:edge-proxy'\n",
    )
    _edit(
        repo,
        "stacks/s00005/compose.yaml",
        f"  {gen._name(5, 5)}:\n",
        f"  {gen._name(5, 5)}:\n    container_name: edge-proxy\n",
    )


DIFFS: dict[str, Callable[[Repo], None]] = {
    "bumps": bumps,
    "volume": volume,
    "env-file": env_file,
    "include": include,
    "removed-service": removed,
    "dependents-across-projects": dependents_across,
    "shared-template": shared_template,
    "dockerfile": dockerfile,
    "env-file-removed": env_removed,
    "override-added": override_added,
}


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    repo = init_repo(tmp_path_factory.mktemp("incremental") / "platform")
    _base(repo)
    repo.commit("platform")
    return repo


@pytest.mark.parametrize("name", list(DIFFS))
def test_shared_and_separate_loads_judge_alike(platform: Repo, name: str) -> None:
    repo = platform
    repo.git("checkout", "-q", "-B", f"pr-{name}", "main")
    DIFFS[name](repo)
    repo.commit(name)
    shared, separate = judged(repo, share=True), judged(repo, share=False)
    assert shared["verdict"]["changes"], "the diff must change something the gate judges"
    assert shared == separate


def test_a_binding_across_projects_is_seen_by_the_diff(platform: Repo) -> None:
    """The case above that only a fresh look at the untouched project catches: its sidecar
    is bound to a container on the base and to another on the head."""
    repo = platform
    repo.git("checkout", "-q", "-B", "pr-across", "main")
    dependents_across(repo)
    repo.commit("across")
    shared = judged(repo, share=True)
    sidecar = f"s00000/{gen._name(0, 4)}"
    assert shared["base"][sidecar]["parent"] == f"s00005/{gen._name(5, 5)}"
    assert shared["head"][sidecar]["parent"] == f"s00005/{gen._name(5, 2)}"


def test_only_projects_whose_inputs_are_unchanged_are_reused(
    platform: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The head reuses a project the base loaded exactly when every file it read reads
    the same (one stack touched: the other five reused; the shared template touched:
    none)."""
    from stategate.compose import load

    replayed: list[tuple[str, bool]] = []
    original = load._Loader._replay

    def counting(self: Any, memo: Any) -> bool:
        done = original(self, memo)
        replayed.append((memo.project.name, done))
        return done

    monkeypatch.setattr(load._Loader, "_replay", counting)
    repo = platform
    stacks = [f"s{i:05d}" for i in range(SERVICES // gen.STACK)]
    for name, touched in (("volume", {"s00001"}), ("shared-template", set(stacks))):
        repo.git("checkout", "-q", "-B", f"pr-reuse-{name}", "main")
        DIFFS[name](repo)
        repo.commit(name)
        replayed.clear()
        judged(repo, share=True)
        reused = {project for project, done in replayed if done}
        assert reused == set(stacks) - touched, name


@pytest.mark.parametrize(
    "setting",
    ["    cpus: nan\n", "    deploy:\n      update_config:\n        max_failure_ratio: nan\n"],
)
def test_a_nan_setting_left_alone_is_no_change(tmp_path: Path, setting: str) -> None:
    """A NaN (compose casts ``nan`` to a float) equals itself: the unchanged stateful
    service is no config change, whether its project is loaded once or twice."""
    repo = init_repo(tmp_path / "nan")
    repo.write(
        "a/compose.yaml",
        f"services:\n  db:\n    image: postgres:16.4\n{setting}"
        "    volumes: ['pgdata:/var/lib/postgresql/data']\nvolumes:\n  pgdata: {}\n",
    )
    repo.write("b/compose.yaml", "services:\n  web:\n    image: nginx:1.25\n")
    repo.commit("base")
    repo.git("checkout", "-q", "-b", "pr")
    repo.write("b/compose.yaml", "services:\n  web:\n    image: nginx:1.27\n")
    repo.commit("bump")
    shared, separate = judged(repo, share=True), judged(repo, share=False)
    assert shared == separate
    assert [c["module"] for c in shared["verdict"]["changes"]] == ["b/web"]
