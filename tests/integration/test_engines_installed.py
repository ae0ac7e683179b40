"""After scripts/setup.sh, the real engines the drills and rehearsals need are installed."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.conftest import installed_cli

pytestmark = pytest.mark.integration


def test_setup_installs_every_engine_the_issue_names() -> None:
    done = subprocess.run(
        [installed_cli(), "engines", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["schema"] == "stategate.engines/v1"
    have = {(e["engine"], ".".join(e["version"].split(".")[:2])) for e in doc["engines"]}
    majors = {(e["engine"], e["major"]) for e in doc["engines"]}
    assert {("postgresql", "15"), ("postgresql", "16"), ("postgresql", "18")} <= majors
    assert {("redis", "6.2"), ("redis", "7.0"), ("valkey", "8.1")} <= have
    assert ("seaweedfs", "4") in majors
    # every PostgreSQL build carries the tools a backup, a drill and a rehearsal use
    for entry in doc["engines"]:
        if entry["engine"] == "postgresql":
            assert {"pg_dump", "pg_restore", "initdb", "pg_upgrade", "pg_controldata"} <= set(
                entry["tools"]
            ), entry["path"]
