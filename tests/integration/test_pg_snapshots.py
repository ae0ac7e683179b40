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
