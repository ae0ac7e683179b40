"""Realistic bench data, sized by ``scale`` (1.0 = the size issue 13 measured on):

- PostgreSQL (~706 MB at 1.0): ``pgbench -i`` at scale 30 x s, plus ``mixed`` (jsonb,
  bytea, numeric, int and text arrays, unicode text, timestamptz; a primary key and a
  GIN index) and ``events``, a table partitioned by range into four quarters. Generated
  server-side with ``generate_series``.
- Redis (1M keys at 1.0): strings, hashes, lists, sets, sorted sets, streams, and keys
  with TTLs (a day: none expires during a bench), by a Lua script in batches.
- S3 (3,000 objects, ~174 MB at 1.0): a spread of sizes (1-20 KB, 200 KB, 3 MB) of
  random bytes, under unicode keys, uploaded in parallel.
"""

from __future__ import annotations

import os
import random
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

PG_MIXED_ROWS = 210_000  # ~187 MB with its indexes at scale 1.0
PG_EVENTS_ROWS = 200_000  # ~40 MB in four partitions (pgbench 30: ~470 MB)

PG_SQL = """
CREATE TABLE mixed (
    id bigint PRIMARY KEY,
    doc jsonb NOT NULL,
    blob bytea NOT NULL,
    amount numeric(20, 6) NOT NULL,
    ints integer[] NOT NULL,
    words text[] NOT NULL,
    note text NOT NULL,
    at timestamptz NOT NULL
);
INSERT INTO mixed
SELECT i,
       jsonb_build_object(
           'id', i, 'name', 'user ' || i,
           'tags', jsonb_build_array('a' || i % 17, 'b' || i % 5, 'ü' || i % 3),
           'score', round((i % 1000) / 7.0, 4),
           'nested', jsonb_build_object('k', md5(i::text), 'ok', i % 2 = 0)),
       sha512(int4send(i)) || sha512(int4send(-i)),
       (i * 3.14159)::numeric(20, 6),
       ARRAY[i, i * 2, i % 1000, -i],
       ARRAY['x' || i, 'Grüße ' || (i % 97), '東京' || (i % 13)],
       'Zürich · 東京 · Καλημέρα · ' || md5(i::text) || ' 🚀 ' || repeat('ß', i % 20),
       timestamptz '2024-01-01 00:00+00' + i * interval '17 seconds'
FROM generate_series(1, {mixed}) AS i;
CREATE INDEX mixed_doc ON mixed USING gin (doc);

CREATE TABLE events (
    id bigint NOT NULL,
    at timestamptz NOT NULL,
    kind text NOT NULL,
    payload jsonb NOT NULL,
    PRIMARY KEY (id, at)
) PARTITION BY RANGE (at);
CREATE TABLE events_q1 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2025-04-01');
CREATE TABLE events_q2 PARTITION OF events FOR VALUES FROM ('2025-04-01') TO ('2025-07-01');
CREATE TABLE events_q3 PARTITION OF events FOR VALUES FROM ('2025-07-01') TO ('2025-10-01');
CREATE TABLE events_q4 PARTITION OF events FOR VALUES FROM ('2025-10-01') TO ('2026-01-01');
INSERT INTO events
SELECT i,
       timestamptz '2025-01-01 00:00+00' + (i % 365) * interval '1 day' + i * interval '1 ms',
       (ARRAY['login', 'logout', 'purchase', 'résumé', 'エラー'])[1 + i % 5],
       jsonb_build_object('user', i % 5000, 'ip', '10.0.' || (i % 250) || '.' || (i % 200),
                          'ok', i % 7 <> 0, 'items', jsonb_build_array(i % 3, i % 11))
FROM generate_series(1, {events}) AS i;
ANALYZE;
"""


def _run(argv: list[str], env: dict[str, str], stdin: bytes | None = None) -> None:
    done = subprocess.run(argv, input=stdin, env=env, capture_output=True)
    if done.returncode != 0:
        raise SystemExit(f"{Path(argv[0]).name} failed: {done.stderr.decode()[-800:]}")


