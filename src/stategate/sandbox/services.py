"""Seeded stand-ins for "production" postgres, redis and S3, for tests and the demo.

:func:`production_services` starts real servers for the modules' ``evidence:``
entries, with fresh random credentials exported under the environment variable
names the entries reference, seeds realistic data, and removes everything on
exit. Every server takes a free loopback port when it starts, never the port an
entry names (a fixed port can be taken by anything, e.g. a leftover connection
in the ephemeral range): the entries it yields carry the ports actually used,
and :func:`point_policy_at` writes them into a copy of the policy. Without
entries it uses the ``STATEGATE_DEMO_*`` variable names.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import secrets
import urllib.parse
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from stategate.engines import discover
from stategate.errors import InputError, StategateError
from stategate.execute import mask
from stategate.providers.access import PostgresAccess, RedisAccess, S3Access
from stategate.providers.config import (
    Credential,
    PostgresSource,
    ProviderConfig,
    RedisSource,
    S3Source,
)
from stategate.sandbox.ports import LOOPBACK
from stategate.sandbox.servers import LocalPostgres, LocalRedis, LocalS3

CANARY_KEY = "canary.txt"
CANARY_BODY = b"stategate canary object\n"
CANARY_SHA256 = hashlib.sha256(CANARY_BODY).hexdigest()


def default_sources() -> dict[str, ProviderConfig]:
    """Entries for a postgres, a redis and an S3 module on loopback (ports: see above)."""
    return {
        "data/postgres": PostgresSource(
            host=LOOPBACK,
            password=Credential(env="STATEGATE_DEMO_PG_PASSWORD"),
            databases=["app"],
        ),
        "data/redis": RedisSource(
            host=LOOPBACK,
            password=Credential(env="STATEGATE_DEMO_REDIS_PASSWORD"),
        ),
        "data/minio": S3Source(
            endpoint=f"http://{LOOPBACK}:9000",
            access_key=Credential(env="STATEGATE_DEMO_S3_ACCESS_KEY"),
            secret_key=Credential(env="STATEGATE_DEMO_S3_SECRET_KEY"),
            buckets=["uploads", "backups", "platform-canary"],
        ),
    }


@dataclass
class ProductionServices:
    # module id -> entry, with the port the stand-in actually listens on
    sources: dict[str, ProviderConfig] = field(default_factory=dict)
    access: dict[str, PostgresAccess | RedisAccess | S3Access] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)  # credential variables by name

    def secrets(self) -> list[str]:
        return list(self.env.values())


@contextmanager
def production_services(
    sources: Mapping[str, ProviderConfig] | None = None,
    *,
    seed: bool = True,
    export_env: bool = True,
    scale: int = 1,
    majors: Mapping[str, str] | None = None,
) -> Iterator[ProductionServices]:
    """Start (and seed) one server per entry, each on a free port; stop and remove them
    all on exit.

    ``majors`` (module id -> major version, e.g. from the image tag) picks the
    PostgreSQL build a stand-in runs; without one, the newest installed.

    With ``export_env`` the generated credentials are in ``os.environ`` for the
    duration, under the names the entries reference. ``scale`` multiplies the
    seeded row/key/object counts.
    """
    services = ProductionServices()
    with ExitStack() as stack:
        for module_id, config in (sources or default_sources()).items():
            minted: list[str] = []
            with _naming_the_stand_in(module_id, config, minted):
                _start(stack, services, module_id, config, minted, seed, scale, majors)
        if export_env:
            saved = {k: os.environ.get(k) for k in services.env}
            stack.callback(_restore_env, saved, True)
            os.environ.update(services.env)
        yield services


@contextmanager
def _naming_the_stand_in(
    module_id: str, config: ProviderConfig, minted: list[str]
) -> Iterator[None]:
    """A stand-in that cannot start is an environment problem (exit 2) that says which
    stand-in it was, never a bare "blocked"; the credentials minted for it are masked."""
    try:
        yield
    except (StategateError, OSError) as exc:
        kind = type(config).__name__.removesuffix("Source").lower()
        why = mask(str(exc), minted)
        raise InputError(
            f"the stand-in {kind} server for {module_id} did not start: {why}"
        ) from exc


def _start(
    stack: ExitStack,
    services: ProductionServices,
    module_id: str,
    config: ProviderConfig,
    minted: list[str],
    seed: bool,
    scale: int,
    majors: Mapping[str, str] | None,
) -> None:
    if isinstance(config, PostgresSource):
        password = "pg-" + secrets.token_urlsafe(18)
        minted.append(password)
        server = LocalPostgres(
            bin_dir=_postgres_bin((majors or {}).get(module_id)),
            superuser=config.user,
            password=password,
            tcp=True,
        )
        access: PostgresAccess | RedisAccess | S3Access = stack.enter_context(server)
        _export(services, config.password, password, module_id)
        if seed:
            seed_postgres(server.access(), config.databases or ["app"], scale=scale)
    elif isinstance(config, RedisSource):
        password = "redis-" + secrets.token_urlsafe(18)
        minted.append(password)
        access = stack.enter_context(
            LocalRedis(
                binary=_redis_bin((majors or {}).get(module_id)),
                password=password,
                persistent=True,
                aof=True,  # as the example's compose runs it (--appendonly yes)
            )
        )
        _export(services, config.password, password, module_id)
        if seed:
            seed_redis(access, keys=2000 * scale)
    elif isinstance(config, S3Source):
        if urllib.parse.urlsplit(config.endpoint).hostname not in (LOOPBACK, "localhost"):
            raise InputError(f"{module_id}: stand-in S3 needs a loopback endpoint")
        access_key, secret_key = "platform-admin", "s3-" + secrets.token_urlsafe(24)
        minted.append(secret_key)
        access = stack.enter_context(
            LocalS3(
                binary=discover(engines=["seaweedfs"]).newest("seaweedfs").path,
                access_key=access_key,
                secret_key=secret_key,
            )
        )
        _export(services, config.access_key, access_key, module_id)
        _export(services, config.secret_key, secret_key, module_id)
        if seed:
            seed_s3(access, config.buckets or ["uploads"], objects=60 * scale)
    else:
        services.sources[module_id] = config
        return  # volumes need no server
    services.access[module_id] = access
    services.sources[module_id] = _listening_on(config, access)


def _postgres_bin(major: str | None) -> Path:
    catalogue = discover(engines=["postgresql"])
    if major is not None:
        return catalogue.require("postgresql", major).path
    return catalogue.newest("postgresql").path


def _redis_bin(major: str | None) -> str:
    catalogue = discover(engines=["redis"])
    if major is not None:
        return str(catalogue.require_at_least("redis", major).path)
    return str(catalogue.newest("redis").path)


def _listening_on(
    config: ProviderConfig, access: PostgresAccess | RedisAccess | S3Access
) -> ProviderConfig:
    if isinstance(access, S3Access):
        return config.model_copy(update={"endpoint": access.endpoint})
    return config.model_copy(update={"host": access.host, "port": access.port})


def _address(config: ProviderConfig) -> dict[str, str]:
    """The fields of an entry that say where its server listens, as YAML scalars."""
    if isinstance(config, S3Source):
        return {"endpoint": json.dumps(config.endpoint)}
    if isinstance(config, PostgresSource | RedisSource):
        return {"host": json.dumps(config.host), "port": str(config.port)}
    return {}


def point_policy_at(text: str, sources: Mapping[str, ProviderConfig], shown: str) -> str:
    """The policy ``text`` with each module's ``evidence`` address (host and port, or
    endpoint) replaced by the one in ``sources``, and so is the endpoint of a backup
    repository that lives on a module's server (the same endpoint as the module's); every
    other byte, comments included, stays as it was. Each field must be written out in the
    policy already."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise InputError(f"invalid YAML: {exc}", file=shown) from None
    edits: list[tuple[int, int, str]] = []
    moved: dict[str, str] = {}  # a module's endpoint as written -> where it listens now
    for module_id, config in sources.items():
        evidence = _child(_child(_child(root, "modules"), module_id), "evidence")
        for name, value in _address(config).items():
            node = _child(evidence, name)
            if not isinstance(node, yaml.ScalarNode):
                raise InputError(
                    f"modules.{module_id}.evidence.{name} must be written out to be replaced",
                    file=shown,
                )
            edits.append((node.start_mark.index, node.end_mark.index, value))
            if name == "endpoint":
                moved[node.value] = value
    repositories = _child(_child(root, "evidence"), "repositories")
    if isinstance(repositories, yaml.SequenceNode):
        for entry in repositories.value:
            node = _child(entry, "endpoint")
            if isinstance(node, yaml.ScalarNode) and node.value in moved:
                edits.append((node.start_mark.index, node.end_mark.index, moved[node.value]))
    for start, end, value in sorted(edits, reverse=True):
        text = text[:start] + value + text[end:]
    return text


