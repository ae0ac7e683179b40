"""Real outputs validate against the published schemas: `check --format json` for each
merge-stage verdict on real pull requests, `classify --format json` and `--explain`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from stategate.schemas import find, load
from tests.conftest import EXAMPLE
from tests.gitrepo import Repo, platform_repo

SRC = Path(__file__).resolve().parents[2] / "src"
PG_OLD = (
    "postgres:16.4-alpine@sha256:963dbe32ce63a7c52ced1eddc8ad975efb564238419e88628e701469a8226a8e"
)
PG_MINOR = "postgres:16.6-alpine@sha256:" + "ab" * 32


def validate(name: str, doc: Any) -> None:
    jsonschema.Draft202012Validator(
        load(find(name)), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    ).validate(doc)


def sg(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stategate", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(SRC)},
    )


def pg_packet(repo: Repo) -> None:
    repo.write(
        "packets/pg-16-6.yaml",
        f"id: pg-16-6\nmodules:\n  - module: platform/postgres\n    from: {PG_OLD}\n"
        f"    to: {PG_MINOR}\n    rollback: {{to: '{PG_OLD}', needs_restore: false}}\n"
        "allowed_paths:\n  - compose/postgres.yml\n",
    )


SCENARIOS = {
    "pass": lambda repo: repo.write("state/cycle/notes.md", "# Notes\n"),
    "blocked": lambda repo: (
        repo.replace("compose/postgres.yml", PG_OLD, PG_MINOR),
        repo.write("docs/run.md", "Then run docker compose up -d postgres.\n"),
    ),
    "ready_for_operator": lambda repo: (
        repo.replace("compose/postgres.yml", PG_OLD, PG_MINOR),
        pg_packet(repo),
    ),
    "stop": lambda repo: repo.replace("compose/postgres.yml", PG_OLD, "postgres:16.6-alpine"),
}
EXIT = {"pass": 0, "blocked": 1, "ready_for_operator": 0, "stop": 3}


@pytest.mark.parametrize("verdict", list(SCENARIOS))
def test_check_json_of_each_verdict_matches_the_schema(tmp_path: Path, verdict: str) -> None:
    repo = platform_repo(tmp_path / "p")
    SCENARIOS[verdict](repo)
    repo.commit(verdict)
    done = sg("check", "--repo", str(repo.path), "--base", "main", "--format", "json")
    assert done.returncode == EXIT[verdict], done.stderr
    doc = json.loads(done.stdout)
    assert doc["verdict"] == verdict
    validate("verdict", doc)
    if verdict != "pass":
        assert doc["changes"] or doc["requirements"] or doc["stops"]


def test_classify_json_and_explain_match_their_schemas() -> None:
    done = sg("classify", "--repo", str(EXAMPLE), "--format", "json")
    assert done.returncode == 0, done.stderr
    inventory = json.loads(done.stdout)
    validate("inventory", inventory)
    assert inventory["modules"]
    for module in inventory["modules"][:3]:
        explained = sg(
            "classify", "--repo", str(EXAMPLE), "--explain", module["id"], "--format", "json"
        )
        assert explained.returncode == 0, explained.stderr
        validate("explain", json.loads(explained.stdout))
    # and the schema is not a rubber stamp: a module missing its reasons fails
    broken = {
        **inventory,
        "modules": [{k: v for k, v in inventory["modules"][0].items() if k != "reasons"}],
    }
    with pytest.raises(jsonschema.ValidationError):
        validate("inventory", broken)
