"""The native RDB scanner against real redis-server snapshots.

Its per-key digests are checked against a reference computed here from plain
commands (GET, LRANGE, SMEMBERS, HGETALL, ZRANGE), across internal encodings
(listpack/intset/hash table, LZF or raw strings), against Python's own JSON and
summary code, and against corrupt, truncated and randomly mutated input.
"""

from __future__ import annotations

import hashlib
import json
import random
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from stategate.errors import ExternalError
from stategate.providers.access import RedisAccess
from stategate.providers.base import StoredBackup
from stategate.providers.fingerprint import Fingerprint, compare, multiset_summary
from stategate.providers.rdb import RDBScanner
from stategate.providers.redis import RDB_PART, RedisProvider
from stategate.sandbox.local import LocalEngine
from stategate.sandbox.servers import LocalRedis

pytestmark = pytest.mark.integration

# one set of settings per family of internal encodings
COMPACT: dict[str, str] = {}
EXPANDED = {
    "hash-max-listpack-entries": "0",
    "zset-max-listpack-entries": "0",
    "set-max-intset-entries": "0",
    "list-max-listpack-size": "1",
    "rdbcompression": "no",
}


def _client(access: RedisAccess) -> redis.Redis:
    return redis.Redis(host=access.host, port=access.port, password=access.password)


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[RedisAccess, RedisAccess]]:
    with LocalRedis() as compact, LocalRedis() as expanded:
        for access, settings in ((compact, COMPACT), (expanded, EXPANDED)):
            with _client(access) as c:
                for name, value in settings.items():
                    c.config_set(name, value)
                _seed(c)
        yield compact, expanded


def _seed(c: redis.Redis) -> None:
    pad = "x" * 120  # long enough for LZF
    c.set("s:plain", "hello")
    c.set("s:int", 12345)
    c.set("s:neg", -7)
    c.set("s:long", pad)
    c.set("s:bytes", bytes(range(256)))
    c.set("s:huge", "z" * 10_000 + "end")  # hashed in place, not through the short path
    c.set("s:ttl", "soon", px=3_600_000)
    c.rpush("l:mixed", "a", 1, -70000, pad, "")
    c.rpush("l:many", *[f"e{i}" for i in range(300)])
    c.sadd("set:ints", 3, 1, 2, -5, 1 << 40)
    c.sadd("set:strs", "b", "a", pad)
    c.hset("h:small", mapping={"f": "v", "n": 1, "e": ""})
    c.hset("h:many", mapping={f"f{i}": i for i in range(300)})
    c.zadd("z:small", {"a": 1.5, "b": -2, "c": 0, "d": 1e300, "e": float("inf")})
    c.zadd("z:many", {f"m{i}": i / 7 for i in range(300)})
    # a stream's listpacks are LZF-compressed or not depending on rdbcompression
    for i in range(50):
        c.xadd("x:stream", {"field": pad, "n": i}, id=f"{i + 1}-0")
    c.xgroup_create("x:stream", "readers", id="0")
    c.xreadgroup("readers", "r1", {"x:stream": ">"}, count=3)
    c.execute_command("SELECT", 5)
    c.set("other:db", "five")
    c.execute_command("SELECT", 0)


def _rdb(access: RedisAccess) -> bytes:
    chunks: list[bytes] = []
    RedisProvider(access).snapshot(lambda view: chunks.append(bytes(view)))
    return b"".join(chunks)


def _scan(data: bytes, chunk: int = 1 << 16) -> tuple[Fingerprint, bytes]:
    lines: list[bytes] = []
    with RDBScanner(lines.append) as scanner:
        for i in range(0, len(data), chunk):
            scanner.feed(data[i : i + chunk])
        summary = scanner.finish()
    jsonl = b"".join(lines)
    return Fingerprint.prepared(summary, jsonl), jsonl


def _digests(fp: Fingerprint) -> dict[tuple[str, str], str]:
    return {(i.group, i.name): i.digest for i in fp.items}


def _reference(c: redis.Redis, key: bytes) -> str | None:
    """The canonical digest, computed from what plain commands return (None: a stream,
    whose digest covers its serialized parts)."""
    kind = c.type(key).decode()
    if kind == "stream":
        return None
    elems: list[bytes] = []
    if kind == "string":
        elems = [c.get(key) or b""]
    elif kind == "list":
        elems = list(c.lrange(key, 0, -1))
    elif kind == "set":
        elems = sorted(c.smembers(key))
    elif kind == "hash":
        for field, value in sorted(c.hgetall(key).items()):
            elems += [field, value]
    h = hashlib.sha256(kind.encode() + b"\n")
    for e in elems:
        h.update(len(e).to_bytes(8, "big") + e)
    if kind == "zset":
        for member, score in sorted(c.zrange(key, 0, -1, withscores=True)):
            h.update(len(member).to_bytes(8, "big") + member + struct.pack(">d", score))
    ttl = "expiring" if c.pttl(key) >= 0 else "persistent"
    return f"{kind}:{ttl}:{h.hexdigest()[:32]}"


