"""The redis backup's streaming path: the RDB as the wire delivers it.

The snapshot is read through one reused buffer and handed to the artifact, its hash
and the scanner as views; the end of a diskless stream is found by its 40-byte mark.
A real redis-server provides the RDB; a stand-in replication endpoint (a few lines of
RESP on a loopback socket, started here) replays it cut, split or damaged in ways a
real server cannot be made to produce on demand. Whatever arrives, the stored bytes
are exactly the RDB's or the backup fails and leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from stategate.errors import ExternalError
from stategate.evidence.records.artifact import PARTIAL_SUFFIX, open_backup
from stategate.providers.access import RedisAccess
from stategate.providers.base import BackupHooks
from stategate.providers.fingerprint import FingerprintSummary
from stategate.providers.rdb import RDBScanner
from stategate.providers.redis import GATHER, RDB_PART, RedisProvider
from stategate.providers.redis_state import SERVER_PART
from stategate.providers.resp import ProtocolError, ReplyError, read_reply
from stategate.sandbox.servers import LocalRedis

pytestmark = pytest.mark.integration

MARK = b"0123456789abcdef0123456789abcdef01234567"  # 40 bytes, as redis announces
ACL_LINE = b"user default on nopass ~* &* +@all"
KEYS = 20_000  # strings; a tenth as many of each other kind


@pytest.fixture(scope="module")
def real() -> Iterator[tuple[RedisAccess, bytes]]:
    """A real server holding a few MB of mixed keys, and the RDB it sends."""
    with LocalRedis() as access:
        with redis.Redis(host=access.host, port=access.port) as c:
            pipe = c.pipeline(transaction=False)
            for i in range(KEYS):
                # hex digests: little for LZF to shrink, so the RDB is a few MB
                pipe.set(f"s:{i}", hashlib.sha256(b"%d" % i).hexdigest() * 2)
                if i % 10 == 0:
                    pipe.hset(f"h:{i}", mapping={f"f{j}": j * i for j in range(12)})
                if i % 10 == 1:
                    pipe.rpush(f"l:{i}", *[f"e{j}" for j in range(9)])
                if i % 10 == 2:
                    pipe.zadd(f"z:{i}", {f"m{j}": j / 3 for j in range(8)})
                if i % 10 == 3:
                    pipe.set(f"t:{i}", "expiring", px=3_600_000)
            pipe.execute()
        chunks: list[bytes] = []
        RedisProvider(access).snapshot(lambda view: chunks.append(bytes(view)))
        data = b"".join(chunks)
        assert len(data) > 4 * GATHER  # the buffer is reused several times
        yield access, data


Send = Callable[[socket.socket], None]


class Replayer:
    """Answers the backup's replication handshake with ``send`` (the snapshot as it is
    to arrive), then ``ACL LIST`` and ``CONFIG GET`` on later connections."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)  # so that close() is seen at once
        self._closed = threading.Event()
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(30)
            with conn, conn.makefile("rb") as reader:
                with contextlib.suppress(OSError, ValueError):  # the backup hung up
                    self._session(conn, reader)
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)  # the end of the stream

    def _session(self, conn: socket.socket, reader: io.BufferedReader) -> None:
        while True:
            command = _read_command(reader)
            if not command:
                return
            name = command[0].upper()
            if name == b"REPLCONF":
                conn.sendall(b"+OK\r\n")
            elif name == b"PSYNC":
                conn.sendall(b"+FULLRESYNC " + b"f" * 40 + b" 0\r\n\n\n")
                self._send(conn)
                return
            elif name == b"ACL":
                conn.sendall(b"*1\r\n$%d\r\n%s\r\n" % (len(ACL_LINE), ACL_LINE))
            elif name == b"CONFIG":
                key = command[2]
                value = b"no" if key == b"appendonly" else b""
                conn.sendall(
                    b"*2\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(key), key, len(value), value)
                )
            else:
                conn.sendall(b"-ERR unknown command\r\n")

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=30)
        self._listener.close()


def _read_command(reader: io.BufferedReader) -> list[bytes]:
    head = reader.readline()
    if not head.startswith(b"*"):
        return []
    parts = []
    for _ in range(int(head[1:])):
        size = int(reader.readline()[1:])
        parts.append(reader.read(size + 2)[:-2])
    return parts


