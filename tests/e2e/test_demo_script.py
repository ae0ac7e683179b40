"""scripts/demo.sh is never a silent minute: setup names each step on stderr, the demo's
own output alone is on stdout. The real scripts run in a copy of the checkout whose
``.venv`` is already set up (a stand-in python that installs nothing, and the install
stamps): what is tested is what the scripts print, not pip."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT


@pytest.fixture
def checkout() -> Iterator[Path]:
    # setup.sh checks the postgres user can reach .venv/engines: a traversable folder
    root = Path(tempfile.mkdtemp(prefix="stategate-setup-"))
    root.chmod(0o755)
    try:
        for rel in ("scripts/setup.sh", "scripts/demo.sh"):
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(REPO_ROOT / rel, root / rel)
        for name in ("lock.txt", "engines.txt", "oracle.txt"):
            (root / "requirements").mkdir(exist_ok=True)
            shutil.copy(REPO_ROOT / "requirements" / name, root / "requirements" / name)
        venv = root / ".venv"
        (venv / "bin").mkdir(parents=True)
        for folder, source in (("engines", "engines.txt"), ("oracle", "oracle.txt")):
            digest = hashlib.sha256((root / "requirements" / source).read_bytes()).hexdigest()
            (venv / folder).mkdir()
            (venv / folder / f".installed-{digest[:16]}").touch()
        _script(venv / "bin" / "python", 'echo "python $*" >> "$(dirname "$0")/../calls"')
        _script(venv / "bin" / "stategate", 'echo "the demo ran with: $*"')
        yield root
    finally:
        shutil.rmtree(root)


def _script(path: Path, body: str) -> None:
    path.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
    path.chmod(0o755)


def test_demo_sh_names_each_setup_step_on_stderr(checkout: Path, tmp_path: Path) -> None:
    # an apt-get that refuses: on a machine set up already, nothing is installed
    _script(tmp_path / "apt-get", 'echo "apt-get must not run here: $*" >&2; exit 9')
    done = subprocess.run(
        ["bash", str(checkout / "scripts" / "demo.sh"), "--out", "somewhere"],
        env={**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "the demo ran with: demo --out somewhere\n"
    lines = done.stderr.splitlines()
    assert lines[0] == "demo: preparing with scripts/setup.sh"
    steps = [line for line in lines if line.startswith("setup: ")]
    assert [s.split(" (")[0] for s in steps] == [
        "setup: system packages",
        "setup: Python dependencies",
        "setup: stategate itself",
    ]
    assert lines[-1].startswith("demo: starting")
    calls = (checkout / ".venv" / "calls").read_text(encoding="utf-8")
    assert "-r requirements/lock.txt" in calls and "--no-deps -e ." in calls
