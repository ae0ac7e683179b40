"""Read-only views of a platform repo: the work tree or one git revision.

Compose loading reads files only through a :class:`Source`, so the same code
judges the work tree and both sides of a pull request. Paths are repo-relative
POSIX paths; anything that would escape the repo (``..``, absolute paths,
symlinks pointing outside) is refused with a clear error.
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path
from typing import Protocol

from stategate.errors import InputError
from stategate.regularfile import read_regular, resolve_inside

MAX_FILE_BYTES = 4 * 1024 * 1024


class Source(Protocol):
    """A tree of files addressed by repo-relative POSIX paths."""

    label: str
    root_name: str  # directory name of the repo root (default project name)

    def read_bytes(self, rel: str) -> bytes:
        """Bytes of a file; raises FileNotFoundError when absent."""
        ...

    def is_file(self, rel: str) -> bool: ...

    def list_files(self) -> list[str]:
        """Every file in the tree (repo-relative), for discovery."""
        ...


def clean_rel(rel: str, *, shown: str | None = None, line: int | None = None) -> str:
    """Normalise a repo-relative path and refuse escapes (errors name ``shown``)."""
    if rel.startswith("/") or (len(rel) > 1 and rel[1] == ":"):
        raise InputError(f"absolute path {rel!r} is outside the repository", file=shown, line=line)
    if "\x00" in rel:
        raise InputError(f"path {rel!r} holds a NUL byte", file=shown, line=line)
    norm = posixpath.normpath(rel.replace("\\", "/"))
    if norm == ".." or norm.startswith("../"):
        raise InputError(f"path {rel!r} escapes the repository", file=shown, line=line)
    return "" if norm == "." else norm


def join(base_dir: str, rel: str, *, shown: str | None = None, line: int | None = None) -> str:
    """Resolve ``rel`` against a repo-relative directory, refusing escapes."""
    if rel.startswith("/"):
        return clean_rel(rel, shown=shown, line=line)
    joined = posixpath.join(base_dir, rel) if base_dir else rel
    return clean_rel(joined, shown=shown or rel, line=line)


class WorkTree:
    """The files on disk under ``root``."""

    _SKIP_DIRS = frozenset({".git", "node_modules", ".venv", "__pycache__"})

    def __init__(self, root: Path) -> None:
        self.root = Path(os.path.realpath(root))
        self.label = str(root)
        self.root_name = self.root.name
        if not self.root.is_dir():
            raise InputError("repository directory not found", file=str(root))

    def _path(self, rel: str) -> Path:
        return resolve_inside(self.root / clean_rel(rel, shown=rel), self.root, shown=rel)

    def read_bytes(self, rel: str) -> bytes:
        return read_regular(
            self.root / clean_rel(rel, shown=rel), MAX_FILE_BYTES, shown=rel, root=self.root
        )

    def is_file(self, rel: str) -> bool:
        """Whether ``rel`` names something other than a directory. An escape (``..``,
        a symlink out of the repo) is an error, not a missing file; a FIFO, device
        or symlink loop counts as present, so reading it reports what it is."""
        path = self._path(rel)
        return os.path.lexists(path) and not path.is_dir()

    def list_files(self) -> list[str]:
        found: list[str] = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = sorted(d for d in dirnames if d not in self._SKIP_DIRS)
            rel_dir = os.path.relpath(dirpath, self.root)
            for name in sorted(filenames):
                rel = name if rel_dir == "." else f"{rel_dir}/{name}"
                found.append(rel.replace(os.sep, "/"))
        return found
