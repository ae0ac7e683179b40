"""The pre-commit hooks (.pre-commit-hooks.yaml), run by pre-commit itself on a platform
repository made from the bundled example, each passing and failing.

pre-commit installs the hooks' environment the way a user's machine does: it pip-installs
a clone of this repository (its working state, committed into a temporary repository)
into a fresh virtualenv. That install is the slow part, so every test shares one
pre-commit store through `.pre-commit-config.yaml` and `pre-commit run`; `try-repo` does
the same from a fresh store on every call. The dependencies come from the wheelhouse
scripts/setup.sh downloads (.venv/wheelhouse), offline, when it is there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT
from tests.gitrepo import Repo, init_repo, platform_repo

pytestmark = pytest.mark.integration
HOOKS = ("stategate-docs-lint", "stategate-doc-check", "stategate-policy-check")


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """This repository's working state (tracked and new files), committed in a temp repo."""
    listed = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "ls-files", "-z", "-co", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout.decode()
    target = tmp_path_factory.mktemp("hook-repo")
    for rel in filter(None, listed.split("\0")):
        source = REPO_ROOT / rel
        if not os.path.lexists(source):  # deleted in the work tree, not yet in git
            continue
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target / rel, follow_symlinks=False)
    repo = init_repo(target)
    return target, repo.commit("stategate, as under test")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")


def pre_commit(
    platform: Repo, store: Path, *args: str, command: str = "run"
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the hook's own install
    env["PRE_COMMIT_HOME"] = str(store)
    env["PIP_NO_COMPILE"] = "1"
    wheelhouse = Path(sys.prefix) / "wheelhouse"
    if wheelhouse.is_dir():
        env.update(PIP_NO_INDEX="1", PIP_FIND_LINKS=str(wheelhouse))
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", command, *args, "--color", "never"],
        cwd=platform.path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def stategate(platform: Repo, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT / "src"))
    return subprocess.run(
        [sys.executable, "-m", "stategate", *args],
        cwd=platform.path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def platform(tmp_path: Path, hook_repo: tuple[Path, str]) -> Repo:
    """The example platform with its gate document and a config naming the three hooks."""
    repo = platform_repo(tmp_path / "platform")
    repo.git("checkout", "-q", "main")
    path, rev = hook_repo
    hooks: list[dict[str, str]] = [{"id": h} for h in HOOKS]
    config = {"repos": [{"repo": str(path), "rev": rev, "hooks": hooks}]}
    repo.write(".pre-commit-config.yaml", yaml.safe_dump(config, sort_keys=False))
    (repo.path / "docs").mkdir()
    assert stategate(repo, "doc", "-o", "docs/gate.md").returncode == 0
    repo.commit("gate document and hooks")
    return repo


def test_every_hook_passes_on_the_example_platform(
    platform: Repo, hook_repo: tuple[Path, str], tmp_path: Path
) -> None:
    """As a user tries the hooks before adding them: ``pre-commit try-repo`` (its own
    store: a fresh install of the hooks' environment)."""
    path, rev = hook_repo
    done = pre_commit(
        platform,
        tmp_path / "try-store",
        str(path),
        "--ref",
        rev,
        "--all-files",
        command="try-repo",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("stategate docs lint", "stategate gate document up to date"):
        assert any(
            line.startswith(name) and line.endswith("Passed") for line in done.stdout.splitlines()
        ), done.stdout
    assert "stategate policy check" in done.stdout


def test_a_broken_policy_fails_the_policy_hook(platform: Repo, store: Path) -> None:
    platform.replace("stategate.yaml", "version: 1", "version: 1\nforbidden_path: [x]")
    platform.commit("typo in the policy")
    done = pre_commit(platform, store, "stategate-policy-check", "--all-files")
    assert done.returncode != 0
    assert "stategate.yaml" in done.stdout and "forbidden_path" in done.stdout, done.stdout
    assert "Traceback" not in done.stdout


def test_a_stale_gate_document_fails_until_rendered_again(platform: Repo, store: Path) -> None:
    platform.replace("stategate.yaml", "name: example platform (W8.3)", "name: renamed platform")
    platform.commit("rename")
    done = pre_commit(platform, store, "stategate-doc-check", "--all-files")
    assert done.returncode == 1, done.stdout
    assert "docs/gate.md: stale" in done.stdout
    assert pre_commit(platform, store, "stategate-policy-check", "--all-files").returncode == 0
    assert stategate(platform, "doc", "-o", "docs/gate.md").returncode == 0
    platform.commit("render again")
    done = pre_commit(platform, store, "stategate-doc-check", "--all-files")
    assert done.returncode == 0, done.stdout


def test_the_docs_lint_hook_names_an_ungated_instruction(platform: Repo, store: Path) -> None:
    platform.write(
        "state/cycle/W8-notes.md",
        "# Notes\n\n```sh operator-gated\ndocker compose pull postgres\n```\n\n"
        "Then run docker compose up -d postgres.\n",
    )
    # not Markdown: the hook never sees it, though it names the same command
    platform.write("notes.txt", "docker compose up -d postgres\n")
    platform.commit("notes")
    done = pre_commit(platform, store, "stategate-docs-lint", "--all-files")
    assert done.returncode == 1, done.stdout
    assert (
        "state/cycle/W8-notes.md:7: runtime instruction outside an operator-gated block"
        in done.stdout
    )
    assert "notes.txt" not in done.stdout and "W8-notes.md:4" not in done.stdout
