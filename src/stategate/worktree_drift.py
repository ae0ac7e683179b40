"""Uncommitted edits that ``check`` does not see: it judges commits, not the work tree."""

from __future__ import annotations

import posixpath
from collections.abc import Iterable

from stategate.git import Git

# what a verdict is made of besides compose files: the policy, packets, decision
# records, trust roots and evidence (compose files are any YAML or env file)
_MATTERING_DIRS = ("packets/", "decisions/", "trust/")


def matters(path: str, evidence_dir: str) -> bool:
    name = posixpath.basename(path)
    return (
        name.endswith((".yml", ".yaml", ".env"))
        or name in (".env", "Dockerfile")
        or path.startswith((*_MATTERING_DIRS, evidence_dir.strip("/") + "/"))
    )


def uncommitted(git: Git, evidence_dir: str) -> list[str]:
    """Paths that matter whose work-tree content differs from HEAD (edited, added,
    deleted or untracked), sorted."""
    out = git.run(
        "status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames", check=False
    )
    return sorted({p for p in _paths(out.split("\0")) if matters(p, evidence_dir)})


def _paths(entries: Iterable[str]) -> Iterable[str]:
    for entry in entries:
        if len(entry) > 3:
            yield entry[3:]


def summary(paths: list[str], limit: int = 5) -> str:
    shown = ", ".join(paths[:limit])
    return shown + (f" and {len(paths) - limit} more" if len(paths) > limit else "")
