"""A local folder as a backup repository: today's artifacts folder, or any other.

A backup is a directory built under a ``.partial`` name and renamed into place
(:class:`~stategate.evidence.records.artifact.LocalFolder`).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO

from stategate.errors import ExternalError
from stategate.evidence.records.artifact import PARTIAL_SUFFIX, LocalFolder, safe_part_name


class LocalStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.where = str(root)

    def path(self, location: str, name: str = "") -> Path:
        folder = self.root / safe_part_name(location)
        return folder / safe_part_name(name) if name else folder

    def begin(self, location: str) -> LocalFolder:
        return LocalFolder(self.path(location))

    @contextmanager
    def reader(self, location: str, name: str) -> Iterator[IO[bytes]]:
        path = self.path(location, name)
        if path.is_symlink() or not path.is_file():
            raise ExternalError(f"repository {self.where}: {location}/{name} is missing")
        with open(path, "rb") as handle:
            yield handle

    def listing(self, location: str = "") -> Iterator[tuple[str, int]]:
        """(path relative to the root, size) of every file under ``location``; a backup
        being written (``.partial``) included: a killed one leaves it behind."""
        start = self.path(location) if location else self.root
        if not start.is_dir():
            return
        for path in sorted(start.rglob("*")):
            if path.is_file() and not path.is_symlink() and not path.name.startswith("."):
                yield path.relative_to(self.root).as_posix(), path.stat().st_size

    def incomplete(self) -> list[str]:
        return []  # a local backup is unfinished only as a .partial folder (an orphan)

    def remove(self, location: str) -> None:
        """Remove a backup's folder (and a ``.partial`` one); an error is raised, not
        ignored (a failed backup's cleanup suppresses it, a prune reports it)."""
        folder = self.path(location)  # safe_part_name: an empty location is refused
        for path in (folder, folder.with_name(folder.name + PARTIAL_SUFFIX)):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)

    def retain(self, location: str, until: datetime) -> bool:
        return False  # a folder has no Object Lock
