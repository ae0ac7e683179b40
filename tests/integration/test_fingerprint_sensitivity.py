"""The content fingerprints catch small changes, and only changes.

Each fingerprint is computed by the provider against a real server (the
session's stand-in postgres and redis), so the SQL and Lua that compute them
are what is tested.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
import redis

from stategate.providers.access import PostgresAccess, RedisAccess
from stategate.providers.fingerprint import Fingerprint
from stategate.providers.postgres import PostgresProvider
from stategate.providers.redis import RedisProvider

from .conftest import Workspace

pytestmark = pytest.mark.integration

DB = "fpcheck"

SCHEMA = """
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TYPE pair AS (a int, b text);
CREATE DOMAIN short_text AS varchar(20);
CREATE TABLE wide (
  id int PRIMARY KEY, n bigint, amount numeric(12, 2), name varchar(40), note text,
  flag boolean, at timestamptz, day date, blob bytea, doc jsonb, raw json, uid uuid,
  tags text[], m mood, p pair, s short_text, span int4range, addr inet, f float8, c char(3)
);
INSERT INTO wide
SELECT i, i * 1000, i / 7.0, 'name ' || i, repeat('x', i % 50), i % 2 = 0,
       '2024-01-01 00:00:00+00'::timestamptz + i * interval '1 hour', date '2024-01-01' + i,
       decode(md5(i::text), 'hex'), jsonb_build_object('i', i), json_build_object('i', i),
       md5(i::text)::uuid, ARRAY['t' || i, 't' || (i + 1)], (ARRAY['sad', 'ok', 'happy'])[i % 3 + 1]::mood,
       ROW(i, 'b' || i)::pair, 's' || i, int4range(i, i + 10), ('10.0.0.' || (i % 250))::inet,
       i * 0.5, 'c' || (i % 10)
