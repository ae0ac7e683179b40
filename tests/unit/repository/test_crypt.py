"""Streaming age encryption: what it writes decrypts with age, whole or not at all."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pyrage
import pytest
from pyrage import x25519

from stategate.errors import ExternalError
from stategate.repository.crypt import DecryptFailed, EncryptingWriter, decrypt_into


class Sink:
    def __init__(self, fail_after: int | None = None) -> None:
        self.buffer = io.BytesIO()
        self.fail_after = fail_after
        self.calls = 0

    def write(self, data: bytes) -> int:
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise OSError(28, "No space left on device")
        return self.buffer.write(data)


def _encrypted(plain: bytes, identity: x25519.Identity, pieces: int = 7) -> bytes:
    sink = Sink()
    writer = EncryptingWriter(sink, [str(identity.to_public())])
    step = max(1, len(plain) // pieces)
    for start in range(0, len(plain), step):
        writer.write(plain[start : start + step])
    writer.close()
    return sink.buffer.getvalue()


def test_what_streams_in_decrypts_with_pyrage_and_the_age_cli(tmp_path: Path) -> None:
    identity = x25519.Identity.generate()
    plain = bytes(range(256)) * 5000  # several 64 KiB age chunks
    stored = _encrypted(plain, identity)
    assert stored.startswith(b"age-encryption.org/v1\n") and plain[:1024] not in stored
    assert pyrage.decrypt(stored, [identity]) == plain
    key = tmp_path / "key.txt"
    key.write_text(f"{identity}\n")
    done = subprocess.run(["age", "-d", "-i", str(key)], input=stored, capture_output=True)
    assert done.returncode == 0 and done.stdout == plain


def test_an_empty_part_is_a_valid_age_file() -> None:
    identity = x25519.Identity.generate()
    assert pyrage.decrypt(_encrypted(b"", identity), [identity]) == b""


def test_a_failing_sink_fails_the_writer_with_its_error() -> None:
    writer = EncryptingWriter(Sink(fail_after=2), [str(x25519.Identity.generate().to_public())])
    with pytest.raises(ExternalError) as failed:
        for _ in range(200):
            writer.write(b"y" * 100_000)
        writer.close()
    assert str(failed.value) == "age encryption failed: [Errno 28] No space left on device"


@pytest.mark.parametrize("damage", ["flip", "truncate", "append"])
def test_a_changed_stored_byte_never_decrypts(damage: str) -> None:
    identity = x25519.Identity.generate()
    stored = bytearray(_encrypted(b"z" * 200_000, identity))
    if damage == "flip":
        stored[len(stored) // 2] ^= 0x40
    elif damage == "truncate":
        del stored[-1000:]
    else:
        stored += b"more"
    out = Sink()
    with pytest.raises(DecryptFailed) as refused:
        decrypt_into(io.BytesIO(bytes(stored)), out, [identity], "dump.rdb.age")
    assert str(refused.value).startswith("dump.rdb.age does not decrypt: ")


def test_an_error_writing_the_plaintext_is_not_taken_for_a_bad_backup() -> None:
    identity = x25519.Identity.generate()
    stored = _encrypted(b"z" * 500_000, identity)
    with pytest.raises(OSError, match="No space left") as failed:
        decrypt_into(io.BytesIO(stored), Sink(fail_after=1), [identity], "x.age")
    assert not isinstance(failed.value, DecryptFailed)


@pytest.mark.parametrize(("size", "writes"), [(1000, 1), (100_000, 3)])
def test_a_sink_that_fails_its_last_write_fails_the_part(size: int, writes: int) -> None:
    # pyrage returns normally when only the sink's last write fails: that must not count
    writer = EncryptingWriter(
        Sink(fail_after=writes - 1), [str(x25519.Identity.generate().to_public())]
    )
    writer.write(b"q" * size)
    with pytest.raises(ExternalError, match="No space left on device"):
        writer.close()
