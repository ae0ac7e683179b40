"""Real servers started from binaries on this host: PostgreSQL, Redis, an S3 endpoint.

Used by the ``local`` sandbox engine for drills and by the seeded stand-in
"production" services of tests and the demo. Every server listens on
127.0.0.1 or a Unix socket only, lives in its own temporary directory and is
removed on exit.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets as pysecrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from stategate import execute
from stategate.engines.catalogue import asked_version
from stategate.errors import ExternalError
from stategate.providers.access import PostgresAccess, RedisAccess, S3Access
from stategate.sandbox.leftovers import (
    SERVER_PID_FILE,
    mark_owner,
    remove_sandbox,
    sweep_orphans,
)
from stategate.sandbox.ports import LOOPBACK, free_port, port_open
from stategate.sandbox.redis_conf import SANDBOX_REDIS_USER, acl_bytes, redis_config_lines

if TYPE_CHECKING:
    import redis

PG_SYSTEM_USER = "postgres"  # PostgreSQL refuses to run as root


def postgres_run_user() -> str | None:
    """The account PostgreSQL runs as: ``postgres`` when we are root, else ourselves."""
    return PG_SYSTEM_USER if os.geteuid() == 0 else None


def binary_version(binary: Path | str) -> str:
    """What the server binary says its version is (asked once: the catalogue asked too).
    A bare name is looked up on ``PATH``, as running it would."""
    found = shutil.which(str(binary)) if os.sep not in str(binary) else str(binary)
    try:
        done = asked_version(Path(found or str(binary)))
    except OSError as exc:
        raise ExternalError(f"command not found: {binary}") from exc
    if done.returncode != 0:
        raise ExternalError(f"{binary} --version exited with {done.returncode}")
    return done.text().strip()


def _make_private_dir(prefix: str, owner: str | None) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    mark_owner(path)
    if owner is not None:
        info = pwd.getpwnam(owner)
        os.chown(path, info.pw_uid, info.pw_gid)
    return path


A = TypeVar("A", PostgresAccess, RedisAccess, S3Access)


class _ServerContext(Generic[A]):
    """``with Server(...) as access:`` starts the server and always stops it."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def access(self) -> A:
        raise NotImplementedError

    def __enter__(self) -> A:
        self.start()
        return self.access()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class _Startable(Protocol):
    fixed_port: int | None
    port: int

    def stop(self) -> None: ...


def _start_on_a_port(
    server: _Startable,
    what: str,
    attempt: Callable[[int], bool],
    log_tail: Callable[[], str],
    prepare: Callable[[], None] | None = None,
) -> None:
    """Start ``server``: on its fixed port, or on up to five free loopback ports (another
    process may take a free port between the check and the bind). Anything that fails
    stops what was started, so no half-started server is left behind."""
    try:
        if prepare is not None:
            prepare()
        for _attempt in range(1 if server.fixed_port else 5):
            server.port = server.fixed_port or free_port()
            _require_free(server.port)
            if attempt(server.port):
                return
        raise ExternalError(f"{what} did not start: {log_tail()}")
    except BaseException:
        server.stop()
        raise


