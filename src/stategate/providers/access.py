"""Resolved ways to reach a server: addresses plus credential values.

Policy entries hold only credential references; these dataclasses hold the
values, live only in memory, and list them via ``secrets()`` so every log
line and error message can mask them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from stategate.errors import InputError
from stategate.providers.config import Credential
from stategate.regularfile import read_regular

MAX_CREDENTIAL_BYTES = 64 * 1024


@dataclass(frozen=True)
class PostgresAccess:
    host: str  # address, or a Unix socket directory
    port: int
    user: str
    password: str | None = field(default=None, repr=False)
    # bin folder of the client tools to use (a sandbox's own build); None: the engine
    # catalogue picks a client that can read the server's version
    tools: Path | None = None

    def secrets(self) -> tuple[str, ...]:
        return (self.password,) if self.password else ()

    def env(self) -> dict[str, str]:
        """Environment for libpq tools: the password never goes on a command line."""
        return {"PGPASSWORD": self.password} if self.password else {}

    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class RedisAccess:
    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def secrets(self) -> tuple[str, ...]:
        return (self.password,) if self.password else ()

    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class S3Access:
    endpoint: str
    access_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    region: str = "us-east-1"
    buckets: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()  # bucket/prefix/ of keys not backed up

    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.access_key, self.secret_key) if s)

    def address(self) -> str:
        return self.endpoint


@dataclass(frozen=True)
class VolumeAccess:
    path: Path

    def secrets(self) -> tuple[str, ...]:
        return ()

    def address(self) -> str:
        return str(self.path)


def resolve_credential(ref: Credential, *, base: Path, what: str) -> str:
    """The value a credential reference points at (environment or file).

    Error messages name the reference, never a value.
    """
    if ref.env:
        value = os.environ.get(ref.env)
        if value is None:
            raise InputError(f"{what}: environment variable {ref.env} is not set")
        return value
    if ref.file:
        path = Path(ref.file)
        path = path if path.is_absolute() else base / path
        try:
            data = read_regular(path, MAX_CREDENTIAL_BYTES, shown=str(path))
        except FileNotFoundError:
            raise InputError(f"{what}: credential file not found", file=str(path)) from None
        try:
            return data.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            raise InputError(f"{what}: credential file is not UTF-8", file=str(path)) from None
    raise InputError(f"{what}: credential reference names neither env nor file")