def _pieces(conn: socket.socket, data: bytes, cuts: list[int]) -> None:
    """Send ``data`` in pieces ending at ``cuts``, pausing between them so that each
    arrives in its own read."""
    start = 0
    for cut in [*cuts, len(data)]:
        if cut > start:
            conn.sendall(data[start:cut])
            time.sleep(0.05)
        start = cut


def _backup(port: int, root: Path, timeout: float = 20) -> tuple[Path, dict[str, tuple[int, str]]]:
    final = root / "backup"
    provider = RedisProvider(RedisAccess("127.0.0.1", port), timeout=timeout)
    with open_backup(final) as writer:
        output = provider.backup(writer, BackupHooks())
    parts = {p.name: (p.size, p.sha256) for p in writer.parts}
    assert output.fingerprint.summary().items > 0
    return final, parts


def _expected_summary(data: bytes) -> FingerprintSummary:
    with RDBScanner(None) as scanner:
        scanner.feed(data)
        return scanner.finish()


@pytest.fixture
def replay() -> Iterator[Callable[[Send], Replayer]]:
    started: list[Replayer] = []

    def start(send: Send) -> Replayer:
        started.append(Replayer(send))
        return started[-1]

    yield start
    for replayer in started:
        replayer.close()


@pytest.mark.parametrize(
    "cuts",
    [
        pytest.param(lambda n: [], id="whole"),
        pytest.param(lambda n: [n + 17], id="mark split in two reads"),
        pytest.param(lambda n: [GATHER - 10, GATHER + 25], id="mark-sized tail at a buffer edge"),
        pytest.param(lambda n: [n - 3, n + 1, n + 39], id="mark split in three"),
        pytest.param(lambda n: list(range(1000, n + 40, 77_777)), id="many small reads"),
    ],
)
def test_a_diskless_stream_is_stored_byte_for_byte_however_it_arrives(
    real: tuple[RedisAccess, bytes],
    replay: Callable[[Send], Replayer],
    tmp_path: Path,
    cuts: Callable[[int], list[int]],
) -> None:
    _, data = real
    wire = data + MARK
    server = replay(
        lambda conn: (
            conn.sendall(b"$EOF:" + MARK + b"\r\n"),
            _pieces(conn, wire, cuts(len(data))),
        )
    )
    final, parts = _backup(server.port, tmp_path)
    stored = (final / RDB_PART).read_bytes()
    assert stored == data
    assert parts[RDB_PART] == (len(data), hashlib.sha256(data).hexdigest())
    assert (final / SERVER_PART).is_file()


def test_a_stream_of_announced_length_is_stored_byte_for_byte(
    real: tuple[RedisAccess, bytes], replay: Callable[[Send], Replayer], tmp_path: Path
) -> None:
    _, data = real
    server = replay(
        lambda conn: (
            conn.sendall(b"$%d\r\n" % len(data)),
            _pieces(conn, data, [5, GATHER, GATHER + 1, 3 * GATHER - 7]),
        )
    )
    final, parts = _backup(server.port, tmp_path)
    assert (final / RDB_PART).read_bytes() == data
    assert parts[RDB_PART] == (len(data), hashlib.sha256(data).hexdigest())


def test_the_fingerprint_describes_the_bytes_stored(
    real: tuple[RedisAccess, bytes], tmp_path: Path
) -> None:
    """Against the real server: the summary recorded is the scan of the stored file."""
    access, _ = real
    final = tmp_path / "backup"
    with open_backup(final) as writer:
        output = RedisProvider(access).backup(writer, BackupHooks())
    stored = (final / RDB_PART).read_bytes()
    recorded = output.fingerprint.summary()
    keys = recorded.groups["db0"]
    assert keys == _expected_summary(stored).groups["db0"]
    assert keys.items == KEYS + 4 * KEYS // 10


def _flipped(data: bytes) -> bytes:
    """``data`` with one bit of its middle byte flipped (the CRC64 catches any one)."""
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0x10]) + data[middle + 1 :]


def _assert_nothing_left(root: Path) -> None:
    assert not (root / "backup").exists()
    assert not (root / ("backup" + PARTIAL_SUFFIX)).exists()


