"""Backup repository: (1) uploading one backup part to S3, age-encrypted as it streams
and read back (HEAD: size and ETag), vs ``rclone copy`` of the same file (unencrypted) to
the same SeaweedFS server; (2) a postgres restore drill reading its encrypted backup back
from that S3 repository vs from a local folder (pgbench data, the same backup).

In-process timings of stategate's own code paths (no CLI start-up). Data: --scale x
256 MB of random bytes (a compressed dump does not compress further) for (1); pgbench
at scale --scale x 10 for (2)."""

from __future__ import annotations

import os
import subprocess
from dataclasses import replace
from pathlib import Path

from common import best, parser, pgbench_source, postgres_bin, report, rm, workdir
from pyrage import x25519

from stategate.engines import discover
from stategate.operations.backup import run_backup
from stategate.operations.drill import run_restore_drill
from stategate.policy.schema import EvidenceSettings
from stategate.providers.s3 import client_for
from stategate.repository.repositories import Repositories, from_policy
from stategate.sandbox.servers import LocalPostgres, LocalS3


def _repositories(work: Path, repo: Path, endpoint: str, identity: x25519.Identity) -> Repositories:
    (repo / "trust").mkdir(parents=True, exist_ok=True)
    (repo / "trust" / "age.txt").write_text(f"{identity.to_public()}\n")
    os.environ["STATEGATE_AGE_IDENTITY"] = str(identity)
    settings = EvidenceSettings.model_validate(
        {
            "repositories": [
                {
                    "name": "s3",
                    "type": "s3",
                    "endpoint": endpoint,
                    "bucket": "repo",
                    "prefix": "bench",
                    "access_key": {"env": "BENCH_S3_ACCESS"},
                    "secret_key": {"env": "BENCH_S3_SECRET"},
                },
                {"name": "here", "type": "local", "path": str(work / "local-repo")},
            ],
            "encryption": {"recipients_file": "trust/age.txt"},
        }
    )
    return from_policy(settings, repo, work / "artifacts")


def main() -> None:
    args = parser(__doc__ or "", 1.0).parse_args()
    work = workdir()
    identity = x25519.Identity.generate()
    weed = discover().newest("seaweedfs").path
    with LocalS3(binary=weed, access_key="bench", secret_key="bench-secret") as access:
        client_for(access).create_bucket(Bucket="repo")
        os.environ.update(BENCH_S3_ACCESS="bench", BENCH_S3_SECRET="bench-secret")
        repo = work / "repo"
        repositories = _repositories(work, repo, access.endpoint, identity)
        s3_only = replace(repositories, targets=(repositories.named("s3"),))
        size = int(args.scale * 256 * 1024 * 1024)
        blob = work / "part.bin"
        with open(blob, "wb") as out:
            for _ in range(size // (1 << 20)):
                out.write(os.urandom(1 << 20))
        rclone_env = {
            **{k: v for k, v in os.environ.items() if "CA_BUNDLE" not in k},
            "RCLONE_CONFIG_DST_TYPE": "s3",
            "RCLONE_CONFIG_DST_PROVIDER": "Other",
            "RCLONE_CONFIG_DST_ENDPOINT": access.endpoint,
            "RCLONE_CONFIG_DST_ACCESS_KEY_ID": "bench",
            "RCLONE_CONFIG_DST_SECRET_ACCESS_KEY": "bench-secret",
            "RCLONE_CONFIG_DST_FORCE_PATH_STYLE": "true",
            "RCLONE_CONFIG_DST_REGION": "us-east-1",
        }
        rounds = iter(range(1000))

        def ours() -> None:
            location = f"up/{next(rounds)}"
            with (
                s3_only.writing(location) as writer,
                writer.part("part.bin") as dest,
                open(blob, "rb") as source,
            ):
                dest.copy_from(source)

        def bare() -> None:
            done = subprocess.run(
                ["rclone", "copy", str(blob), f"dst:repo/bare/{next(rounds)}"],
                env=rclone_env,
                capture_output=True,
                text=True,
            )
            assert done.returncode == 0, done.stderr[-500:]

        t_ours, t_bare = best(args.rounds, ours, bare)
        report(
            "s3 repository upload (age-encrypted, read back)",
            t_ours,
            t_bare,
            "rclone copy (unencrypted)",
            kind="throughput",
            target=">= 1.0",
            size=size,
        )
        blob.unlink()

        bin_dir = postgres_bin("16")
        with LocalPostgres(bin_dir=bin_dir, tcp=False) as pg:
            _env, ctx = pgbench_source(work, pg, bin_dir, args.scale * 10)
            ctx = replace(ctx, repositories=repositories)
            backup = run_backup(ctx).statement.predicate
            assert backup.result == "pass", backup.reason

            def from_repository(name: str) -> None:
                drill = run_restore_drill(ctx, repository=name).statement.predicate
                assert drill.result == "pass", drill.reason

            t_s3, t_local = best(
                args.rounds, lambda: from_repository("s3"), lambda: from_repository("here")
            )
            report(
                "postgres drill reading the backup back",
                t_s3,
                t_local,
                "the same drill from a local folder",
                kind="time",
                target="informative",
                size=backup.total_size,
            )
    rm(work)


if __name__ == "__main__":
    main()
