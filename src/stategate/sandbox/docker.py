"""The ``docker`` engine: sandboxes from the module's image at an exact digest.

The command lines are built by pure functions (unit-tested); running them
needs a Docker engine. Where there is none, the engine reports itself
unavailable and the drill records that in its evidence instead of pretending.
Data is loaded from the host with the same client code as the local engine,
through a port published on 127.0.0.1 only (a postgres part is decompressed by
stategate and piped into the host's pg_restore: no dump enters a container).
"""

from __future__ import annotations

import secrets as pysecrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from stategate import execute
from stategate.errors import ExternalError, InputError
from stategate.providers.access import PostgresAccess, RedisAccess, S3Access
from stategate.sandbox.engine import PLAIN_REDIS, EngineInfo, EngineUnavailable, RedisSetup
from stategate.sandbox.ports import LOOPBACK, free_port, port_open
from stategate.sandbox.redis_conf import SANDBOX_REDIS_USER, TAKEN_SETTINGS, acl_bytes
from stategate.sandbox.servers import turn_on_aof


def require_digest(image: str | None) -> str:
    """The docker engine runs only images pinned by digest: a tag can move."""
    if not image:
        raise InputError("docker sandbox: no image (set sandbox.image or pin the module's image)")
    if "@sha256:" not in image:
        raise InputError(f"docker sandbox: image {image!r} is not pinned by @sha256 digest")
    return image


@dataclass(frozen=True)
class ContainerPlan:
    """The command lines for one sandbox container."""

    name: str
    run: tuple[str, ...]
    remove: tuple[str, ...]
    port: int
    env: tuple[tuple[str, str], ...] = ()  # passed through the environment, not argv


def _run_prefix(docker: str, name: str, port: int, target: int) -> tuple[str, ...]:
    """What every sandbox container shares: detached, removed on stop, labelled, and
    published on loopback only."""
    return (
        docker,
        "run",
        "--detach",
        "--rm",
        "--name",
        name,
        "--label",
        "stategate.sandbox=1",
        "--publish",
        f"{LOOPBACK}:{port}:{target}",
    )


def postgres_plan(
    docker: str,
    image: str,
    name: str,
    port: int,
    superuser: str,
    password: str,
    *,
    preload: str = "",
) -> ContainerPlan:
    """Every role, its superuser too, logs in with its password (md5: a SCRAM or an MD5
    hash): a restore that lost the application role's hash fails its smoke check."""
    return ContainerPlan(
        name=name,
        run=(
            *_run_prefix(docker, name, port, 5432),
            "--env",
            "POSTGRES_HOST_AUTH_METHOD=md5",
            "--env",
            f"POSTGRES_USER={superuser}",
            # the value comes from docker's own environment, so it stays off argv
            "--env",
            "POSTGRES_PASSWORD",
            "--tmpfs",
            "/var/lib/postgresql/data",
            require_digest(image),
            *(("-c", f"shared_preload_libraries={preload}") if preload else ()),
        ),
        remove=(docker, "rm", "--force", "--volumes", name),
        port=port,
        env=(("POSTGRES_PASSWORD", password),),
    )


def redis_plan(
    docker: str, image: str, name: str, port: int, data_dir: Path, *, acl: bool = False
) -> ContainerPlan:
    """``acl``: ``users.acl`` in ``data_dir`` is the server's ACL file."""
    return ContainerPlan(
        name=name,
        run=(
            *_run_prefix(docker, name, port, 6379),
            "--volume",
            f"{data_dir}:/data",
            require_digest(image),
            "redis-server",
            "--dir",
            "/data",
            "--dbfilename",
            "dump.rdb",
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "no",
            # stategate reads the restored content back as a replica would
            "--repl-diskless-sync-delay",
            "0",
            *(("--aclfile", "/data/users.acl") if acl else ()),
        ),
        remove=(docker, "rm", "--force", "--volumes", name),
        port=port,
    )


def minio_plan(
    docker: str, image: str, name: str, port: int, access_key: str, secret_key: str
) -> ContainerPlan:
    return ContainerPlan(
        name=name,
        run=(
            *_run_prefix(docker, name, port, 9000),
            # values come from docker's own environment, so they stay off argv
            "--env",
            "MINIO_ROOT_USER",
            "--env",
            "MINIO_ROOT_PASSWORD",
            "--tmpfs",
            "/data",
            require_digest(image),
            "server",
            "/data",
        ),
        remove=(docker, "rm", "--force", "--volumes", name),
        port=port,
        env=(("MINIO_ROOT_USER", access_key), ("MINIO_ROOT_PASSWORD", secret_key)),
    )


