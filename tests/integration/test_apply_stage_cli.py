"""`stategate check --stage apply` through the CLI, on a real signed evidence chain.

The evidence is taken by the CLI itself (backup, restore drill, smoke, DR drill of a
real redis stand-in, signed by the trusted evidence key, ledgered); the operator
approval is signed by `stategate approve`. Only then is the apply `approved`; an
edited record the approval relies on takes it away again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from stategate.providers.access import RedisAccess
from stategate.providers.config import RedisSource
from stategate.sandbox.servers import LocalRedis
from tests.gitrepo import Repo, init_repo

from .conftest import Workspace, key_file

pytestmark = pytest.mark.integration
SRC = Path(__file__).resolve().parents[2] / "src"
MODULE = "data/redis"
FROM = "redis:7.0.15@sha256:" + "ab" * 32
TO = "redis:7.0.16@sha256:" + "cd" * 32
PACKET = f"""\
id: redis-7-0-16
modules:
  - module: {MODULE}
    from: {FROM}
    to: {TO}
    rollback: {{to: '{FROM}', needs_restore: false}}
allowed_paths: [compose/data.yml]
"""


def _platform(workspace: Workspace) -> Repo:
    """A platform repo with one redis module pointing at the stand-in, on main."""
    repo = init_repo(workspace.repo)  # the workspace already holds the trust file
    source = workspace.services.sources[MODULE]
    assert isinstance(source, RedisSource)
    repo.write(
        "compose/data.yml",
        f"name: data\nservices:\n  redis:\n    image: {FROM}\n"
        '    command: [redis-server, --appendonly, "yes"]\n'
        "    volumes: [redisdata:/data]\nvolumes: {redisdata: {}}\n",
    )
    evidence = json.dumps(source.model_dump(mode="json", exclude={"sandbox"}))
    repo.write(
        "stategate.yaml",
        "version: 1\ncompose:\n  files: [compose/data.yml]\nmodules:\n"
        f"  {MODULE}:\n    evidence: {evidence}\n"
        "    smoke: [{kind: redis, name: ping, command: [PING], expect: PONG}]\n",
    )
    repo.commit("platform")
    return repo


def _sg(workspace: Workspace, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stategate", *args],
        capture_output=True,
        text=True,
        cwd=workspace.repo,
        env={
            **os.environ,
            "PYTHONPATH": str(SRC),
            "STATEGATE_ARTIFACTS": str(workspace.artifacts),
            "STATEGATE_EVIDENCE_KEY": str(workspace.key_path()),
            "STATEGATE_KEYS": str(workspace.repo.parent / "no-keys"),
        },
        timeout=540,
    )


def _ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _apply(workspace: Workspace) -> tuple[int, dict[str, object]]:
    done = _sg(workspace, "check", "--base", "main", "--stage", "apply", "--format", "json")
    assert done.returncode in (0, 1, 3), done.stderr
    return done.returncode, json.loads(done.stdout)


def _missing(doc: dict[str, object]) -> set[str]:
    reqs = doc["requirements"]
    assert isinstance(reqs, list)
    return {r["id"] for r in reqs if r["status"] != "met"}


def test_apply_is_approved_only_with_signed_evidence_and_an_operator_approval(
    workspace: Workspace,
) -> None:
    repo = _platform(workspace)
    # evidence of what runs now, on main
    for args in (
        ["backup", MODULE],
        ["restore-drill", MODULE],
        ["smoke", MODULE, "--target", "source"],
        ["dr-drill"],
    ):
        _ok(_sg(workspace, *args))
    repo.git("checkout", "-q", "-b", "pr")
    repo.replace("compose/data.yml", FROM, TO)
    repo.write("packets/redis-7-0-16.yaml", PACKET)
    repo.commit("redis 7.0.16, packet and evidence")

    merge = _sg(workspace, "check", "--base", "main", "--format", "json")
    assert merge.returncode == 0 and json.loads(merge.stdout)["verdict"] == "ready_for_operator"

    # merged is not applied: without an approval the apply is blocked, whatever the evidence
    code, doc = _apply(workspace)
    assert (code, doc["verdict"], doc["stage"]) == (1, "blocked", "apply")
    assert _missing(doc) == {"apply/operator-approval"}
    relied = doc["evidence"]
    assert isinstance(relied, list)
    # a leaf patch bump with a fresh DR drill on record: the DR drill is not mandatory
    kinds = sorted(Path(p).name.split("-")[0] for p in relied)
    assert kinds == ["backup", "restore", "smoke"]

    operator = key_file(workspace.operator_key, workspace.repo.parent / "op" / "operator.key")
    _ok(
        _sg(
            workspace,
            "approve",
            "packets/redis-7-0-16.yaml",
            "--role",
            "operator",
            "--key",
            str(operator),
            "--base",
            "main",
        )
    )
    repo.commit("operator approval")
    code, doc = _apply(workspace)
    assert (code, doc["verdict"]) == (0, "approved"), _missing(doc)
    assert doc["evidence"] == relied
    text = _sg(workspace, "check", "--base", "main", "--stage", "apply")
    assert text.returncode == 0 and "verdict: approved (apply stage)" in text.stdout

    # an edited record the approval relies on no longer verifies: not approved any more
    backup = next(workspace.repo / p for p in relied if Path(p).name.startswith("backup-"))
    original = backup.read_bytes()
    data = bytearray(original)
    data[len(data) // 2] ^= 0x01
    backup.write_bytes(bytes(data))
    # the gate reads the head revision, not the work tree: uncommitted, the edit is unseen
    assert _apply(workspace)[1]["verdict"] == "approved"
    repo.commit("tamper with a relied record")
    code, doc = _apply(workspace)
    assert code == 1 and doc["verdict"] == "blocked"
    assert "apply/operator-approval" in _missing(doc)
    backup.write_bytes(original)
    repo.commit("restore the record")
    assert _apply(workspace)[1]["verdict"] == "approved"

    # newer evidence is what the gate relies on; the approval binds the older records
    # (taken of what runs: the work tree holds the deployed image while they are taken)
    repo.replace("compose/data.yml", TO, FROM)
    for args in (["backup", MODULE], ["restore-drill", MODULE], ["smoke", MODULE]):
        _ok(_sg(workspace, *args, *(["--target", "source"] if args[0] == "smoke" else [])))
    repo.replace("compose/data.yml", FROM, TO)
    repo.commit("newer evidence")
    code, doc = _apply(workspace)
    assert (code, doc["verdict"]) == (1, "blocked")
    assert _missing(doc) == {"apply/operator-approval"}
    assert isinstance(doc["evidence"], list) and set(doc["evidence"]).isdisjoint(relied)


def _synced_replica(replica: RedisAccess, primary: RedisAccess) -> None:
    client = redis.Redis(host=replica.host, port=replica.port, password=replica.password)
    client.config_set("masterauth", primary.password or "")
    client.replicaof(primary.host, primary.port)
    deadline = time.monotonic() + 60
    while client.info("replication").get("master_link_status") != "up":
        assert time.monotonic() < deadline, "the replica did not sync"
        time.sleep(0.1)


def test_backups_of_a_replica_or_of_another_server_are_refused_by_the_apply_gate(
    workspace: Workspace,
) -> None:
    repo = _platform(workspace)
    primary = workspace.services.access[MODULE]
    source = workspace.services.sources[MODULE]
    assert isinstance(primary, RedisAccess) and isinstance(source, RedisSource)
    policy = (workspace.repo / "stategate.yaml").read_text()
    production = f"{source.host}:{source.port}"
    repo.git("checkout", "-q", "-b", "pr")

    def backup_of(other: RedisAccess) -> None:
        """A backup taken with the work tree's policy pointing at ``other`` (the way an
        operator's stale checkout or a copied config would), then the policy restored."""
        compose = (workspace.repo / "compose/data.yml").read_text()
        (workspace.repo / "compose/data.yml").write_text(compose.replace(TO, FROM))
        moved = policy.replace(f'"port": {source.port}', f'"port": {other.port}')
        assert moved != policy
        (workspace.repo / "stategate.yaml").write_text(moved)
        _ok(_sg(workspace, "backup", MODULE))
        (workspace.repo / "stategate.yaml").write_text(policy)
        (workspace.repo / "compose/data.yml").write_text(compose)

    def backup_hint() -> str:
        code, doc = _apply(workspace)
        assert code == 1 and doc["verdict"] == "blocked"
        reqs = doc["requirements"]
        assert isinstance(reqs, list)
        (found,) = [r for r in reqs if r["id"] == "apply/backup"]
        assert found["status"] == "missing"
        return str(found["hint"])

    with (
        LocalRedis(password=primary.password) as replica,
        LocalRedis(password=primary.password) as staging,
    ):
        _synced_replica(replica, primary)
        repo.replace("compose/data.yml", FROM, TO)
        repo.write("packets/redis-7-0-16.yaml", PACKET)
        backup_of(replica)
        # a drill picks no replica's backup by itself
        drill = _sg(workspace, "restore-drill", MODULE)
        assert drill.returncode != 0 and "of a replica" in drill.stderr, drill.stderr
        repo.commit("a backup of the replica")
        hint = backup_hint()
        assert f"was taken of a replica ({replica.host}:{replica.port})" in hint, hint

        # a server that is not a replica but is not production either (staging, a stale
        # port): its backup does not count for production's apply
        backup_of(staging)
        repo.commit("a backup of another server")
        hint = backup_hint()
        assert (
            f"was taken of {staging.host}:{staging.port}, but the policy names {production}" in hint
        ), hint
