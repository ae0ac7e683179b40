"""The whole ``stategate backup`` job (pg_dump + globals + same-snapshot fingerprint +
artifact fsync + evidence record) vs bare ``pg_dump -Fc -f FILE``, timed twice: the job
itself (``run_backup``, as the CLI runs it) and the CLI as its own process (which adds the
interpreter's start-up and imports, a fixed cost that does not grow with the data).

Data: pgbench -i at --scale (50 by default: 5M account rows).
"""

from __future__ import annotations

import subprocess

from common import best, cli_job, cli_repo, context, parser, report, rm, workdir

from stategate.operations.backup import run_backup
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
        ctx = context(work, "bench/postgres", config)

        def bare() -> None:
            out.unlink(missing_ok=True)
            run(["pg_dump", "-Fc", "-f", str(out), "bench"])

        def job() -> None:
            rm(work / "artifacts")
            record = run_backup(ctx)
            assert record.result == "pass", record.statement.predicate.reason

        def cli() -> None:
            rm(work / "artifacts")
            result = cli_job(repo, work / "artifacts", "backup", "bench/postgres")
            assert result["result"] == "pass", result

        t_job, t_bare, t_cli = best(args.rounds, job, bare, cli)
        size = out.stat().st_size
        for name, t_ours in (("postgres backup", t_job), ("postgres backup (CLI process)", t_cli)):
            report(name, t_ours, t_bare, "pg_dump -Fc", kind="time", target="<= 1.05", size=size)
    rm(work)


if __name__ == "__main__":
    main()
