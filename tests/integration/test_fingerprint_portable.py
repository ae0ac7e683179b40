"""A content fingerprint that means the same on every PostgreSQL major, and that tells
apart values the types' own hashes treat as equal.

The same data is loaded into real clusters of PostgreSQL 15, 16 and 18 (the engines
`scripts/setup.sh` installs) and fingerprinted by the provider: an upgrade rehearsal
restores a backup taken on one major into another and compares exactly these digests.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from stategate.engines import discover
from stategate.providers.access import PostgresAccess
from stategate.providers.fingerprint import Fingerprint, compare
from stategate.providers.postgres import PostgresProvider
from stategate.sandbox.servers import LocalPostgres

pytestmark = pytest.mark.integration

DB = "portable"
MAJORS = ("15", "16", "18")

# every column type whose own hash function differs between these majors (bytea,
# timestamptz, date, bool), or treats different values as equal (numeric, float,
# interval, jsonb, money), next to the ones hashed by type everywhere
SCHEMA = """
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TYPE pair AS (a int, b text);
CREATE DOMAIN short_text AS varchar(20);
CREATE DOMAIN positive AS int CHECK (VALUE > 0);
CREATE TABLE wide (
  id int PRIMARY KEY, n bigint, small smallint, amount numeric(12, 2), name varchar(40),
  note text, flag boolean, at timestamptz, local_at timestamp, day date, clock time,
  zoned timetz, blob bytea, doc jsonb, raw json, uid uuid, tags text[], m mood, p pair,
  s short_text, pos positive, span int4range, addr inet, f float8, r real, c char(3),
  cash money, gap interval, o oid, pt point
);
INSERT INTO wide
SELECT i, i * 1000, i % 300, i / 7.0, 'name ' || i, repeat('x', i % 50), i % 2 = 0,
       '2024-01-01 00:00:00+00'::timestamptz + i * interval '1 hour 7 seconds',
       '2024-03-01 12:00:00'::timestamp + i * interval '1 minute', date '2024-01-01' + i,
       time '00:00' + i * interval '1 second', ('12:00:00+0' || (i % 9))::timetz,
       decode(md5(i::text), 'hex'), jsonb_build_object('i', i, 'x', i / 3.0),
       json_build_object('i', i), md5(i::text)::uuid, ARRAY['t' || i, 't' || (i + 1)],
       (ARRAY['sad', 'ok', 'happy'])[i % 3 + 1]::mood, ROW(i, 'b' || i)::pair, 's' || i,
       i, int4range(i, i + 10), ('10.0.0.' || (i % 250))::inet, i * 0.1, i / 3.0,
       'c' || (i % 10), i * 1.25, i * interval '90 minutes', i::oid, point(i, -i)
FROM generate_series(1, 400) AS i;
UPDATE wide SET note = NULL, doc = NULL, blob = NULL WHERE id % 17 = 0;
CREATE TABLE parted (id int, region text, at timestamptz) PARTITION BY LIST (region);
CREATE TABLE parted_eu PARTITION OF parted FOR VALUES IN ('eu');
CREATE TABLE parted_us PARTITION OF parted FOR VALUES IN ('us');
INSERT INTO parted SELECT i, CASE WHEN i % 2 = 0 THEN 'eu' ELSE 'us' END,
  '2025-06-01'::timestamptz + i * interval '1 day' FROM generate_series(1, 50) AS i;
