"""Seeded canary credentials never reach any output, report, record or the ledger.

Distinctive canary values are seeded wherever a platform repo holds credentials
(environment entries, ``.env``, an ``env_file``, a compose secret file, a URL
password, a build arg, a healthcheck, a basic-auth label, a doc sentence, a
``--env`` option), next to the real passwords and keys of the stand-in
PostgreSQL, Redis and S3 servers. Then every command that prints or writes runs
through the CLI, in every format, and stdout, stderr, every report, every
evidence record (each DSSE payload decoded) and the ledger are searched for each
canary, plain and encoded (base64 at any offset, URL-encoded, JSON-escaped).
The same search run over the seeded inputs finds every canary there, so a clean
result means the values were used and kept out, not that the search is blind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from stategate.leaks import Leak, files_under, find_in_bytes, find_in_files

from .conftest import IMAGES, Workspace, key_file, write_platform

pytestmark = pytest.mark.integration
SRC = Path(__file__).resolve().parents[2] / "src"

# one canary per place a credential can sit; each is credential-shaped and unique
CANARIES = {
    "environment entry": "cnryEnvEntry-7Qx2-Lm9",
    ".env (build arg)": "cnryDotEnvBuild-4Kd8-Zp1",
    ".env (URL in command)": "cnryDotEnvUrl-3Hs6-Wq5",
    ".env (command flag)": "cnryDotEnvFlag-9Jt1-Rv7",
    "env_file": "cnryEnvFile-2Ny5-Bx3",
    "compose secret file": "cnrySecretFile-8Pw4-Gc6",
    "URL password": "cnryUrlPass-5Fm7-Tk2",
    "healthcheck": "cnryHealth-6Vz3-Qa8",
    "basic-auth label": "cnryBasicAuth-1Ld9-Ye4",
    "doc sentence": "cnryDocLine-4Xr2-Uh7",
    "--env option": "cnryCliEnv-7Sb6-Mn1",
}
PG_TO = "postgres:15.10@sha256:" + "cd" * 32
PACKET_ID = "pg-15-10"

APP_COMPOSE = f"""\
services:
  web:
    image: ghcr.io/example/web:1.4
    build:
      context: .
      args:
        NPM_TOKEN: ${{NPM_TOKEN}}
    command: ["serve", "--db", "postgres://web:${{DB_PASSWORD}}@postgres/app"]
    env_file: [./web.env]
    environment:
      SESSION_SECRET: {CANARIES["environment entry"]}
      REPORTS_DATABASE_URL: postgres://reports:{CANARIES["URL password"]}@postgres/reports
    labels:
      traefik.http.routers.web.rule: Host(`web.example.org`)
      traefik.http.middlewares.auth.basicauth.users: "admin:{CANARIES["basic-auth label"]}"
    secrets: [db_pw]
  worker:
    image: ghcr.io/example/worker:1.4
    command: worker --redis-password ${{REDIS_PASSWORD}}
    healthcheck:
      test: ["CMD-SHELL", "redis-cli -a {CANARIES["healthcheck"]} ping"]
secrets:
  db_pw:
    file: ./secrets/db_pw.txt
"""
DOTENV = f"""\
NPM_TOKEN={CANARIES[".env (build arg)"]}
DB_PASSWORD={CANARIES[".env (URL in command)"]}
REDIS_PASSWORD={CANARIES[".env (command flag)"]}
"""
RUNBOOK = f"""\
# Postgres runbook

