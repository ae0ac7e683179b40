"""How a module's data is reached for evidence: the policy's ``evidence`` and ``smoke`` entries.

Credentials are never inline: only the name of an environment variable or the
path of a file holding them.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Credential(_Strict):
    """Where a credential comes from: an environment variable or a file, never a value."""

    env: str | None = Field(None, description="Name of the environment variable holding it.")
    file: str | None = Field(None, description="Path of a file holding it (e.g. a compose secret).")


class SandboxSettings(_Strict):
    """Where restore drills run, and on which server version."""

    engine: Literal["local", "docker"] = Field(
        "local",
        description="local: server binaries on this host; docker: the image at an exact digest.",
    )
    image: str | None = Field(
        None,
        description="docker: image to run (name@sha256:...); default: the module's own image.",
    )
    postgres_bin: str | None = Field(
        None,
        description="local: directory of the PostgreSQL binaries to use (selects the version).",
    )
    redis_server: str | None = Field(
        None, description="local: the redis-server binary to use (selects the version)."
    )


class PostgresSource(_Strict):
    provider: Literal["postgres"] = "postgres"
    host: str = Field(
        "127.0.0.1", description="Host name, loopback address or Unix socket directory."
    )
    port: int = Field(5432, description="TCP port (also names the socket file).")
    user: str = Field("postgres", description="Role used for pg_dump and the fingerprint.")
    password: Credential | None = Field(None, description="Password reference, if any.")
    databases: list[str] = Field(
        default_factory=list, description="Databases to back up; empty: all."
    )
    snapshot: bool = Field(
        True,
        description="Fingerprint and dump in one exported snapshot (turn off behind poolers).",
    )
    system_identifier: str | None = Field(
        None,
        description="Production's system identifier (SELECT system_identifier FROM "
        "pg_control_system()); set: a backup of a cluster reporting another one counts for "
        "no apply gate.",
    )
    role_passwords: bool = Field(
        True,
        description="Back up role password hashes with the globals (needs a superuser); "
        "false: every login role's password must be set again after a restore.",
    )
    app_user: str | None = Field(
        None,
        description="The application's own login role: smoke checks log in as it, on the "
        "source and in a drill's sandbox, where every role but the sandbox's superuser must "
        "give its password (so a restore that lost the role's password hash fails).",
    )
    app_password: Credential | None = Field(None, description="app_user's password reference.")
    sandbox: SandboxSettings = Field(default_factory=SandboxSettings)


class RedisSource(_Strict):
    provider: Literal["redis"] = "redis"
    host: str = "127.0.0.1"
    port: int = 6379
    username: str | None = Field(None, description="ACL user, if not the default user.")
    password: Credential | None = None
    sandbox: SandboxSettings = Field(default_factory=SandboxSettings)


class S3Source(_Strict):
    provider: Literal["s3"] = "s3"
    endpoint: str = Field(..., description="S3 endpoint URL, e.g. http://127.0.0.1:9000.")
    access_key: Credential = Field(..., description="Access key id reference.")
    secret_key: Credential = Field(..., description="Secret access key reference.")
    buckets: list[str] = Field(default_factory=list, description="Buckets to back up; empty: all.")
    skip: list[str] = Field(
        default_factory=list,
        description="Key prefixes not to back up, as bucket/prefix/ (a backup repository "
        "this server holds is skipped without being named here: backups are not backed up).",
    )
    region: str = "us-east-1"
    sandbox: SandboxSettings = Field(default_factory=SandboxSettings)


class VolumeSource(_Strict):
    provider: Literal["volume"] = "volume"
    path: str = Field(
        ..., description="Directory holding the data (bind source or volume mountpoint)."
    )
    sandbox: SandboxSettings = Field(default_factory=SandboxSettings)


ProviderConfig = Annotated[
    PostgresSource | RedisSource | S3Source | VolumeSource, Field(discriminator="provider")
]


def production_address(config: ProviderConfig) -> str | None:
    """The address a backup of production records (``source.address``), as the policy
    configures it; None where the policy's form depends on the checkout (a relative
    volume path)."""
    if isinstance(config, PostgresSource | RedisSource):
        return f"{config.host}:{config.port}"
    if isinstance(config, S3Source):
        return config.endpoint
    # as the backup records it (``str(Path(...))``: ``/srv//vol/`` is ``/srv/vol``)
    path = PurePosixPath(config.path)
    return str(path) if path.is_absolute() else None


class TcpCheck(_Strict):
    kind: Literal["tcp"] = "tcp"
    name: str | None = None
    host: str = "127.0.0.1"
    port: int
    timeout: float = 5.0


class HttpCheck(_Strict):
    kind: Literal["http"] = "http"
    name: str | None = None
    url: str
    status: int = 200
    body_contains: str | None = None
    timeout: float = 5.0


class SqlCheck(_Strict):
    kind: Literal["sql"] = "sql"
    name: str | None = None
    database: str = "postgres"
    query: str
    expect: str | None = Field(None, description="Expected first column of the first row, as text.")
    timeout: float = 5.0


class RedisCheck(_Strict):
    kind: Literal["redis"] = "redis"
    name: str | None = None
    command: list[str]
    expect: str | None = None
    timeout: float = 5.0


class S3Check(_Strict):
    kind: Literal["s3"] = "s3"
    name: str | None = None
    bucket: str
    key: str | None = Field(None, description="Canary object to get; omitted: list the bucket.")
    expect_sha256: str | None = None
    timeout: float = 5.0


class CommandCheck(_Strict):
    kind: Literal["command"] = "command"
    name: str | None = None
    argv: list[str]
    expect_exit: int = 0
    timeout: float = 30.0


SmokeCheck = Annotated[
    TcpCheck | HttpCheck | SqlCheck | RedisCheck | S3Check | CommandCheck,
    Field(discriminator="kind"),
]
