"""Row "upgrade rehearsal": ``stategate rehearse`` (a PostgreSQL 16 -> 18 major upgrade)
as its own process vs the bare steps an operator runs by hand with the tools of each
major, alternating rounds.

Bare steps (bench/bare_pg.py; throwaway settings on every cluster):
  restore into the source major   initdb 16 + start + createdb + pg_restore -j N + stop
  check                           initdb 18 + pg_upgrade --link --check
  upgrade                         pg_upgrade --link + start 18
  fingerprint                     pg_dump --data-only bench | sha256sum (every table read
                                  once and hashed: the bare equivalent of a content
                                  fingerprint; it compares nothing) + stop

stategate's rehearsal does more than these: it verifies the backup's artifacts, restores
on the target major too (with a fingerprint compare and smoke), probes the rollback, runs
pg_upgrade --check twice (the target's defaults, then the derived initdb flags) and
vacuumdb --analyze-in-stages. Its per-step durations (the record's steps[]) are printed
below the row, so where the time goes is visible. N is the rehearsal's own restore job
count when its drill's record states one, else 1 (ours restores from a pipe, single-job).
Data: bench/data.py (~706 MB database at --scale 1)."""

from __future__ import annotations

import statistics
import subprocess
import time

from bare_pg import Scratch, as_pg, readable
from common import (
    bench_line,
    cli_job,
    cli_repo,
    paired,
    parser,
    postgres_bin,
    print_steps,
    restore_jobs,
    rm,
    workdir,
)
from data import pg_fill, pg_size

from stategate.providers.config import PostgresSource
from stategate.sandbox.ports import free_port
from stategate.sandbox.servers import LocalPostgres

DIGEST = "sha256:" + "ab" * 32


def main() -> None:
    p = parser(__doc__ or "", 1.0)
    p.add_argument("--jobs", type=int, help="the bare pg_restore's -j (default: ours)")
    args = p.parse_args()
    work = workdir()
    old_bin, new_bin = postgres_bin("16"), postgres_bin("18")
    dump = work / "bare" / "bare.dump"
    dump.parent.mkdir()
    with LocalPostgres(bin_dir=old_bin, superuser="postgres") as access:
        env = {
            "PGHOST": access.host,
            "PGPORT": str(access.port),
            "PGUSER": "postgres",
            "PATH": f"{old_bin}:/usr/bin:/bin",
        }
        subprocess.run(["createdb", "bench"], check=True, env=env)
        pg_fill(old_bin, env, args.scale)
        db_size = pg_size(old_bin, env)
        subprocess.run(["pg_dump", "-Fc", "-f", str(dump), "bench"], check=True, env=env)
        config = PostgresSource(host=access.host, port=access.port, databases=["bench"])
        repo = cli_repo(work, "bench/postgres", config, f"postgres:16.4@{DIGEST}")
        packet = repo / "packets" / "up.yaml"
        packet.parent.mkdir()
        packet.write_text(
            "id: up\nmodules:\n  - module: bench/postgres\n"
            f"    from: postgres:16.4@{DIGEST}\n    to: postgres:18.1@{DIGEST}\n"
            "allowed_paths: []\n"
        )
        artifacts = work / "artifacts"
        backup = cli_job(repo, artifacts, "backup", "bench/postgres")
        assert backup["result"] == "pass", backup
        drill = cli_job(repo, artifacts, "restore-drill", "bench/postgres")
        assert drill["result"] == "pass", drill
    readable(dump)
    records: list[dict[str, object]] = []

    def ours() -> None:
        result = cli_job(repo, artifacts, "rehearse", "bench/postgres", "--packet", str(packet))
        assert result["result"] == "pass", result
        records.append(result)

    scratch = Scratch()
    bare_steps: dict[str, list[float]] = {}
    # the bare -j: --jobs, else the drill's (the rehearsal restores as the drill does)
    jobs = args.jobs or restore_jobs(drill) or 1

    def timed(name: str, started: float) -> float:
        now = time.perf_counter()
        bare_steps.setdefault(name, []).append(now - started)
        return now

    def bare() -> None:
        old, new = scratch.root / "old", scratch.root / "new"
        t = time.perf_counter()
        scratch.restore(old_bin, "old", dump, jobs)
        scratch.stop(old_bin, old)
        t = timed("restore-on-source", t)
        scratch.initdb(new_bin, "new", "--no-data-checksums")  # 16 was made without
        upgrade = [
            str(new_bin / "pg_upgrade"),
            "-b",
            str(old_bin),
            "-B",
            str(new_bin),
            "-d",
            str(old),
            "-D",
            str(new),
            "-U",
            "postgres",
            "-s",
            str(scratch.sock),
            "-p",
            str(free_port()),
            "-P",
            str(free_port()),
            "--link",
        ]
        as_pg([*upgrade, "--check"], cwd=scratch.root)
        t = timed("upgrade-check", t)
        as_pg(upgrade, cwd=scratch.root)
        port = scratch.start(new_bin, new)
        t = timed("upgrade-in-place", t)
        dump_cmd = " ".join([*scratch.client(new_bin, "pg_dump", port), "--data-only", "bench"])
        as_pg([f"{dump_cmd} | sha256sum >/dev/null"], shell=True)
        scratch.stop(new_bin, new, "immediate")
        timed("fingerprint", t)

    try:
        t_ours, t_bare = paired(args.rounds, ours, (scratch.clear, bare))  # clear: untimed
    finally:
        scratch.remove()
    single = restore_jobs(records[-1]) is None and restore_jobs(drill) is None
    how = f"-j{jobs}" + (" (ours is single-job)" if single else "")
    bench_line(
        "upgrade rehearsal",
        t_ours,
        t_bare,
        "restore on 16 + pg_upgrade --check + pg_upgrade + pg_dump|sha256sum",
        kind="time",
        target="<= 1.25",
        detail=f"PostgreSQL 16 -> 18, database {db_size / 1e6:.0f} MB, pg_restore {how}, "
        f"scale {args.scale:g}",
    )
    print_steps("upgrade rehearsal", records[-1])
    print(
        "upgrade rehearsal, bare steps (medians): "
        + ", ".join(f"{n} {statistics.median(v):.2f}s" for n, v in bare_steps.items())
    )
    rm(work)


if __name__ == "__main__":
    main()
