"""A :class:`~stategate.source.Source` over a dict of files (no disk, no git)."""

from __future__ import annotations

from stategate.source import clean_rel


class MemorySource:
    label = "<memory>"
    root_name = "repo"

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files

    def read_bytes(self, rel: str) -> bytes:
        path = clean_rel(rel, shown=rel)
        if path not in self.files:
            raise FileNotFoundError(rel)
        return self.files[path]

    def is_file(self, rel: str) -> bool:
        return clean_rel(rel, shown=rel) in self.files

    def list_files(self) -> list[str]:
        return sorted(self.files)
