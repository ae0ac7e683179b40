"""Running smoke checks, each with its own timeout, against a source or sandbox.

Checks written against the source's address (tcp, http) are pointed at the
sandbox copy through the target's rewrites; other addresses are skipped on a
sandbox, because a drill must never reach production.
"""

from __future__ import annotations

import hashlib
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from typing import Literal

from stategate import execute
from stategate.evidence.records.predicates import CheckOutcome
from stategate.providers.base import SmokeTarget
from stategate.providers.config import (
    CommandCheck,
    HttpCheck,
    RedisCheck,
    S3Check,
    SmokeCheck,
    SqlCheck,
    TcpCheck,
)

# Never run as a smoke check: they change or stop the server.
REFUSED_REDIS = {
    "FLUSHALL",
    "FLUSHDB",
    "SHUTDOWN",
    "DEBUG",
    "CONFIG",
    "REPLICAOF",
    "SLAVEOF",
    "MIGRATE",
    "DEL",
    "UNLINK",
    "SWAPDB",
    "FAILOVER",
    "MONITOR",
    "SYNC",
    "PSYNC",
}

Status = Literal["pass", "fail", "error", "skipped"]


class _Skip(Exception):
    pass


def check_name(check: SmokeCheck) -> str:
    if check.name:
        return check.name
    match check:
        case TcpCheck():
            return f"tcp {check.host}:{check.port}"
        case HttpCheck():
            return f"http {check.url}"
        case SqlCheck():
            return f"sql {check.database}"
        case RedisCheck():
            return f"redis {' '.join(check.command[:1])}"
        case S3Check():
            return f"s3 {check.bucket}/{check.key or ''}"
        case CommandCheck():
            return f"command {check.argv[0] if check.argv else ''}"


def run_checks(
    checks: Iterable[SmokeCheck], target: SmokeTarget, secrets: Iterable[str] = ()
) -> list[CheckOutcome]:
    masked = (*secrets, *_target_secrets(target))
    outcomes = []
    for check in checks:
        started = time.monotonic()
        try:
            status, detail = _RUNNERS[check.kind](check, target)
        except _Skip as exc:
            status, detail = "skipped", str(exc)
        except Exception as exc:  # a failing server, a timeout: this check errs, others run
            status, detail = "error", f"{type(exc).__name__}: {exc}"
        outcomes.append(
            CheckOutcome(
                name=execute.mask(check_name(check), masked),
                kind=check.kind,
                result=status,
                detail=execute.mask(detail, masked)[:500],
                duration_s=round(time.monotonic() - started, 4),
            )
        )
    return outcomes


def overall(outcomes: list[CheckOutcome]) -> Literal["pass", "fail", "error"]:
    if any(o.result == "fail" for o in outcomes):
        return "fail"
    if any(o.result == "error" for o in outcomes):
        return "error"
    return "pass"


def _target_secrets(target: SmokeTarget) -> tuple[str, ...]:
    out: tuple[str, ...] = ()
    for access in (target.postgres, target.redis, target.s3):
        if access is not None:
            out += access.secrets()
    return out


def _address(host: str, port: int, target: SmokeTarget) -> tuple[str, int]:
    key = f"{host}:{port}"
    if key in target.rewrites:
        new_host, new_port = target.rewrites[key].rsplit(":", 1)
        return new_host, int(new_port)
    if target.name == "sandbox":
        raise _Skip(f"{key} is not the module's own address: not reachable from a sandbox")
    return host, port


def _tcp(check: SmokeCheck, target: SmokeTarget) -> tuple[Status, str]:
    assert isinstance(check, TcpCheck)
    host, port = _address(check.host, check.port, target)
    with socket.create_connection((host, port), timeout=check.timeout):
        return "pass", f"connected to {host}:{port}"


def _http(check: SmokeCheck, target: SmokeTarget) -> tuple[Status, str]:
    assert isinstance(check, HttpCheck)
    url = urllib.parse.urlsplit(check.url)
    port = url.port or (443 if url.scheme == "https" else 80)
    host, port = _address(url.hostname or "", port, target)
    real = url._replace(netloc=f"{host}:{port}").geturl()
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(real, timeout=check.timeout) as reply:
            status, body = reply.status, reply.read(1024 * 1024)
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read(1024 * 1024)
    if status != check.status:
        return "fail", f"status {status}, expected {check.status}"
    if check.body_contains and check.body_contains.encode() not in body:
        return "fail", "body does not contain the expected text"
    return "pass", f"status {status}"


