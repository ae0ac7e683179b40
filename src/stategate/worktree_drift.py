"""Uncommitted edits that ``check`` does not see: it judges commits, not the work tree."""

from __future__ import annotations

from collections.abc import Iterable

from stategate.git import Git


def uncommitted(git: Git) -> list[str]:
    """Paths whose work-tree content differs from HEAD (edited, added, deleted or
    untracked, not ignored), sorted. Every one may matter: besides compose files, the
    policy, packets, decisions and evidence, check reads any Markdown (the docs lint),
    any added file (the secret scan, allowed and forbidden paths)."""
    out = git.run(
        "status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames", check=False
    )
    return sorted(set(_paths(out.split("\0"))))


def _paths(entries: Iterable[str]) -> Iterable[str]:
    for entry in entries:
        if len(entry) > 3:
            yield entry[3:]


def summary(paths: list[str], limit: int = 5) -> str:
    shown = ", ".join(paths[:limit])
    return shown + (f" and {len(paths) - limit} more" if len(paths) > limit else "")