def restore_jobs() -> int:
    """How many pg_restore jobs a sandbox restore runs: one per core this process may
    use (at most 8: beyond, the restore waits on the disk, not the cores)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))


def restore_settings() -> dict[str, str]:
    """Settings of a throwaway cluster a backup is restored into, besides the ones every
    non-durable cluster has (fsync, full_page_writes, synchronous_commit off): nothing
    reads its WAL (no archive, no standby) and it is never crash-recovered; what was
    restored is checked by its fingerprint, not by the server's bookkeeping.

    - ``wal_level = minimal`` (needs ``max_wal_senders = 0``): a parallel pg_restore
      truncates each table in the transaction that loads it, so the load and the index
      builds write next to no WAL (measured: 16 MB instead of 224 MB for a 264 MB
      database, and a fifth off the restore);
    - ``autovacuum = off``: no vacuum or analyze of the freshly loaded tables competing
      with the restore and the fingerprint for the cores.

    A larger ``maintenance_work_mem`` was measured too and made no difference here.
    """
    return {"wal_level": "minimal", "max_wal_senders": "0", "autovacuum": "off"}


def sandbox_hba(superuser: str) -> str:
    """A sandbox's pg_hba.conf: its superuser trusted on its socket, every other role
    asked for its password."""
    quoted = '"' + superuser.replace('"', '""') + '"'
    return f"local all {quoted} trust\nlocal all all md5\n"


class LocalPostgres(_ServerContext[PostgresAccess]):
    """A fresh PostgreSQL cluster; a context manager yielding its access."""

    def __init__(
        self,
        *,
        bin_dir: Path,
        superuser: str = "postgres",
        password: str | None = None,
        tcp: bool = False,
        durable: bool = False,
        port: int | None = None,
        check_passwords: bool = False,
        preload: str = "",
        restore_target: bool = False,
    ) -> None:
        self.fixed_port = port
        # a throwaway cluster a backup is restored into: tuned for the bulk load
        self.restore_target = restore_target and not durable
        self.bin_dir = bin_dir
        self.superuser = superuser
        # every role but the superuser must give its password (md5: a SCRAM or an MD5
        # hash), as a production cluster asks the application's login for it
        self.check_passwords = check_passwords
        self.preload = preload  # shared_preload_libraries
        self.password = password
        self.tcp = tcp  # listen on 127.0.0.1 (with password auth) besides the socket
        self.durable = durable
        self.user = postgres_run_user()
        self.root: Path | None = None
        self.port = 0

    @property
    def socket_dir(self) -> Path:
        assert self.root is not None
        return self.root / "sock"

    def access(self) -> PostgresAccess:
        if self.tcp:
            return PostgresAccess(LOOPBACK, self.port, self.superuser, self.password)
        return PostgresAccess(str(self.socket_dir), self.port, self.superuser, None)

    def start(self) -> None:
        sweep_orphans()
        root = self.root = _make_private_dir("stategate-pg-", self.user)
        secrets = (self.password,) if self.password else ()

        def attempt(_port: int) -> bool:
            self._configure()
            done = execute.run(
                [
                    str(self.bin_dir / "pg_ctl"),
                    "-D",
                    str(root / "data"),
                    "-l",
                    str(root / "server.log"),
                    "-w",
                    "-t",
                    "60",
                    "start",
                ],
                user=self.user,
                check=False,
                timeout=90,
            )
            return done.returncode == 0

        _start_on_a_port(self, "postgres", attempt, self._log_tail, lambda: self._init(secrets))

    def _init(self, secrets: tuple[str, ...]) -> None:
        assert self.root is not None
        argv = [
            str(self.bin_dir / "initdb"),
            "-D",
            str(self.root / "data"),
            "-U",
            self.superuser,
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ]
        if self.password:
            pwfile = self.root / "pwfile"
            pwfile.write_text(self.password + "\n")
            if self.user:
                info = pwd.getpwnam(self.user)
                os.chown(pwfile, info.pw_uid, info.pw_gid)
            os.chmod(pwfile, 0o600)
            argv += ["--pwfile", str(pwfile), "--auth-local=trust", "--auth-host=scram-sha-256"]
        else:
            argv += ["--auth=trust"]
        try:
            execute.run(argv, user=self.user, secrets=secrets, timeout=120)
        finally:
            (self.root / "pwfile").unlink(missing_ok=True)
        if self.check_passwords and not self.password:
            hba = self.root / "data" / "pg_hba.conf"
            hba.write_text(sandbox_hba(self.superuser))
            if self.user:
                info = pwd.getpwnam(self.user)
                os.chown(hba, info.pw_uid, info.pw_gid)
        self.socket_dir.mkdir()
        if self.user:
            info = pwd.getpwnam(self.user)
            os.chown(self.socket_dir, info.pw_uid, info.pw_gid)

    def _configure(self) -> None:
        assert self.root is not None
        conf = self.root / "data" / "postgresql.auto.conf"
        listen = LOOPBACK if self.tcp else ""
        settings = {
            "listen_addresses": listen,
            "port": str(self.port),
            "unix_socket_directories": str(self.socket_dir),
            "fsync": "on" if self.durable else "off",
            "synchronous_commit": "on" if self.durable else "off",
            "full_page_writes": "on" if self.durable else "off",
            "max_connections": "40",
            "shared_buffers": "128MB",
            "logging_collector": "off",
        }
        if self.restore_target:
            settings.update(restore_settings())
        if self.preload:
            if "'" in self.preload or "\n" in self.preload:
                raise ExternalError("shared_preload_libraries holds a quote or a line break")
            settings["shared_preload_libraries"] = self.preload
        body = "".join(f"{k} = '{v}'\n" for k, v in settings.items())
        conf.write_text(body)

    def _log_tail(self) -> str:
        assert self.root is not None
        try:
            lines = (self.root / "server.log").read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no server log"
        # what stopped it (a preload library missing, a bad setting) over "shut down"
        fatal = [line for line in lines if "FATAL" in line]
        return fatal[-1] if fatal else lines[-1] if lines else "empty server log"

    def stop(self) -> None:
        if self.root is None:
            return
        data = self.root / "data"
        if (data / "postmaster.pid").exists():
            execute.run(
                [str(self.bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                user=self.user,
                check=False,
                timeout=60,
            )
        remove_sandbox(self.root)
        self.root = None


class _Process:
    """A child server process with a temporary directory, stopped on exit."""

    def __init__(self, prefix: str) -> None:
        sweep_orphans()
        self.root = Path(tempfile.mkdtemp(prefix=prefix))
        mark_owner(self.root)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.root / "server.log"

    def spawn(self, argv: list[str], secrets: tuple[str, ...] = ()) -> None:
        with open(self.log, "wb") as log:
            self.proc = execute.popen(
                argv, secrets=secrets, stdout=log.fileno(), stderr=subprocess.STDOUT, cwd=self.root
            )
        (self.root / SERVER_PID_FILE).write_text(f"{self.proc.pid}\n")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self) -> str:
        try:
            lines = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no server log"
        return lines[-1] if lines else "no output"

    def halt(self, *, graceful: bool = True) -> None:
        """Stop the process, keeping its folder (a restart reads its data again)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM if graceful else signal.SIGKILL)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def stop(self, *, graceful: bool = True) -> None:
        self.halt(graceful=graceful)
        remove_sandbox(self.root)


