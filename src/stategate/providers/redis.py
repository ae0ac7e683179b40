"""Redis: a point-in-time RDB over the replication protocol, per-key digests.

The RDB is fetched the way ``redis-cli --rdb`` does it (``REPLCONF rdb-only``
then ``SYNC``) and streamed straight into the hashed artifact. Per-key digests
are computed server-side by a small Lua script over canonical content (type,
TTL class, sorted members), because DUMP payloads depend on internal encodings
and hash-table order, which a correct restore may change.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Literal, cast

import redis

from stategate import execute
from stategate.errors import ExternalError
from stategate.evidence.artifact import BackupWriter
from stategate.providers.access import RedisAccess
from stategate.providers.base import BackupHooks, BackupOutput, SmokeTarget, StoredBackup
from stategate.providers.fingerprint import Fingerprint, FingerprintItem
from stategate.sandbox.engine import Engine

RDB_PART = "dump.rdb"
SCAN_BATCH = 500

# Returns {next_cursor, key1, digest1, key2, digest2, ...} for one SCAN batch.
_DIGEST_SCRIPT = """
local function enc(parts)
  local out = {}
  for i, v in ipairs(parts) do out[i] = #v .. ':' .. v end
  return table.concat(out)
end
local function flat(v)
  if type(v) == 'table' then
    local out = {}
    for i, x in ipairs(v) do out[i] = flat(x) end
    return '[' .. enc(out) .. ']'
  end
  return tostring(v)
