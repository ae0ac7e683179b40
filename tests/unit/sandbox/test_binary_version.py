"""The sandbox asks the server binary it runs for its version: a path, or a bare name found
on PATH as running it would find it; a missing one is a clear error, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from stategate.errors import ExternalError
from stategate.sandbox.servers import binary_version


def _fake(path: Path, banner: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\necho '{banner}'\n")
    path.chmod(0o755)
    return path


def test_a_path_and_a_bare_name_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    binary = _fake(tmp_path / "bin" / "my-redis-server", "Redis server v=7.2.4 sha=0")
    assert binary_version(binary) == "Redis server v=7.2.4 sha=0"
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    assert binary_version("my-redis-server") == "Redis server v=7.2.4 sha=0"


def test_a_missing_binary_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ExternalError, match="command not found: no-such-server"):
        binary_version("no-such-server")
    with pytest.raises(ExternalError, match="command not found"):
        binary_version(tmp_path / "absent" / "postgres")
