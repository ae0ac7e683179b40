"""The whole ``stategate backup`` job (its own process: start-up, policy, pg_dump + globals +
same-snapshot fingerprint + evidence record) vs bare ``pg_dump -Fc -f FILE``.

Data: pgbench -i at --scale (50 by default: 5M account rows).
"""

from __future__ import annotations

import subprocess

from common import best, cli_job, cli_repo, parser, report, rm, workdir

from stategate.providers.config import PostgresSource
from stategate.sandbox.servers import LocalPostgres, find_postgres_bin


def main() -> None:
    args = parser(__doc__ or "", 50).parse_args()
    work = workdir()
    bin_dir = find_postgres_bin()
    with LocalPostgres(bin_dir=bin_dir, superuser="postgres", tcp=False) as access:
        env = {"PGHOST": access.host, "PGPORT": str(access.port), "PGUSER": "postgres"}

        def run(argv: list[str]) -> None:
            subprocess.run(
                argv, check=True, env={**env, "PATH": "/usr/bin:/bin"}, capture_output=True
            )

        run(["createdb", "bench"])
        run([str(bin_dir / "pgbench"), "-i", "-q", "-s", str(int(max(1, args.scale))), "bench"])
        out = work / "bare.dump"
        config = PostgresSource(host=access.host, port=access.port, databases=["bench"])
        repo = cli_repo(work, "bench/postgres", config, "postgres:15")

        def bare() -> None:
            out.unlink(missing_ok=True)
            run(["pg_dump", "-Fc", "-f", str(out), "bench"])

        def ours() -> None:
            rm(work / "artifacts")
            result = cli_job(repo, work / "artifacts", "backup", "bench/postgres")
            assert result["result"] == "pass", result

        t_ours, t_bare = best(args.rounds, ours, bare)
        report(
            "postgres backup",
            t_ours,
            t_bare,
            "pg_dump -Fc",
            kind="time",
            target="<= 1.05",
            size=out.stat().st_size,
        )
    rm(work)


if __name__ == "__main__":
    main()