def test_digests_match_a_reference_from_plain_commands(
    servers: tuple[RedisAccess, RedisAccess],
) -> None:
    compact, _ = servers
    fp, _ = _scan(_rdb(compact))
    got = _digests(fp)
    with _client(compact) as c:
        want = {("db0", k.decode()): _reference(c, k) for k in c.keys("*")}
        c.execute_command("SELECT", 5)
        want |= {("db5", k.decode()): _reference(c, k) for k in c.keys("*")}
    # bytes(range(256)) is a value, not a key: every key here is ASCII
    assert {k: v for k, v in got.items() if want.get(k)} == {k: v for k, v in want.items() if v}
    assert len(got) == len(want) == 17


def test_digests_do_not_depend_on_internal_encodings(
    servers: tuple[RedisAccess, RedisAccess],
) -> None:
    compact, expanded = servers
    with _client(compact) as a, _client(expanded) as b:
        assert a.object("encoding", "h:small") == b"listpack"
        assert b.object("encoding", "h:small") == b"hashtable"
        assert a.object("encoding", "set:ints") == b"intset"
        assert b.object("encoding", "set:ints") == b"hashtable"
        assert b.object("encoding", "z:small") == b"skiplist"
        assert a.config_get("rdbcompression") != b.config_get("rdbcompression")
    fa, fb = _scan(_rdb(compact))[0], _scan(_rdb(expanded))[0]
    # the stream's consumer group holds delivery times, which differ between the two
    # servers; it is compared on one server below
    stream = ("db0", "x:stream")
    da, db = _digests(fa), _digests(fb)
    assert da.pop(stream) and db.pop(stream)
    assert da == db


def test_digests_do_not_depend_on_string_compression(
    servers: tuple[RedisAccess, RedisAccess],
) -> None:
    compact, _ = servers
    with _client(compact) as c:
        packed = _rdb(compact)
        c.config_set("rdbcompression", "no")
        try:
            plain = _rdb(compact)
        finally:
            c.config_set("rdbcompression", "yes")
    assert len(plain) > len(packed) * 3 / 2  # LZF was used, then not
    fa, fb = _scan(packed)[0], _scan(plain)[0]
    assert _digests(fa) == _digests(fb)
    assert fa.summary() == fb.summary()


def test_summary_and_json_lines_agree_with_the_python_implementation(
    servers: tuple[RedisAccess, RedisAccess],
) -> None:
    compact, _ = servers
    odd_keys = [
        bytes(range(1, 128)),  # every ASCII control and printable character, DEL included
        b"\x80\xff invalid utf-8 \xc3(",
        "caf\u00e9 \U0001f600 \u2028".encode(),
        b"\xed\xa0\x80 encoded surrogate",
        b'quote " backslash \\',
    ]
    with _client(compact) as c:
        for i, key in enumerate(odd_keys):
            c.set(key, f"odd {i}")
    try:
        fp, jsonl = _scan(_rdb(compact))
    finally:
        with _client(compact) as c:
            c.delete(*odd_keys)
    for line in jsonl.decode("ascii").splitlines():
        assert json.dumps(json.loads(line)) == line
    names = {i.name.encode("utf-8", "surrogateescape") for i in fp.items}
    assert set(odd_keys) <= names
    python = multiset_summary(Fingerprint.from_jsonl(jsonl).items)
    assert fp.summary() == python


def test_any_transfer_chunking_gives_the_same_fingerprint(
    servers: tuple[RedisAccess, RedisAccess],
) -> None:
    data = _rdb(servers[0])
    first, jsonl = _scan(data, chunk=len(data))
    for chunk in (1, 7, 4096):
        fp, again = _scan(data, chunk=chunk)
        assert fp.summary() == first.summary() and again == jsonl


def test_listpack_entries_at_every_back_length_boundary(
    servers: tuple[RedisAccess, RedisAccess],
) -> None:
    """A listpack entry's back-length field grows at 128, 16383 and 2097151 bytes of
    entry (header included: 5 bytes for strings of 4096 bytes and more)."""
    compact, _ = servers
    sizes = [122, 123, 124, 16377, 16378, 16379, 2097145, 2097146, 2097147]
    with _client(compact) as c:
        for size in sizes:
            c.rpush(f"edge:{size}", "y" * size)
    try:
        fp, _ = _scan(_rdb(compact))
        with _client(compact) as c:
            for size in sizes:
                key = f"edge:{size}".encode()
                assert _digests(fp)[("db0", key.decode())] == _reference(c, key)
    finally:
        with _client(compact) as c:
            c.delete(*[f"edge:{size}" for size in sizes])


