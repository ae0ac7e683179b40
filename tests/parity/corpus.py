"""The corpus cases: every compose file of ../shared/corpus/compose on its own, and
each multi-file combination the corpus labels use (``-f path -f override ...``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.conftest import REPO_ROOT, SHARED

CORPUS = SHARED / "corpus" / "compose"
LABELS = REPO_ROOT / "tests" / "data" / "corpus_labels.yaml"
_COMPOSE_SUFFIXES = (".yml", ".yaml")


@dataclass(frozen=True)
class CorpusCase:
    repo: str  # the corpus repository's folder: the checkout root
    files: tuple[str, ...]  # relative to it
    env: tuple[tuple[str, str], ...] = ()

    @property
    def id(self) -> str:
        return self.repo + "/" + "+".join(self.files)

    @property
    def root(self) -> Path:
        return CORPUS / self.repo


def corpus_cases() -> list[CorpusCase]:
    if not CORPUS.is_dir():
        return []
    cases: list[CorpusCase] = []
    for path in sorted(CORPUS.rglob("*")):
        if path.is_file() and path.suffix in _COMPOSE_SUFFIXES:
            rel = path.relative_to(CORPUS).as_posix()
            repo, inside = rel.split("/", 1)
            cases.append(CorpusCase(repo, (inside,)))
    labels = yaml.safe_load(LABELS.read_text(encoding="utf-8"))
    for entry in labels["files"]:
        overrides = entry.get("overrides") or []
        if not overrides and not entry.get("env"):
            continue
        repo, first = entry["path"].split("/", 1)
        files = (first, *(o.split("/", 1)[1] for o in overrides))
        env = tuple(sorted((entry.get("env") or {}).items()))
        case = CorpusCase(repo, files, env)
        if case not in cases:
            cases.append(case)
    return cases