If the app is down, connect with password {CANARIES["doc sentence"]} to the db and look.
"""


@dataclass
class Run:
    label: str
    code: int
    stdout: bytes
    stderr: bytes

    @property
    def output(self) -> bytes:
        return self.stdout + b"\n" + self.stderr


@dataclass
class Platform:
    repo: Path
    reports: Path
    env: dict[str, str]
    runs: list[Run] = field(default_factory=list)

    def cli(self, *args: str, expect: tuple[int, ...] = (0,)) -> Run:
        argv = [sys.executable, "-m", "stategate", "-v", *args]
        done = subprocess.run(
            argv, capture_output=True, env=self.env, cwd=self.repo, timeout=540, check=False
        )
        label = " ".join(args)
        for name, value in CANARIES.items():  # a label is printed when the test fails
            label = label.replace(value, f"<{name}>")
        run = Run(label, done.returncode, done.stdout, done.stderr)
        self.runs.append(run)
        assert done.returncode in expect, (run.label, done.stdout[-2000:], done.stderr[-2000:])
        return run

    def git(self, *args: str) -> None:
        subprocess.run(["git", "-C", str(self.repo), *args], check=True, capture_output=True)

    def commit(self, message: str) -> None:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)


def seed(workspace: Workspace, tmp_path: Path) -> Platform:
    repo = workspace.repo
    write_platform(repo, workspace.services)
    policy = yaml.safe_load((repo / "stategate.yaml").read_text())
    policy["compose"]["files"] = ["compose/data.yml", "compose/app.yml"]
    (repo / "stategate.yaml").write_text(yaml.safe_dump(policy, sort_keys=False))
    files = {
        "compose/app.yml": APP_COMPOSE,
        "compose/.env": DOTENV,
        "compose/web.env": f"SMTP_PASSWORD={CANARIES['env_file']}\n",
        "compose/secrets/db_pw.txt": CANARIES["compose secret file"] + "\n",
    }
    for rel, text in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    env = {
        **os.environ,
        "PYTHONPATH": str(SRC),
        "STATEGATE_ARTIFACTS": str(workspace.artifacts),
        "STATEGATE_EVIDENCE_KEY": str(workspace.key_path()),
        "COLUMNS": "200",
    }
    platform = Platform(repo, tmp_path / "reports", env)
    platform.reports.mkdir()
    platform.git("init", "-q", "-b", "main")
    platform.git("config", "user.email", "test@example.test")
    platform.git("config", "user.name", "stategate tests")
    platform.git("config", "commit.gpgsign", "false")
    platform.commit("platform")
    return platform


def secrets_of(workspace: Workspace) -> dict[str, str]:
    seeded = dict(CANARIES)
    for name, value in workspace.services.env.items():
        seeded[f"stand-in {name}"] = value
    return seeded


def test_seeded_canaries_reach_no_output_report_record_or_ledger(
    workspace: Workspace, tmp_path: Path
) -> None:
    platform = seed(workspace, tmp_path)
    reports = platform.reports

    # Know the platform: every read-only command, every format
    for fmt in ("table", "json"):
        platform.cli("classify", "--format", fmt)
    for fmt in ("yaml", "json"):
        config = platform.cli(
            "config", "--format", fmt, "--env", f"EXTRA_API_KEY={CANARIES['--env option']}"
        )
        assert b"***" in config.output  # the credentials were there, and masked
    platform.cli("doc")
    platform.cli("doc", "-o", str(reports / "gate.md"))
    for fmt in ("yaml", "json"):
        platform.cli("policy", "show", "--format", fmt)
    platform.cli("policy", "check")

    # Evidence of what runs (main), against the real stand-in servers
    modules = ("data/postgres", "data/redis", "data/minio")
    for module_id in modules:
        platform.cli("backup", module_id)
        platform.cli("backup", module_id, "--format", "json")
    for module_id in modules:
        platform.cli("restore-drill", module_id)
        platform.cli("smoke", module_id)
        platform.cli("smoke", module_id, "--target", "sandbox", "--format", "json")
    platform.cli("dr-drill")
    platform.cli("evidence", "verify")
    platform.cli("evidence", "verify", "--format", "json")

    # The PR: a postgres bump, its packet, and a runbook with a password in a sentence
    platform.git("checkout", "-q", "-b", "upgrade")
    compose = platform.repo / "compose" / "data.yml"
    compose.write_text(compose.read_text().replace(IMAGES["data/postgres"], PG_TO))
    packet = {
        "id": PACKET_ID,
        "modules": [
            {
                "module": "data/postgres",
                "from": IMAGES["data/postgres"],
                "to": PG_TO,
                "rollback": {"to": IMAGES["data/postgres"], "needs_restore": False},
            }
        ],
        "allowed_paths": ["compose/data.yml", f"packets/{PACKET_ID}.yaml", "docs/*", "evidence/**"],
    }
    (platform.repo / "packets").mkdir()
    (platform.repo / "packets" / f"{PACKET_ID}.yaml").write_text(yaml.safe_dump(packet))
    (platform.repo / "docs").mkdir()
    (platform.repo / "docs" / "runbook.md").write_text(RUNBOOK)
    platform.commit("postgres 15.10, packet, evidence, runbook")
    operator_key = key_file(workspace.operator_key, tmp_path / "keys" / "operator-alice.key")
    platform.cli(
        "approve", f"packets/{PACKET_ID}.yaml", "--role", "operator", "--key", str(operator_key),
        "--base", "main",
    )  # fmt: skip
    platform.commit("operator approval")
    for stage in ("merge", "apply"):
        for fmt in ("text", "json", "markdown", "sarif"):
            run = platform.cli(
                "check", "--base", "main", "--stage", stage, "--format", fmt, expect=(3,)
            )
            assert b"stop" in run.output
            if fmt != "text":  # text goes to the terminal only
                out = reports / f"check-{stage}.{fmt}"
                platform.cli(
                    "check", "--base", "main", "--stage", stage, "--format", fmt, "-o", str(out),
                    expect=(3,),
                )  # fmt: skip
    # the docs lint saw the password in the sentence: a stop that names the file, not the value
    merge = json.loads((reports / "check-merge.json").read_text())
    stops = {(s["condition"], s["file"], s["line"]) for s in merge["stops"]}
    assert ("secret-value", "docs/runbook.md", 3) in stops, merge["stops"]
    platform.cli("plan", f"packets/{PACKET_ID}.yaml")
    platform.cli("plan", f"packets/{PACKET_ID}.yaml", "-o", str(reports / "plan.md"))
    platform.cli("evidence", "verify", "--base", "main")

    seeded = secrets_of(workspace)
    values = list(seeded.values())
    names = list(seeded)

    # the search is not blind: every canary is found where it was seeded
    inputs = [p for p in files_under(platform.repo) if "evidence" not in p.parts]
    found_in_inputs = {leak.secret for leak in find_in_files(inputs, values)}
    assert {names[i] for i in found_in_inputs} >= set(CANARIES) - {"--env option"}

    # ... and nowhere in what stategate printed or wrote
    records = files_under(platform.repo / "evidence")
    assert sum(p.suffix == ".json" for p in records) >= 17
    assert any(p.name == "ledger.jsonl" for p in records)
    written = files_under(reports)
    assert {p.name for p in written} == {
        "gate.md",
        "plan.md",
        *(
            f"check-{stage}.{fmt}"
            for stage in ("merge", "apply")
            for fmt in ("json", "markdown", "sarif")
        ),
    }
    leaks: list[Leak] = []
    for run in platform.runs:
        leaks += find_in_bytes(run.label, run.output, values)
    leaks += find_in_files(records + written, values)
    assert not leaks, "\n".join(f"{names[leak.secret]}: {leak}" for leak in leaks)
    assert len(platform.runs) == 45  # every command above ran and was searched


def test_the_canary_search_sees_a_secret_in_a_signed_record(
    workspace: Workspace, tmp_path: Path
) -> None:
    """The search above would catch a credential that reached a signed statement: a
    smoke check that echoes the canary puts it in a DSSE payload, where it is found."""
    platform = seed(workspace, tmp_path)
    canary = CANARIES["environment entry"]
    policy = yaml.safe_load((platform.repo / "stategate.yaml").read_text())
    script = f"echo 'connected as app with {canary}' >&2; exit 3"
    policy["modules"]["data/redis"]["smoke"] = [
        {"kind": "command", "name": "echo", "argv": ["sh", "-c", script]}
    ]
    (platform.repo / "stategate.yaml").write_text(yaml.safe_dump(policy))
    platform.cli("smoke", "data/redis", expect=(1,))
    records = [p for p in files_under(platform.repo / "evidence") if p.suffix == ".json"]
    assert records
    assert all(canary.encode() not in p.read_bytes() for p in records)  # hidden from a text read
    forms = {leak.form for leak in find_in_files(records, [canary])}
    assert "payload:plain" in forms, forms


def test_config_shows_where_each_canary_was_masked(workspace: Workspace, tmp_path: Path) -> None:
    platform = seed(workspace, tmp_path)
    run = platform.cli("config", "--format", "json")
    doc = json.loads(run.stdout)
    web, worker = doc["services"]["web"], doc["services"]["worker"]
    assert web["build"]["args"]["NPM_TOKEN"] == "***"
    assert web["command"] == ["serve", "--db", "postgres://web:***@postgres/app"]
    assert web["environment"]["SESSION_SECRET"] == "***"
    assert web["environment"]["REPORTS_DATABASE_URL"] == "***"  # a credential-named variable
    assert web["labels"]["traefik.http.middlewares.auth.basicauth.users"] == "admin:***"
    assert web["labels"]["traefik.http.routers.web.rule"] == "Host(`web.example.org`)"
    assert worker["command"] == ["worker", "--redis-password", "***"]  # split, as compose
    assert worker["healthcheck"]["test"] == ["CMD-SHELL", "redis-cli -a *** ping"]
    assert doc["services"]["postgres"]["image"] == IMAGES["data/postgres"]