def _sql(check: SmokeCheck, target: SmokeTarget) -> tuple[Status, str]:
    assert isinstance(check, SqlCheck)
    import psycopg

    access = target.postgres
    if access is None:
        raise _Skip("no postgres endpoint for this module")
    timeout_ms = int(check.timeout * 1000)
    with psycopg.connect(
        host=access.host,
        port=access.port,
        user=access.user,
        password=access.password,
        dbname=check.database,
        connect_timeout=max(1, int(check.timeout)),
        options=f"-c statement_timeout={timeout_ms}",
    ) as conn:
        row = conn.execute(check.query.encode()).fetchone()
    got = None if row is None else ("" if row[0] is None else str(row[0]))
    if check.expect is not None and got != check.expect:
        return "fail", f"got {got!r}, expected {check.expect!r}"
    return "pass", f"got {got!r}"


def _redis(check: SmokeCheck, target: SmokeTarget) -> tuple[Status, str]:
    assert isinstance(check, RedisCheck)
    import redis

    access = target.redis
    if access is None:
        raise _Skip("no redis endpoint for this module")
    if not check.command or check.command[0].upper() in REFUSED_REDIS:
        return "error", "command refused: smoke checks must not change or stop the server"
    client = redis.Redis(
        host=access.host,
        port=access.port,
        username=access.username,
        password=access.password,
        socket_timeout=check.timeout,
        socket_connect_timeout=check.timeout,
    )
    # a raw connection: redis-py's reply callbacks would turn PONG into True
    with client:
        conn = client.connection_pool.get_connection()
        try:
            conn.send_command(*check.command)  # type: ignore[no-untyped-call]
            reply = conn.read_response()
        finally:
            client.connection_pool.release(conn)
    got = _text(reply)
    if check.expect is not None and got != check.expect:
        return "fail", f"got {got!r}, expected {check.expect!r}"
    return "pass", f"got {got!r}"


def _text(reply: object) -> str:
    if isinstance(reply, bytes):
        return reply.decode("utf-8", "replace")
    if isinstance(reply, list):
        return " ".join(_text(r) for r in reply)
    if reply is True:
        return "OK"
    return str(reply)


def _s3(check: SmokeCheck, target: SmokeTarget) -> tuple[Status, str]:
    assert isinstance(check, S3Check)
    from stategate.providers.s3 import client_for

    if target.s3 is None:
        raise _Skip("no S3 endpoint for this module")
    client = client_for(target.s3, timeout=check.timeout)
    if check.key is None:
        reply = client.list_objects_v2(Bucket=check.bucket, MaxKeys=1000)
        return "pass", f"listed {reply.get('KeyCount', 0)} object(s)"
    body = client.get_object(Bucket=check.bucket, Key=check.key)["Body"].read()
    digest = hashlib.sha256(body).hexdigest()
    if check.expect_sha256 and digest != check.expect_sha256:
        return "fail", "canary object's sha256 differs from the expected one"
    return "pass", f"read {len(body)} bytes"


def _command(check: SmokeCheck, target: SmokeTarget) -> tuple[Status, str]:
    assert isinstance(check, CommandCheck)
    env: dict[str, str] = {"STATEGATE_TARGET": target.name}
    if target.postgres:
        env.update(
            PGHOST=target.postgres.host,
            PGPORT=str(target.postgres.port),
            PGUSER=target.postgres.user,
            **target.postgres.env(),
        )
    if target.redis:
        env.update(
            STATEGATE_REDIS_HOST=target.redis.host, STATEGATE_REDIS_PORT=str(target.redis.port)
        )
        if target.redis.password:
            env["REDISCLI_AUTH"] = target.redis.password
    if target.s3:
        env.update(
            STATEGATE_S3_ENDPOINT=target.s3.endpoint,
            AWS_ACCESS_KEY_ID=target.s3.access_key,
            AWS_SECRET_ACCESS_KEY=target.s3.secret_key,
        )
    done = execute.run(
        check.argv, env=env, secrets=_target_secrets(target), timeout=check.timeout, check=False
    )
    if done.returncode != check.expect_exit:
        err = done.stderr.decode("utf-8", "replace").strip().splitlines()
        return "fail", f"exit {done.returncode}, expected {check.expect_exit}" + (
            f": {err[-1]}" if err else ""
        )
    return "pass", f"exit {done.returncode}"


_RUNNERS: dict[str, Callable[[SmokeCheck, SmokeTarget], tuple[Status, str]]] = {
    "tcp": _tcp,
    "http": _http,
    "sql": _sql,
    "redis": _redis,
    "s3": _s3,
    "command": _command,
}
