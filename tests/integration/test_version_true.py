"""Backups and drills on the module's own engine version, never a silent fallback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stategate.evidence.record import BackupPredicate, DrillPredicate
from stategate.operations.backup import run_backup
from stategate.operations.drill import run_restore_drill
from stategate.providers.config import Credential, ProviderConfig
from stategate.sandbox.services import ProductionServices, default_sources, production_services
from tests.integration.conftest import Workspace

pytestmark = pytest.mark.integration

MODULE = "data/postgres"


@pytest.fixture(scope="module")
def pg16() -> Iterator[ProductionServices]:
    # its own credential variable: the session's stand-ins keep theirs
    config = default_sources()[MODULE].model_copy(
        update={"password": Credential(env="STATEGATE_TEST_PG16_PASSWORD")}
    )
    sources: dict[str, ProviderConfig] = {MODULE: config}
    with production_services(sources, majors={MODULE: "16"}) as running:
        yield running


def _on(workspace: Workspace, services: ProductionServices) -> Workspace:
    return Workspace(
        workspace.repo, workspace.artifacts, services, workspace.key, workspace.operator_key
    )


def test_a_pg16_source_is_backed_up_with_a_16_client_and_drilled_on_16(
    workspace: Workspace, pg16: ProductionServices
) -> None:
    ws = _on(workspace, pg16)
    backup = run_backup(ws.context(MODULE)).statement.predicate
    assert isinstance(backup, BackupPredicate)
    assert backup.result == "pass", backup.reason
    assert (backup.source.server_version or "").startswith("16.")
    assert backup.client is not None and backup.client.startswith("PostgreSQL 16.")
    drill = run_restore_drill(ws.context(MODULE)).statement.predicate
    assert isinstance(drill, DrillPredicate)
    assert drill.result == "pass", drill.reason
    assert drill.sandbox is not None and (drill.sandbox.server_version or "").startswith("16.")
    assert (drill.engine.version or "").endswith(drill.sandbox.server_version or "?")


def test_a_drill_on_a_version_that_is_not_installed_is_an_error_not_a_pass(
    workspace: Workspace, pg16: ProductionServices
) -> None:
    ws = _on(workspace, pg16)
    assert run_backup(ws.context(MODULE)).statement.predicate.result == "pass"
    drill = run_restore_drill(ws.context(MODULE), engine_version="17").statement.predicate
    assert isinstance(drill, DrillPredicate)
    assert drill.result == "error"
    assert (drill.reason or "").startswith(
        "engine-unavailable: PostgreSQL 17 is not installed (have 15, 16, 18)"
    )
    assert drill.sandbox is None and drill.fingerprint is None


def test_the_session_source_runs_the_major_its_image_names(workspace: Workspace) -> None:
    backup = run_backup(workspace.context(MODULE)).statement.predicate
    assert isinstance(backup, BackupPredicate)
    assert (backup.source.server_version or "").startswith("15.")
    assert backup.client is not None and backup.client.startswith("PostgreSQL 15.")


REDIS = "data/redis"


@pytest.fixture(scope="module")
def redis62() -> Iterator[ProductionServices]:
    config = default_sources()[REDIS].model_copy(
        update={"password": Credential(env="STATEGATE_TEST_REDIS62_PASSWORD")}
    )
    sources: dict[str, ProviderConfig] = {REDIS: config}
    with production_services(sources, majors={REDIS: "6.2"}) as running:
        yield running


def test_a_redis_62_source_is_drilled_on_62(
    workspace: Workspace, redis62: ProductionServices
) -> None:
    ws = _on(workspace, redis62)
    backup = run_backup(ws.context(REDIS)).statement.predicate
    assert backup.result == "pass", backup.reason
    assert (backup.source.server_version or "").startswith("6.2.")
    drill = run_restore_drill(ws.context(REDIS)).statement.predicate
    assert isinstance(drill, DrillPredicate)
    assert drill.result == "pass", drill.reason
    assert drill.sandbox is not None and (drill.sandbox.server_version or "").startswith("6.2.")


def test_a_redis_drill_needs_a_build_that_can_load_the_rdb(
    workspace: Workspace, redis62: ProductionServices
) -> None:
    ws = _on(workspace, redis62)
    assert run_backup(ws.context(REDIS)).statement.predicate.result == "pass"
    drill = run_restore_drill(ws.context(REDIS), engine_version="7.2.5").statement.predicate
    assert isinstance(drill, DrillPredicate)
    assert drill.result == "error"
    assert (drill.reason or "").startswith(
        "engine-unavailable: Redis 7.2 or a newer Redis 7.x is not installed (have 6.2, 7.0)"
    )
