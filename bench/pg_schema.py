"""What the schema and configuration fingerprint adds to a PostgreSQL drill: the
fingerprint a drill computes on its sandbox, with the schema items and without (the
data only, as before), on the same cluster; and one whole restore drill for scale.
Data: pgbench -i at --scale (30 by default, the figure the issue asks for)."""

from __future__ import annotations

import time

from common import best, parser, pgbench_source, postgres_bin, report, rm, workdir

from stategate.operations.backup import run_backup
from stategate.operations.drill import run_restore_drill
from stategate.providers import pg_schema
from stategate.providers.postgres import PostgresProvider
from stategate.sandbox.servers import LocalPostgres


def main() -> None:
    args = parser(__doc__ or "", 30).parse_args()
    work = workdir()
    bin_dir = postgres_bin()
    with LocalPostgres(bin_dir=bin_dir, superuser="postgres") as access:
        _env, ctx = pgbench_source(work, access, bin_dir, args.scale)
        with_schema = PostgresProvider(access, databases=["bench"])
        data_only = PostgresProvider(access, databases=["bench"], schema=False)
        t_with, t_without = best(
            args.rounds, lambda: with_schema.fingerprint(), lambda: data_only.fingerprint()
        )
        items = len([i for i in with_schema.fingerprint().items if "(" in i.group])
        with data_only.connect("bench") as conn:
            row = conn.execute("SELECT pg_database_size('bench')").fetchone()
        size = int(str(row[0])) if row else 0
        report(
            "postgres fingerprint with the schema items",
            t_with,
            t_without,
            "the data fingerprint alone",
            kind="time",
            target="<= 1.10",
            size=size,
        )
        start = time.perf_counter()
        for _ in range(10):
            with data_only.connect("bench") as conn:
                pg_schema.sequence_positions(conn, "bench")
                pg_schema.schema_items(conn, "bench")
            with data_only.connect("postgres") as conn:
                pg_schema.cluster_items(conn)
        alone = (time.perf_counter() - start) / 10
        print(
            f"schema items: {items}; the schema queries alone: {alone * 1000:.0f} ms; "
            f"difference of the best times: {t_with - t_without:+.3f} s"
        )
        assert run_backup(ctx).result == "pass"
        start = time.perf_counter()
        record = run_restore_drill(ctx)
        assert record.result == "pass", record.statement.predicate.reason
        print(f"one whole restore drill (schema compared): {time.perf_counter() - start:.2f} s")
    rm(work)


if __name__ == "__main__":
    main()
