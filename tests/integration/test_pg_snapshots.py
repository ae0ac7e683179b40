"""One backup of several databases: every database's snapshot exported before any dump
(as near one point in time as PostgreSQL allows), and, where the role may hold too few
connections for that, one database after another instead of a failed backup."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from stategate.engines import discover
from stategate.evidence.records.artifact import open_backup
from stategate.providers.access import PostgresAccess
from stategate.providers.base import BackupHooks
from stategate.providers.fingerprint import compare
from stategate.providers.postgres import PostgresProvider
from stategate.sandbox.servers import LocalPostgres

pytestmark = pytest.mark.integration

PASSWORD = "bk-" + "Qz7" * 6


@pytest.mark.parametrize(("limit", "together"), [(-1, True), (4, False)])
def test_databases_snapshots_held_together_or_one_after_another(
    tmp_path: Path, limit: int, together: bool
) -> None:
    bin_dir = discover().require("postgresql", "15").path
    with LocalPostgres(bin_dir=bin_dir, tcp=True, password="su-" + "Wd4" * 6) as su:
        with psycopg.connect(
            host=su.host, port=su.port, user=su.user, password=su.password,
            dbname="postgres", autocommit=True,
        ) as conn:  # fmt: skip
            conn.execute(f"CREATE ROLE bk LOGIN PASSWORD '{PASSWORD}' CONNECTION LIMIT {limit}")
            conn.execute("GRANT pg_read_all_data TO bk")
            # a role timeout that would end a snapshot held while others are dumped
            conn.execute("ALTER ROLE bk SET idle_in_transaction_session_timeout = '1ms'")
            for i in range(6):
                conn.execute(f"CREATE DATABASE app{i}")
        for i in range(6):
            with psycopg.connect(
                host=su.host, port=su.port, user=su.user, password=su.password,
                dbname=f"app{i}", autocommit=True,
            ) as conn:  # fmt: skip
                conn.execute("CREATE TABLE t AS SELECT g FROM generate_series(1, 5000) g")
        provider = PostgresProvider(
            PostgresAccess(su.host, su.port, "bk", PASSWORD), role_passwords=False
        )
        with open_backup(tmp_path / "b") as writer:
            output = provider.backup(writer, BackupHooks())
        assert output.consistent
        if together:
            assert "snapshots were exported within" in output.note
        else:
            assert "one database after another" in output.note
        now = provider.fingerprint()
        found = compare(output.fingerprint, now)
        assert found.match, found.examples
        dumps = {p.name for p in (tmp_path / "b" / "db").iterdir()}
        assert {f"app{i}.dump.zst" for i in range(6)} <= dumps


def test_a_large_object_past_one_piece_is_hashed_piece_by_piece(tmp_path: Path) -> None:
    """One bytea holds at most 1 GB: a large object is read in 64 MiB pieces, and one of
    a single piece keeps the plain sha256 a level-1 backup recorded."""
    import hashlib

    from stategate.providers import pg_schema

    piece = 64 * 1024 * 1024
    data = bytes(range(256)) * ((piece + 4096) // 256)  # one piece and a bit
    bin_dir = discover().require("postgresql", "15").path
    with (
        LocalPostgres(bin_dir=bin_dir) as su,
        psycopg.connect(
            host=su.host, port=su.port, user=su.user, dbname="postgres", autocommit=True
        ) as conn,
    ):
        conn.execute("SELECT lo_from_bytea(7001, %s)", (data,))
        conn.execute("SELECT lo_from_bytea(7002, 'small')")
        by_level = {
            level: {
                i.name: i
                for i in pg_schema.schema_items(conn, "postgres", level)
                if i.name.startswith("large object ")
            }
            for level in (1, 2)
        }
    small_1, small_2 = (by_level[n]["large object 7002"].digest for n in (1, 2))
    assert small_1 == small_2  # one piece: the same definition at both levels
    big_1, big_2 = (by_level[n]["large object 7001"].digest for n in (1, 2))
    assert big_1 != big_2  # the pieces' hashes, not the whole object's
    pieces = hashlib.sha256(data[:piece]).hexdigest() + hashlib.sha256(data[piece:]).hexdigest()
    owner = by_level[2]["large object 7001"]
    assert (
        owner.digest
        == hashlib.sha256(
            f"owner postgres | acl postgres:SELECT by postgres,postgres:UPDATE by postgres | "
            f"sha256 {pieces}".encode()
        ).hexdigest()
    )