AOF_TIMEOUT = 3600.0  # the AOF rewrite and the reload from it (a sandbox's whole dataset)


def turn_on_aof(
    client: redis.Redis,
    alive: Callable[[], bool],
    log_tail: Callable[[], str],
    timeout: float,
) -> None:
    """``CONFIG SET appendonly yes`` on a server that loaded an RDB, then wait for the
    rewrite that writes the AOF from what it holds (Redis's documented way to restore an
    RDB into an append-only setup)."""
    import redis

    # a large dataset's rewrite takes as long as it takes, while the server lives
    timeout = max(timeout, AOF_TIMEOUT)
    try:
        client.config_set("appendonly", "yes")
        deadline = time.monotonic() + timeout
        while True:
            if not alive():
                raise ExternalError(f"redis-server died during the AOF rewrite: {log_tail()}")
            info = client.info("persistence")
            done = (
                info.get("aof_enabled") == 1
                and not info.get("aof_rewrite_in_progress")
                and not info.get("aof_rewrite_scheduled")
            )
            if done:
                if info.get("aof_last_bgrewrite_status") != "ok":
                    raise ExternalError("redis-server: the AOF rewrite after loading failed")
                return
            if time.monotonic() > deadline:
                raise ExternalError("redis-server: the AOF rewrite did not finish in time")
            time.sleep(0.05)
    except redis.RedisError as exc:
        raise ExternalError(f"redis-server: turning on the AOF failed: {exc}") from exc


