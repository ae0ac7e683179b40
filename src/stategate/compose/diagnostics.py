"""Warnings collected while loading (unresolved variables, missing env files, ...)."""

from __future__ import annotations

from dataclasses import dataclass

from stategate.yamlfile import Loc


@dataclass(frozen=True, order=True)
class Warning:
    loc: Loc
    message: str

    def __str__(self) -> str:
        return f"{self.loc}: {self.message}"


class Diagnostics:
    def __init__(self) -> None:
        self._seen: set[Warning] = set()
        self.items: list[Warning] = []

    def warn(self, loc: Loc, message: str) -> None:
        w = Warning(loc, message)
        if w not in self._seen:
            self._seen.add(w)
            self.items.append(w)
