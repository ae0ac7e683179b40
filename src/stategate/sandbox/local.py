"""The ``local`` engine: sandboxes from server binaries installed on this host."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Literal

from stategate.engines import Catalogue, EngineKind, discover
from stategate.providers.access import PostgresAccess, RedisAccess, S3Access
from stategate.providers.config import SandboxSettings
from stategate.sandbox.engine import PLAIN_REDIS, EngineInfo, EngineUnavailable, RedisSetup
from stategate.sandbox.servers import (
    LocalPostgres,
    LocalRedis,
    LocalS3,
    binary_version,
)

VALKEY_PREFIX = "valkey "  # a version naming a Valkey build (what a Valkey server reports)


class LocalEngine:
    name: Literal["local"] = "local"

    def __init__(self, settings: SandboxSettings | None = None) -> None:
        self.settings = settings or SandboxSettings()
        self._version: str | None = None
        self._detail = ""
        self._catalogues: dict[EngineKind, Catalogue] = {}

    def info(self) -> EngineInfo:
        return EngineInfo(name="local", available=True, version=self._version, detail=self._detail)

    @contextmanager
    def postgres(
        self, superuser: str, major: str | None, *, preload: str = ""
    ) -> Iterator[PostgresAccess]:
        if self.settings.postgres_bin:  # the policy names a build: that one, as it is
            bin_dir = Path(self.settings.postgres_bin)
            if not (bin_dir / "postgres").is_file():
                raise EngineUnavailable(f"no postgres binary in {bin_dir} (sandbox.postgres_bin)")
        elif major is None:
            raise EngineUnavailable(
                "engine-unavailable: the backup does not say which PostgreSQL version it was "
                "taken of; pass --engine-version"
            )
        else:
            bin_dir = self.catalogue("postgresql").require("postgresql", major).path
        self._version = binary_version(bin_dir / "postgres")
        self._detail = (
            f"fresh cluster from {bin_dir}, Unix socket only; every role but its superuser "
            "logs in with its password"
        )
        if preload:
            self._detail += f"; shared_preload_libraries = '{preload}', as production's"
        self._detail += (
            "; tuned for the restore (wal_level minimal, autovacuum off, parallel pg_restore)"
        )
        server = LocalPostgres(
            bin_dir=bin_dir,
            superuser=superuser,
            check_passwords=True,
            preload=preload,
            restore_target=True,
        )
        with server as access:
            yield replace(access, tools=bin_dir)

    def catalogue(self, engine: EngineKind) -> Catalogue:
        """The builds of ``engine`` here (looked for once; not those of other engines)."""
        if engine not in self._catalogues:
            self._catalogues[engine] = discover(engines=[engine])
        return self._catalogues[engine]

    @contextmanager
    def redis(
        self, rdb: Path, version: str | None, setup: RedisSetup = PLAIN_REDIS
    ) -> Iterator[RedisAccess]:
        if self.settings.redis_server:  # the policy names a build: that one, as it is
            binary = self.settings.redis_server
        elif version is None:
            raise EngineUnavailable(
                "engine-unavailable: the backup does not say which Redis version it was "
                "taken of; pass --engine-version"
            )
        else:  # "valkey 8.1.1" names a Valkey build, a bare version a Redis one
            kind: Literal["redis", "valkey"] = "redis"
            if version.startswith(VALKEY_PREFIX):
                kind, version = "valkey", version.removeprefix(VALKEY_PREFIX)
            binary = str(self.catalogue(kind).require_at_least(kind, version).path)
        self._version = binary_version(binary)
        self._detail = f"{binary} on a free loopback port, loading the backup's RDB" + (
            ", then restored into an AOF setup (CONFIG SET appendonly yes, rewrite, restart "
            "from the AOF alone), as production runs append-only"
            if setup.aof
            else ""
        )
        if setup.acl:
            self._detail += f"; the backup's {len(setup.acl)} ACL user(s) as its ACL file"
        server = LocalRedis(
            binary=binary, rdb=rdb, aof=setup.aof, acl=setup.acl, config=setup.config
        )
        with server as access:
            yield access

    @contextmanager
    def s3(self) -> Iterator[S3Access]:
        build = self.catalogue("seaweedfs").newest("seaweedfs")
        self._version = f"SeaweedFS {build.version}"
        self._detail = (
            f"fresh SeaweedFS {build.version} S3 server from {build.path} on free loopback "
            "ports: the S3 protocol, not the module's MinIO release"
        )
        with LocalS3(binary=build.path) as access:
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
