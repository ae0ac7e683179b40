from __future__ import annotations

import os
from pathlib import Path

import pytest

from stategate.errors import InputError
from stategate.evidence.trust.keys import PublicKey, SigningKey, load_signing_key, write_key_pair
from stategate.execute import run


def test_keyid_is_the_openssh_fingerprint(tmp_path: Path) -> None:
    key = SigningKey.generate()
    pub = write_key_pair(key, tmp_path / "k.key", comment="test")
    printed = run(["ssh-keygen", "-lf", str(pub)]).text().split()[1]
    assert key.keyid == printed
    assert PublicKey.parse(pub.read_text()).keyid == printed


def test_private_key_round_trips_and_is_0600(tmp_path: Path) -> None:
    key = SigningKey.generate()
    write_key_pair(key, tmp_path / "k.key", comment="test")
    assert (tmp_path / "k.key").stat().st_mode & 0o777 == 0o600
    loaded = load_signing_key(tmp_path / "k.key")
    assert loaded.keyid == key.keyid
    assert loaded.sign(b"m") == key.sign(b"m")  # ed25519 is deterministic


def test_ssh_keygen_key_is_accepted(tmp_path: Path) -> None:
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "x", "-f", str(tmp_path / "id")])
    key = load_signing_key(tmp_path / "id")
    assert key.public.openssh.split()[1] == (tmp_path / "id.pub").read_text().split()[1]


def test_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    key = SigningKey.generate()
    write_key_pair(key, tmp_path / "k.key", comment="test")
    os.chmod(tmp_path / "k.key", 0o644)
    with pytest.raises(InputError, match="accessible by others") as err:
        load_signing_key(tmp_path / "k.key")
    assert str(tmp_path / "k.key") in str(err.value)


def test_garbage_key_error_names_file_not_content(tmp_path: Path) -> None:
    path = tmp_path / "bad.key"
    path.write_text(
        "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LW1hdGVyaWFs\n-----END PRIVATE KEY-----\n"
    )
    os.chmod(path, 0o600)
    with pytest.raises(InputError) as err:
        load_signing_key(path)
    assert str(err.value) == f"{path}: not a valid private key"


def test_existing_key_is_never_overwritten(tmp_path: Path) -> None:
    write_key_pair(SigningKey.generate(), tmp_path / "k.key", comment="a")
    with pytest.raises(InputError, match="already exists"):
        write_key_pair(SigningKey.generate(), tmp_path / "k.key", comment="b")


def test_repr_never_shows_private_material() -> None:
    key = SigningKey.generate()
    secret = key.private_openssh().decode()
    body = "".join(secret.splitlines()[1:-1])
    for text in (repr(key), str(key), f"{key}"):
        assert body[:20] not in text
        assert key.keyid in text
