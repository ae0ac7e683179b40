"""stategate restore-drill (verify sha256 + fresh cluster + zstd -d | pg_restore +
fingerprint compare) vs bare initdb + start + pg_restore of a plain ``pg_dump -Fc`` file
(pg_dump's own zlib) of the same data. Data: pgbench -i at --scale."""

from __future__ import annotations

import subprocess

from common import best, parser, pgbench_source, postgres_bin, report, rm, workdir

from stategate.evidence.records.predicates import BackupPredicate
from stategate.operations.backup import run_backup
from stategate.operations.drill import run_restore_drill
from stategate.sandbox.servers import LocalPostgres


def main() -> None:
    args = parser(__doc__ or "", 50).parse_args()
    work = workdir()
    bin_dir = postgres_bin()
    with LocalPostgres(bin_dir=bin_dir, superuser="postgres") as access:
        env, ctx = pgbench_source(work, access, bin_dir, args.scale)
        backup = run_backup(ctx)
        pred = backup.statement.predicate
        assert isinstance(pred, BackupPredicate) and pred.result == "pass"
        dump = work / "bare.dump"
        subprocess.run(["pg_dump", "-Fc", "-f", str(dump), "bench"], check=True, env=env)
    ours_size = sum(a.size for a in pred.artifacts if a.name.startswith("db/"))

    def bare() -> None:
        with LocalPostgres(bin_dir=bin_dir, superuser="postgres") as sandbox:
            subprocess.run(
                [
                    "pg_restore",
                    "-h",
                    sandbox.host,
                    "-p",
                    str(sandbox.port),
                    "-U",
                    "postgres",
                    "--exit-on-error",
                    "--create",
                    "-d",
                    "postgres",
                    str(dump),
                ],
                check=True,
                capture_output=True,
                env={"PATH": env["PATH"]},  # pg_restore of the same major as the server
            )

    def ours() -> None:
        record = run_restore_drill(ctx)
        assert record.result == "pass", record.statement.predicate.reason

    t_ours, t_bare = best(args.rounds, ours, bare)
    report(
        "postgres restore drill",
        t_ours,
        t_bare,
        "initdb + pg_restore",
        kind="time",
        target="<= 1.30",
        size=dump.stat().st_size,
    )
    print(
        f"postgres restore drill input: stategate {ours_size / 1e6:.1f} MB (zstd -3), "
        f"pg_dump -Fc {dump.stat().st_size / 1e6:.1f} MB (zlib)"
    )
    rm(work)


if __name__ == "__main__":
    main()
