"""The source server stops while the backup streams.

The backup is frozen mid-stream by the proxy (at a seeded point), the real
server is stopped (PostgreSQL: immediate shutdown; Redis: SHUTDOWN NOSAVE),
then the stream resumes into a closed connection. The backup must end in an
error record naming the failure, with no artifact left; once the server is
back, the next backup works.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis

from stategate.engines import discover
from stategate.evidence.records.predicates import BackupPredicate
from stategate.evidence.records.typed import list_records
from stategate.evidence.trust.keys import SigningKey
from stategate.execute import run
from stategate.providers.access import PostgresAccess, RedisAccess
from stategate.sandbox.servers import LocalRedis, postgres_run_user
from stategate.sandbox.services import ProductionServices, production_services, seed_redis

from .conftest import (
    FaultPlatform,
    assert_next_backup_works,
    backed_up,
    few_seeds,
    kill_fraction,
    make_platform,
    wait_until,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def own_servers() -> Iterator[ProductionServices]:
    """Servers of this test alone (it stops them)."""
    from .conftest import fault_sources

    with production_services(fault_sources("STATEGATE_FAULT_STOP")) as running:
        redis_access = running.access["data/redis"]
        assert isinstance(redis_access, RedisAccess)
        _add_bulk(redis_access)
        yield running


BULK_KEYS, BULK_SIZE = 160, 256 * 1024  # 40 MiB: far more than socket buffers hold


def _add_bulk(access: RedisAccess) -> None:
    """Incompressible values, so the snapshot cannot all sit in socket buffers while the
    proxy holds the stream (else the server would have sent it whole before it stopped)."""
    import random

    rng = random.Random(17)
    with redis.Redis(host=access.host, port=access.port, password=access.password) as client:
        for i in range(BULK_KEYS):
            client.set(f"bulk:{i}", rng.randbytes(BULK_SIZE))


def _stop_postgres(access: PostgresAccess) -> tuple[str, str]:
    with psycopg.connect(
        host=access.host,
        port=access.port,
        user=access.user,
        password=access.password,
        dbname="postgres",
    ) as conn:
        row = conn.execute("SHOW data_directory").fetchone()
        version = conn.execute("SHOW server_version").fetchone()
    assert row is not None and version is not None
    data = str(row[0])
    # the pg_ctl of the very build that runs this server
    major = str(version[0]).split(".")[0]
    pg_ctl = str(discover().require("postgresql", major).tool("pg_ctl"))
    run([pg_ctl, "-D", data, "-m", "immediate", "-w", "stop"], user=postgres_run_user())
    return pg_ctl, data


def _start_postgres(pg_ctl: str, data: str) -> None:
    log = str(Path(data).parent / "server.log")
    run([pg_ctl, "-D", data, "-l", log, "-w", "-t", "60", "start"], user=postgres_run_user())


@pytest.mark.parametrize("seed", few_seeds())
@pytest.mark.parametrize("module_id", ["data/postgres", "data/redis"])
def test_source_stopped_mid_dump(
    tmp_path: Path,
    own_servers: ProductionServices,
    fault_key: SigningKey,
    fault_operator_key: SigningKey,
    private_tmp: Path,
    module_id: str,
    seed: int,
) -> None:
    platform: FaultPlatform = make_platform(
        tmp_path, own_servers, fault_key, fault_operator_key, private_tmp
    )
    total = backed_up(platform, module_id)
    proxy = platform.proxies[module_id]
    access = own_servers.access[module_id]
    replacement: LocalRedis | None = None
    try:
        # stop in the first half: the rest cannot be in flight already
        proxy.hold_after(int(total * kill_fraction(seed, module_id) / 2))
        child = platform.start("backup", module_id)
        wait_until(proxy.held.is_set, "the backup to reach the stop point")
        if isinstance(access, PostgresAccess):
            pg_ctl, data = _stop_postgres(access)
        else:
            assert isinstance(access, RedisAccess)
            client = redis.Redis(host=access.host, port=access.port, password=access.password)
            # the server closes the connection as it goes
            with contextlib.suppress(redis.exceptions.ConnectionError):
                client.shutdown(nosave=True)
        proxy.resume()
        output, _ = child.communicate(timeout=300)
        assert child.returncode == 1, output  # an error, not an internal error (70)
        assert "Traceback" not in output
        records = list_records(platform.store(), module_id, "backup")
        last = records[-1].statement.predicate
        assert isinstance(last, BackupPredicate)
        assert last.result == "error" and last.reason and not last.artifacts
        assert not (platform.module_dir(module_id) / last.backup_id).exists()
        assert not [d for d in platform.backup_dirs(module_id) if d.name.endswith(".partial")]
        verified = platform.verify()
        assert verified.ok, [str(f) for f in verified.findings]
        # the server comes back: the next backup works
        if isinstance(access, PostgresAccess):
            _start_postgres(pg_ctl, data)
        else:
            replacement = LocalRedis(password=access.password, persistent=True, port=access.port)
            replacement.start()
            seed_redis(replacement.access())
            _add_bulk(replacement.access())
        assert_next_backup_works(platform, module_id)
    finally:
        proxy.close()
        if replacement is not None:
            replacement.stop()
