"""The whole ``stategate backup`` job (pg_dump + globals + same-snapshot fingerprint +
artifact fsync + evidence record) vs bare ``pg_dump -Fc -f FILE``, timed twice: the job
itself (``run_backup``, as the CLI runs it) and the CLI as its own process (which adds the
interpreter's start-up and imports, a fixed cost that does not grow with the data).

The two do not compress alike: stategate runs ``pg_dump -Fc --compress=0`` and compresses
the stream with zstd (level 3), bare ``pg_dump -Fc`` uses its own zlib (default level), so
the artifact sizes of both are printed too.

Data: pgbench -i at --scale (50 by default: 5M account rows).
"""

from __future__ import annotations

import subprocess

from common import best, cli_job, cli_repo, context, parser, postgres_bin, report, rm, workdir

from stategate.evidence.records.predicates import BackupPredicate
from stategate.operations.backup import run_backup
from stategate.providers.config import PostgresSource
from stategate.sandbox.servers import LocalPostgres


def main() -> None:
    args = parser(__doc__ or "", 50).parse_args()
    work = workdir()
    bin_dir = postgres_bin()
    with LocalPostgres(bin_dir=bin_dir, superuser="postgres", tcp=False) as access:
        env = {"PGHOST": access.host, "PGPORT": str(access.port), "PGUSER": "postgres"}

        def run(argv: list[str]) -> None:
            subprocess.run(
                argv,
                check=True,
                env={**env, "PATH": f"{bin_dir}:/usr/bin:/bin"},
                capture_output=True,
            )

        run(["createdb", "bench"])
        run([str(bin_dir / "pgbench"), "-i", "-q", "-s", str(int(max(1, args.scale))), "bench"])
        out = work / "bare.dump"
        config = PostgresSource(host=access.host, port=access.port, databases=["bench"])
        repo = cli_repo(work, "bench/postgres", config, "postgres:15")
        ctx = context(work, "bench/postgres", config)

        def clear_bare() -> None:
            out.unlink(missing_ok=True)

        def clear_ours() -> None:
            rm(work / "artifacts")

        def bare() -> None:
            run(["pg_dump", "-Fc", "-f", str(out), "bench"])

        ours: list[int] = []

        def job() -> None:
            record = run_backup(ctx)
            pred = record.statement.predicate
            assert isinstance(pred, BackupPredicate) and pred.result == "pass", pred.reason
            ours[:] = [a.size for a in pred.artifacts if a.name.startswith("db/")]

        def cli() -> None:
            result = cli_job(repo, work / "artifacts", "backup", "bench/postgres")
            assert result["result"] == "pass", result

        t_job, t_bare, t_cli = best(
            args.rounds, (clear_ours, job), (clear_bare, bare), (clear_ours, cli)
        )
        size = out.stat().st_size
        for name, t_ours in (("postgres backup", t_job), ("postgres backup (CLI process)", t_cli)):
            report(name, t_ours, t_bare, "pg_dump -Fc", kind="time", target="<= 1.05", size=size)
        print(
            f"postgres backup artifact: stategate {sum(ours) / 1e6:.1f} MB "
            f"(pg_dump -Fc -Z0 | zstd -3), pg_dump -Fc {size / 1e6:.1f} MB (zlib)"
        )
    rm(work)


if __name__ == "__main__":
    main()
