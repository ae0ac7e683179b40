"""Row "S3 backup": ``stategate backup`` of an S3 bucket as its own process (mirror +
sha256 manifest + signed record) vs ``rclone copy`` (default transfers: 4) from the same
SeaweedFS server to a local folder, alternating rounds; a throughput ratio (rclone's time
over ours: above 1.0, stategate is faster). Data: bench/data.py (3,000 objects, ~174 MB
at --scale 1, sizes from 1 KB to 3 MB, unicode keys)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from common import Run, bench_line, cli_job, cli_repo, context, paired, parser, rm, workdir
from data import s3_fill

from stategate.engines import discover
from stategate.operations.backup import run_backup
from stategate.providers.config import Credential, S3Source
from stategate.providers.s3 import client_for
from stategate.sandbox.servers import LocalS3


@dataclass(frozen=True)
class Setup:
    count: int  # objects
    size: int  # bytes in all
    cli: tuple[Run, Run]  # (clear, run): stategate backup, the CLI as its own process
    ours: tuple[Run, Run]  # (clear, run): the same job in this process (bench/s3_clients.py)
    bare: tuple[Run, Run]  # (clear, run): rclone copy


@contextmanager
def s3_bench(scale: float) -> Iterator[Setup]:
    """A SeaweedFS server with the objects of bench/data.py at ``scale``, and the candidates."""
    work = workdir()
    weed = discover().newest("seaweedfs").path
    with LocalS3(binary=weed, access_key="bench", secret_key="bench-secret") as access:
        client = client_for(access)
        client.create_bucket(Bucket="data")
        count, size = s3_fill(client, "data", scale)
        # the CLI reads the credentials from these variables (the policy names them)
        os.environ.update(BENCH_S3_ACCESS="bench", BENCH_S3_SECRET="bench-secret")
        config = S3Source(
            endpoint=access.endpoint,
            access_key=Credential(env="BENCH_S3_ACCESS"),
            secret_key=Credential(env="BENCH_S3_SECRET"),
            buckets=["data"],
        )
        repo = cli_repo(work, "bench/minio", config, "minio/minio:latest")
        base = {k: v for k, v in os.environ.items() if "CA_BUNDLE" not in k}
        rclone_env = {
            **base,
            "RCLONE_CONFIG_SRC_TYPE": "s3",
            "RCLONE_CONFIG_SRC_PROVIDER": "Other",
            "RCLONE_CONFIG_SRC_ENDPOINT": access.endpoint,
            "RCLONE_CONFIG_SRC_ACCESS_KEY_ID": "bench",
            "RCLONE_CONFIG_SRC_SECRET_ACCESS_KEY": "bench-secret",
            "RCLONE_CONFIG_SRC_FORCE_PATH_STYLE": "true",
            "RCLONE_CONFIG_SRC_REGION": "us-east-1",
        }

        def clear_bare() -> None:
            rm(work / "rclone")

        def clear_ours() -> None:
            rm(work / "artifacts")

        def bare() -> None:
            done = subprocess.run(
                ["rclone", "copy", "src:data", str(work / "rclone")],
                env=rclone_env,
                capture_output=True,
                text=True,
            )
            if done.returncode != 0:
                raise SystemExit(f"rclone copy failed: {done.stderr[-500:]}")
            copied = sum(1 for f in (work / "rclone").rglob("*") if f.is_file())
            if copied != count:
                raise SystemExit(f"rclone copied {copied} objects, not {count}")

        def cli() -> None:
            result = cli_job(repo, work / "artifacts", "backup", "bench/minio")
            assert result["result"] == "pass", result

        ctx = context(work, "bench/minio", config)

        def ours() -> None:
            record = run_backup(ctx)
            assert record.result == "pass", record.statement.predicate.reason

        yield Setup(count, size, (clear_ours, cli), (clear_ours, ours), (clear_bare, bare))
    rm(work)


def main() -> None:
    args = parser(__doc__ or "", 1.0).parse_args()
    with s3_bench(args.scale) as setup:
        t_ours, t_bare = paired(args.rounds, setup.cli, setup.bare)
        bench_line(
            "S3 backup",
            t_ours,
            t_bare,
            "rclone copy",
            kind="throughput",
            target=">= 1.00",
            detail=(
                f"{setup.count:,} objects, {setup.size / 1e6:.0f} MB, unicode keys, "
                f"scale {args.scale:g}"
            ),
            size=setup.size,
        )


if __name__ == "__main__":
    main()