FROM generate_series(1, 300) AS i;
UPDATE wide SET note = NULL, doc = NULL WHERE id % 17 = 0;
CREATE TABLE shapes (id int PRIMARY KEY, at point, path point[]);
INSERT INTO shapes SELECT i, point(i, i), ARRAY[point(i, 0)] FROM generate_series(1, 20) AS i;
CREATE TABLE balances (id int PRIMARY KEY, owner text, balance int);
INSERT INTO balances SELECT i, 'owner ' || i, i * 10 FROM generate_series(1, 100) AS i;
CREATE TYPE loc AS (at point);
CREATE TABLE places (id int PRIMARY KEY, l loc);
INSERT INTO places SELECT i, ROW(point(i, i))::loc FROM generate_series(1, 20) AS i;
CREATE TABLE empty_one ();
"""


def _connect(access: PostgresAccess, db: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(
        host=access.host,
        port=access.port,
        user=access.user,
        password=access.password,
        dbname=db,
        autocommit=True,
    )


@pytest.fixture
def pg(workspace: Workspace) -> Iterator[tuple[PostgresAccess, PostgresProvider]]:
    access = workspace.services.access["data/postgres"]
    assert isinstance(access, PostgresAccess)
    with _connect(access, "postgres") as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB}")
        conn.execute(f"CREATE DATABASE {DB}")
    with _connect(access, DB) as conn:
        conn.execute(SCHEMA)
    try:
        yield access, PostgresProvider(access, databases=[DB])
    finally:
        with _connect(access, "postgres") as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")


def _digests(fp: Fingerprint) -> dict[str, tuple[int, str]]:
    return {i.name: (i.size, i.digest) for i in fp.items}


def test_postgres_fingerprint_methods_and_stability(
    pg: tuple[PostgresAccess, PostgresProvider],
) -> None:
    _access, provider = pg
    first = _digests(provider.fingerprint())
    assert first == _digests(provider.fingerprint())
    assert first["public.wide"][0] == 300 and first["public.wide"][1].startswith("portable:")
    # point has no hash operator class, a composite with a point inside cannot be
    # hashed by type: the portable method hashes such columns through their text
    assert first["public.shapes"][1].startswith("portable:")
    assert first["public.places"][1].startswith("portable:")
    assert first["public.empty_one"][0] == 0


@pytest.mark.parametrize(
    ("table", "change"),
    [
        ("wide", "UPDATE wide SET amount = amount + 0.01 WHERE id = 150"),
        ("wide", "UPDATE wide SET note = NULL WHERE id = 3"),
        ("wide", "UPDATE wide SET note = '' WHERE id = 17"),
        ("wide", "UPDATE wide SET tags[2] = 'other' WHERE id = 9"),
        ("wide", "UPDATE wide SET p.b = 'changed' WHERE id = 9"),
        ("wide", "UPDATE wide SET c = 'c9' WHERE id = 10"),
        # two columns of the same type swap values inside one row
        ("wide", "UPDATE wide SET note = name, name = note WHERE id = 20"),
        # two rows swap a value: every column keeps the same set of values
        (
            "balances",
            "UPDATE balances SET balance = CASE id WHEN 1 THEN 20 WHEN 2 THEN 10 END "
            "WHERE id IN (1, 2)",
        ),
        ("shapes", "UPDATE shapes SET at = point(1, 2) WHERE id = 1"),
        ("shapes", "UPDATE shapes SET path = ARRAY[point(3, 1)] WHERE id = 3"),
        ("places", "UPDATE places SET l = ROW(point(0, 1))::loc WHERE id = 1"),
        ("wide", "UPDATE wide SET at = at + interval '1 microsecond' WHERE id = 5"),
        ("wide", "UPDATE wide SET blob = '\\x00' WHERE id = 5"),
        ("wide", "UPDATE wide SET flag = NOT flag WHERE id = 5"),
        ("balances", "DELETE FROM balances WHERE id = 50"),
    ],
)
def test_postgres_fingerprint_sees_one_change(
    pg: tuple[PostgresAccess, PostgresProvider], table: str, change: str
) -> None:
    access, provider = pg
    before = _digests(provider.fingerprint())
    with _connect(access, DB) as conn:
        conn.execute(change)
    after = _digests(provider.fingerprint())
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {f"public.{table}"}


@pytest.fixture
def rdb(workspace: Workspace) -> Iterator[tuple[redis.Redis, RedisProvider]]:
    access = workspace.services.access["data/redis"]
    assert isinstance(access, RedisAccess)
    client = redis.Redis(host=access.host, port=access.port, password=access.password, db=5)
    client.flushdb()
    client.set("s", "value")
    client.set("n", 12345)
    client.set("big", "y" * 5000)
    client.set("ttl", "x", ex=3600)
    client.hset("h", mapping={"a": "1", "b": "2"})
    client.rpush("l", "a", "b", "c")
    client.sadd("set", "a", "b", "c")
    client.zadd("z", {"a": 1.5, "b": 2.0, "c": 0.1})
    client.xadd("stream", {"k": "v"})
    try:
        yield client, RedisProvider(access)
    finally:
        client.flushdb()
        client.close()


@pytest.mark.parametrize(
    ("key", "change"),
    [
        ("s", lambda c: c.set("s", "valuf")),
        ("n", lambda c: c.set("n", 12346)),
        ("big", lambda c: c.setrange("big", 2500, "z")),
        ("ttl", lambda c: c.persist("ttl")),
        ("s", lambda c: c.expire("s", 3600)),
        ("h", lambda c: c.hset("h", "b", "3")),
        ("l", lambda c: c.lset("l", 1, "x")),
        ("set", lambda c: c.srem("set", "c")),
        ("z", lambda c: c.zadd("z", {"c": 0.2})),
        ("stream", lambda c: c.xadd("stream", {"k": "w"})),
    ],
)
def test_redis_fingerprint_sees_one_change(
    rdb: tuple[redis.Redis, RedisProvider], key: str, change: object
) -> None:
    client, provider = rdb
    before = {i.name: i.digest for i in provider.fingerprint().items if i.group == "db5"}
    assert len(before) == 9
    change(client)  # type: ignore[operator]
    after = {i.name: i.digest for i in provider.fingerprint().items if i.group == "db5"}
    assert {k for k in before if before[k] != after.get(k)} == {key}


def test_postgres_restored_copy_is_hashed_the_way_the_backup_was(
    pg: tuple[PostgresAccess, PostgresProvider],
) -> None:
    """A drill recomputes each table with the method its backup recorded, including
    the row-hash methods of earlier versions, so an older backup still compares."""
    access, provider = pg
    current = _digests(provider.fingerprint())
    legacy = PostgresProvider(
        access,
        databases=[DB],
        methods={
            (DB, "public.balances"): "record",
            (DB, "public.wide"): "rowtext",
            (DB, "public.shapes"): "cols",
            (DB, "public.places"): "cols",  # cannot be hashed that way: falls back
        },
    )
    recomputed = _digests(legacy.fingerprint())
    with _connect(access, DB) as conn:
        row = conn.execute("SELECT sum(hash_record(t)::bigint) FROM ONLY balances t").fetchone()
    assert row is not None
    assert recomputed["public.balances"] == (100, f"record:{row[0]}")
    assert recomputed["public.wide"][1].startswith("rowtext:")
    assert recomputed["public.shapes"][1].startswith("cols:")
    assert recomputed["public.places"] == current["public.places"]
