"""The ``local`` engine: sandboxes from server binaries installed on this host."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from stategate.providers.access import PostgresAccess, RedisAccess, S3Access
from stategate.providers.config import SandboxSettings
from stategate.sandbox.engine import EngineInfo
from stategate.sandbox.servers import (
    LocalPostgres,
    LocalRedis,
    LocalS3,
    binary_version,
    find_postgres_bin,
    moto_version,
)


class LocalEngine:
    name: Literal["local"] = "local"

    def __init__(self, settings: SandboxSettings | None = None) -> None:
        self.settings = settings or SandboxSettings()
        self._version: str | None = None
        self._detail = ""

    def info(self) -> EngineInfo:
        return EngineInfo(name="local", available=True, version=self._version, detail=self._detail)

    @contextmanager
    def postgres(self, superuser: str, major: str | None) -> Iterator[PostgresAccess]:
        bin_dir = find_postgres_bin(major, self.settings.postgres_bin)
        self._version = binary_version(bin_dir / "postgres")
        self._detail = f"fresh cluster from {bin_dir}, Unix socket only"
        with LocalPostgres(bin_dir=bin_dir, superuser=superuser) as access:
            yield access

    @contextmanager
    def redis(self, rdb: Path) -> Iterator[RedisAccess]:
        binary = self.settings.redis_server or "redis-server"
        self._version = binary_version(binary)
        self._detail = f"{binary} on a free loopback port, loading the backup's RDB"
        with LocalRedis(binary=binary, rdb=rdb) as access:
            yield access

    @contextmanager
    def s3(self) -> Iterator[S3Access]:
        self._version = moto_version()
        self._detail = "fresh S3-protocol server (moto) on a free loopback port"
        with LocalS3() as access:
            yield access

    @contextmanager
    def volume(self) -> Iterator[Path]:
        self._version = None
        self._detail = "fresh temporary directory"
        path = Path(tempfile.mkdtemp(prefix="stategate-volume-"))
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)
