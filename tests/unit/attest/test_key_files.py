"""Key files and public key lines: what is accepted, and the exact refusal for the rest.

Complements test_keys.py (written against surviving mutants): each refusal names the
file and says why, in words that never quote key material.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from stategate.errors import InputError
from stategate.evidence.trust.keys import (
    KEYS_ENV,
    MAX_KEY_BYTES,
    PublicKey,
    SigningKey,
    default_key_dir,
    load_signing_key,
    write_key_pair,
)


def test_key_dir_from_the_environment_or_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv(KEYS_ENV, "~/elsewhere")
    assert default_key_dir() == tmp_path / "elsewhere"
    monkeypatch.setenv(KEYS_ENV, "")
    assert default_key_dir() == tmp_path / ".config" / "stategate" / "keys"
    monkeypatch.delenv(KEYS_ENV)
    assert default_key_dir() == tmp_path / ".config" / "stategate" / "keys"


def test_public_key_line_with_a_comment_parses_to_the_same_key() -> None:
    key = SigningKey.generate()
    parsed = PublicKey.parse(f"  {key.public.openssh} alice@laptop extra words\n")
    assert (parsed.keyid, parsed.openssh) == (key.keyid, key.public.openssh)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("ssh-ed25519", "expected an OpenSSH ed25519 public key ('ssh-ed25519 AAAA...')"),
        (
            "ssh-rsa AAAAB3NzaC1yc2E",
            "expected an OpenSSH ed25519 public key ('ssh-ed25519 AAAA...')",
        ),
        ("ssh-ed25519 AAAA!!!!", "not a valid ssh-ed25519 public key"),
        ("ssh-ed25519 AAAAé", "not a valid ssh-ed25519 public key"),
    ],
)
def test_bad_public_key_lines(line: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        PublicKey.parse(line)
    assert str(caught.value) == message


def test_verify_says_no_to_another_message() -> None:
    key = SigningKey.generate()
    sig = key.sign(b"message")
    assert key.public.verify(sig, b"message")
    assert not key.public.verify(sig, b"messagE")


def write_private(path: Path, data: bytes, mode: int = 0o600) -> Path:
    path.write_bytes(data)
    path.chmod(mode)
    return path


def refusal(path: Path) -> str:
    with pytest.raises(InputError) as caught:
        load_signing_key(path)
    assert caught.value.file == str(path)
    return caught.value.message


def test_missing_and_non_regular_key_files(tmp_path: Path) -> None:
    assert refusal(tmp_path / "absent") == "private key not found"
    assert refusal(tmp_path) == "private key is not a regular file"


def test_key_readable_by_group_names_the_mode(tmp_path: Path) -> None:
    key = SigningKey.generate()
    path = write_private(tmp_path / "k", key.private_openssh(), 0o640)
    assert refusal(path) == "private key is accessible by others (mode 640); chmod 600 it"


def test_key_file_size_limit(tmp_path: Path) -> None:
    key = SigningKey.generate().private_openssh()
    at_limit = write_private(tmp_path / "ok", key + b"\n" * (MAX_KEY_BYTES - len(key)))
    assert os.path.getsize(at_limit) == MAX_KEY_BYTES
    load_signing_key(at_limit)
    over = write_private(tmp_path / "big", b"\n" * (MAX_KEY_BYTES + 1))
    assert refusal(over) == "private key file is too large"


def test_pkcs8_pem_key_is_accepted(tmp_path: Path) -> None:
    raw = Ed25519PrivateKey.generate()
    pem = raw.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    loaded = load_signing_key(write_private(tmp_path / "k.pem", pem))
    assert loaded.keyid == SigningKey(raw).keyid
    assert loaded.source == str(tmp_path / "k.pem")


def test_encrypted_and_foreign_keys_are_refused(tmp_path: Path) -> None:
    encrypted = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pass"),
    )
    path = write_private(tmp_path / "enc", encrypted)
    assert refusal(path) == "encrypted private keys are not supported"
    ecdsa = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path = write_private(tmp_path / "ec", ecdsa)
    assert refusal(path) == "only ed25519 private keys are supported"
    path = write_private(tmp_path / "junk", b"-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n")
    assert refusal(path) == "not a valid private key"


def test_key_pair_files(tmp_path: Path) -> None:
    key = SigningKey.generate()
    private = tmp_path / "new" / "dir" / "operator"
    public = write_key_pair(key, private, comment="alice")
    assert public == tmp_path / "new" / "dir" / "operator.pub"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE(private.parent.stat().st_mode) == 0o700
    assert public.read_text(encoding="ascii") == f"{key.public.openssh} alice\n"
    assert load_signing_key(private).keyid == key.keyid


def test_an_existing_public_half_is_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / "k.pub").write_text("keep\n")
    with pytest.raises(InputError) as caught:
        write_key_pair(SigningKey.generate(), tmp_path / "k", comment="c")
    assert (caught.value.file, caught.value.message) == (
        str(tmp_path / "k.pub"),
        "key file already exists; not overwriting it",
    )
    assert not (tmp_path / "k").exists()
    assert (tmp_path / "k.pub").read_text() == "keep\n"


def test_a_generated_key_says_it_lives_in_memory() -> None:
    key = SigningKey.generate()
    assert key.source == "<memory>"
    assert repr(key) == f"SigningKey(keyid={key.keyid!r}, source='<memory>')"


def test_the_private_key_file_is_never_open_to_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a reader who opens the file while it is wider than 0600 keeps the descriptor
    # after a chmod: the file must be created 0600, not narrowed later
    modes: list[int] = []
    real_fchmod = os.fchmod

    def spy(fd: int, mode: int) -> None:
        modes.append(stat.S_IMODE(os.fstat(fd).st_mode))
        real_fchmod(fd, mode)

    monkeypatch.setattr(os, "fchmod", spy)
    old = os.umask(0o022)
    try:
        write_key_pair(SigningKey.generate(), tmp_path / "k", comment="c")
    finally:
        os.umask(old)
    assert modes == [0o600]
