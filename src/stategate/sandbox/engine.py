"""The sandbox engine contract: start throwaway servers, tear them down.

Engines never receive the source's credentials: every server they start gets
fresh, local-only access, and the drill refuses a sandbox whose identity or
address is the source's.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict

from stategate.engines.catalogue import EngineUnavailable
from stategate.providers.access import PostgresAccess, RedisAccess, S3Access

EngineName = Literal["local", "docker"]


class EngineInfo(BaseModel):
    """What an evidence record says about the engine a drill ran on."""

    model_config = ConfigDict(extra="forbid")

    name: EngineName
    available: bool
    version: str | None = None  # engine or binary version (docker server, postgres --version)
    image: str | None = None  # docker: image@digest the sandbox ran
    detail: str = ""


# The engine cannot run here (no Docker engine, binaries missing): one error type for
# the catalogue and the sandbox engines.
__all__ = ["PLAIN_REDIS", "Engine", "EngineInfo", "EngineName", "EngineUnavailable", "RedisSetup"]


@dataclass(frozen=True)
class RedisSetup:
    """How production runs the restored redis: what its sandbox reproduces."""

    aof: bool = False  # append-only: restored the documented RDB-to-AOF way
    # the backup's ACL users (``ACL LIST`` lines), loaded as the sandbox's ACL file
    acl: tuple[str, ...] = ()
    # persistence settings besides appendonly (appendfsync, save, ...), as recorded
    config: Mapping[str, str] = field(default_factory=dict)


PLAIN_REDIS = RedisSetup()  # a restore as the RDB stands


class Engine(Protocol):
    @property
    def name(self) -> EngineName: ...

    def info(self) -> EngineInfo:
        """Describe the engine and what it started last (versions, image)."""
        ...

    def postgres(
        self, superuser: str, major: str | None, *, preload: str = ""
    ) -> AbstractContextManager[PostgresAccess]:
        """A fresh, empty cluster whose superuser is ``superuser`` (no password), loading
        ``preload`` (production's shared_preload_libraries) at start."""
        ...

    def redis(
        self, rdb: Path, version: str | None, setup: RedisSetup = PLAIN_REDIS
    ) -> AbstractContextManager[RedisAccess]:
        """A fresh redis-server of ``version``'s major (the source's) that loaded ``rdb``,
        set up as ``setup`` says (append-only the documented way, its ACL users)."""
        ...

    def s3(self) -> AbstractContextManager[S3Access]:
        """A fresh, empty S3 endpoint with throwaway credentials."""
        ...

    def volume(self) -> AbstractContextManager[Path]:
        """A fresh, empty directory."""
        ...
