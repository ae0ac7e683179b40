"""Real git repositories in temporary directories, for integration tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.conftest import EXAMPLE


class Repo:
    def __init__(self, path: Path) -> None:
        self.path = path

    def git(self, *args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(self.path), *args], capture_output=True, text=True, check=True
        )
        return done.stdout

    def write(self, rel: str, text: str) -> None:
        target = self.path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")

    def replace(self, rel: str, old: str, new: str) -> None:
        target = self.path / rel
        text = target.read_text(encoding="utf-8")
        assert old in text, f"{old!r} not in {rel}"
        target.write_text(text.replace(old, new, 1), encoding="utf-8")

    def commit(self, message: str) -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD").strip()


def init_repo(path: Path, source: Path | None = None) -> Repo:
    path.mkdir(parents=True, exist_ok=True)
    if source is not None:
        shutil.copytree(source, path, dirs_exist_ok=True)
    repo = Repo(path)
    repo.git("init", "-q", "-b", "main")
    repo.git("config", "user.email", "test@example.test")
    repo.git("config", "user.name", "stategate tests")
    repo.git("config", "commit.gpgsign", "false")
    return repo


def platform_repo(path: Path) -> Repo:
    """The example platform committed on main, with a PR branch checked out."""
    repo = init_repo(path, EXAMPLE)
    repo.commit("platform")
    repo.git("checkout", "-q", "-b", "pr")
    return repo
