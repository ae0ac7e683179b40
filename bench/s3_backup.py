"""stategate backup of S3 buckets (mirror + sha256 manifest + record) vs rclone copy
from the same S3 server (SeaweedFS) to a local directory. Data: --scale x 100 objects of 1 MB."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from common import Run, best, context, parser, report, rm, workdir

from stategate.engines import discover
from stategate.operations.backup import run_backup
from stategate.providers.config import Credential, S3Source
from stategate.providers.s3 import client_for
from stategate.sandbox.servers import LocalS3


@dataclass(frozen=True)
class Setup:
    count: int  # objects of 1 MB
    ours: tuple[Run, Run]  # (clear, run): stategate backup
    bare: tuple[Run, Run]  # (clear, run): rclone copy


@contextmanager
def s3_bench(scale: float) -> Iterator[Setup]:
    """A SeaweedFS server with ``scale`` x 100 objects of 1 MB, and both candidates."""
    work = workdir()
    weed = discover().newest("seaweedfs").path
    with LocalS3(binary=weed, access_key="bench", secret_key="bench-secret") as access:
        client = client_for(access)
        client.create_bucket(Bucket="data")
        count = int(scale * 100)
        for i in range(count):
            client.put_object(
                Bucket="data", Key=f"dir{i % 10}/obj-{i}.bin", Body=os.urandom(1024 * 1024)
            )
        os.environ.update(BENCH_S3_ACCESS="bench", BENCH_S3_SECRET="bench-secret")
        config = S3Source(
            endpoint=access.endpoint,
            access_key=Credential(env="BENCH_S3_ACCESS"),
            secret_key=Credential(env="BENCH_S3_SECRET"),
            buckets=["data"],
        )
        ctx = context(work, "bench/minio", config)
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
            assert done.returncode == 0, done.stderr[-500:]

        def ours() -> None:
            record = run_backup(ctx)
            assert record.result == "pass", record.statement.predicate.reason

        yield Setup(count, (clear_ours, ours), (clear_bare, bare))
    rm(work)


def main() -> None:
    args = parser(__doc__ or "", 4).parse_args()
    with s3_bench(args.scale) as setup:
        t_ours, t_bare = best(args.rounds, setup.ours, setup.bare)
        report(
            "s3 backup",
            t_ours,
            t_bare,
            "rclone copy",
            kind="throughput",
            target=">= 1.0",
            size=setup.count * 1024 * 1024,
        )


if __name__ == "__main__":
    main()