class LocalRedis(_ServerContext[RedisAccess]):
    """A redis-server on a free loopback port, optionally loading an RDB file.

    With ``aof``, it ends up an append-only server holding the RDB's data, the way
    Redis's persistence documentation restores an RDB into an AOF setup: start without
    AOF on the RDB, ``CONFIG SET appendonly yes``, wait for the rewrite to finish, then
    restart with ``appendonly yes`` and the RDB removed, so every key it then holds was
    read back from the AOF.

    With ``acl`` (``ACL LIST`` lines), those users are its ACL file, beside one of its
    own (``SANDBOX_REDIS_USER``, a random password) that its access logs in as: the
    restored users may include a default user whose password is not known here.
    ``config`` sets further persistence settings (appendfsync, save, ...)."""

    def __init__(
        self,
        *,
        binary: str = "redis-server",
        rdb: Path | None = None,
        password: str | None = None,
        persistent: bool = False,
        port: int | None = None,
        aof: bool = False,
        acl: Sequence[str] = (),
        config: Mapping[str, str] | None = None,
    ) -> None:
        self.fixed_port = port
        self.binary = binary
        self.rdb = rdb
        self.username: str | None = None
        self.password = password
        self.acl = tuple(acl)
        if self.acl:
            self.username, self.password = SANDBOX_REDIS_USER, pysecrets.token_urlsafe(24)
        self.config = dict(config or {})
        self.persistent = persistent
        self.aof = aof
        self.port = 0
        self._server: _Process | None = None

    def access(self) -> RedisAccess:
        return RedisAccess(LOOPBACK, self.port, self.username, self.password)

    def _client(self, timeout: float | None = None) -> redis.Redis:
        import redis

        return redis.Redis(
            host=LOOPBACK,
            port=self.port,
            username=self.username,
            password=self.password,
            socket_timeout=timeout,
        )

    def start(self, timeout: float = 120.0) -> None:
        server = self._server = _Process("stategate-redis-")

        def prepare() -> None:
            if self.rdb is not None:
                shutil.copyfile(self.rdb, server.root / "dump.rdb")

        def attempt(port: int) -> bool:
            self._configure(port, appendonly=False)
            server.spawn([self.binary, str(server.root / "redis.conf")])
            return self._wait_ready(timeout)

        _start_on_a_port(self, "redis-server", attempt, server.log_tail, prepare)
        if self.aof:
            try:
                self._to_append_only(timeout)
            except BaseException:
                self.stop()
                raise

    def _configure(self, port: int, *, appendonly: bool) -> None:
        assert self._server is not None
        root = self._server.root
        conf = root / "redis.conf"
        lines = [
            f"port {port}",
            f"bind {LOOPBACK}",
            "protected-mode yes",
            f'dir "{root}"',
            "dbfilename dump.rdb",
            f"appendonly {'yes' if appendonly else 'no'}",
            # nothing else replicates from it: a snapshot request streams at once
            "repl-diskless-sync-delay 0",
            "daemonize no",
        ]
        if "save" not in self.config:
            lines.append("save 3600 1" if self.persistent else 'save ""')
        lines += redis_config_lines(self.config)
        if self.acl:
            users = root / "users.acl"
            users.write_bytes(acl_bytes(self.acl, self.password or ""))
            os.chmod(users, 0o600)
            lines.append(f'aclfile "{users}"')
        elif self.password:
            lines.append(f'requirepass "{self.password}"')
        conf.write_text("\n".join(lines) + "\n")
        os.chmod(conf, 0o600)

    def _to_append_only(self, timeout: float) -> None:
        """The documented RDB-to-AOF restore (see the class docstring)."""
        assert self._server is not None
        server = self._server
        client = self._client()
        try:
            turn_on_aof(client, server.alive, server.log_tail, timeout)
        finally:
            client.close()
        self._server.halt()
        (self._server.root / "dump.rdb").unlink(missing_ok=True)
        self._configure(self.port, appendonly=True)
        self._server.spawn([self.binary, str(self._server.root / "redis.conf")])
        if not self._wait_ready(timeout):
            raise ExternalError(
                f"redis-server did not restart from its AOF: {self._server.log_tail()}"
            )

    def _wait_ready(self, timeout: float) -> bool:
        import redis

        assert self._server is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._server.alive():
                return False  # port race or bad RDB: the caller retries or reports
            try:
                client = self._client(timeout=2)
                info = client.info("persistence")
                client.close()
                if not info.get("loading"):
                    return True
            except redis.exceptions.RedisError:
                pass
            time.sleep(0.05)
        raise ExternalError("redis-server did not become ready in time")

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None


