"""Both sides of a pull request read mostly the same blobs: a blob is read from git once
per repository and shared by its trees, within a byte bound beyond which reads still
give the right bytes."""

from __future__ import annotations

from pathlib import Path

import pytest

from stategate import git as gitmod
from stategate.git import Git
from tests.gitrepo import init_repo


def _two_revisions(tmp_path: Path) -> tuple[Git, str, str]:
    repo = init_repo(tmp_path / "repo")
    repo.write("same.yaml", "services: {a: {image: x:1}}\n")
    repo.write("changed.yaml", "v: 1\n")
    base = repo.commit("base")
    repo.write("changed.yaml", "v: 2\n")
    head = repo.commit("head")
    return Git(repo.path), base, head


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    reads: list[str] = []
    original = gitmod.GitTree._read_one

    def counted(self: gitmod.GitTree, rel: str) -> bytes:
        reads.append(rel)
        return original(self, rel)

    monkeypatch.setattr(gitmod.GitTree, "_read_one", counted)
    return reads


def test_a_blob_both_trees_hold_is_read_from_git_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    git, base, head = _two_revisions(tmp_path)
    reads = _counting(monkeypatch)
    old, new = git.tree(base), git.tree(head)
    old.prefetch(["same.yaml", "changed.yaml"])
    new.prefetch(["same.yaml", "changed.yaml"])
    assert sorted(reads) == ["changed.yaml", "changed.yaml", "same.yaml"]
    for _ in range(3):  # kept, not consumed by the first read
        assert new.read_bytes("same.yaml") == old.read_bytes("same.yaml")
        assert (old.read_bytes("changed.yaml"), new.read_bytes("changed.yaml")) == (
            b"v: 1\n",
            b"v: 2\n",
        )
    assert len(reads) == 3


def test_beyond_the_bound_blobs_are_read_again_and_stay_right(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gitmod, "BLOB_CACHE_BYTES", 6)  # room for "v: 1\n" only
    git, base, head = _two_revisions(tmp_path)
    reads = _counting(monkeypatch)
    old, new = git.tree(base), git.tree(head)
    for _ in range(2):
        assert old.read_bytes("changed.yaml") == b"v: 1\n"
        assert new.read_bytes("changed.yaml") == b"v: 2\n"
        assert new.read_bytes("same.yaml") == b"services: {a: {image: x:1}}\n"
    assert git._blob_bytes <= 6
    # "v: 1" was kept; the others are read from git each time
    assert reads.count("changed.yaml") == 3 and reads.count("same.yaml") == 2
