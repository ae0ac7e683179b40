"""stategate rehearse (a PostgreSQL 16 -> 18 major upgrade) step by step vs the same
bare steps run by hand with the tools of each major: restore into 18 (initdb + start +
pg_restore of a pg_dump -Fc file), restore into 16, pg_upgrade --check, pg_upgrade --link
(+ start), vacuumdb --analyze-in-stages. stategate's steps also verify the backup's
artifacts and fingerprint the content (the bare steps verify nothing). Data: pgbench -i
at --scale. Times are each step's own duration as the rehearsal records it, against the
bare step's wall time, in the same run."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

from common import parser, pgbench_source, postgres_bin, report, rm, workdir

from stategate.evidence.records.predicates import BackupPredicate, RehearsalPredicate
from stategate.operations.backup import run_backup
from stategate.operations.drill import run_restore_drill
from stategate.operations.rehearse import run_rehearsal
from stategate.packet import load_packet
from stategate.sandbox.ports import free_port
from stategate.sandbox.servers import LocalPostgres, postgres_run_user
from stategate.source import WorkTree

DIGEST = "sha256:" + "ab" * 32


def _as_pg(argv: list[str], **kwargs: object) -> None:
    user = postgres_run_user()
    full = ["runuser", "-u", user, "--", *argv] if user else argv
    done = subprocess.run(full, capture_output=True, **kwargs)  # type: ignore[call-overload]
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {done.stderr.decode()[-800:]}")


class Bare:
    """The operator's steps by hand, timed one by one."""

    def __init__(self, old: Path, new: Path, dump: Path) -> None:
        self.old, self.new, self.dump = old, new, dump
        self.root = Path(tempfile.mkdtemp(prefix="stategate-bench-bare-"))
        os.chmod(self.root, 0o777)
        self.sock = self.root / "sock"
        self.sock.mkdir()
        os.chmod(self.sock, 0o777)
        self.times: dict[str, float] = {}

    def timed(self, name: str, *steps: list[str]) -> None:
        start = time.perf_counter()
        for argv in steps:
            _as_pg(argv, cwd=self.root)
        self.times[name] = time.perf_counter() - start

    def restore(self, bin_dir: Path, data: Path) -> list[list[str]]:
        port = str(free_port())
        opts = f"-p {port} -k {self.sock} -c listen_addresses= -c fsync=off"
        return [
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
                *(["--no-data-checksums"] if bin_dir == self.new else []),
            ],
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-w",
                "-o",
                opts,
                "-l",
                str(data.parent / f"{data.name}.log"),
                "start",
            ],
            [
                str(bin_dir / "createdb"),
                "-h",
                str(self.sock),
                "-p",
                port,
                "-U",
                "postgres",
                "bench",
            ],
            [
                str(bin_dir / "pg_restore"),
                "-h",
                str(self.sock),
                "-p",
                port,
                "-U",
                "postgres",
                "-j2",
                "--exit-on-error",
                "-d",
                "bench",
                str(self.dump),
            ],
        ]

    def stop(self, bin_dir: Path, data: Path, mode: str = "fast") -> list[str]:
        return [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", mode, "-w", "stop"]

    def run(self) -> None:
        self.timed("restore-on-target", *self.restore(self.new, self.root / "target"))
        _as_pg(self.stop(self.new, self.root / "target", "immediate"))
        old, new = self.root / "old", self.root / "new"
        self.timed("restore-on-source", *self.restore(self.old, old), self.stop(self.old, old))
        initdb_new = [
            str(self.new / "initdb"),
            "-D",
            str(new),
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C",
            "--auth=trust",
            "--no-sync",
            "--no-data-checksums",
        ]
        upgrade = [
            str(self.new / "pg_upgrade"),
            "-b",
            str(self.old),
            "-B",
            str(self.new),
            "-d",
            str(old),
            "-D",
            str(new),
            "-U",
            "postgres",
            "-s",
            str(self.sock),
            "-p",
            str(free_port()),
            "-P",
            str(free_port()),
        ]
        self.timed("upgrade-check", initdb_new, [*upgrade, "--check"])
        port = str(free_port())
        opts = f"-p {port} -k {self.sock} -c listen_addresses="
        self.timed(
            "upgrade-in-place",
            [*upgrade, "--link"],
            [
                str(self.new / "pg_ctl"),
                "-D",
                str(new),
                "-w",
                "-o",
                opts,
                "-l",
                str(self.root / "new.log"),
                "start",
            ],
        )
        self.timed(
            "analyze",
            [
                str(self.new / "vacuumdb"),
                "-h",
                str(self.sock),
                "-p",
                port,
                "-U",
                "postgres",
                "--all",
                "--analyze-in-stages",
            ],
        )
        _as_pg(self.stop(self.new, new, "immediate"))


def main() -> None:
    args = parser(__doc__ or "", 30).parse_args()
    work = workdir()
    old_bin, new_bin = postgres_bin("16"), postgres_bin("18")
    with LocalPostgres(bin_dir=old_bin, superuser="postgres") as access:
        env, ctx = pgbench_source(work, access, old_bin, args.scale)
        backup = run_backup(ctx).statement.predicate
        assert isinstance(backup, BackupPredicate) and backup.result == "pass", backup.reason
        drill = run_restore_drill(ctx).statement.predicate
        assert drill.result == "pass", drill.reason
        packets = ctx.repo / "packets"
        packets.mkdir(exist_ok=True)
        (packets / "up.yaml").write_text(
            "id: up\nmodules:\n  - module: bench/postgres\n"
            f"    from: postgres:16.4@{DIGEST}\n    to: postgres:18.1@{DIGEST}\n"
            "allowed_paths: []\n"
        )
        packet = load_packet(WorkTree(ctx.repo), "packets/up.yaml")
        rehearsal = run_rehearsal(ctx, packet).statement.predicate
        assert isinstance(rehearsal, RehearsalPredicate)
        assert rehearsal.result == "pass", rehearsal.reason
        dump = work / "bare.dump"
        subprocess.run(["pg_dump", "-Fc", "-f", str(dump), "bench"], check=True, env=env)
    os.chmod(work, 0o755)  # the bare steps run as the postgres user
    os.chmod(dump, 0o644)
    size = sum(a.size for a in backup.artifacts)
    bare = Bare(old_bin, new_bin, dump)
    try:
        bare.run()
    finally:
        rm(bare.root)
    ours = {s.name: s.duration_s for s in rehearsal.steps}
    for name, bare_name in (
        ("restore-on-target", "initdb 18 + start + pg_restore -j2"),
        ("restore-on-source", "initdb 16 + start + pg_restore -j2 + stop"),
        ("upgrade-check", "initdb 18 + pg_upgrade --check"),
        ("upgrade-in-place", "pg_upgrade --link + start"),
        ("analyze", "vacuumdb --analyze-in-stages"),
    ):
        report(
            f"rehearsal step {name}",
            ours[name],
            bare.times[name],
            bare_name,
            kind="time",
            target="<= 1.25 overall",
            size=size,
        )
    steps = [n for n in bare.times]
    report(
        "rehearsal (these steps together)",
        sum(ours[n] for n in steps),
        sum(bare.times.values()),
        "the same bare steps",
        kind="time",
        target="<= 1.25",
        size=size,
    )
    print(
        f"(also in the rehearsal, not in the bare run: verify-backup {ours['verify-backup']:.2f}s, "
        f"upgrade-check-defaults {ours['upgrade-check-defaults']:.2f}s, rollback-probe "
        f"{ours['rollback-probe']:.2f}s)"
    )
    rm(work)


if __name__ == "__main__":
    main()