CREATE TABLE unicode (id int PRIMARY KEY, body text);
INSERT INTO unicode VALUES (1, 'Grüße, 世界 🌍'), (2, 'e' || chr(769)), (3, '');
CREATE TABLE empty_one ();
"""


def _connect(access: PostgresAccess, db: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(
        host=access.host, port=access.port, user=access.user, dbname=db, autocommit=True
    )


@pytest.fixture(scope="module", params=MAJORS)
def cluster(request: pytest.FixtureRequest) -> Iterator[tuple[str, PostgresAccess]]:
    major = str(request.param)
    bin_dir = discover().require("postgresql", major).path
    with LocalPostgres(bin_dir=bin_dir) as access:
        with _connect(access, "postgres") as conn:
            conn.execute(f"CREATE DATABASE {DB}")
        with _connect(access, DB) as conn:
            conn.execute(SCHEMA)
        yield major, access


_SEEN: dict[str, dict[str, str]] = {}


def _digests(access: PostgresAccess) -> dict[str, str]:
    fp = PostgresProvider(access, databases=[DB]).fingerprint()
    return {f"{i.name}/{i.size}": i.digest for i in fp.items}


def test_every_table_is_hashed_the_portable_way(cluster: tuple[str, PostgresAccess]) -> None:
    major, access = cluster
    digests = _digests(access)
    assert digests["public.wide/400"].startswith("portable:")
    assert digests["public.parted_eu/25"].startswith("portable:")
    assert digests["public.unicode/3"].startswith("portable:")
    _SEEN[major] = digests


_FINGERPRINTS: dict[str, Fingerprint] = {}


def test_the_same_data_has_the_same_fingerprint_on_every_major(
    cluster: tuple[str, PostgresAccess],
) -> None:
    major, access = cluster
    fp = PostgresProvider(access, databases=[DB]).fingerprint()
    data = {f"{i.name}/{i.size}": i.digest for i in fp.items if i.group == DB}
    assert data and all(d.startswith(("portable:", "sequence")) for d in data.values())
    # compared with every major fingerprinted before this one (15, then 16, then 18):
    # the data digests are equal, and so the whole fingerprint compares as a match
    # (definitions printed by another major are compared by presence)
    for other, seen in _FINGERPRINTS.items():
        assert data == {f"{i.name}/{i.size}": i.digest for i in seen.items if i.group == DB}
        comparison = compare(seen, fp)
        assert comparison.match, f"PostgreSQL {major} and {other} disagree: {comparison.examples}"
    _FINGERPRINTS[major] = fp


# (column type, a value, another value that the type's own hash calls equal)
EQUAL_TO_THE_TYPE = [
    ("float8", "0", "-0"),
    ("numeric", "1.50", "1.5000"),
    ("interval", "1 day", "24 hours"),
    ("jsonb", '{"x": 1.50}', '{"x": 1.5}'),
]


def _fingerprint_of(access: PostgresAccess, method: str | None = None) -> str:
    methods = {(DB, "public.pairs"): method} if method else None
    fp = PostgresProvider(access, databases=[DB], methods=methods).fingerprint()
    return next(i.digest for i in fp.items if i.name == "public.pairs")


@pytest.mark.parametrize(("typ", "one", "other"), EQUAL_TO_THE_TYPE)
def test_values_the_types_own_hash_calls_equal_are_told_apart(
    cluster: tuple[str, PostgresAccess], typ: str, one: str, other: str
) -> None:
    _major, access = cluster
    with _connect(access, DB) as conn:
        conn.execute(f"CREATE TABLE pairs (v {typ})")
        conn.execute("INSERT INTO pairs VALUES (%s)", (one,))
    try:
        before, legacy_before = _fingerprint_of(access), _fingerprint_of(access, "cols")
        with _connect(access, DB) as conn:
            conn.execute("UPDATE pairs SET v = %s", (other,))
            assert conn.execute("SELECT v::text FROM pairs").fetchone() != (one,)
        # the type's own hash (what earlier versions used) cannot see the change ...
        assert _fingerprint_of(access, "cols") == legacy_before
        # ... the portable method can
        assert _fingerprint_of(access) != before
    finally:
        with _connect(access, DB) as conn:
            conn.execute("DROP TABLE pairs")


def test_a_case_insensitive_collation_does_not_hide_a_change() -> None:
    # ICU collations: Debian's PostgreSQL 15 has ICU (the wheels' 16 and 18 do not)
    bin_dir = discover().require("postgresql", "15").path
    with LocalPostgres(bin_dir=bin_dir) as access:
        with _connect(access, "postgres") as conn:
            conn.execute(f"CREATE DATABASE {DB}")
        with _connect(access, DB) as conn:
            conn.execute(
                "CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', "
                "deterministic = false)"
            )
            conn.execute('CREATE TABLE pairs (v text COLLATE "ci")')
            conn.execute("INSERT INTO pairs VALUES ('Alice')")
        before, legacy_before = _fingerprint_of(access), _fingerprint_of(access, "cols")
        with _connect(access, DB) as conn:
            conn.execute("UPDATE pairs SET v = 'ALICE'")
        assert _fingerprint_of(access, "cols") == legacy_before
        assert _fingerprint_of(access) != before
