"""Row "restore drill": ``stategate restore-drill`` as its own process (verify the
backup's sha256 + a fresh sandbox cluster + zstd -d | pg_restore + fingerprint compare +
signed record) vs bare initdb + start (throwaway settings: bench/bare_pg.py) + createdb +
``pg_restore -j N`` + stop, of a ``pg_dump -Fc`` file (pg_dump's own zlib) of the same
data, alternating rounds.

N is our drill's own restore job count, read from its record (a ``jobs`` field anywhere
in it); a record without one means a single-job restore (pg_restore reading one stream
from a pipe), so the bare side gets -j1 too and the detail column says so. ``--jobs``
overrides it. Data: bench/data.py (~706 MB database at --scale 1)."""

from __future__ import annotations

import subprocess

from bare_pg import Scratch, readable
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
from stategate.sandbox.servers import LocalPostgres


def main() -> None:
    p = parser(__doc__ or "", 1.0)
    p.add_argument("--jobs", type=int, help="the bare pg_restore's -j (default: our drill's)")
    args = p.parse_args()
    work = workdir()
    bin_dir = postgres_bin()
    dump = work / "bare" / "bare.dump"
    dump.parent.mkdir()
    with LocalPostgres(bin_dir=bin_dir, superuser="postgres") as access:
        env = {
            "PGHOST": access.host,
            "PGPORT": str(access.port),
            "PGUSER": "postgres",
            "PATH": f"{bin_dir}:/usr/bin:/bin",
        }
        subprocess.run(["createdb", "bench"], check=True, env=env)
        pg_fill(bin_dir, env, args.scale)
        db_size = pg_size(bin_dir, env)
        config = PostgresSource(host=access.host, port=access.port, databases=["bench"])
        repo = cli_repo(work, "bench/postgres", config, "postgres:16")
        backup = cli_job(repo, work / "artifacts", "backup", "bench/postgres")
        assert backup["result"] == "pass", backup
        subprocess.run(["pg_dump", "-Fc", "-f", str(dump), "bench"], check=True, env=env)
    # the source server is gone: the drill restores from the backup alone
    readable(dump)
    records: list[dict[str, object]] = []

    def ours() -> None:
        result = cli_job(repo, work / "artifacts", "restore-drill", "bench/postgres")
        assert result["result"] == "pass", result
        records.append(result)

    scratch = Scratch()

    def jobs() -> int:
        """The bare -j: --jobs, else our drill's (each round runs ours first)."""
        return args.jobs or restore_jobs(records[-1]) or 1

    def bare() -> None:
        scratch.restore(bin_dir, "drill", dump, jobs())
        scratch.stop(bin_dir, scratch.root / "drill", "immediate")

    try:
        t_ours, t_bare = paired(args.rounds, ours, (scratch.clear, bare))  # clear: untimed
    finally:
        scratch.remove()
    single = restore_jobs(records[-1]) is None
    how = f"-j{jobs()}" + (" (ours is single-job)" if single else "")
    bench_line(
        "restore drill",
        t_ours,
        t_bare,
        f"initdb + start + pg_restore {how}",
        kind="time",
        target="<= 1.30",
        detail=f"database {db_size / 1e6:.0f} MB, pg_restore {how}, scale {args.scale:g}",
    )
    print_steps("restore drill", records[-1])
    ours_size = sum(f.stat().st_size for f in (work / "artifacts").rglob("*") if f.is_file())
    print(
        f"restore drill input: stategate {ours_size / 1e6:.1f} MB (zstd), "
        f"pg_dump -Fc {dump.stat().st_size / 1e6:.1f} MB (zlib)"
    )
    rm(work)


if __name__ == "__main__":
    main()
