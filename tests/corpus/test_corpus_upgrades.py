"""Real upgrade commits (Renovate, Dependabot, manual) replayed in temporary git repos:
the changes stategate reports must equal what each commit did, as labelled in
tests/data/upgrade_labels.yaml (its header says how and which entries were re-checked).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from stategate.errors import InputError
from stategate.pullrequest import load_pull_request
from tests.conftest import REPO_ROOT, SHARED
from tests.gitrepo import init_repo

UPGRADES = SHARED / "corpus" / "upgrades"
LABELS = yaml.safe_load((REPO_ROOT / "tests" / "data" / "upgrade_labels.yaml").read_text())
pytestmark = [
    pytest.mark.corpus,
    pytest.mark.skipif(not UPGRADES.is_dir(), reason="../shared/corpus is not beside the project"),
]


def _id(entry: dict[str, Any]) -> str:
    return entry["case"] + ":" + "+".join(entry["files"])


def _replay(case: str, tmp_path: Path, entry: dict[str, Any]) -> Path:
    repo = init_repo(tmp_path / case)
    # copyfile, not copy2: a fresh mtime makes git see same-size edits (digest swaps)
    shutil.copytree(
        UPGRADES / case / "before", repo.path, dirs_exist_ok=True, copy_function=shutil.copyfile
    )
    _deploy(repo.path, entry)
    repo.commit("before")
    for child in repo.path.iterdir():
        if child.name != ".git":
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    shutil.copytree(
        UPGRADES / case / "after", repo.path, dirs_exist_ok=True, copy_function=shutil.copyfile
    )
    _deploy(repo.path, entry)
    repo.commit("after")
    return repo.path


def _deploy(root: Path, entry: dict[str, Any]) -> None:
    """What the case's deploy host provides (compose refuses the files without it): the
    variables it sets (``env``, as a .env) and the files it creates from templates
    (``deploy_files``, empty stand-ins)."""
    if entry.get("env"):
        lines = "".join(f"{key}={value}\n" for key, value in entry["env"].items())
        (root / ".env").write_text(lines, encoding="utf-8")
    for rel in entry.get("deploy_files") or []:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).touch()


@pytest.mark.parametrize("entry", LABELS["cases"], ids=_id)
def test_reported_changes_equal_the_commit(entry: dict[str, Any], tmp_path: Path) -> None:
    path = _replay(entry["case"], tmp_path, entry)
    if "refused" in entry:  # a case compose itself refuses
        with pytest.raises(InputError) as caught:
            load_pull_request(path, "HEAD~1", "HEAD", entry["files"])
        assert str(caught.value) == entry["refused"]
        return
    pr, _ = load_pull_request(path, "HEAD~1", "HEAD", entry["files"])
    got = {
        c.service: {
            "kind": c.kind.value,
            "from": c.from_image,
            "to": c.to_image,
            "semver": c.semver,
            "fields": sorted(c.fields),
        }
        for c in pr.changes
    }
    want = {
        c["service"]: {
            "kind": c["kind"],
            "from": c.get("from"),
            "to": c.get("to"),
            "semver": c.get("semver"),
            "fields": sorted(c.get("fields") or []),
        }
        for c in entry["changes"]
    }
    assert got == want