@pytest.mark.parametrize(
    ("wire", "error"),
    [
        pytest.param(
            lambda d: b"$EOF:" + MARK + b"\r\n" + d[: len(d) // 2],
            "RDB transfer ended early",
            id="diskless cut mid-stream",
        ),
        pytest.param(
            lambda d: b"$EOF:" + MARK + b"\r\n" + d + MARK[:20],
            "RDB transfer ended early",
            id="diskless cut inside the end mark",
        ),
        pytest.param(
            lambda d: b"$%d\r\n" % len(d) + d[:-1],
            "RDB transfer ended early",
            id="announced length one byte short",
        ),
        pytest.param(
            lambda d: b"$EOF:" + MARK + b"\r\n" + _flipped(d) + MARK,
            "not a valid redis snapshot",
            id="a byte changed on the way",
        ),
        pytest.param(
            lambda d: b"$EOF:" + MARK + b"\r\n" + d + b"trailing" + MARK,
            "not a valid redis snapshot",
            id="bytes after the RDB",
        ),
        pytest.param(
            lambda d: b"$%d\r\n" % (len(d) // 2) + d[: len(d) // 2],
            "not a valid redis snapshot",
            id="announced length shorter than the RDB",
        ),
        pytest.param(
            lambda d: b"$EOF:" + MARK[:12] + b"\r\n" + d + MARK[:12],
            "malformed end mark",
            id="malformed end mark",
        ),
    ],
)
def test_a_cut_or_damaged_transfer_fails_and_leaves_no_backup(
    real: tuple[RedisAccess, bytes],
    replay: Callable[[Send], Replayer],
    tmp_path: Path,
    wire: Callable[[bytes], bytes],
    error: str,
) -> None:
    _, data = real
    sent = wire(data)
    server = replay(lambda conn: _pieces(conn, sent, [len(sent) // 3]))
    with pytest.raises(ExternalError, match=error):
        _backup(server.port, tmp_path)
    _assert_nothing_left(tmp_path)


def test_a_stream_that_stalls_times_out_and_leaves_no_backup(
    real: tuple[RedisAccess, bytes], replay: Callable[[Send], Replayer], tmp_path: Path
) -> None:
    _, data = real

    def hang(conn: socket.socket) -> None:  # most of the RDB, then nothing, connection open
        conn.sendall(b"$EOF:" + MARK + b"\r\n" + data[:-100])
        time.sleep(6)

    server = replay(hang)
    with pytest.raises(ExternalError, match="timed out"):
        _backup(server.port, tmp_path, timeout=2)
    _assert_nothing_left(tmp_path)


def test_a_refused_login_names_the_server_not_the_password(tmp_path: Path) -> None:
    with LocalRedis(password="right-password-1234") as access:
        wrong = "wrong-password-5678"
        provider = RedisProvider(RedisAccess(access.host, access.port, None, wrong))
        for ask in (provider.server_version, provider.settings, provider.server_state):
            with pytest.raises(ExternalError) as caught:
                ask()
            text = str(caught.value)
            assert f"redis {access.host}:{access.port}" in text
            assert wrong not in text and "right-password" not in text
        with pytest.raises(ExternalError) as caught, open_backup(tmp_path / "backup") as writer:
            provider.backup(writer, BackupHooks())
        assert wrong not in str(caught.value)
        _assert_nothing_left(tmp_path)


def test_replies_are_read_as_resp2_and_anything_else_is_refused() -> None:
    def parse(raw: bytes) -> object:
        return read_reply(io.BufferedReader(io.BytesIO(raw)))

    assert parse(b"*3\r\n$1\r\na\r\n:-7\r\n*2\r\n$-1\r\n+OK\r\n") == [b"a", -7, [None, b"OK"]]
    assert parse(b"$4\r\na\r\nb\r\n") == b"a\r\nb"
    with pytest.raises(ReplyError, match="NOPERM no"):
        parse(b"-NOPERM no\r\n")
    nested = b"*1\r\n" * 10_000 + b":1\r\n"
    for bad in (b"", b"$5\r\nabc\r\n", b"*2\r\n:1\r\n", b"?what\r\n", b":x\r\n", b"+OK", nested):
        with pytest.raises(ProtocolError):
            parse(bad)