class LocalS3(_ServerContext[S3Access]):
    """A fresh S3 server: SeaweedFS's ``weed mini`` (master, volume server, filer and S3
    gateway in one process; MinIO is not installable here). It enforces the credentials
    it is given (an identities file), keeps its data, logs and sockets in its own folder
    and listens on free loopback ports only."""

    # every listener weed mini opens; each gets a free port chosen at start (gRPC ports
    # would otherwise be the HTTP port + 10000, which may be taken or out of range)
    PORT_FLAGS = (
        "master.port",
        "master.port.grpc",
        "volume.port",
        "volume.port.grpc",
        "filer.port",
        "filer.port.grpc",
        "s3.port.grpc",
        "admin.port",
        "admin.port.grpc",
    )

    def __init__(
        self,
        *,
        binary: Path,
        access_key: str | None = None,
        secret_key: str | None = None,
        port: int | None = None,
    ) -> None:
        self.fixed_port = port
        self.binary = binary
        # throwaway credentials, masked in every output like real ones: random, so
        # masking them never mangles ordinary words (a key "sandbox" would)
        self.access_key = access_key or f"sandbox-{pysecrets.token_hex(6)}"
        self.secret_key = secret_key or pysecrets.token_hex(16)
        self.port = 0
        self._server: _Process | None = None
        self._grpc_sockets: list[Path] = []

    @property
    def endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def access(self) -> S3Access:
        return S3Access(self.endpoint, self.access_key, self.secret_key)

    def start(self, timeout: float = 90.0) -> None:
        server = self._server = _Process("stategate-s3-")
        identities = server.root / "identities.json"

        def prepare() -> None:
            body = {
                "identities": [
                    {
                        "name": "stategate",
                        "credentials": [
                            {"accessKey": self.access_key, "secretKey": self.secret_key}
                        ],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
            fd = os.open(identities, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:  # never readable by others, not even briefly
                handle.write(json.dumps(body))

        def attempt(port: int) -> bool:
            data = server.root / "data"
            shutil.rmtree(data, ignore_errors=True)  # nothing of a failed attempt stays
            data.mkdir()
            server.spawn(self._argv(port, data, identities), secrets=(self.secret_key,))
            return self._wait_ready(timeout)

        _start_on_a_port(self, "S3 server (SeaweedFS)", attempt, server.log_tail, prepare)

    def _argv(self, port: int, data: Path, identities: Path) -> list[str]:
        assert self._server is not None
        root = self._server.root
        taken = {port}
        while len(taken) < len(self.PORT_FLAGS) + 1:
            taken.add(free_port())
        ports = dict(zip(self.PORT_FLAGS, sorted(taken - {port}), strict=True))
        self._grpc_sockets += [  # weed always puts these in /tmp
            Path(f"/tmp/seaweedfs-{flag.split('.')[0]}-grpc-{p}.sock")
            for flag, p in ports.items()
            if flag.endswith(".grpc")
        ]
        return [
            str(self.binary),
            "-logtostderr",  # into server.log, not /tmp
            f"-config_dir={root}",  # no host-wide toml configuration
            "mini",
            f"-dir={data}",
            f"-ip={LOOPBACK}",
            f"-ip.bind={LOOPBACK}",
            f"-s3.port={port}",
            *(f"-{flag}={p}" for flag, p in ports.items()),
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.localSocket={root / 's3.sock'}",
            f"-filer.localSocket={root / 'filer.sock'}",
            "-admin.ui=false",
            "-webdav=false",
            "-master.telemetry=false",
            f"-s3.config={identities}",
        ]

    def _wait_ready(self, timeout: float) -> bool:
        """Ready when a signed request succeeds and the volume server takes writes."""
        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ClientError

        assert self._server is not None
        client = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
            config=Config(
                connect_timeout=2,
                read_timeout=10,
                retries={"max_attempts": 1},
                s3={"addressing_style": "path"},
                proxies={},
            ),
        )
        probe = f"stategate-ready-{pysecrets.token_hex(4)}"
        created = False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._server.alive():
                return False  # a port race or a bad flag: the caller retries or reports
            try:
                client.list_buckets()
                if not created:
                    client.create_bucket(Bucket=probe)
                    created = True
                client.put_object(Bucket=probe, Key="probe", Body=b"ready")
                client.delete_object(Bucket=probe, Key="probe")
                client.delete_bucket(Bucket=probe)
                return True
            except (BotoCoreError, ClientError):
                time.sleep(0.1)
        raise ExternalError("S3 server (SeaweedFS) did not become ready in time")

    def stop(self) -> None:
        if self._server is not None:
            # its data is thrown away: nothing to flush, no reason to wait for it
            self._server.stop(graceful=False)
            self._server = None
        for sock in self._grpc_sockets:
            sock.unlink(missing_ok=True)
        self._grpc_sockets = []


def _require_free(port: int) -> None:
    if port_open(LOOPBACK, port):
        raise ExternalError(f"port {LOOPBACK}:{port} is already in use")
