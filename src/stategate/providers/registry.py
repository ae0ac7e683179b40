"""The explicit provider registry: policy provider name -> builder.

Each builder narrows the policy entry to its own config type, resolves the
credential references and returns a provider bound to the source server.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Final

from stategate.errors import InputError
from stategate.providers.access import (
    PostgresAccess,
    RedisAccess,
    S3Access,
    VolumeAccess,
    resolve_credential,
)
from stategate.providers.base import Provider, ProviderName
from stategate.providers.config import (
    PostgresSource,
    ProviderConfig,
    RedisSource,
    S3Source,
    VolumeSource,
)

# Each builder imports its provider module itself: a job loads only the client
# library it uses (psycopg, redis or boto3), which keeps CLI start-up short.
Builder = Callable[[ProviderConfig, Path], Provider]


def _wrong(config: ProviderConfig, expected: str) -> InputError:
    return InputError(f"evidence entry for provider {config.provider!r} is not a {expected} entry")


def _postgres(config: ProviderConfig, base: Path) -> Provider:
    if not isinstance(config, PostgresSource):
        raise _wrong(config, "postgres")
    password = (
        resolve_credential(config.password, base=base, what="postgres password")
        if config.password
        else None
    )
    access = PostgresAccess(config.host, config.port, config.user, password)
    app = None
    if config.app_user is not None:
        app_password = (
            resolve_credential(config.app_password, base=base, what="postgres app_password")
            if config.app_password
            else None
        )
        app = PostgresAccess(config.host, config.port, config.app_user, app_password)
    from stategate.providers.postgres import PostgresProvider

    return PostgresProvider(
        access,
        databases=config.databases,
        snapshot=config.snapshot,
        role_passwords=config.role_passwords,
        app=app,
    )


def _redis(config: ProviderConfig, base: Path) -> Provider:
    if not isinstance(config, RedisSource):
        raise _wrong(config, "redis")
    password = (
        resolve_credential(config.password, base=base, what="redis password")
        if config.password
        else None
    )
    from stategate.providers.redis import RedisProvider

    return RedisProvider(RedisAccess(config.host, config.port, config.username, password))


def _s3(config: ProviderConfig, base: Path) -> Provider:
    if not isinstance(config, S3Source):
        raise _wrong(config, "s3")
    access = S3Access(
        config.endpoint,
        resolve_credential(config.access_key, base=base, what="s3 access key"),
        resolve_credential(config.secret_key, base=base, what="s3 secret key"),
        config.region,
        tuple(config.buckets),
        tuple(config.skip),
    )
    from stategate.providers.s3 import S3Provider

    return S3Provider(access)


def _volume(config: ProviderConfig, base: Path) -> Provider:
    if not isinstance(config, VolumeSource):
        raise _wrong(config, "volume")
    path = Path(config.path)
    from stategate.providers.volume import VolumeProvider

    return VolumeProvider(VolumeAccess(path if path.is_absolute() else base / path))


PROVIDERS: Final[dict[ProviderName, Builder]] = {
    "postgres": _postgres,
    "redis": _redis,
    "s3": _s3,
    "volume": _volume,
}


def provider_for(config: ProviderConfig, base: Path) -> Provider:
    """The provider for a module's ``evidence:`` entry; ``base`` resolves relative paths."""
    return PROVIDERS[config.provider](config, base)
