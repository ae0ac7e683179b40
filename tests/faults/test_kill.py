"""SIGKILL of a backup, a restore drill and a ledger append, at seeded points.

After every kill: nothing half-written counts (``evidence verify --artifacts``
passes, no new passing backup, no drill record), and the next run works.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
from pathlib import Path

import pytest

from .conftest import (
    MODULES,
    FaultPlatform,
    assert_next_backup_works,
    assert_nothing_counts_from,
    backed_up,
    kill_fraction,
    seeds,
    session_processes,
    sigkill,
    stream_size,
    wait_until,
)

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("seed", seeds())
@pytest.mark.parametrize("module_id", MODULES)
def test_backup_killed_mid_stream(platform: FaultPlatform, module_id: str, seed: int) -> None:
    total = stream_size(platform, module_id)
    before = platform.passing_backup_ids(module_id)
    proxy = platform.proxies[module_id]
    proxy.hold_after(int(total * kill_fraction(seed, module_id)))
    child = platform.start("backup", module_id)
    try:
        wait_until(proxy.held.is_set, "the backup to reach its kill point")
        assert child.poll() is None  # frozen mid-stream, not finished
        sigkill(child)
    finally:
        proxy.resume()
        proxy.drop_connections()
    # helpers (pg_dump) end on their own once their stream or pipe is gone
    wait_until(lambda: not session_processes(child.pid), "the killed backup's helpers to end")
    leftovers = assert_nothing_counts_from(platform, module_id, before)
    assert all(d.name.endswith(".partial") for d in leftovers), leftovers
    assert_next_backup_works(platform, module_id)


def _hold_ledger(platform: FaultPlatform) -> int:
    """Take the ledger's lock as another writer would; returns the fd (close to release)."""
    ledger = platform.repo / "evidence" / "ledger.jsonl"
    ledger.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(ledger, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


@pytest.mark.parametrize("module_id", MODULES)
def test_backup_killed_while_its_record_waits_for_the_ledger(
    platform: FaultPlatform, module_id: str
) -> None:
    """The artifact is complete and renamed, its record not yet written: killed there,
    the artifact directory stays but nothing describes it, so nothing counts."""
    backed_up(platform, module_id)  # one good backup first, so the ledger exists
    before = platform.passing_backup_ids(module_id)
    records = platform.record_count()
    fd = _hold_ledger(platform)
    try:
        child = platform.start("backup", module_id)
        known = {d.name for d in platform.backup_dirs(module_id)}

        def committed() -> bool:
            return any(
                d.name not in known and not d.name.endswith(".partial")
                for d in platform.backup_dirs(module_id)
            )

        wait_until(committed, "the artifact to be committed")
        assert child.poll() is None
        sigkill(child)
    finally:
        os.close(fd)
    assert platform.record_count() == records  # no record file, not even unledgered
    leftovers = assert_nothing_counts_from(platform, module_id, before)
    assert len(leftovers) == 1 and not leftovers[0].name.endswith(".partial")
    assert_next_backup_works(platform, module_id)


def _sandboxes(tmp: Path, module_id: str) -> list[Path]:
    prefix = "stategate-pg-" if module_id == "data/postgres" else "stategate-redis-"
    return [p for p in tmp.iterdir() if p.name.startswith(prefix)]


def _sandbox_up(tmp: Path, module_id: str) -> bool:
    pid_file = "data/postmaster.pid" if module_id == "data/postgres" else "server.pid"
    return any((box / pid_file).exists() for box in _sandboxes(tmp, module_id))


def _processes_in(tmp: Path) -> list[int]:
    """Live processes whose working directory is under ``tmp`` (sandbox servers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cwd = Path(os.readlink(entry / "cwd"))
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            if cwd.is_relative_to(tmp) and state not in ("Z", "X"):
                found.append(int(entry.name))
    return found


@pytest.mark.parametrize("point", ["sandbox-up", "record-pending"])
@pytest.mark.parametrize("module_id", MODULES)
def test_restore_drill_killed(platform: FaultPlatform, module_id: str, point: str) -> None:
    """Killed with its sandbox up (a server nobody stops), or with its record waiting for
    the ledger: no drill record; the next drill stops the orphaned sandbox and passes."""
    backed_up(platform, module_id)
    records = platform.record_count()
    fd = _hold_ledger(platform) if point == "record-pending" else None
    frozen: list[int] = []
    try:
        child = platform.start("restore-drill", module_id)
        wait_until(lambda: _sandbox_up(platform.tmp, module_id), "the sandbox to start")
        if point == "sandbox-up":  # freeze the sandbox, so the drill cannot move on
            for _ in range(2):  # the postmaster first, then what it forked meanwhile
                for pid in set(_processes_in(platform.tmp)) - set(frozen):
                    try:
                        os.kill(pid, signal.SIGSTOP)
                    except ProcessLookupError:
                        continue  # a short-lived child (pg_ctl, a backend) ended meanwhile
                    frozen.append(pid)
        else:  # the sandbox is torn down, the record is next
            wait_until(lambda: not _sandboxes(platform.tmp, module_id), "the sandbox teardown")
        assert child.poll() is None
        sigkill(child)
    finally:
        for pid in frozen:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        if fd is not None:
            os.close(fd)
    assert platform.record_count() == records
    verified = platform.verify()
    assert verified.ok, [str(f) for f in verified.findings]
    if point == "sandbox-up":
        assert _sandboxes(platform.tmp, module_id)  # what SIGKILL left behind
    again = platform.run("restore-drill", module_id)
    assert again.returncode == 0, again
    assert platform.record_count() == records + 1
    assert not _sandboxes(platform.tmp, module_id)  # the orphan was swept, ours removed
    try:
        wait_until(lambda: not _processes_in(platform.tmp), "sandbox servers to stop", 30)
    except AssertionError:
        raise AssertionError(f"left running: {_describe(_processes_in(platform.tmp))}") from None


def _describe(pids: list[int]) -> list[str]:
    found = []
    for pid in pids:
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            found.append(f"{pid}: {argv} in {os.readlink(f'/proc/{pid}/cwd')}")
        except OSError:
            continue  # gone meanwhile
    return found
