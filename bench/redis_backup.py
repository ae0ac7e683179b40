"""Row "redis backup": ``stategate backup`` as its own process (per-key fingerprint +
RDB over the replication protocol + compression + signed record) vs bare
``redis-cli --rdb FILE``, alternating rounds. Data: bench/data.py (1M keys of every type
at --scale 1: strings, hashes, lists, sets, sorted sets, streams, keys with TTLs)."""

from __future__ import annotations

import subprocess

import redis
from common import bench_line, cli_job, cli_repo, paired, parser, rm, workdir
from data import redis_fill

from stategate.providers.config import RedisSource
from stategate.sandbox.servers import LocalRedis


def main() -> None:
    args = parser(__doc__ or "", 1.0).parse_args()
    work = workdir()
    with LocalRedis() as access:
        client = redis.Redis(host=access.host, port=access.port)
        # the bare tool asks for a diskless transfer, which waits this long for other replicas
        client.config_set("repl-diskless-sync-delay", 0)
        keys = redis_fill(client, args.scale)
        memory = int(client.info("memory")["used_memory"])
        out = work / "bare.rdb"
        config = RedisSource(host=access.host, port=access.port)
        repo = cli_repo(work, "bench/redis", config, "redis:7")

        def clear_bare() -> None:
            out.unlink(missing_ok=True)

        def clear_ours() -> None:
            rm(work / "artifacts")

        def bare() -> None:
            subprocess.run(
                ["redis-cli", "-h", access.host, "-p", str(access.port), "--rdb", str(out)],
                check=True,
                capture_output=True,
            )

        def ours() -> None:
            result = cli_job(repo, work / "artifacts", "backup", "bench/redis")
            assert result["result"] == "pass", result

        t_ours, t_bare = paired(args.rounds, (clear_ours, ours), (clear_bare, bare))
        bench_line(
            "redis backup",
            t_ours,
            t_bare,
            "redis-cli --rdb",
            kind="time",
            target="<= 1.10",
            detail=(
                f"{keys:,} keys of 7 kinds, {memory / 1e6:.0f} MB in memory, "
                f"RDB {out.stat().st_size / 1e6:.0f} MB, scale {args.scale:g}"
            ),
        )
    rm(work)


if __name__ == "__main__":
    main()
