"""Redis: a point-in-time RDB over the replication protocol, per-key digests.

The RDB is fetched the way ``redis-cli --rdb`` does it (``REPLCONF rdb-only``
then ``PSYNC``/``SYNC``) and streamed straight into the hashed artifact while
the native scanner (:mod:`stategate.providers.rdb`) reads the same bytes and
fingerprints every key from the snapshot itself: the fingerprint describes
exactly the backed-up data, whatever the server does meanwhile. Digests are
over canonical content (type, TTL class, members sorted where the type has no
order), never over internal encodings, which a correct restore may change.
A sandbox is fingerprinted the same way, from an RDB it sends.

Backups recorded before the scanner carry SHA-1 digests computed by a Lua
script on the live server; drills of those compute the sandbox's the same way.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from io import BufferedReader
from pathlib import Path
from typing import IO, TYPE_CHECKING, Literal, cast

from stategate import execute
from stategate.errors import ExternalError
from stategate.evidence.records.artifact import BackupWriter
from stategate.evidence.records.steps import StepClock
from stategate.providers.access import RedisAccess
from stategate.providers.base import (
    BackupHooks,
    BackupOutput,
    Origin,
    SmokeTarget,
    StoredBackup,
)
from stategate.providers.fingerprint import Fingerprint, FingerprintItem, bulk, merged
from stategate.providers.rdb import RDBScanner, scan_file
from stategate.providers.redis_state import SERVER_PART, ServerState
from stategate.providers.resp import Connection, LoginRefused, ReplyError, encode, parse_info
from stategate.sandbox.engine import Engine, RedisSetup
from stategate.sandbox.redis_conf import TAKEN_SETTINGS

if TYPE_CHECKING:
    import redis

RDB_PART = "dump.rdb"
PERSISTENCE_SETTINGS = ("appendonly", "appendfsync", "aof-use-rdb-preamble", "save")
GATHER = 256 * 1024
EOF_MARK_LEN = 40  # a diskless stream ends with the 40 bytes announced as $EOF:<mark>
SCAN_BATCH = 1000

LEGACY_DIGEST_HEX = 40  # SHA-1: the Lua digests of backups older than the scanner

# Legacy (see the module's docstring). One SCAN batch per call: ARGV = cursor, count, "1" when keys may carry a TTL.
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
    restore_warnings: tuple[str, ...] = ()  # the RDB loads or the server does not start

    def __init__(
        self,
        access: RedisAccess,
        *,
        timeout: float = 30.0,
        legacy: bool = False,
        state: bool = True,
        expect: ServerState | None = None,
        app: RedisAccess | None = None,
    ) -> None:
        self.access = access
        self.timeout = timeout
        self.legacy = legacy  # fingerprint with the Lua digests of older backups
        # the fingerprint holds the ACL users and persistence settings (False: a sandbox
        # of a backup older than that); ``expect``: the backup's, whose shape it takes
        self.state = state
        self.expect = expect
        # a sandbox holding the backup's ACL users: the application's own login into it,
        # which smoke checks use (None: the provider's access)
        self.app = app

    def _client(self, db: int = 0) -> redis.Redis:
        """A redis-py client (the legacy digests): the backup's own questions go over a
        plain :class:`~stategate.providers.resp.Connection`, which needs no import."""
        import redis

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
        return self.access.secrets() + (self.app.secrets() if self.app else ())

    def _connect(self) -> Connection:
        try:
            return Connection(self.access, self.timeout)
        except (OSError, LoginRefused) as exc:
            raise self._error(exc) from exc

    def _info(self, section: str) -> dict[str, str]:
        try:
            with self._connect() as conn:
                reply = conn.command("INFO", section)
        except (OSError, ReplyError) as exc:
            raise self._error(exc) from exc
        if not isinstance(reply, bytes):
            raise self._error(ValueError(f"INFO {section} did not answer with text"))
        return parse_info(reply)

    def identity(self) -> str:
        return f"redis:{self._info('server').get('run_id', 'unknown')}"

    def origin(self) -> Origin:
        """``role:slave`` (a replica of another server) or a master; the run ID (new at
        every start) and the replication ID."""
        server, replication = self._info("server"), self._info("replication")
        ids = {"run_id": str(server.get("run_id", "")), "replication_id": ""}
        ids["replication_id"] = str(replication.get("master_replid", ""))
        replica = replication.get("role") in ("slave", "replica")
        return Origin("replica" if replica else "primary", {k: v for k, v in ids.items() if v})

    def settings(self) -> dict[str, str]:
        """How the server persists (a restore must end up the same: append-only or
        not); empty when ``CONFIG`` is renamed or disabled."""
        found: dict[str, str] = {}
        try:
            with self._connect() as conn:
                for name in PERSISTENCE_SETTINGS:
                    reply = conn.command("CONFIG", "GET", name)
                    pairs = reply if isinstance(reply, list) else []
                    for key, value in zip(pairs[::2], pairs[1::2], strict=True):
                        found[_text(key)] = _text(value)
        except ReplyError:
            return {}
        except (OSError, ValueError) as exc:
            raise self._error(exc) from exc
        return {k: v for k, v in sorted(found.items()) if k in PERSISTENCE_SETTINGS}

    def server_state(self) -> tuple[ServerState, list[str]]:
        """The ACL users (``ACL LIST``: rule lines with password hashes) and persistence
        settings; with what a restore will lack, said as findings."""
        findings: list[str] = []
        acl: tuple[str, ...] | None = None
        try:
            with self._connect() as conn:
                reply = conn.command("ACL", "LIST")
            if not isinstance(reply, list):
                raise self._error(ValueError("ACL LIST did not answer with a list"))
            acl = tuple(_text(line) for line in reply)
        except ReplyError as exc:
            text = execute.mask(str(exc), self.secrets())
            if "unknown command" in text.lower():
                findings.append(
                    "ACL LIST is not available on this server (before Redis 6, or the "
                    "command renamed): its users and passwords (requirepass) are not in the "
                    "backup; set them again after a restore"
                )
            else:
                findings.append(
                    "ACL users not backed up: the backup user may not run ACL LIST "
                    f"({text}); a restore must recreate every user and its password"
                )
        except OSError as exc:
            raise self._error(exc) from exc
        return ServerState(acl, self.settings()), findings

    def _compared_state(self) -> ServerState:
        state, _ = self.server_state()
        return state.shaped_like(self.expect) if self.expect is not None else state

    def _with_state(self, fingerprint: Fingerprint) -> Fingerprint:
        if not self.state:
            return fingerprint
        items = self._compared_state().items()
        return Fingerprint.prepared(
            merged(fingerprint.summary(), items),
            fingerprint.to_jsonl() + Fingerprint(items).to_jsonl(),
        )

    def client_version(self) -> str | None:
        return None

    def server_version(self) -> str:
        """``7.0.15``; a Valkey server says ``valkey 8.1.1`` (its ``redis_version`` is the
        Redis version it is compatible with, not what runs)."""
        info = self._info("server")
        if str(info.get("server_name", "")).lower() == "valkey" and info.get("valkey_version"):
            return f"valkey {info['valkey_version']}"
        return str(info.get("redis_version", "unknown"))

    def fingerprint(self) -> Fingerprint:
        """Every key's digest, from a snapshot the server sends (or, legacy, via Lua)."""
        if self.legacy:
            return self._legacy_fingerprint()
        try:
            chunks: list[bytes] = []
            what = f"the RDB of {self.address()}"
            with RDBScanner(chunks.append, what, functions=self.state) as scanner:
                self.snapshot(scanner.feed)
                summary = scanner.finish()
        except OSError as exc:
            raise self._error(exc) from exc
        return self._with_state(Fingerprint.prepared(summary, b"".join(chunks)))

    def _legacy_fingerprint(self) -> Fingerprint:
        import redis

        try:
            return self._with_state(Fingerprint(self._digest_all()))
        except redis.RedisError as exc:
            raise self._error(exc) from exc

    def _digest_all(self) -> list[FingerprintItem]:
        items: list[FingerprintItem] = []
        with self._client() as client:
            keyspace: dict[str, object] = client.info("keyspace")
        with bulk():
            for name in sorted(keyspace):
                if not name.startswith("db"):
                    continue
                stats = keyspace[name]
                # with no key carrying a TTL, reading each key's TTL is skipped
                expires = stats.get("expires", 1) if isinstance(stats, dict) else 1
                with self._client(int(name[2:])) as client:
                    _digest_db(client, name, expires != 0, items)
        return items

    def backup(self, out: BackupWriter, hooks: BackupHooks) -> BackupOutput:
        """Stream the RDB snapshot into its part; the scanner fingerprints the same
        bytes on the way. Only the summary is kept: the per-key listing is often larger
        than the RDB itself, and a drill reads it again from the verified RDB."""
        try:
            with (
                out.part(RDB_PART) as dest,
                RDBScanner(None, f"the RDB of {self.address()}") as scanner,
            ):

                def write(chunk: memoryview) -> None:
                    dest.write(chunk)
                    scanner.feed(chunk)

                with self._replica() as reader:
                    hooks.snapshot_taken()
                    self._receive_rdb(reader, write)
                summary = scanner.finish()
            state, findings = self.server_state()
            with out.part(SERVER_PART) as dest:
                dest.write(state.to_json())
        except OSError as exc:
            raise self._error(exc) from exc
        hooks.fingerprinted()
        return BackupOutput(
            Fingerprint.prepared(merged(summary, state.items())),
            consistent=True,
            note="fingerprint read from the RDB snapshot itself; ACL users and persistence "
            "settings read from the server beside it",
            findings=tuple(findings),
            listing_stored=False,  # the per-key listing is read again from dump.rdb
        )

    def derived_fingerprint(self, directory: Path) -> Fingerprint:
        state = _stored_state(directory)
        # a backup from before ACL users, settings and functions were kept: as recorded
        summary, jsonl = scan_file(directory / RDB_PART, functions=state is not None)
        if state is None:
            return Fingerprint.prepared(summary, jsonl)
        items = state.items()
        return Fingerprint.prepared(merged(summary, items), jsonl + Fingerprint(items).to_jsonl())

    def snapshot(self, write: Callable[[memoryview], object]) -> None:
        """Have the server fork a snapshot and stream its RDB bytes to ``write``, as views
        of a reused buffer (valid during the call: copy what is kept)."""
        with self._replica() as reader:
            self._receive_rdb(reader, write)

    @contextmanager
    def _replica(self) -> Iterator[BufferedReader]:
        """A replication connection whose snapshot has been forked; yields its reader."""
        with socket.create_connection(
            (self.access.host, self.access.port), timeout=self.timeout
        ) as sock:
            reader = cast(BufferedReader, sock.makefile("rb", buffering=1024 * 1024))
            if self.access.password:
                auth = ["AUTH", self.access.password]
                if self.access.username:
                    auth.insert(1, self.access.username)
                _command(sock, reader, auth, self.secrets())
            _command(sock, reader, ["REPLCONF", "rdb-only", "1"], (), optional=True)
            # a master set up for diskless sync then streams the snapshot while its
            # child writes it, so the scanner works alongside instead of after
            _command(sock, reader, ["REPLCONF", "capa", "eof"], (), optional=True)
            # PSYNC answers +FULLRESYNC as soon as the snapshot is forked; a server
            # without PSYNC gets SYNC, whose snapshot starts when it is read
            sock.sendall(encode(["PSYNC", "?", "-1"]))
            line = _read_line(reader)
            if line.startswith(b"-"):
                sock.sendall(encode(["SYNC"]))
            elif not line.startswith(b"+FULLRESYNC"):
                raise ExternalError("unexpected reply from redis to PSYNC")
            yield reader

    def _receive_rdb(self, reader: BufferedReader, write: Callable[[memoryview], object]) -> None:
        """Stream the snapshot to ``write``: a bulk of announced length, or (diskless)
        bytes up to an end mark announced in advance.

        The bytes are read into one reused buffer, gathered into writes of up to
        ``GATHER`` bytes (a few hundred calls instead of one per ~16 KiB the socket hands
        over) and passed on as views of it, valid only during the call: the artifact,
        its hash and the scanner each consume them at once, and nothing is copied on
        the way. A stream that ends before its announced length or end mark is an
        error: the caller's artifact and scan never complete from a partial one."""
        header = _read_bulk_header(reader)
        mark = header if isinstance(header, bytes) else b""
        remaining = header if isinstance(header, int) else -1
        keep = len(mark)  # the last bytes seen may be the start of the end mark
        buf = bytearray(GATHER + keep)
        view = memoryview(buf)
        held = 0
        while remaining:
            room = len(buf) - held if remaining < 0 else min(len(buf) - held, remaining)
            got = reader.readinto1(view[held : held + room])
            if not got:
                raise ExternalError(f"redis {self.address()}: RDB transfer ended early")
            held += got
            if remaining > 0:
                remaining -= got
                if held == len(buf) or not remaining:
                    write(view[:held])
                    held = 0
                continue
            if held >= keep and view[held - keep : held] == mark:
                write(view[: held - keep])
                return
            if held == len(buf):
                write(view[: held - keep])
                buf[:keep] = view[held - keep : held]
                held = keep

    @contextmanager
    def restore(
        self, backup: StoredBackup, engine: Engine, steps: StepClock | None = None
    ) -> Iterator[RedisProvider]:
        items = backup.fingerprint.items
        legacy = bool(items) and len(items[0].digest.rpartition(":")[2]) == LEGACY_DIGEST_HEX
        state = _stored_state(backup.directory)
        setup = RedisSetup(
            aof=backup.settings.get("appendonly") == "yes",  # production is append-only
            acl=(state.acl or ()) if state else (),
            config={k: v for k, v in backup.settings.items() if k in TAKEN_SETTINGS},
        )
        with ExitStack() as held:
            with (steps or StepClock()).step("sandbox-start-and-load"):  # it loads the RDB
                access = held.enter_context(
                    engine.redis(backup.directory / RDB_PART, backup.version, setup)
                )
            app = None
            if setup.acl:  # the application's own user, restored with the rest
                app = RedisAccess(
                    access.host, access.port, self.access.username, self.access.password
                )
            yield RedisProvider(
                access, legacy=legacy, state=state is not None, expect=state, app=app
            )

    def smoke_target(self, name: Literal["source", "sandbox"]) -> SmokeTarget:
        return SmokeTarget(name=name, redis=self.app or self.access)


def _stored_state(directory: Path) -> ServerState | None:
    """The ACL users and settings a backup kept (None: a backup from before they were)."""
    path = directory / SERVER_PART
    if not path.exists():
        return None
    return ServerState.from_json(path.read_bytes(), SERVER_PART)


def _text(value: object) -> str:
    """A rule line as text; bytes that are not UTF-8 (a key pattern may hold any) kept
    as surrogates, written back as the same bytes."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return str(value)


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


def _command(
    sock: socket.socket,
    reader: IO[bytes],
    args: list[str],
    secrets: tuple[str, ...],
    *,
    optional: bool = False,
) -> None:
    sock.sendall(encode(args))
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


def _read_bulk_header(reader: IO[bytes]) -> int | bytes:
    """The snapshot's length, or the end mark of a diskless stream."""
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
            mark = line[5:]
            if len(mark) != EOF_MARK_LEN:
                raise ExternalError("redis announced a diskless stream with a malformed end mark")
            return mark
        if line.startswith(b"$"):
            return int(line[1:])
        raise ExternalError("unexpected reply from redis while waiting for the RDB")
