"""A killed backup, a sandbox that is the source, no Docker engine, and seeded secrets."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from stategate.evidence.records.predicates import DrillPredicate, SmokePredicate
from stategate.evidence.records.typed import list_records
from stategate.evidence.signing.dsse import parse_envelope
from stategate.operations.backup import run_backup
from stategate.operations.drill import run_restore_drill
from stategate.operations.smoke_run import run_smoke
from stategate.providers.access import RedisAccess
from stategate.providers.config import RedisCheck, TcpCheck

from .conftest import Workspace, write_platform

pytestmark = pytest.mark.integration
SRC = Path(__file__).resolve().parents[2] / "src"


def _kill_backup_child(
    workspace: Workspace, tmp_path: Path, module_id: str, config_class: str, stall: str
) -> None:
    """Run ``run_backup`` of ``module_id`` in a child whose ``stall`` code (given the path
    ``marker``) makes it write the marker once streaming and hang; SIGKILL it then."""
    marker = tmp_path / "streaming"
    script = tmp_path / "child.py"
    config_json = workspace.services.sources[module_id].model_dump_json()
    repo, artifacts = str(workspace.repo), str(workspace.artifacts)
    key_path = str(workspace.key_path())
    script.write_text(
        f"import pathlib, threading, time\nmarker = pathlib.Path({str(marker)!r})\n"
        + textwrap.dedent(stall)
        + textwrap.dedent(f"""
        from stategate.evidence.trust.keys import load_signing_key
        from stategate.evidence.layout import RepoLayout
        from stategate.evidence.store import EvidenceStore
        from stategate.operations.backup import run_backup
        from stategate.operations.context import ModuleContext
        from stategate.providers.config import {config_class}
        cfg = {config_class}.model_validate_json({config_json!r})
        repo = pathlib.Path({repo!r})
        ctx = ModuleContext({module_id!r}, cfg, [], None, None, repo, EvidenceStore.open(RepoLayout(repo)),
                            load_signing_key(pathlib.Path({key_path!r})),
                            pathlib.Path({artifacts!r}))
        run_backup(ctx)
    """)
    )
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{SRC.parent}"}
    child = subprocess.Popen([sys.executable, str(script)], env=env)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert child.poll() is None, "backup child exited before streaming"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        child.wait()
    finally:
        if child.poll() is None:
            child.kill()


def _assert_nothing_valid_then_recovers(workspace: Workspace, module_id: str) -> int:
    """Only a ``.partial`` directory is left, no record; the next backup and drill pass.
    Returns how many files the leftover held."""
    module_dir = workspace.artifacts / Path(*module_id.split("/"))
    leftovers = [p for p in module_dir.iterdir() if p.name != ".backup.lock"]
    assert leftovers and all(p.name.endswith(".partial") for p in leftovers)
    left_files = sum(1 for p in leftovers[0].rglob("*") if p.is_file())
    assert list_records(workspace.store()) == []
    assert not (workspace.repo / "evidence").exists()  # no record, no ledger entry
    with pytest.raises(Exception, match="no passing backup"):
        run_restore_drill(workspace.context(module_id))
    # the leftover is ignored: the next backup and drill work
    assert run_backup(workspace.context(module_id)).result == "pass"
    assert run_restore_drill(workspace.context(module_id)).result == "pass"
    assert not list(module_dir.glob("*.partial"))  # swept by the next backup
    return left_files


def test_sigkill_mid_stream_leaves_no_valid_backup(workspace: Workspace, tmp_path: Path) -> None:
    stall = """
        from stategate.evidence.records import artifact
        original = artifact.HashingFile.copy_from
        calls = []
        def slow(self, stream):
            calls.append(1)
            if len(calls) < 2:  # globals.sql streams whole; the database dump stalls
                return original(self, stream)
            self.write(stream.read(4096))
            marker.write_text("x")
            time.sleep(120)
        artifact.HashingFile.copy_from = slow
    """
    _kill_backup_child(workspace, tmp_path, "data/postgres", "PostgresSource", stall)
    _assert_nothing_valid_then_recovers(workspace, "data/postgres")


def test_sigkill_while_s3_parts_await_their_flush_leaves_no_valid_backup(
    workspace: Workspace, tmp_path: Path
) -> None:
    """S3 objects are made durable together before the commit: a kill after some are
    complete (written, not yet flushed) still leaves nothing that counts as a backup."""
    stall = """
        from stategate.providers import s3_http
        original = s3_http.S3Http.fetch
        lock = threading.Lock()
        done = []
        def fetch(self, *args, **kwargs):
            with lock:
                if len(done) >= 10:
                    marker.write_text("x")
                    time.sleep(120)
            got = original(self, *args, **kwargs)
            with lock:
                done.append(1)
            return got
        s3_http.S3Http.fetch = fetch
    """
    _kill_backup_child(workspace, tmp_path, "data/minio", "S3Source", stall)
    mirrored = _assert_nothing_valid_then_recovers(workspace, "data/minio")
    assert mirrored >= 10  # complete objects were there, and still nothing valid


class _SourceAsSandbox:
    """A misconfigured engine whose "sandbox" is the production redis itself."""

    name = "local"

    def __init__(self, access: RedisAccess) -> None:
        self.access = access

    def info(self):  # type: ignore[no-untyped-def]
        from stategate.sandbox.engine import EngineInfo

        return EngineInfo(name="local", available=True, detail="test: points at the source")

    @contextmanager
    def redis(self, rdb: Path, version: str | None, setup: object = None) -> Iterator[RedisAccess]:
        yield self.access


def test_drill_refuses_a_sandbox_that_is_the_source(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    access = workspace.services.access["data/redis"]
    assert isinstance(access, RedisAccess)
    ctx = workspace.context("data/redis")
    assert run_backup(ctx).result == "pass"
    import stategate.operations.drill as drill_module

    monkeypatch.setattr(drill_module, "engine_for", lambda *a, **k: _SourceAsSandbox(access))
    record = run_restore_drill(ctx)
    pred = record.statement.predicate
    assert isinstance(pred, DrillPredicate)
    assert pred.result != "pass"
    assert "refused" in (pred.reason or "") and "resolves to the source" in (pred.reason or "")


def _docker_engine_reachable() -> bool:
    if shutil.which("docker") is None:
        return False
    done = subprocess.run(
        ["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True, timeout=30
    )
    return done.returncode == 0


@pytest.mark.skipif(
    _docker_engine_reachable(),
    reason="a Docker engine is reachable: this test covers hosts without one",
)
def test_docker_engine_without_docker_is_recorded_as_unavailable(workspace: Workspace) -> None:
    ctx = workspace.context("data/redis")
    assert run_backup(ctx).result == "pass"
    pred = run_restore_drill(ctx, engine_name="docker").statement.predicate
    assert isinstance(pred, DrillPredicate)
    assert pred.result == "error"
    assert pred.engine.name == "docker" and pred.engine.available is False
    assert (
        "no docker client" in pred.engine.detail
        or "no reachable Docker engine" in pred.engine.detail
    )
    assert pred.engine.image == "redis:7.0.15@sha256:" + "ab" * 32


def test_smoke_on_source_and_sandbox(workspace: Workspace) -> None:
    access = workspace.services.access["data/redis"]
    assert isinstance(access, RedisAccess)
    checks = [
        RedisCheck(name="ping", command=["PING"], expect="PONG"),
        TcpCheck(name="port", host=access.host, port=access.port),
        TcpCheck(name="elsewhere", host="127.0.0.1", port=1),
    ]
    ctx = workspace.context("data/redis", smoke=checks)
    source = run_smoke(ctx).statement.predicate
    assert isinstance(source, SmokePredicate)
    assert [c.result for c in source.checks] == ["pass", "pass", "error"]
    assert source.result == "error"
    assert run_backup(ctx).result == "pass"
    sandbox = run_smoke(ctx, target="sandbox").statement.predicate
    assert isinstance(sandbox, SmokePredicate)
    # the source's port is rewritten to the sandbox; other addresses are never reached
    assert [c.result for c in sandbox.checks] == ["pass", "pass", "skipped"]
    assert sandbox.result == "pass" and sandbox.backup_id
    assert sandbox.engine is not None and sandbox.engine.name == "local"


def test_smoke_failure_and_refused_command(workspace: Workspace) -> None:
    checks = [
        RedisCheck(name="wrong", command=["HGET", "user:3", "name"], expect="nobody"),
        RedisCheck(name="destructive", command=["FLUSHALL"]),
    ]
    pred = run_smoke(workspace.context("data/redis", smoke=checks)).statement.predicate
    assert isinstance(pred, SmokePredicate)
    assert [c.result for c in pred.checks] == ["fail", "error"]
    assert pred.result == "fail"
    access = workspace.services.access["data/redis"]
    assert isinstance(access, RedisAccess)
    import redis

    with redis.Redis(host=access.host, port=access.port, password=access.password) as client:
        assert client.dbsize() > 0  # FLUSHALL never ran


def _cli(args: list[str], repo: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stategate", "-v", *args, "--repo", str(repo)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_seeded_secrets_never_appear(workspace: Workspace, tmp_path: Path) -> None:
    """Passwords and keys reach no output, log line (-v), error message, record or artifact."""
    services = workspace.services
    secrets = services.secrets()
    assert len(secrets) == 4 and all(len(s) > 12 for s in secrets)
    repo = workspace.repo
    write_platform(repo, services)
    env = {
        **os.environ,
        "PYTHONPATH": str(SRC),
        "STATEGATE_ARTIFACTS": str(workspace.artifacts),
        "STATEGATE_EVIDENCE_KEY": str(workspace.key_path()),
    }
    outputs = []
    for module_id in ("data/postgres", "data/redis", "data/minio"):
        for args in (
            ["backup", module_id],
            ["restore-drill", module_id],
            ["smoke", module_id],
            ["smoke", module_id, "--target", "sandbox"],
            ["backup", module_id, "--format", "json"],
        ):
            done = _cli(args, repo, env)
            assert done.returncode == 0, done.stdout + done.stderr
            outputs.append(done.stdout + done.stderr)
    done = _cli(["dr-drill"], repo, env)
    assert done.returncode == 0, done.stdout + done.stderr
    outputs.append(done.stdout + done.stderr)
    # wrong credentials: the error names the server, never the value tried
    wrong = {
        **env,
        "STATEGATE_DEMO_PG_PASSWORD": "Wrong-Password-0123456789",
        "STATEGATE_DEMO_REDIS_PASSWORD": "Wrong-Password-0123456789",
    }
    for module_id in ("data/postgres", "data/redis"):
        done = _cli(["backup", module_id], repo, wrong)
        assert done.returncode == 1
        outputs.append(done.stdout + done.stderr)
        assert "Wrong-Password-0123456789" not in done.stdout + done.stderr
    files = sorted((repo / "evidence").rglob("*.json"))
    assert len(files) >= 17
    # records are signed envelopes: check the signed statements themselves, and the ledger
    records = [parse_envelope(p.read_bytes()).payload.decode() for p in files]
    records += [p.read_text() for p in files]
    records.append((repo / "evidence" / "ledger.jsonl").read_text())
    assert any('"result":"error"' in r for r in records)
    small_artifacts = [
        p.read_bytes()
        for p in workspace.artifacts.rglob("*")
        if p.is_file() and p.suffix in (".sql", ".jsonl", ".rdb")
    ]
    for secret in [*secrets, "Wrong-Password-0123456789"]:
        for text in outputs + records:
            assert secret not in text
        for blob in small_artifacts:
            assert secret.encode() not in blob


# Smoke scripts that fail the way real ones do: they print the connection they
# tried, credentials included, as their last line on stderr.
LEAKY_SMOKE = {
    "data/postgres": 'echo "cannot query postgresql://$PGUSER:$PGPASSWORD@$PGHOST:$PGPORT/app" >&2',
    "data/redis": 'echo "redis-cli -a $REDISCLI_AUTH -p $STATEGATE_REDIS_PORT: NOAUTH" >&2',
    "data/minio": 'echo "s3 login $AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY refused" >&2',
}


def test_a_credential_in_a_failing_commands_message_is_masked(
    workspace: Workspace, tmp_path: Path
) -> None:
    """The credential really reaches an error message (the command's stderr), and the
    process gateway's masking is all that keeps it out of output, record and ledger."""
    import yaml

    services = workspace.services
    repo = workspace.repo
    write_platform(repo, services)
    policy = yaml.safe_load((repo / "stategate.yaml").read_text())
    for module_id, script in LEAKY_SMOKE.items():
        policy["modules"][module_id]["smoke"] = [
            {"kind": "command", "name": "leaky", "argv": ["sh", "-c", f"{script}; exit 3"]}
        ]
    (repo / "stategate.yaml").write_text(yaml.safe_dump(policy))
    env = {
        **os.environ,
        "PYTHONPATH": str(SRC),
        "STATEGATE_ARTIFACTS": str(workspace.artifacts),
        "STATEGATE_EVIDENCE_KEY": str(workspace.key_path()),
    }
    outputs = []
    for module_id in LEAKY_SMOKE:
        done = _cli(["smoke", module_id], repo, env)
        assert done.returncode == 1, done.stdout + done.stderr  # the check failed: blocked
        outputs.append(done.stdout + done.stderr)
    details = []
    for path in sorted((repo / "evidence").rglob("*.json")):
        statement = json.loads(parse_envelope(path.read_bytes()).payload)
        details += [c["detail"] for c in statement["predicate"]["checks"]]
    # the message made it into the record, with the credential masked in it
    assert len(details) == 3
    assert any("postgresql://postgres:***@127.0.0.1" in d for d in details), details
    assert any("redis-cli -a *** -p " in d for d in details), details
    assert any("s3 login ***:*** refused" in d for d in details), details
    ledger = (repo / "evidence" / "ledger.jsonl").read_text()
    payloads = [parse_envelope(p.read_bytes()).payload.decode() for p in repo.rglob("*.json")]
    for secret in services.secrets():
        for text in [*outputs, *payloads, ledger]:
            assert secret not in text
