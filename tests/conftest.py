from __future__ import annotations

import shutil
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = REPO_ROOT / "src" / "stategate" / "data" / "example_platform"
SHARED = REPO_ROOT.parent / "shared"

Tree = Callable[[dict[str, str]], Path]


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    """Write files (dedented) under a fresh directory and return it."""

    def write(files: dict[str, str]) -> Path:
        for rel, text in files.items():
            path = tmp_path / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return tmp_path

    return write


def installed_cli() -> str:
    """The installed ``stategate`` console script (beside this interpreter, else on PATH)."""
    beside = Path(sys.executable).parent / "stategate"
    found = str(beside) if beside.exists() else shutil.which("stategate")
    if not found:
        raise RuntimeError("the stategate console script is not installed (pip install -e .)")
    return found
