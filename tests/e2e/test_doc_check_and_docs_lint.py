"""`doc --check` (the committed gate document is not stale) and `docs-lint FILE...`,
the two commands the pre-commit hooks run, end to end with their exit codes."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE, installed_cli


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [installed_cli(), *args], capture_output=True, text=True, cwd=cwd, timeout=60
    )


@pytest.fixture
def platform(tmp_path: Path) -> Path:
    root = tmp_path / "platform"
    shutil.copytree(EXAMPLE, root)
    return root


def test_doc_check_passes_on_a_fresh_rendering_and_fails_when_stale(platform: Path) -> None:
    assert run("doc", "-o", "gate.md", cwd=platform).returncode == 0
    fresh = run("doc", "-o", "gate.md", "--check", cwd=platform)
    assert (fresh.returncode, fresh.stdout) == (0, "gate.md: up to date\n")
    assert (platform / "gate.md").read_bytes()  # --check wrote nothing over it
    policy = platform / "stategate.yaml"
    policy.write_text(
        policy.read_text().replace("name: example platform (W8.3)", "name: renamed"),
        encoding="utf-8",
    )
    stale = run("doc", "-o", "gate.md", "--check", cwd=platform)
    assert stale.returncode == 1
    assert stale.stdout.startswith("gate.md: stale:") and "stategate doc -o gate.md" in stale.stdout
    # a hand edit is stale too, even by one trailing byte
    assert run("doc", "-o", "gate.md", cwd=platform).returncode == 0
    with (platform / "gate.md").open("a", encoding="utf-8") as f:
        f.write("\n")
    assert run("doc", "-o", "gate.md", "--check", cwd=platform).returncode == 1


@pytest.mark.parametrize(
    ("args", "setup", "needle"),
    [
        (["--check"], None, "--check needs -o FILE"),
        (["-o", "none.md", "--check"], None, "none.md: missing; render it with"),
        (["-o", "bad.md", "--check"], b"\xff\xfe", "bad.md: not valid UTF-8"),
        (["-o", "fifo.md", "--check"], "fifo", "fifo.md: is a FIFO, not a regular file"),
    ],
)
def test_doc_check_input_errors(
    platform: Path, args: list[str], setup: bytes | str | None, needle: str
) -> None:
    if isinstance(setup, bytes):
        (platform / args[1]).write_bytes(setup)
    elif setup == "fifo":
        os.mkfifo(platform / args[1])
    done = run("doc", *args, cwd=platform)
    assert done.returncode == 2
    assert needle in done.stderr and "Traceback" not in done.stderr


UNGATED = "# Notes\n\n```sh operator-gated\ndocker compose pull postgres\n```\n\nThen run docker compose up -d postgres.\n"


def test_docs_lint_names_file_and_line(platform: Path) -> None:
    (platform / "notes.md").write_text(UNGATED, encoding="utf-8")
    clean = run("docs-lint", "README.md", "state/cycle/W8-module-upgrade-prep.md", cwd=platform)
    assert (clean.returncode, clean.stdout) == (0, "")
    found = run("docs-lint", "README.md", "notes.md", cwd=platform)
    assert found.returncode == 1
    assert found.stdout.splitlines() == [
        "notes.md:7: runtime instruction outside an operator-gated block (operator-gated)",
        "docs lint: 1 finding(s) in 2 file(s)",
    ]


def test_docs_lint_uses_the_policy_in_the_work_tree(platform: Path) -> None:
    (platform / "notes.md").write_text(
        "Ask the operator to reticulate splines.\n", encoding="utf-8"
    )
    assert run("docs-lint", "notes.md", cwd=platform).returncode == 0
    policy = platform / "stategate.yaml"
    policy.write_text(
        policy.read_text() + "\ndocs:\n  runtime_patterns: ['reticulate']\n", encoding="utf-8"
    )
    assert run("docs-lint", "notes.md", cwd=platform).returncode == 1


@pytest.mark.parametrize(
    ("files", "needle"),
    [
        (["nope.md"], "nope.md: file not found"),
        (["../outside.md"], "escapes the repository"),
        ([], "Missing argument"),
    ],
)
def test_docs_lint_input_errors(platform: Path, files: list[str], needle: str) -> None:
    (platform.parent / "outside.md").write_text(UNGATED, encoding="utf-8")
    done = run("docs-lint", *files, cwd=platform)
    assert done.returncode == 2
    assert needle in done.stderr and "Traceback" not in done.stderr


def test_the_generated_gate_document_passes_the_docs_lint(platform: Path) -> None:
    """The gate document names runtime steps (pg_upgrade in the rehearsal and the hazard
    advice): rendered inside operator-gated regions, so a PR that commits it is not
    blocked by the lint it describes."""
    assert run("doc", "-o", "gate.md", cwd=platform).returncode == 0
    text = (platform / "gate.md").read_text(encoding="utf-8")
    assert "pg_upgrade" in text
    linted = run("docs-lint", "gate.md", cwd=platform)
    assert linted.returncode == 0, linted.stdout + linted.stderr
