"""The bundled example platform, as its policy loads it (``compose.files``,
``compose.env_file``) and as the host runs it (``docker compose --env-file .env -f ...``
with the host's secrets set), through Docker Compose and through ``stategate config``."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

from tests.conftest import EXAMPLE, installed_cli
from tests.parity.harness import allowlist, oracle_binary, run_in, run_stategate

pytestmark = pytest.mark.oracle
POLICY = yaml.safe_load((EXAMPLE / "stategate.yaml").read_text(encoding="utf-8"))["compose"]
HOST = {name: f"host-value-of-{name.lower()}" for name in POLICY["host_variables"]}


def test_the_example_platform_agrees_with_compose() -> None:
    binary = oracle_binary()
    if binary is None:
        pytest.skip("Docker Compose oracle not installed: run scripts/setup.sh")
    verdict = run_in(
        binary, EXAMPLE, POLICY["files"], HOST, (), allowlist(), env_file=POLICY["env_file"]
    )
    assert verdict.compose.model is not None, verdict.compose.error
    assert verdict.agrees, verdict.explain()


def test_stategate_config_prints_that_model_with_credentials_masked() -> None:
    argv = [installed_cli(), "config", "--repo", str(EXAMPLE), "--format", "json"]
    for name, value in HOST.items():
        argv += ["--env", f"{name}={value}"]
    done = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=EXAMPLE)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    model = run_stategate(EXAMPLE, POLICY["files"], HOST, (), POLICY["env_file"]).model
    assert model is not None
    text = json.dumps(printed)
    assert not any(value in text for value in HOST.values())  # masked, everywhere
    masked = json.loads(
        json.dumps(model)
        .replace(HOST["REDIS_PASSWORD"], "***")
        .replace(HOST["MINIO_ROOT_PASSWORD"], "***")
        .replace(HOST["MINIO_ROOT_USER"], "***")
    )
    assert printed == masked
