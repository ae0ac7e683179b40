"""Redis: a point-in-time RDB over the replication protocol, per-key digests.

The RDB is fetched the way ``redis-cli --rdb`` does it (``REPLCONF rdb-only``
then ``PSYNC``/``SYNC``) and streamed straight into the hashed artifact. Per-key
digests are computed server-side by a small Lua script over canonical content
(type, TTL class, sorted members), because DUMP payloads depend on internal
encodings and hash-table order, which a correct restore may change. During a
backup they are read while the snapshot streams in, on another connection.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Literal, cast

import redis

from stategate import execute
from stategate.errors import ExternalError
from stategate.evidence.artifact import BackupWriter
from stategate.providers.access import RedisAccess
from stategate.providers.base import BackupHooks, BackupOutput, SmokeTarget, StoredBackup
from stategate.providers.fingerprint import Fingerprint, FingerprintItem, bulk
from stategate.sandbox.engine import Engine

RDB_PART = "dump.rdb"
SCAN_BATCH = 1000

# One SCAN batch per call: ARGV = cursor, count, "1" when keys may carry a TTL.
# Returns {next_cursor, blob}; the blob holds one "<len>:<key><digest>\n" per key.
# Strings (most keys) are read with one MGET per batch; other types one by one.
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
local function canonical(k)
  local t = redis.call('TYPE', k)['ok']
  local body
  if t == 'list' then
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
  elseif t == 'string' then
    body = redis.call('GET', k)
  elseif t ~= 'none' then
    body = redis.call('DUMP', k)
  end
  return t, body
end
local res = redis.call('SCAN', ARGV[1], 'COUNT', ARGV[2])
local keys = res[2]
local ttl = ARGV[3] == '1'
local n = #keys
local out = {}
for first = 1, n, 1000 do
  local last = math.min(first + 999, n)
  local vals = redis.call('MGET', unpack(keys, first, last))
  for i = first, last do
    local k = keys[i]
    local t, body = 'string', vals[i - first + 1]
    if not body then t, body = canonical(k) end
    if body then
      local class = 'persistent'
      if ttl and redis.call('PTTL', k) >= 0 then class = 'expiring' end
      out[#out + 1] = #k .. ':' .. k .. t .. ':' .. class .. ':' .. redis.sha1hex(body) .. '\\n'
    end
  end
end
return {res[1], table.concat(out)}
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
        try:
            return Fingerprint(self._digest_all())
        except redis.RedisError as exc:
            raise self._error(exc) from exc

    def _digest_all(self) -> list[FingerprintItem]:
        items: list[FingerprintItem] = []
        keyspace = self._info("keyspace")
        with bulk():
            for name in sorted(keyspace):
                if not name.startswith("db"):
                    continue
                stats = keyspace[name]
                # with no key carrying a TTL, reading each key's TTL is skipped; a TTL
                # set meanwhile shows as a difference (never as a false match)
                expires = stats.get("expires", 1) if isinstance(stats, dict) else 1
                with self._client(int(name[2:])) as client:
                    _digest_db(client, name, expires != 0, items)
        return items

    def backup(self, out: BackupWriter, hooks: BackupHooks) -> BackupOutput:
        """Start the RDB snapshot, then read the per-key digests while it streams in.

        The digests come from the live server once the snapshot has been forked,
        on other connections and in parallel with the transfer: a key written in
        between differs from the snapshot and fails the drill (never the reverse).
        """
        items: list[FingerprintItem] = []
        failure: list[BaseException] = []

        def digest_live() -> None:
            try:
                items.extend(self._digest_all())
            except BaseException as exc:  # reported by the main thread
                failure.append(exc)

        worker = threading.Thread(target=digest_live, daemon=True)
        try:
            with out.part(RDB_PART) as dest:
                with self._replica() as reader:
                    hooks.snapshot_taken()
                    worker.start()
                    try:
                        self._receive_rdb(reader, dest.write)
                    finally:
                        worker.join()
                if failure:
                    raise failure[0]
        except OSError as exc:
            raise self._error(exc) from exc
        except redis.RedisError as exc:
            raise self._error(exc) from exc
        hooks.fingerprinted()
        return BackupOutput(
            Fingerprint(items),
            consistent=False,
            note="fingerprint read from the live server while the RDB snapshot streamed",
        )

    @contextmanager
    def _replica(self) -> Iterator[IO[bytes]]:
        """A replication connection whose snapshot has been forked; yields its reader."""
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
            # PSYNC answers +FULLRESYNC as soon as the snapshot is forked; a server
            # without PSYNC gets SYNC, whose snapshot starts when it is read
            sock.sendall(_resp(["PSYNC", "?", "-1"]))
            line = _read_line(reader)
            if line.startswith(b"-"):
                sock.sendall(_resp(["SYNC"]))
            elif not line.startswith(b"+FULLRESYNC"):
                raise ExternalError("unexpected reply from redis to PSYNC")
            yield reader

    def _receive_rdb(self, reader: IO[bytes], write: Callable[[bytes], int]) -> None:
        """Stream the snapshot (its bulk length, then the bytes) to ``write``."""
        remaining = _read_bulk_header(reader)
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


def _digest_db(client: redis.Redis, group: str, ttl: bool, items: list[FingerprintItem]) -> None:
    script = client.register_script(_DIGEST_SCRIPT)
    append = items.append
    cursor: bytes | int = b"0"
    while True:
        reply = script(args=[cursor, SCAN_BATCH, "1" if ttl else "0"])
        assert isinstance(reply, list) and len(reply) == 2
        cursor, blob = reply
        assert isinstance(cursor, bytes | int) and isinstance(blob, bytes)
        pos, end = 0, len(blob)
        while pos < end:  # "<len>:<key><digest>\n", one per key
            colon = blob.index(b":", pos)
            start = colon + 1
            stop = start + int(blob[pos:colon])
            newline = blob.index(b"\n", stop)
            key = blob[start:stop].decode("utf-8", "surrogateescape")
            append(FingerprintItem(group, key, 1, blob[stop:newline].decode("ascii")))
            pos = newline + 1
        if cursor in (b"0", 0):
            return


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


def _read_line(reader: IO[bytes]) -> bytes:
    """The next reply line, skipping the newlines sent as keep-alives."""
    while True:
        line = reader.readline()
        if not line:
            raise ExternalError("redis closed the replication connection")
        if line.strip():
            return line.strip()


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
