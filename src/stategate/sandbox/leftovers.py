"""Sandboxes left behind by a stategate process that was killed.

A SIGKILL cannot be caught, so a drill killed while its sandbox runs leaves the
server (PostgreSQL daemonizes; redis and the S3 stand-in outlive their parent)
and its temporary directory behind. Each sandbox directory therefore names its
owner (pid and process start time, so a reused pid is not mistaken for it) in
``owner``; the next sandbox started on this host stops the servers of sandboxes
whose owner is gone and removes their directories. A process is only signalled
when its working directory lies inside that sandbox directory, so a pid file
cannot aim the sweep at anything else.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

OWNER_FILE = "owner"
SERVER_PID_FILE = "server.pid"
PREFIXES = ("stategate-pg-", "stategate-redis-", "stategate-s3-")
_STOP_WAIT_SECONDS = 10.0


def process_start(pid: int) -> str | None:
    """The start time (clock ticks since boot) of a live process; None if gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()  # after "pid (comm) "
    if not fields or fields[0] in ("Z", "X"):
        return None
    return fields[19]  # field 22 of stat: starttime


def mark_owner(root: Path) -> None:
    """Record this process as the owner of sandbox directory ``root``."""
    (root / OWNER_FILE).write_text(f"{os.getpid()} {process_start(os.getpid())}\n")


def remove_sandbox(root: Path) -> None:
    """Remove a stopped sandbox's folder, its owner file last, so a removal cut short
    (a kill) leaves a folder the next sweep still recognises."""
    for child in root.iterdir() if root.is_dir() else ():
        if child.name == OWNER_FILE:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                child.unlink()
    with contextlib.suppress(OSError):
        (root / OWNER_FILE).unlink()
    shutil.rmtree(root, ignore_errors=True)


def _owner_alive(root: Path) -> bool:
    try:
        pid_text, start = (root / OWNER_FILE).read_text().split()
        pid = int(pid_text)
    except (OSError, ValueError):
        return True  # no owner recorded (being created, or not ours): leave it alone
    return process_start(pid) == start


def _server_pids(root: Path) -> list[tuple[int, signal.Signals]]:
    """Server pids recorded in ``root``, each with the signal that stops it at once
    (SIGQUIT is PostgreSQL's immediate shutdown: its backends follow)."""
    found: list[tuple[int, signal.Signals]] = []
    for pid_file, sig in (
        (root / SERVER_PID_FILE, signal.SIGTERM),
        (root / "data" / "postmaster.pid", signal.SIGQUIT),
        # an upgrade rehearsal's two clusters (sandbox/pg_upgrade.py)
        (root / "old" / "postmaster.pid", signal.SIGQUIT),
        (root / "new" / "postmaster.pid", signal.SIGQUIT),
    ):
        with contextlib.suppress(OSError, ValueError, IndexError):
            found.append((int(pid_file.read_text().split()[0]), sig))
    return found


def _inside(pid: int, root: Path) -> bool:
    try:
        cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:
        return False
    return cwd == root or cwd.is_relative_to(root)


def _stop(pid: int, sig: signal.Signals) -> None:
    start = process_start(pid)
    if start is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + _STOP_WAIT_SECONDS
    while process_start(pid) == start and time.monotonic() < deadline:
        time.sleep(0.05)
    if process_start(pid) == start:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def sweep_orphans(tmp: Path | None = None) -> list[Path]:
    """Stop and remove the sandboxes under ``tmp`` whose owner died; return their paths."""
    base = Path(tmp or tempfile.gettempdir())
    swept: list[Path] = []
    try:
        candidates = [p for p in base.iterdir() if p.name.startswith(PREFIXES)]
    except OSError:
        return swept
    for root in candidates:
        if root.is_symlink() or not root.is_dir() or _owner_alive(root):
            continue
        for pid, sig in _server_pids(root):
            if _inside(pid, root):
                _stop(pid, sig)
        remove_sandbox(root)
        swept.append(root)
    return swept
