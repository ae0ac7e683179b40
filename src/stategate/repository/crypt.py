"""age encryption of backup parts, as they stream (the age v1 format, through pyrage:
Python bindings of rage, the Rust implementation of age).

A part is encrypted while it is written: plaintext goes into a pipe, and a thread
runs ``pyrage.encrypt_io`` from the pipe into the stored sink, so memory stays
bounded whatever the size. An operator decrypts a stored part with the ``age`` CLI
alone (``age -d -i key.txt dump.age``). Recipients are X25519 public keys
(``age1...``) listed in the policy's recipients file; identities
(``AGE-SECRET-KEY-1...``) come from the environment or a file, never the repo.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Sequence
from typing import IO, Any, BinaryIO, Protocol

import pyrage
from pyrage import x25519

from stategate.errors import ExternalError, InputError

SUFFIX = ".age"  # stored name of an encrypted part: <name>.age
PIPE_BUFFER = 1024 * 1024


class Writable(Protocol):
    def write(self, data: bytes | bytearray | memoryview, /) -> int: ...


def parse_recipients(text: str, *, file: str) -> list[str]:
    """The ``age1...`` public keys of a recipients file (``#`` comments, blank lines
    ignored); a line that is not one is an error naming the file and line."""
    keys: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            x25519.Recipient.from_str(line)
        except pyrage.RecipientError:
            raise InputError(
                f"line {number} is not an age X25519 recipient (age1...)", file=file
            ) from None
        keys.append(line)
    if not keys:
        raise InputError("lists no age recipient: backups would be readable by nobody", file=file)
    return keys


def parse_identities(text: str, *, what: str) -> list[Any]:
    """The ``AGE-SECRET-KEY-1...`` identities in ``text`` (an age identity file: comments
    and blank lines ignored). The key itself never appears in an error."""
    identities: list[Any] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            identities.append(x25519.Identity.from_str(line))
        except pyrage.IdentityError:
            raise InputError(f"{what} holds a line that is not an age identity") from None
    if not identities:
        raise InputError(f"{what} holds no age identity (AGE-SECRET-KEY-1...)")
    return identities


class EncryptingWriter:
    """A write-only stream that encrypts into ``sink`` (see the module docstring).

    ``close()`` ends the age stream (its last chunk is authenticated as the last, so a
    truncated file fails to decrypt); a writer that is not closed successfully must
    have its sink discarded: ``abort()`` ends the thread without asking for that."""

    def __init__(self, sink: Writable, recipients: Sequence[str]) -> None:
        keys = [x25519.Recipient.from_str(k) for k in recipients]
        read_fd, write_fd = os.pipe()
        self._reader: IO[bytes] = os.fdopen(read_fd, "rb", buffering=0)
        self._writer: BinaryIO = os.fdopen(write_fd, "wb", buffering=PIPE_BUFFER)
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, args=(sink, keys), name="stategate-age", daemon=True
        )
        self._thread.start()

    def _run(self, sink: Writable, keys: list[Any]) -> None:
        watched = _Watched(sink)
        try:
            pyrage.encrypt_io(self._reader, watched, keys)
        except BaseException as exc:  # reported to the writing thread: the sink's own first
            self._error = watched.error or exc
        else:
            # pyrage 1.4 ignores an error raised by the sink's last write: never trust a
            # return when the sink failed
            self._error = watched.error
        finally:
            self._reader.close()

    def write(self, data: bytes | bytearray | memoryview) -> int:
        try:
            self._writer.write(data)
        except BrokenPipeError:
            self._join()
            raise self._failure() from None
        return len(data)

    def close(self) -> None:
        with contextlib.suppress(BrokenPipeError):
            self._writer.close()
        self._join()
        if self._error is not None:
            raise self._failure()

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self._writer.close()
        self._join()

    def _join(self) -> None:
        self._thread.join()

    def _failure(self) -> ExternalError:
        error = self._error
        if isinstance(error, ExternalError):
            return error
        return ExternalError(f"age encryption failed: {error or 'the encrypting thread stopped'}")


class _Watched:
    """Passes reads or writes through, keeping the first error of its own (so an I/O
    failure of the source or the destination is not taken for a decryption failure)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.error: BaseException | None = None

    def read(self, n: int = -1) -> bytes:
        try:
            return bytes(self._inner.read(n))
        except BaseException as exc:
            self.error = self.error or exc
            raise

    def readinto(self, buffer: bytearray | memoryview) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def write(self, data: bytes) -> int:
        try:
            return int(self._inner.write(data))
        except BaseException as exc:
            self.error = self.error or exc
            raise


class DecryptFailed(ExternalError):
    """The stored bytes are not an age stream this identity opens, or were changed."""


def decrypt_into(stored: IO[bytes], out: Writable, identities: Sequence[Any], what: str) -> None:
    """Decrypt the age stream ``stored`` into ``out``. A wrong key or a changed or
    truncated byte raises :class:`DecryptFailed` naming ``what``; an error reading
    ``stored`` or writing ``out`` is raised as it is."""
    source, sink = _Watched(stored), _Watched(out)
    try:
        pyrage.decrypt_io(source, sink, list(identities))
    except (pyrage.DecryptError, OSError) as exc:
        for side in (source, sink):
            if side.error is not None:
                raise side.error from None
        raise DecryptFailed(f"{what} does not decrypt: {exc}") from None
