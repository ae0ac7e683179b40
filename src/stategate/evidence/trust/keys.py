"""Ed25519 keys: generation, loading, key ids.

Keys use OpenSSH encodings so operators can reuse an existing ``ssh-ed25519``
key, and the key id is the OpenSSH fingerprint (``SHA256:...``), the same
string ``ssh-keygen -lf key.pub`` prints. A private key is never printed,
logged or put in an error message: :class:`SigningKey` hides it in ``repr``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from stategate.errors import InputError
from stategate.regularfile import read_regular

MAX_KEY_BYTES = 64 * 1024
KEYS_ENV = "STATEGATE_KEYS"


def default_key_dir() -> Path:
    """``$STATEGATE_KEYS``, else ``~/.config/stategate/keys``."""
    env = os.environ.get(KEYS_ENV)
    if env:
        return Path(env).expanduser()
    return Path("~/.config/stategate/keys").expanduser()


@dataclass(frozen=True)
class PublicKey:
    """A trusted Ed25519 public key and its id."""

    key: Ed25519PublicKey = field(repr=False, compare=False)
    keyid: str
    openssh: str  # "ssh-ed25519 AAAA..." without comment

    @classmethod
    def from_crypto(cls, key: Ed25519PublicKey) -> PublicKey:
        line = key.public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        ).decode("ascii")
        return cls(key=key, keyid=fingerprint(line), openssh=line)

    @classmethod
    def parse(cls, text: str) -> PublicKey:
        """Parse ``ssh-ed25519 AAAA... [comment]`` (``ValueError`` if it is not one)."""
        parts = text.strip().split()
        if len(parts) < 2 or parts[0] != "ssh-ed25519":
            raise ValueError("expected an OpenSSH ed25519 public key ('ssh-ed25519 AAAA...')")
        try:
            loaded = serialization.load_ssh_public_key(f"{parts[0]} {parts[1]}".encode("ascii"))
        except (ValueError, UnsupportedAlgorithm, UnicodeEncodeError) as exc:
            raise ValueError("not a valid ssh-ed25519 public key") from exc
        if not isinstance(loaded, Ed25519PublicKey):  # pragma: no cover - prefix checked above
            raise ValueError("only ed25519 keys are supported")
        return cls.from_crypto(loaded)

    def verify(self, signature: bytes, message: bytes) -> bool:
        try:
            self.key.verify(signature, message)
        except InvalidSignature:
            return False
        return True


def fingerprint(openssh_line: str) -> str:
    """OpenSSH SHA256 fingerprint of a public key line (unpadded base64)."""
    blob = base64.b64decode(openssh_line.split()[1])
    digest = hashlib.sha256(blob).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


class SigningKey:
    """An Ed25519 private key held in memory; its bytes never appear in ``repr`` or ``str``."""

    __slots__ = ("_key", "public", "source")

    def __init__(self, key: Ed25519PrivateKey, *, source: str = "<memory>") -> None:
        self._key = key
        self.public = PublicKey.from_crypto(key.public_key())
        self.source = source

    @property
    def keyid(self) -> str:
        return self.public.keyid

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    def private_openssh(self) -> bytes:
        """The private key in OpenSSH format, for writing it to its 0600 file only."""
        return self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )

    def __repr__(self) -> str:
        return f"SigningKey(keyid={self.keyid!r}, source={self.source!r})"

    __str__ = __repr__


def load_signing_key(path: Path) -> SigningKey:
    """Load an unencrypted Ed25519 private key (OpenSSH or PKCS#8 PEM) from ``path``.

    Like ssh, refuses a key file readable by group or others.
    """
    shown = str(path)
    try:
        info = path.stat()
    except FileNotFoundError as exc:
        raise InputError("private key not found", file=shown) from exc
    if not stat.S_ISREG(info.st_mode):
        raise InputError("private key is not a regular file", file=shown)
    if info.st_mode & 0o077:
        raise InputError(
            f"private key is accessible by others (mode {stat.S_IMODE(info.st_mode):o}); "
            "chmod 600 it",
            file=shown,
        )
    if info.st_size > MAX_KEY_BYTES:
        raise InputError("private key file is too large", file=shown)
    data = read_regular(path, MAX_KEY_BYTES, shown=shown)  # re-checked on the opened file
    loaded: object
    try:
        if b"BEGIN OPENSSH PRIVATE KEY" in data:
            loaded = serialization.load_ssh_private_key(data, password=None)
        else:
            loaded = serialization.load_pem_private_key(data, password=None)
    except TypeError as exc:  # encrypted key without a password
        raise InputError("encrypted private keys are not supported", file=shown) from exc
    except (ValueError, UnsupportedAlgorithm, binascii.Error) as exc:
        # the library's message may quote key material: never show it
        raise InputError("not a valid private key", file=shown) from exc
    if not isinstance(loaded, Ed25519PrivateKey):
        raise InputError("only ed25519 private keys are supported", file=shown)
    return SigningKey(loaded, source=shown)


def write_key_pair(key: SigningKey, private_path: Path, *, comment: str) -> Path:
    """Write ``key`` to ``private_path`` (0600, never overwritten) and its ``.pub`` sibling."""
    private_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    public_path = private_path.with_suffix(".pub")
    for target in (private_path, public_path):
        if target.exists():
            raise InputError("key file already exists; not overwriting it", file=str(target))
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, key.private_openssh())
        os.fsync(fd)
    finally:
        os.close(fd)
    public_path.write_text(f"{key.public.openssh} {comment}\n", encoding="ascii")
    return public_path
