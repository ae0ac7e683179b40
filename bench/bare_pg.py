"""The bare PostgreSQL steps an operator runs by hand (the baselines of the drill and
rehearsal benches): a throwaway cluster made with initdb, started with pg_ctl with the
settings a throwaway restore target deserves, pg_restore -j N, pg_upgrade --link.

PostgreSQL refuses to run as root: as root, every server-side tool runs as the postgres
user (``runuser``), in a world-writable scratch folder."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from stategate.sandbox.ports import free_port
from stategate.sandbox.servers import postgres_run_user

# What a competent operator sets on a cluster that is thrown away after the restore
# (the issue's own list): no durability, minimal WAL, room for index builds.
THROWAWAY = (
    "-c fsync=off -c full_page_writes=off -c synchronous_commit=off -c wal_level=minimal "
    "-c max_wal_senders=0 -c max_wal_size=4GB -c maintenance_work_mem=256MB "
    "-c checkpoint_timeout=30min"
)


def as_pg(argv: list[str], *, shell: bool = False, cwd: Path | None = None) -> None:
    user = postgres_run_user()
    if shell:
        argv = ["bash", "-c", "set -o pipefail; " + argv[0]]
    full = ["runuser", "-u", user, "--", *argv] if user else argv
    done = subprocess.run(full, capture_output=True, cwd=cwd)
    if done.returncode != 0:
        raise SystemExit(f"bare step {' '.join(argv)[:200]} failed: {done.stderr.decode()[-800:]}")


class Scratch:
    """A scratch folder the postgres user can write, with one socket folder."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="stategate-bench-bare-"))
        os.chmod(self.root, 0o777)
        self.sock = self.root / "sock"
        self.sock.mkdir()
        os.chmod(self.sock, 0o777)

    def clear(self) -> None:
        """Delete the previous round's clusters (each round stops its own)."""
        for child in self.root.iterdir():
            if child != self.sock:
                shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink()

    def remove(self) -> None:
        """Stop what a failed round left running (each server by its postmaster.pid),
        then delete the folder."""
        for pid_file in self.root.glob("*/postmaster.pid"):
            try:
                pid = int(pid_file.read_text().splitlines()[0])
                os.kill(pid, signal.SIGQUIT)  # PostgreSQL's immediate shutdown
            except (OSError, ValueError, IndexError):
                pass
        shutil.rmtree(self.root, ignore_errors=True)

    def initdb(self, bin_dir: Path, name: str, *extra: str) -> Path:
        data = self.root / name
        as_pg(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--auth=trust",
                "--no-sync",
                *extra,
            ]
        )
        return data

    def start(self, bin_dir: Path, data: Path, settings: str = THROWAWAY) -> int:
        port = free_port()
        opts = f"-p {port} -k {self.sock} -c listen_addresses= {settings}"
        log = str(data.parent / f"{data.name}.log")
        as_pg([str(bin_dir / "pg_ctl"), "-D", str(data), "-w", "-o", opts, "-l", log, "start"])
        return port

    def stop(self, bin_dir: Path, data: Path, mode: str = "fast") -> None:
        as_pg([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", mode, "-w", "stop"])

    def client(self, bin_dir: Path, tool: str, port: int) -> list[str]:
        return [str(bin_dir / tool), "-h", str(self.sock), "-p", str(port), "-U", "postgres"]

    def restore(self, bin_dir: Path, name: str, dump: Path, jobs: int, *initdb: str) -> int:
        """initdb + start + createdb + pg_restore -j ``jobs``; the running server's port."""
        data = self.initdb(bin_dir, name, *initdb)
        port = self.start(bin_dir, data)
        as_pg([*self.client(bin_dir, "createdb", port), "bench"])
        as_pg(
            [
                *self.client(bin_dir, "pg_restore", port),
                f"-j{jobs}",
                "--exit-on-error",
                "-d",
                "bench",
                str(dump),
            ]
        )
        return port


def readable(*paths: Path) -> None:
    """Let the postgres user read these files (and traverse their folders)."""
    for path in paths:
        os.chmod(path, 0o644)
        for parent in path.parents:
            if str(parent) in ("/", "/tmp"):
                break
            os.chmod(parent, os.stat(parent).st_mode | 0o055)
