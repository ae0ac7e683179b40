"""One real signed chain for every attack: a demo run (real servers, CLI-made keys)
shared by the attack files, copied afresh for each test."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.attacks.test_trust_attacks import Chain
from tests.conftest import installed_cli


@pytest.fixture(scope="session")
def demo_chain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("chain") / "demo"
    done = subprocess.run(
        [installed_cli(), "demo", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
        env={k: v for k, v in os.environ.items() if not k.startswith("STATEGATE_")},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


@pytest.fixture
def chain(demo_chain: Path, tmp_path: Path) -> Iterator[Chain]:
    copy = tmp_path / "c"
    shutil.copytree(demo_chain, copy, symlinks=True)
    yield Chain(copy)
