"""The native RDB scanner is an optional extension: where no C compiler works (a
laptop's pre-commit hook environment), building stategate still succeeds, without it
(the RDB provider says so when it is needed; scripts/setup.sh refuses its absence)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT


def test_the_build_goes_on_without_a_compiler(tmp_path: Path) -> None:
    for rel in ("setup.py", "pyproject.toml", "README.md", "src/stategate/native/rdbscan.c"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO_ROOT / rel, tmp_path / rel)
    done = subprocess.run(
        [sys.executable, "setup.py", "-q", "build_ext", "--build-lib", "out"],
        cwd=tmp_path,
        env={**os.environ, "CC": "false"},  # a compiler that always fails
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert 'building extension "stategate.native.rdbscan" failed' in done.stderr
    assert not list(tmp_path.glob("out/**/rdbscan*"))
