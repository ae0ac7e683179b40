"""An append-only redis is restored the way production would have to be: the drill
follows the documented RDB-to-AOF procedure, and so does an operator by hand.

The obvious manual restore, the backup's ``dump.rdb`` put in an append-only server's
data directory, loads nothing (the server starts from its AOF, empty); the procedure
docs/evidence.md gives restores every key, read back from the AOF alone.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from pathlib import Path

import pytest
import redis

from stategate.engines import discover
from stategate.evidence.records.predicates import BackupPredicate, DrillPredicate
from stategate.operations.backup import run_backup
from stategate.operations.drill import run_restore_drill
from stategate.providers.access import RedisAccess
from stategate.sandbox.ports import free_port

from .conftest import Workspace

pytestmark = pytest.mark.integration


def test_the_drill_of_an_append_only_redis_restores_through_the_aof(workspace: Workspace) -> None:
    ctx = workspace.context("data/redis")
    backup = run_backup(ctx).statement.predicate
    assert isinstance(backup, BackupPredicate) and backup.result == "pass", backup.reason
    assert backup.source.settings["appendonly"] == "yes"  # the stand-in runs append-only
    drill = run_restore_drill(ctx).statement.predicate
    assert isinstance(drill, DrillPredicate)
    assert drill.result == "pass", drill.reason
    assert drill.sandbox is not None and drill.sandbox.settings["appendonly"] == "yes"
    assert "restored into an AOF setup" in drill.engine.detail
    assert drill.fingerprint is not None and drill.fingerprint.expected.items > 1000


def _server(binary: Path, directory: Path, port: int, *args: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [str(binary), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory),
         "--dbfilename", "dump.rdb", "--save", "", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 30
    while True:
        try:
            if not client.info("persistence").get("loading"):
                return proc
        except redis.ConnectionError:
            pass
        assert time.monotonic() < deadline, "redis-server did not start"
        time.sleep(0.05)


def _stop(proc: subprocess.Popen[bytes], port: int) -> None:
    with contextlib.suppress(redis.ConnectionError):
        redis.Redis(port=port).shutdown(nosave=True)
    proc.wait(timeout=30)


def test_the_documented_procedure_restores_an_rdb_into_an_aof_server(
    workspace: Workspace, tmp_path: Path
) -> None:
    ctx = workspace.context("data/redis")
    backup = run_backup(ctx).statement.predicate
    assert isinstance(backup, BackupPredicate) and backup.result == "pass"
    rdb = workspace.artifacts / backup.location / "dump.rdb"
    access = workspace.services.access["data/redis"]
    assert isinstance(access, RedisAccess)
    keys = redis.Redis(host=access.host, port=access.port, password=access.password).dbsize()
    assert keys > 1000
    binary = discover().newest("redis").path

    # the obvious way: the RDB into an append-only server's folder loads nothing
    naive = tmp_path / "naive"
    naive.mkdir()
    (naive / "dump.rdb").write_bytes(rdb.read_bytes())
    port = free_port()
    proc = _server(binary, naive, port, "--appendonly", "yes")
    try:
        assert redis.Redis(port=port).dbsize() == 0
    finally:
        _stop(proc, port)

    # the procedure docs/evidence.md gives: without AOF, CONFIG SET appendonly yes, wait
    # for the rewrite, stop; then start as production runs (append-only)
    data = tmp_path / "data"
    data.mkdir()
    (data / "dump.rdb").write_bytes(rdb.read_bytes())
    port = free_port()
    proc = _server(binary, data, port, "--appendonly", "no")
    client = redis.Redis(port=port)
    try:
        assert client.dbsize() == keys
        client.config_set("appendonly", "yes")
        deadline = time.monotonic() + 60
        while True:
            info = client.info("persistence")
            if not info["aof_rewrite_in_progress"] and not info["aof_rewrite_scheduled"]:
                break
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert info["aof_last_bgrewrite_status"] == "ok"
    finally:
        _stop(proc, port)
    (data / "dump.rdb").unlink()  # what follows can only come from the AOF
    port = free_port()
    proc = _server(binary, data, port, "--appendonly", "yes")
    try:
        assert redis.Redis(port=port).dbsize() == keys
    finally:
        _stop(proc, port)
