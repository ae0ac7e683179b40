"""The bundled example platform (package data), used by ``doc`` and the demo."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def example_root() -> Path:
    """Directory of the bundled example platform repo."""
    root = resources.files("stategate") / "data" / "example_platform"
    return Path(str(root))
