"""Seeded stand-ins for "production" postgres, redis and S3, for tests and the demo.

:func:`production_services` starts real servers with real credentials
(postgres password over 127.0.0.1, redis ``requirepass``, S3 keys), seeds
realistic data, and tears everything down on exit. The credentials are
exported through environment variables, as a platform would, so the policy
can reference them by name.
"""

from __future__ import annotations

import hashlib
import os
import random
import secrets
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

from stategate.providers.access import PostgresAccess, RedisAccess, S3Access
from stategate.providers.config import (
    Credential,
    PostgresSource,
    RedisSource,
    S3Source,
)
from stategate.sandbox.servers import LocalPostgres, LocalRedis, LocalS3, find_postgres_bin

PG_PASSWORD_ENV = "STATEGATE_DEMO_PG_PASSWORD"
REDIS_PASSWORD_ENV = "STATEGATE_DEMO_REDIS_PASSWORD"
S3_ACCESS_ENV = "STATEGATE_DEMO_S3_ACCESS_KEY"
S3_SECRET_ENV = "STATEGATE_DEMO_S3_SECRET_KEY"

CANARY_BUCKET = "platform-canary"
CANARY_KEY = "canary.txt"
CANARY_BODY = b"stategate canary object\n"
CANARY_SHA256 = hashlib.sha256(CANARY_BODY).hexdigest()


@dataclass
class ProductionServices:
    postgres: PostgresAccess | None = None
    redis: RedisAccess | None = None
    s3: S3Access | None = None
    env: dict[str, str] = field(default_factory=dict)  # credential variables, by name

    def secrets(self) -> list[str]:
        return list(self.env.values())

    def postgres_source(self) -> PostgresSource:
        assert self.postgres is not None
        return PostgresSource(host=self.postgres.host, port=self.postgres.port,
                              user=self.postgres.user,
                              password=Credential(env=PG_PASSWORD_ENV, file=None),
                              databases=["app"])

    def redis_source(self) -> RedisSource:
        assert self.redis is not None
        return RedisSource(host=self.redis.host, port=self.redis.port,
                           password=Credential(env=REDIS_PASSWORD_ENV, file=None))

    def s3_source(self) -> S3Source:
        assert self.s3 is not None
        return S3Source(endpoint=self.s3.endpoint,
                        access_key=Credential(env=S3_ACCESS_ENV, file=None),
                        secret_key=Credential(env=S3_SECRET_ENV, file=None))


@contextmanager
def production_services(*, postgres: bool = True, redis: bool = True, s3: bool = True,
                        seed: bool = True, export_env: bool = True) -> Iterator[ProductionServices]:
    """Start (and seed) stand-in production servers; stop and remove them on exit.

    With ``export_env`` the credentials are put in ``os.environ`` for the
    duration, under the ``STATEGATE_DEMO_*`` names the example policy uses.
    """
    services = ProductionServices()
    saved = {k: os.environ.get(k) for k in (PG_PASSWORD_ENV, REDIS_PASSWORD_ENV, S3_ACCESS_ENV,
                                            S3_SECRET_ENV)}
    with ExitStack() as stack:
        if postgres:
            password = "pg-" + secrets.token_urlsafe(18)
            server = LocalPostgres(bin_dir=find_postgres_bin(), superuser="postgres",
                                   password=password, tcp=True, durable=False)
            services.postgres = stack.enter_context(server)
            services.env[PG_PASSWORD_ENV] = password
            if seed:
                seed_postgres(services.postgres)
        if redis:
            password = "redis-" + secrets.token_urlsafe(18)
            services.redis = stack.enter_context(LocalRedis(password=password, persistent=True))
            services.env[REDIS_PASSWORD_ENV] = password
            if seed:
                seed_redis(services.redis)
        if s3:
            access_key, secret_key = "platform-admin", "s3-" + secrets.token_urlsafe(24)
            services.s3 = stack.enter_context(LocalS3(access_key=access_key,
                                                      secret_key=secret_key))
            services.env[S3_ACCESS_ENV] = access_key
            services.env[S3_SECRET_ENV] = secret_key
            if seed:
                seed_s3(services.s3)
        if export_env:
            os.environ.update(services.env)
        try:
            yield services
        finally:
            if export_env:
                for key, value in saved.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value


