"""Write the fuzz campaign's seed RDBs: real snapshots from redis-server (compact and
expanded encodings, the integration tests' data) with their CRC64 zeroed, so that
mutations reach the structure checks, plus the crafted cases of the unit tests."""

from __future__ import annotations

import sys
from pathlib import Path

import redis

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "tests" / "integration"), str(REPO / "tests" / "unit" / "providers")]

import test_rdb_hostile as crafted  # noqa: E402
from test_rdb_scanner import COMPACT, EXPANDED, _rdb, _seed  # noqa: E402

from stategate.sandbox.servers import LocalRedis  # noqa: E402


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, settings in (("compact", COMPACT), ("expanded", EXPANDED)):
        with LocalRedis() as access:
            client = redis.Redis(host=access.host, port=access.port, password=access.password)
            for key, value in settings.items():
                client.config_set(key, value)
            _seed(client)
            client.delete("s:huge")  # keep seeds small: libFuzzer mutates every byte
            data = bytearray(_rdb(access))
        data[-8:] = bytes(8)
        (out / f"{name}.rdb").write_bytes(data)
    t = crafted
    cases = {
        "hash": t.rdb(t.entry(t.T_HASH, b"h", t.length(1) + t.string(b"f") + t.string(b"v"))),
        "lzf": t.rdb(t.entry(t.T_STRING, b"s", t.lzf_string(t.lzf_run(2000), 2000))),
        "bomb": t.lzf_list_bomb(4, 20000),
        "expiry": t.rdb(b"\xfc" + bytes(8) + t.entry(t.T_STRING, b"k", t.string(b"v"))),
        "empty": t.rdb(
            t.entry(t.T_STRING, b"", t.string(b"")),
            t.entry(t.T_SET, b"s1", t.length(1) + t.string(b"")),
            t.entry(t.T_ZSET2, b"z1", t.length(1) + t.string(b"m") + bytes(8)),
        ),
    }
    for name, data in cases.items():
        (out / f"crafted-{name}.rdb").write_bytes(data)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
