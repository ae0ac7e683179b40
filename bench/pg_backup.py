"""Row "postgres backup": ``stategate backup`` as its own process (pg_dump + globals +
same-snapshot fingerprint + artifact fsync + signed evidence record) vs bare
``pg_dump -Fc -f FILE``, alternating rounds.

The two do not compress alike: stategate runs ``pg_dump -Fc --compress=0`` and compresses
the stream with zstd, bare ``pg_dump -Fc`` uses its own zlib (default level); both
artifact sizes are printed. Data: bench/data.py (pgbench 30 x scale + mixed column types
+ a partitioned table; ~706 MB at --scale 1)."""

from __future__ import annotations

import subprocess

from common import bench_line, cli_job, cli_repo, paired, parser, postgres_bin, rm, workdir
from data import pg_fill, pg_size

from stategate.providers.config import PostgresSource
from stategate.sandbox.servers import LocalPostgres


def main() -> None:
    args = parser(__doc__ or "", 1.0).parse_args()
    work = workdir()
    bin_dir = postgres_bin()
    with LocalPostgres(bin_dir=bin_dir, superuser="postgres", tcp=False) as access:
        env = {
            "PGHOST": access.host,
            "PGPORT": str(access.port),
            "PGUSER": "postgres",
            "PATH": f"{bin_dir}:/usr/bin:/bin",  # the bare tools of the server's major
        }
        subprocess.run(["createdb", "bench"], check=True, env=env)
        pg_fill(bin_dir, env, args.scale)
        db_size = pg_size(bin_dir, env)
        out = work / "bare.dump"
        config = PostgresSource(host=access.host, port=access.port, databases=["bench"])
        repo = cli_repo(work, "bench/postgres", config, "postgres:16")
        ours_sizes: list[int] = []

        def clear_bare() -> None:
            out.unlink(missing_ok=True)

        def clear_ours() -> None:
            rm(work / "artifacts")

        def bare() -> None:
            subprocess.run(
                ["pg_dump", "-Fc", "-f", str(out), "bench"],
                check=True,
                env=env,
                capture_output=True,
            )

        def ours() -> None:
            result = cli_job(repo, work / "artifacts", "backup", "bench/postgres")
            assert result["result"] == "pass", result
            ours_sizes[:] = [
                f.stat().st_size for f in (work / "artifacts").rglob("*") if f.is_file()
            ]

        t_ours, t_bare = paired(args.rounds, (clear_ours, ours), (clear_bare, bare))
        bench_line(
            "postgres backup",
            t_ours,
            t_bare,
            "pg_dump -Fc",
            kind="time",
            target="<= 1.00",
            detail=f"database {db_size / 1e6:.0f} MB, scale {args.scale:g}",
        )
        print(
            f"postgres backup artifacts: stategate {sum(ours_sizes) / 1e6:.1f} MB "
            f"(pg_dump -Fc -Z0 | zstd), pg_dump -Fc {out.stat().st_size / 1e6:.1f} MB (zlib)"
        )
    rm(work)


if __name__ == "__main__":
    main()
