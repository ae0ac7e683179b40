"""Sandboxes of killed stategate processes are swept; nothing else is touched."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from stategate.sandbox.leftovers import (
    OWNER_FILE,
    SERVER_PID_FILE,
    mark_owner,
    process_start,
    sweep_orphans,
)


def _dead_owner(root: Path) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    (root / OWNER_FILE).write_text(f"{gone.pid} 12345\n")


def test_only_sandboxes_whose_owner_died_are_removed(tmp_path: Path) -> None:
    mine = tmp_path / "stategate-redis-mine"
    orphan = tmp_path / "stategate-redis-orphan"
    unowned = tmp_path / "stategate-pg-unowned"  # being created, or an older version's
    other = tmp_path / "not-a-sandbox"
    for path in (mine, orphan, unowned, other):
        path.mkdir()
    mark_owner(mine)
    _dead_owner(orphan)
    _dead_owner(other)
    assert sweep_orphans(tmp_path) == [orphan]
    assert mine.exists() and unowned.exists() and other.exists() and not orphan.exists()


def test_a_pid_recorded_in_an_orphan_is_signalled_only_if_it_runs_there(tmp_path: Path) -> None:
    orphan = tmp_path / "stategate-redis-x"
    orphan.mkdir()
    _dead_owner(orphan)
    elsewhere = subprocess.Popen(["sleep", "300"], cwd="/")
    try:
        (orphan / SERVER_PID_FILE).write_text(f"{elsewhere.pid}\n")
        assert sweep_orphans(tmp_path) == [orphan]
        assert elsewhere.poll() is None  # its working directory is not the sandbox
    finally:
        elsewhere.kill()
        elsewhere.wait()


def test_an_orphaned_server_is_stopped(tmp_path: Path) -> None:
    orphan = tmp_path / "stategate-redis-y"
    orphan.mkdir()
    _dead_owner(orphan)
    server = subprocess.Popen(["sleep", "300"], cwd=orphan)
    try:
        (orphan / SERVER_PID_FILE).write_text(f"{server.pid}\n")
        assert sweep_orphans(tmp_path) == [orphan]
        assert server.wait(timeout=30) == -15  # SIGTERM
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_process_start_tells_a_live_process_from_a_gone_one() -> None:
    assert process_start(os.getpid()) is not None
    gone = subprocess.Popen(["true"])
    gone.wait()
    assert process_start(gone.pid) is None
