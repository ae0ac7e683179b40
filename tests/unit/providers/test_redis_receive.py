"""How the redis backup cuts the replication stream into writes: every byte of the
RDB once, in order, the end mark never, wherever the reads happen to end (a socket
reader stands in for the connection, so read boundaries can be put anywhere)."""

from __future__ import annotations

import random

import pytest

from stategate.errors import ExternalError
from stategate.providers.access import RedisAccess
from stategate.providers.redis import GATHER, RedisProvider

MARK = b"m" * 20 + b"0123456789abcdefghij"


class Reads:
    """A reader whose ``readinto1`` returns at most the next size of ``sizes`` (then
    whatever is asked), like a socket that hands over what has arrived."""

    def __init__(self, wire: bytes, sizes: list[int] | None = None) -> None:
        self._wire = wire
        self._at = 0
        self._sizes = list(sizes or [])

    def readline(self) -> bytes:
        end = self._wire.find(b"\n", self._at) + 1 or len(self._wire)
        line, self._at = self._wire[self._at : end], end
        return line

    def readinto1(self, view: memoryview) -> int:
        n = min(len(view), len(self._wire) - self._at)
        if self._sizes:
            n = min(n, self._sizes.pop(0))
        view[:n] = self._wire[self._at : self._at + n]
        self._at += n
        return n


def _receive(wire: bytes, sizes: list[int] | None = None) -> list[bytes]:
    writes: list[bytes] = []
    provider = RedisProvider(RedisAccess("127.0.0.1", 1))
    provider._receive_rdb(Reads(wire, sizes), lambda view: writes.append(bytes(view)))  # type: ignore[arg-type]
    return writes


def _payload(n: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(n)


@pytest.mark.parametrize("split", [0, 1, 20, 39, 40])
@pytest.mark.parametrize("fills", [0, 2])
def test_an_end_mark_split_at_the_buffer_edge_is_found_and_never_stored(
    split: int, fills: int
) -> None:
    """Reads as large as the buffer allows: it is full after GATHER + 40 bytes, then
    every GATHER; the payload's length puts ``split`` bytes of the mark at that edge."""
    size = GATHER + len(MARK) + fills * GATHER - split
    payload = _payload(size)
    writes = _receive(b"$EOF:" + MARK + b"\r\n" + payload + MARK)
    assert b"".join(writes) == payload
    assert all(0 < len(w) <= GATHER for w in writes[:-1])


@pytest.mark.parametrize("seed", range(12))
def test_any_read_sizes_give_the_same_bytes(seed: int) -> None:
    rng = random.Random(seed)
    payload = _payload(rng.randrange(1, 3 * GATHER), seed)
    sizes = [rng.choice([1, 7, 39, 40, 41, 4096, GATHER - 1, GATHER + 41]) for _ in range(400)]
    assert b"".join(_receive(b"$EOF:" + MARK + b"\r\n" + payload + MARK, sizes)) == payload
    announced = b"$%d\r\n" % len(payload) + payload
    assert b"".join(_receive(announced, sizes)) == payload


def test_the_bytes_after_an_announced_length_are_not_read() -> None:
    payload = _payload(GATHER + 5)
    assert b"".join(_receive(b"$%d\r\n" % len(payload) + payload + b"+PING\r\n")) == payload


@pytest.mark.parametrize(
    "wire",
    [
        pytest.param(b"$EOF:" + MARK + b"\r\n" + b"x" * 1000, id="no end mark"),
        pytest.param(b"$EOF:" + MARK + b"\r\n" + b"x" * 1000 + MARK[:-1], id="part of the mark"),
        pytest.param(b"$2000\r\n" + b"x" * 1999, id="one byte short"),
    ],
)
def test_a_stream_that_ends_early_is_an_error(wire: bytes) -> None:
    with pytest.raises(ExternalError, match="RDB transfer ended early"):
        _receive(wire, [300] * 10)
