"""The few redis commands a backup sends besides the snapshot, over one plain socket.

A backup asks the server a handful of questions (``INFO``, ``CONFIG GET``, ``ACL
LIST``) around the snapshot it streams over the replication protocol, which no client
library speaks. redis-py would answer them too, but importing it (with its asyncio
client) costs a CLI process about 0.3 s of CPU, a tenth of a bare ``redis-cli --rdb``
of a million keys: so this speaks the RESP2 subset those replies use, and the rest of
the provider (drills, smoke, the legacy Lua digests) keeps redis-py.
"""

from __future__ import annotations

import socket
from types import TracebackType
from typing import IO, cast

from stategate.providers.access import RedisAccess

# a reply larger than this is not an answer to INFO, CONFIG GET or ACL LIST
MAX_REPLY = 64 * 1024 * 1024
MAX_ITEMS = 1024 * 1024
MAX_DEPTH = 8  # arrays in arrays: none of those replies nests more than twice

Reply = bytes | int | None | list["Reply"]


class ReplyError(Exception):
    """The server answered a command with an error (``-ERR ...``)."""


class LoginRefused(Exception):
    """The server refused the login (wrong password, unknown user): nothing else works."""


class ProtocolError(OSError):
    """The server sent something that is not a RESP2 reply (or closed mid-reply)."""


def encode(args: list[str]) -> bytes:
    """A command as a RESP array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        raw = arg.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
    return b"".join(out)


def read_reply(reader: IO[bytes], depth: int = 0) -> Reply:
    """One RESP2 reply; an error reply raises :class:`ReplyError`."""
    line = reader.readline(MAX_REPLY)
    if not line.endswith(b"\r\n"):
        raise ProtocolError("redis closed the connection mid-reply")
    kind, body = line[:1], line[1:-2]
    if kind == b"+":
        return body
    if kind == b"-":
        raise ReplyError(body.decode("utf-8", "replace"))
    if kind == b":":
        return _number(body)
    if kind == b"$":
        size = _number(body)
        if size < 0:
            return None
        if size > MAX_REPLY:
            raise ProtocolError(f"redis announced a {size}-byte reply")
        data = reader.read(size + 2)
        if len(data) != size + 2 or not data.endswith(b"\r\n"):
            raise ProtocolError("redis closed the connection mid-reply")
        return data[:-2]
    if kind == b"*":
        if depth >= MAX_DEPTH:
            raise ProtocolError("redis sent arrays nested too deep")
        count = _number(body)
        if count < 0:
            return None
        if count > MAX_ITEMS:
            raise ProtocolError(f"redis announced a {count}-item reply")
        return [read_reply(reader, depth + 1) for _ in range(count)]
    raise ProtocolError("unexpected reply from redis (not RESP2)")


def _number(body: bytes) -> int:
    try:
        return int(body)
    except ValueError:
        raise ProtocolError("malformed number in a redis reply") from None


class Connection:
    """One logged-in connection; ``command`` sends one command and returns its reply."""

    def __init__(self, access: RedisAccess, timeout: float) -> None:
        self._sock = socket.create_connection(
            (access.host, access.port), timeout=min(timeout, 10.0)
        )
        self._sock.settimeout(timeout)
        self._reader = cast(IO[bytes], self._sock.makefile("rb"))
        if access.password:
            login = ["AUTH", access.password]
            if access.username:
                login.insert(1, access.username)
            try:
                self.command(*login)
            except ReplyError as exc:
                self.close()
                raise LoginRefused(str(exc)) from None
            except BaseException:
                self.close()
                raise

    def command(self, *args: str) -> Reply:
        self._sock.sendall(encode(list(args)))
        return read_reply(self._reader)

    def close(self) -> None:
        self._reader.close()
        self._sock.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def parse_info(text: bytes) -> dict[str, str]:
    """``INFO``'s ``name:value`` lines (sections and comments skipped)."""
    found: dict[str, str] = {}
    for raw in text.decode("utf-8", "replace").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or ":" not in line:
            continue
        name, _, value = line.partition(":")
        found[name] = value
    return found