def pg_fill(bin_dir: Path, env: dict[str, str], scale: float, db: str = "bench") -> None:
    """Fill the (existing, empty) database ``db`` on the server ``env`` points at."""
    pgbench_scale = max(1, round(30 * scale))
    _run([str(bin_dir / "pgbench"), "-i", "-q", "-s", str(pgbench_scale), db], env)
    sql = PG_SQL.format(
        mixed=max(1_000, int(PG_MIXED_ROWS * scale)),
        events=max(1_000, int(PG_EVENTS_ROWS * scale)),
    )
    _run([str(bin_dir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db], env, sql.encode())


def pg_size(bin_dir: Path, env: dict[str, str], db: str = "bench") -> int:
    done = subprocess.run(
        [str(bin_dir / "psql"), "-X", "-At", "-d", db, "-c", f"SELECT pg_database_size('{db}')"],
        check=True,
        env=env,
        capture_output=True,
        text=True,
    )
    return int(done.stdout.strip())


REDIS_FILL = """
local n = tonumber(ARGV[1]); local start = tonumber(ARGV[2])
for i = start, start + n - 1 do
  local pad = redis.sha1hex('a' .. i) .. redis.sha1hex('b' .. i)  -- 80 bytes, not compressible
  local t = i % 10
  if t <= 2 then redis.call('SET', 's:' .. i, pad .. i)
  elseif t == 3 then redis.call('SET', 'ttl:' .. i, 'Grüße ' .. pad .. i, 'EX', 86400)
  elseif t == 4 then
    redis.call('HSET', 'h:' .. i, 'name', 'user ' .. i, 'email', 'u' .. i .. '@example.test',
               'n', i, 'bio', pad, 'city', 'Zürich')
  elseif t == 5 then redis.call('RPUSH', 'l:' .. i, 'a' .. i, 'b' .. i, pad, i, 'e')
  elseif t == 6 then redis.call('SADD', 'set:' .. i, 'm1', 'm2', 'm' .. i, pad, i * 2)
  elseif t == 7 then
    redis.call('ZADD', 'z:' .. i, 1, 'a' .. i, 2.5, 'b', i, 'c', -1, pad, 1e6, 'e')
  elseif t == 8 then
    redis.call('XADD', 'x:' .. i, '1-1', 'event', 'login', 'user', i)
    redis.call('XADD', 'x:' .. i, '1-2', 'event', 'purchase', 'amount', i * 3)
    redis.call('XADD', 'x:' .. i, '2-1', 'event', 'logout', 'note', pad)
  else
    redis.call('HSET', 'ttlh:' .. i, 'session', pad, 'user', i)
    redis.call('EXPIRE', 'ttlh:' .. i, 86400)
  end
end
return n
"""


def redis_fill(client: Any, scale: float, batch: int = 50_000) -> int:
    """Write ``scale`` x 1M keys of every type; the number of keys."""
    total = max(1_000, int(1_000_000 * scale))
    for start in range(0, total, batch):
        client.eval(REDIS_FILL, 0, min(batch, total - start), start)
    return total


def s3_sizes(scale: float, seed: int = 13) -> list[int]:
    """Object sizes: 1% of 3 MB, 9% of 200 KB, 90% of 1-20 KB (~174 MB for 3,000)."""
    rng = random.Random(seed)
    count = max(20, int(3_000 * scale))
    sizes = []
    for i in range(count):
        if i % 100 == 0:
            sizes.append(3_000_000)
        elif i % 10 == 0:
            sizes.append(200_000)
        else:
            sizes.append(rng.randint(1_000, 20_000))
    return sizes


def s3_key(i: int) -> str:
    names = ("naïve", "日本語", "Grüße", "παράδειγμα", "plain name")
    return f"dir-{i % 10}/{names[i % len(names)]}/obj {i}-ü.bin"


def s3_fill(client: Any, bucket: str, scale: float) -> tuple[int, int]:
    """Upload the objects of :func:`s3_sizes` to ``bucket``; (count, bytes)."""
    sizes = s3_sizes(scale)

    def put(item: tuple[int, int]) -> None:
        i, size = item
        client.put_object(Bucket=bucket, Key=s3_key(i), Body=os.urandom(size))

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(put, enumerate(sizes)))
    return len(sizes), sum(sizes)