def test_expiry_streams_and_functions(servers: tuple[RedisAccess, RedisAccess]) -> None:
    compact, _ = servers
    with _client(compact) as c:
        c.xadd("st", {"a": "1"}, id="1-1")
        c.xadd("st", {"a": "2", "b": "x"}, id="2-1")
        c.xgroup_create("st", "workers", id="0")
        c.xreadgroup("workers", "w1", {"st": ">"}, count=1)
        c.function_load(
            "#!lua name=stategate_test\nredis.register_function('noop', function() return 1 end)"
        )
    try:
        fp, _ = _scan(_rdb(compact))
    finally:
        with _client(compact) as c:
            c.delete("st")
            c.function_delete("stategate_test")
    items = {i.name: i for i in fp.items}
    assert items["st"].digest.startswith("stream:persistent:")
    assert items["s:ttl"].digest.startswith("string:expiring:")
    assert items["s:ttl"].detail.startswith("expires-ms:")
    assert items["s:plain"].detail == ""


def test_disk_based_and_diskless_transfers_agree(servers: tuple[RedisAccess, RedisAccess]) -> None:
    compact, _ = servers
    results = []
    with _client(compact) as c:
        for diskless in ("yes", "no"):
            c.config_set("repl-diskless-sync", diskless)
            results.append(RedisProvider(compact, state=False).fingerprint().summary())
        c.config_set("repl-diskless-sync", "yes")
    assert results[0] == results[1] and results[0].items == 17


def test_corrupt_truncated_or_padded_snapshots_are_refused(
    servers: tuple[RedisAccess, RedisAccess],
) -> None:
    data = _rdb(servers[0])
    cases = {
        "truncated": data[: len(data) // 2],
        "missing checksum": data[:-8],
        "trailing bytes": data + b"junk",
        "not an RDB": b"hello world" * 10,
        "empty": b"",
    }
    rng = random.Random(7)
    for n in range(20):  # a flipped bit anywhere: the structure or the CRC64 catches it
        pos = rng.randrange(9, len(data) - 8)
        flipped = bytearray(data)
        flipped[pos] ^= 1 << rng.randrange(8)
        cases[f"bit flip {n} at {pos}"] = bytes(flipped)
    for what, bad in cases.items():
        with pytest.raises(ExternalError, match="not a valid redis snapshot"):
            _scan(bad)
            pytest.fail(f"{what}: accepted")


def test_random_mutations_never_crash_the_scanner(servers: tuple[RedisAccess, RedisAccess]) -> None:
    """With the CRC64 zeroed (as rdbchecksum no writes it) every mutation reaches the
    structure checks: each must end in a clean error or a parse, never a crash."""
    snapshots = [bytearray(_rdb(access)) for access in servers]  # compact and expanded
    for data in snapshots:
        data[-8:] = bytes(8)
    rng = random.Random(11)
    outcomes = {"parsed": 0, "refused": 0}
    for n in range(1500):
        bad = bytearray(snapshots[n % 2])
        for _ in range(rng.randrange(1, 4)):
            pos = rng.randrange(9, len(bad) - 9)
            action = rng.randrange(3)
            if action == 0:
                bad[pos] = rng.randrange(256)
            elif action == 1:
                del bad[pos : pos + rng.randrange(1, 16)]
            else:
                bad[pos:pos] = rng.randbytes(rng.randrange(1, 16))
        try:
            _scan(bytes(bad), chunk=len(bad))
            outcomes["parsed"] += 1
        except ExternalError:
            outcomes["refused"] += 1
    assert outcomes["refused"] > 500, outcomes


def test_backups_with_legacy_lua_digests_are_drilled_the_same_way(
    servers: tuple[RedisAccess, RedisAccess], tmp_path: Path
) -> None:
    """A backup recorded before the scanner holds SHA-1 digests from the Lua script: its
    drill fingerprints the sandbox with that script too, and they match."""
    compact, _ = servers
    legacy = RedisProvider(compact, legacy=True, state=False).fingerprint()
    assert legacy.items and all(len(i.digest.rpartition(":")[2]) == 40 for i in legacy.items)
    (tmp_path / RDB_PART).write_bytes(_rdb(compact))
    version = RedisProvider(compact).server_version()  # the sandbox runs the source's version
    stored = StoredBackup(tmp_path, (), legacy, version)
    with RedisProvider(compact).restore(stored, LocalEngine()) as copy:
        assert isinstance(copy, RedisProvider) and copy.legacy
        assert compare(legacy, copy.fingerprint()).match
    current = _scan(_rdb(compact))[0]
    again = StoredBackup(tmp_path, (), current, version)
    with RedisProvider(compact).restore(again, LocalEngine()) as copy:
        assert isinstance(copy, RedisProvider) and not copy.legacy
        assert compare(current, copy.fingerprint()).match