end
local res = redis.call('SCAN', ARGV[1], 'COUNT', ARGV[2])
local out = {res[1]}
for _, k in ipairs(res[2]) do
  local t = redis.call('TYPE', k)['ok']
  local body
  if t == 'string' then
    body = redis.call('GET', k)
  elseif t == 'list' then
    body = enc(redis.call('LRANGE', k, 0, -1))
  elseif t == 'set' then
    local m = redis.call('SMEMBERS', k); table.sort(m); body = enc(m)
  elseif t == 'zset' then
    body = enc(redis.call('ZRANGE', k, 0, -1, 'WITHSCORES'))
  elseif t == 'hash' then
    local h = redis.call('HGETALL', k)
    local pairs_ = {}
    for i = 1, #h, 2 do pairs_[#pairs_ + 1] = enc({h[i], h[i + 1]}) end
    table.sort(pairs_); body = table.concat(pairs_)
  elseif t == 'stream' then
    body = flat(redis.call('XRANGE', k, '-', '+'))
  elseif t == 'none' then
    body = nil
  else
    body = redis.call('DUMP', k)
  end
  if body then
    local ttl = redis.call('PTTL', k)
    local class = 'persistent'
    if ttl >= 0 then class = 'expiring' end
    out[#out + 1] = k
    out[#out + 1] = t .. ':' .. class .. ':' .. redis.sha1hex(body)
  end
end
return out
"""


class RedisProvider:
    name: Literal["redis"] = "redis"

    def __init__(self, access: RedisAccess, *, timeout: float = 30.0) -> None:
        self.access = access
        self.timeout = timeout

    def _client(self, db: int = 0) -> redis.Redis:
        return redis.Redis(
            host=self.access.host,
            port=self.access.port,
            db=db,
            username=self.access.username,
            password=self.access.password,
            socket_timeout=self.timeout,
            socket_connect_timeout=10,
        )

    def _error(self, exc: Exception) -> ExternalError:
        msg = execute.mask(f"redis {self.address()}: {exc}", self.secrets())
        return ExternalError(msg)

    def address(self) -> str:
        return self.access.address()

    def secrets(self) -> tuple[str, ...]:
        return self.access.secrets()

    def _info(self, section: str) -> dict[str, object]:
        try:
            with self._client() as client:
                info: dict[str, object] = client.info(section)
                return info
        except redis.RedisError as exc:
            raise self._error(exc) from exc

    def identity(self) -> str:
        return f"redis:{self._info('server').get('run_id', 'unknown')}"

    def server_version(self) -> str:
        return str(self._info("server").get("redis_version", "unknown"))

    def fingerprint(self) -> Fingerprint:
        keyspace = self._info("keyspace")
        items: list[FingerprintItem] = []
        try:
            for name in sorted(keyspace):
                if not name.startswith("db"):
                    continue
                db = int(name[2:])
                with self._client(db) as client:
                    items += _digest_db(client, name)
        except redis.RedisError as exc:
            raise self._error(exc) from exc
        return Fingerprint(items)

    def backup(self, out: BackupWriter, hooks: BackupHooks) -> BackupOutput:
        fingerprint = self.fingerprint()
        hooks.fingerprinted()
        with out.part(RDB_PART) as dest:
            try:
                self._sync_rdb(dest.write)
            except OSError as exc:
                raise self._error(exc) from exc
        return BackupOutput(
            fingerprint, consistent=False, note="fingerprint taken just before the RDB snapshot"
        )

    def _sync_rdb(self, write: Callable[[bytes], int]) -> None:
        """Fetch an RDB snapshot as a replica would, streaming it to ``write``."""
        with socket.create_connection(
            (self.access.host, self.access.port), timeout=self.timeout
        ) as sock:
            reader = cast(IO[bytes], sock.makefile("rb", buffering=1024 * 1024))
            if self.access.password:
                auth = ["AUTH", self.access.password]
                if self.access.username:
                    auth.insert(1, self.access.username)
                _command(sock, reader, auth, self.secrets())
            _command(sock, reader, ["REPLCONF", "rdb-only", "1"], (), optional=True)
            sock.sendall(_resp(["SYNC"]))
            size = _read_bulk_header(reader)
            remaining = size
            while remaining:
                chunk = reader.read(min(remaining, 1024 * 1024))
                if not chunk:
                    raise ExternalError(f"redis {self.address()}: RDB transfer ended early")
                write(chunk)
                remaining -= len(chunk)

    @contextmanager
    def restore(self, backup: StoredBackup, engine: Engine) -> Iterator[RedisProvider]:
        with engine.redis(backup.directory / RDB_PART) as access:
            yield RedisProvider(access)

    def smoke_target(self, name: Literal["source", "sandbox"]) -> SmokeTarget:
        return SmokeTarget(name=name, redis=self.access)


def _digest_db(client: redis.Redis, group: str) -> list[FingerprintItem]:
    script = client.register_script(_DIGEST_SCRIPT)
    items = []
    cursor = b"0"
    while True:
        reply = script(args=[cursor, SCAN_BATCH])
        assert isinstance(reply, list)
        cursor = reply[0]
        for i in range(1, len(reply), 2):
            key = reply[i].decode("utf-8", "surrogateescape")
            items.append(FingerprintItem(group, key, 1, reply[i + 1].decode()))
        if cursor in (b"0", 0, "0"):
            return items


def _resp(args: list[str]) -> bytes:
    out = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        raw = arg.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
    return b"".join(out)


def _command(
    sock: socket.socket,
    reader: IO[bytes],
    args: list[str],
    secrets: tuple[str, ...],
    *,
    optional: bool = False,
) -> None:
    sock.sendall(_resp(args))
    line = reader.readline()
    if not line.startswith(b"+"):
        if optional:
            return
        text = execute.mask(line.decode("utf-8", "replace").strip(), secrets)
        raise ExternalError(f"redis refused {args[0]}: {text}")


def _read_bulk_header(reader: IO[bytes]) -> int:
    # the master sends newlines as keep-alives while it forks and saves
    while True:
        line = reader.readline()
        if not line:
            raise ExternalError("redis closed the connection before sending the RDB")
        line = line.strip()
        if not line:
            continue
        if line.startswith(b"-"):
            raise ExternalError(f"redis refused SYNC: {line[1:].decode('utf-8', 'replace')}")
        if line.startswith(b"$EOF:"):
            raise ExternalError("redis sent a diskless stream without being asked")
        if line.startswith(b"$"):
            return int(line[1:])
        raise ExternalError("unexpected reply from redis while waiting for the RDB")
