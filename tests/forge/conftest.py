from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.forge.server import FakeForge

SRC = Path(__file__).resolve().parents[2] / "src"
TOKEN = "sgtok-5b1f0c9e-NEVER-PRINT-ME"
HEAD = "3f" * 20
FORGES = ["github", "gitea", "forgejo"]


def verdict_doc(
    verdict: str = "blocked", labels: tuple[str, ...] = (), **extra: Any
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schema": "stategate.verdict/v1",
        "verdict": verdict,
        "stage": "merge",
        "revisions": {"base": "1a" * 20, "head": HEAD},
        "changes": [
            {
                "module": "platform/postgres",
                "service": "postgres",
                "file": "compose/postgres.yml",
                "kind": "image-tag",
                "from": "postgres:16.4-alpine",
                "to": "postgres:16.6-alpine",
                "semver": "minor",
                "fields": [],
                "renamed_from": None,
            }
        ],
        "requirements": [
            {
                "id": "merge/backup",
                "module": "platform/postgres",
                "class": "stateful",
                "status": "missing" if verdict == "blocked" else "met",
                "hint": "take a backup",
            }
        ],
        "stops": [],
        "findings": [],
        "labels": list(labels),
        "touched_paths": ["compose/postgres.yml"],
        "packets": [],
        "evidence": [],
    }
    doc.update(extra)
    return doc


def write_verdict(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any forge/CI variable, plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GITHUB_", "GITEA_", "FORGEJO_", "STATEGATE_"))
    }
    env["PYTHONPATH"] = str(SRC) + os.pathsep + str(SRC.parent)
    env.update(extra)
    return env


def publish(
    forge: FakeForge | None,
    dialect: str,
    verdict: Path,
    *args: str,
    token: str | None = TOKEN,
    api_url: bool = True,
    env: dict[str, str] | None = None,
    repo: str | None = None,
) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "stategate", "publish", "--forge", dialect]
    if forge is not None:
        argv += ["--repo", repo or f"{forge.owner}/{forge.name}", "--pr", str(forge.pr)]
        if api_url:
            argv += ["--api-url", forge.url]
    argv += ["--verdict", str(verdict), *args]
    extra = dict(env or {})
    if token is not None:
        extra["STATEGATE_FORGE_TOKEN"] = token
    proc = subprocess.run(argv, capture_output=True, text=True, env=clean_env(**extra), timeout=120)
    # whatever happened, the token never reaches the terminal
    assert TOKEN not in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    return proc


@pytest.fixture(params=FORGES)
def forge(request: pytest.FixtureRequest) -> Iterator[FakeForge]:
    with FakeForge(request.param, TOKEN) as fake:
        yield fake
    assert fake.violations == [], fake.violations