def _child(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    return next(
        (v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == key), None
    )


def _export(
    services: ProductionServices, ref: Credential | None, value: str, module_id: str
) -> None:
    if ref is None:
        return
    if not ref.env:
        raise InputError(f"{module_id}: stand-in services export credentials by env var only")
    services.env[ref.env] = value


def _restore_env(saved: dict[str, str | None], enabled: bool) -> None:
    if not enabled:
        return
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def seed_postgres(access: PostgresAccess, databases: list[str], *, scale: int = 1) -> None:
    """Each database: users, orders (numeric, timestamptz, jsonb, bytea, float), notes."""
    import psycopg
    from psycopg import sql

    kw: dict[str, object] = {
        "host": access.host,
        "port": access.port,
        "user": access.user,
        "password": access.password,
    }
    with psycopg.connect(dbname="postgres", autocommit=True, **kw) as conn:  # type: ignore[arg-type]
        conn.execute("CREATE ROLE app_owner LOGIN")
        for db in databases:
            if db != "postgres":
                conn.execute(
                    sql.SQL("CREATE DATABASE {} OWNER app_owner").format(sql.Identifier(db))
                )
    users, orders = 500 * scale, 3000 * scale
    for db in databases:
        with psycopg.connect(dbname=db, **kw) as conn:  # type: ignore[arg-type]
            conn.execute("SET ROLE app_owner")
            conn.execute("""
                CREATE TABLE users (id serial PRIMARY KEY, email text UNIQUE NOT NULL,
                                    created timestamptz NOT NULL, profile jsonb)""")
            conn.execute("""
                CREATE TABLE orders (id bigserial PRIMARY KEY, user_id int REFERENCES users(id),
                                     amount numeric(12,2), placed timestamptz, note text,
                                     blob bytea, ratio double precision)""")
            conn.execute("""
                CREATE TABLE notes (id serial PRIMARY KEY, title text, body text,
                                    created timestamptz DEFAULT now())""")
            conn.execute(
                """
                INSERT INTO users (email, created, profile)
                SELECT 'user' || g || '@example.org',
                       timestamptz '2024-01-01' + g * interval '1 hour',
                       jsonb_build_object('n', g, 'tags', jsonb_build_array('a', g %% 7))
                FROM generate_series(1, %s) g""",
                (users,),
            )
            conn.execute(
                """
                INSERT INTO orders (user_id, amount, placed, note, blob, ratio)
                SELECT 1 + g %% %s, (g * 1.37)::numeric(12,2),
                       timestamptz '2024-02-01' + g * interval '7 minutes',
                       CASE WHEN g %% 5 = 0 THEN NULL ELSE 'order ' || g END,
                       decode(md5(g::text), 'hex'), g / 3.0
                FROM generate_series(1, %s) g""",
                (users, orders),
            )
            conn.execute("""
                INSERT INTO notes (title, body, created)
                SELECT 'note ' || g, repeat('lorem ipsum ', g % 40),
                       timestamptz '2024-03-01' + g * interval '1 day'
                FROM generate_series(1, 200) g""")
            conn.execute("CREATE TABLE schema_migrations (version text PRIMARY KEY)")
            conn.execute("INSERT INTO schema_migrations VALUES ('20240101'), ('20240301')")


def seed_redis(access: RedisAccess, *, keys: int = 2000) -> None:
    """Strings, hashes, lists, sets, sorted sets and a stream, some with TTLs, in db 0 and 1."""
    import redis

    rng = random.Random(4)
    with redis.Redis(host=access.host, port=access.port, password=access.password) as client:
        pipe = client.pipeline(transaction=False)
        for i in range(keys):
            pipe.set(f"session:{i}", f"user-{rng.randrange(10_000)}", ex=86_400 if i % 3 else None)
        for i in range(keys // 10):
            pipe.hset(
                f"user:{i}",
                mapping={
                    "name": f"user {i}",
                    "visits": str(i * 3),
                    "plan": rng.choice(["free", "pro"]),
                },
            )
            pipe.rpush(f"queue:{i % 20}", f"job-{i}")
            pipe.sadd(f"tags:{i % 50}", f"t{i}", f"t{i + 1}")
            pipe.zadd("leaderboard", {f"user:{i}": i * 1.5})
        pipe.xadd("events", {"kind": "signup", "user": "1"})
        pipe.xadd("events", {"kind": "login", "user": "1"})
        pipe.execute()
    with redis.Redis(host=access.host, port=access.port, password=access.password, db=1) as one:
        one.set("feature:new-ui", "on")
        one.hset("config", mapping={"max_upload_mb": "50"})


def seed_s3(access: S3Access, buckets: list[str], *, objects: int = 60) -> None:
    """Each bucket gets a canary object; the first gets mixed-size objects under nested keys."""
    from stategate.providers.s3 import client_for

    client = client_for(access)
    rng = random.Random(7)
    for bucket in buckets:
        client.create_bucket(Bucket=bucket)
        client.put_object(Bucket=bucket, Key=CANARY_KEY, Body=CANARY_BODY)
    for i in range(objects):
        size = rng.choice([0, 100, 4096, 70_000, 300_000])
        client.put_object(
            Bucket=buckets[0], Key=f"users/{i % 7}/file-{i}.bin", Body=rng.randbytes(size)
        )