def seed_postgres(access: PostgresAccess, *, users: int = 500, orders: int = 3000) -> None:
    """An ``app`` database with users, orders (numeric, timestamptz, jsonb, bytea) and a role."""
    import psycopg

    kw = {"host": access.host, "port": access.port, "user": access.user,
          "password": access.password}
    with psycopg.connect(dbname="postgres", autocommit=True, **kw) as conn:  # type: ignore[arg-type]
        conn.execute("CREATE ROLE app_owner LOGIN")
        conn.execute("CREATE DATABASE app OWNER app_owner")
    with psycopg.connect(dbname="app", **kw) as conn:  # type: ignore[arg-type]
        conn.execute("SET ROLE app_owner")
        conn.execute("""
            CREATE TABLE users (id serial PRIMARY KEY, email text UNIQUE NOT NULL,
                                created timestamptz NOT NULL, profile jsonb)""")
        conn.execute("""
            CREATE TABLE orders (id bigserial PRIMARY KEY, user_id int REFERENCES users(id),
                                 amount numeric(12,2), placed timestamptz, note text,
                                 blob bytea, ratio double precision)""")
        conn.execute("""
            INSERT INTO users (email, created, profile)
            SELECT 'user' || g || '@example.org', timestamptz '2024-01-01' + g * interval '1 hour',
                   jsonb_build_object('n', g, 'tags', jsonb_build_array('a', g % 7))
            FROM generate_series(1, %s) g""", (users,))
        conn.execute("""
            INSERT INTO orders (user_id, amount, placed, note, blob, ratio)
            SELECT 1 + g %% %s, (g * 1.37)::numeric(12,2),
                   timestamptz '2024-02-01' + g * interval '7 minutes',
                   CASE WHEN g %% 5 = 0 THEN NULL ELSE 'order ' || g END,
                   decode(md5(g::text), 'hex'), g / 3.0
            FROM generate_series(1, %s) g""", (users, orders))
        conn.execute("CREATE TABLE schema_migrations (version text PRIMARY KEY)")
        conn.execute("INSERT INTO schema_migrations VALUES ('20240101'), ('20240301')")


def seed_redis(access: RedisAccess, *, keys: int = 2000) -> None:
    """Strings, hashes, lists, sets, sorted sets and a stream, some with TTLs, in db 0 and 1."""
    import redis

    rng = random.Random(4)
    client = redis.Redis(host=access.host, port=access.port, password=access.password)
    with client:
        pipe = client.pipeline(transaction=False)
        for i in range(keys):
            pipe.set(f"session:{i}", f"user-{rng.randrange(10_000)}", ex=86_400 if i % 3 else None)
        for i in range(keys // 10):
            pipe.hset(f"user:{i}", mapping={"name": f"user {i}", "visits": str(i * 3),
                                            "plan": rng.choice(["free", "pro"])})
            pipe.rpush(f"queue:{i % 20}", f"job-{i}")
            pipe.sadd(f"tags:{i % 50}", f"t{i}", f"t{i + 1}")
            pipe.zadd("leaderboard", {f"user:{i}": i * 1.5})
        pipe.xadd("events", {"kind": "signup", "user": "1"})
        pipe.xadd("events", {"kind": "login", "user": "1"})
        pipe.execute()
    with redis.Redis(host=access.host, port=access.port, password=access.password, db=1) as one:
        one.set("feature:new-ui", "on")
        one.hset("config", mapping={"max_upload_mb": "50"})


def seed_s3(access: S3Access, *, objects: int = 60) -> None:
    """Buckets with objects of mixed sizes, nested keys and a canary object."""
    from stategate.providers.s3 import client_for

    client = client_for(access)
    rng = random.Random(7)
    for bucket in ("backups", "uploads", CANARY_BUCKET):
        client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=CANARY_BUCKET, Key=CANARY_KEY, Body=CANARY_BODY)
    for i in range(objects):
        size = rng.choice([0, 100, 4096, 70_000, 300_000])
        body = rng.randbytes(size)
        client.put_object(Bucket="uploads", Key=f"users/{i % 7}/file-{i}.bin", Body=body)
    client.put_object(Bucket="backups", Key="postgres/README", Body=b"backups of other modules\n")
