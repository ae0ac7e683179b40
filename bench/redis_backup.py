"""stategate backup (per-key fingerprint + RDB over the replication protocol + record)
vs bare redis-cli --rdb. Data: --scale x 100k keys of mixed types, ~200 bytes each."""

from __future__ import annotations

import subprocess

import redis
from common import best, context, parser, report, rm, workdir

from stategate.operations.backup import run_backup
from stategate.providers.config import RedisSource
from stategate.sandbox.servers import LocalRedis

FILL = """
local n = tonumber(ARGV[1]); local start = tonumber(ARGV[2])
local pad = string.rep('x', 180)
for i = start, start + n - 1 do
  if i % 10 == 0 then redis.call('HSET', 'h:' .. i, 'a', pad, 'b', i)
  elseif i % 10 == 1 then redis.call('RPUSH', 'l:' .. i, pad, i)
  else redis.call('SET', 's:' .. i, pad .. i) end
end
return n
"""


def main() -> None:
    args = parser(__doc__ or "", 20).parse_args()
    work = workdir()
    with LocalRedis() as access:
        client = redis.Redis(host=access.host, port=access.port)
        # the bare tool asks for a diskless transfer, which waits this long for other replicas
        client.config_set("repl-diskless-sync-delay", 0)
        total = int(args.scale * 100_000)
        for start in range(0, total, 50_000):
            client.eval(FILL, 0, min(50_000, total - start), start)
        out = work / "bare.rdb"
        ctx = context(work, "bench/redis", RedisSource(host=access.host, port=access.port))

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
            record = run_backup(ctx)
            assert record.result == "pass", record.statement.predicate.reason

        t_ours, t_bare = best(args.rounds, (clear_ours, ours), (clear_bare, bare))
        report(
            "redis backup",
            t_ours,
            t_bare,
            "redis-cli --rdb",
            kind="time",
            target="<= 1.10",
            size=out.stat().st_size,
        )
    rm(work)


if __name__ == "__main__":
    main()