class DockerEngine:
    name: Literal["docker"] = "docker"

    def __init__(self, image: str | None, docker: str = "docker") -> None:
        self.image = image
        self.docker = docker
        self._version: str | None = None
        self._available: bool | None = None
        self._detail = ""

    def info(self) -> EngineInfo:
        self._probe()
        return EngineInfo(
            name="docker",
            available=bool(self._available),
            version=self._version,
            image=self.image,
            detail=self._detail,
        )

    def _probe(self) -> None:
        if self._available is not None:
            return
        if shutil.which(self.docker) is None:
            self._available = False
            self._detail = "no docker client on this host, so no sandbox could run"
            return
        done = execute.run(
            [self.docker, "version", "--format", "{{.Server.Version}}"], check=False, timeout=30
        )
        self._available = done.returncode == 0
        if self._available:
            self._version = done.text().strip()
        else:
            self._detail = "no reachable Docker engine on this host, so no sandbox could run"

    def _require(self) -> str:
        self._probe()
        if not self._available:
            raise EngineUnavailable(f"docker sandbox: {self._detail}")
        return require_digest(self.image)

    @contextmanager
    def _container(self, plan: ContainerPlan) -> Iterator[None]:
        env = dict(plan.env)
        execute.run(plan.run, env=env, secrets=tuple(env.values()), timeout=600)
        try:
            _wait_port(plan.port)
            yield
        finally:
            execute.run(plan.remove, check=False, timeout=120)

    @contextmanager
    def postgres(
        self, superuser: str, major: str | None, *, preload: str = ""
    ) -> Iterator[PostgresAccess]:
        image = self._require()
        port = free_port()
        password = pysecrets.token_urlsafe(24)
        plan = postgres_plan(
            self.docker, image, _name("pg"), port, superuser, password, preload=preload
        )
        self._detail = f"container {plan.name} from {image}; every role logs in with its password"
        with self._container(plan):
            access = PostgresAccess(LOOPBACK, port, superuser, password)
            _wait_postgres(access)
            yield access

    @contextmanager
    def redis(
        self, rdb: Path, version: str | None, setup: RedisSetup = PLAIN_REDIS
    ) -> Iterator[RedisAccess]:
        del version  # the module's own image decides what runs
        image = self._require()
        data = Path(tempfile.mkdtemp(prefix="stategate-redis-docker-"))
        try:
            shutil.copyfile(rdb, data / "dump.rdb")
            access = RedisAccess(LOOPBACK, free_port())
            if setup.acl:
                password = pysecrets.token_urlsafe(24)
                (data / "users.acl").write_bytes(acl_bytes(setup.acl, password))
                access = RedisAccess(LOOPBACK, access.port, SANDBOX_REDIS_USER, password)
            plan = redis_plan(
                self.docker, image, _name("redis"), access.port, data, acl=bool(setup.acl)
            )
            self._detail = f"container {plan.name} from {image}, loading the backup's RDB" + (
                # said in the drill's engine detail: the container is not restarted
                "; then CONFIG SET appendonly yes and the AOF rewritten from what it loaded "
                "(the container is not restarted from the AOF alone, as the local engine does)"
                if setup.aof
                else ""
            )
            with self._container(plan):
                _follow_setup(access, setup)
                yield access
        finally:
            shutil.rmtree(data, ignore_errors=True)

    @contextmanager
    def s3(self) -> Iterator[S3Access]:
        image = self._require()
        port = free_port()
        access_key = f"sandbox-{pysecrets.token_hex(6)}"
        secret_key = pysecrets.token_hex(16)
        plan = minio_plan(self.docker, image, _name("s3"), port, access_key, secret_key)
        self._detail = f"container {plan.name} from {image}"
        with self._container(plan):
            yield S3Access(f"http://{LOOPBACK}:{port}", access_key, secret_key)

    @contextmanager
    def volume(self) -> Iterator[Path]:
        # a volume restore needs no server: a directory is the sandbox
        path = Path(tempfile.mkdtemp(prefix="stategate-volume-"))
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)


def _name(kind: str) -> str:
    return f"stategate-sandbox-{kind}-{pysecrets.token_hex(4)}"


def _follow_setup(access: RedisAccess, setup: RedisSetup, timeout: float = 600.0) -> None:
    """Production's persistence settings on a running redis container: the taken
    settings by ``CONFIG SET``, and an append-only setup the documented way (it loaded
    the RDB with appendonly off; turning it on writes the AOF from what it holds)."""
    import redis

    client = redis.Redis(
        host=access.host, port=access.port, username=access.username, password=access.password
    )
    deadline = time.monotonic() + timeout
    try:
        while client.info("persistence").get("loading"):
            if time.monotonic() > deadline:
                raise ExternalError("redis container: loading the RDB did not finish in time")
            time.sleep(0.1)
        for name, value in setup.config.items():
            if name in TAKEN_SETTINGS:
                client.config_set(name, value)
        if setup.aof:
            turn_on_aof(client, lambda: True, lambda: "(see the container's log)", timeout)
    except redis.RedisError as exc:
        raise ExternalError(f"redis container: setting it up as production failed: {exc}") from exc
    finally:
        client.close()


def _wait_port(port: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(LOOPBACK, port):
            return
        time.sleep(0.2)
    raise ExternalError(f"sandbox container did not open port {port} in time")


def _wait_postgres(access: PostgresAccess, timeout: float = 120.0) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            psycopg.connect(
                host=access.host,
                port=access.port,
                user=access.user,
                password=access.password,
                dbname="postgres",
                connect_timeout=2,
            ).close()
            return
        except psycopg.Error:
            time.sleep(0.5)
    raise ExternalError("sandbox postgres container did not accept connections in time")
