"""Backups and drills on the module's own engine version, never a silent fallback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from stategate.errors import InputError
from stategate.evidence.records.predicates import (
    BackupPredicate,
    DrillPredicate,
    RehearsalPredicate,
)
from stategate.operations.backup import run_backup
from stategate.operations.drill import run_restore_drill
from stategate.operations.rehearse import run_rehearsal
from stategate.packet import LoadedPacket, load_packet
from stategate.providers.access import PostgresAccess
from stategate.providers.config import Credential, ProviderConfig
from stategate.providers.postgres import PostgresProvider
from stategate.sandbox.services import ProductionServices, default_sources, production_services
from stategate.source import WorkTree
from tests.integration.conftest import DIGEST, Workspace

pytestmark = pytest.mark.integration

MODULE = "data/postgres"
REDIS = "data/redis"


@contextmanager
def _stand_in(module: str, version: str, variable: str) -> Iterator[ProductionServices]:
    """One stand-in source of ``module`` running ``version``, with its own credential
    variable (the session's stand-ins keep theirs)."""
    config = default_sources()[module].model_copy(update={"password": Credential(env=variable)})
    sources: dict[str, ProviderConfig] = {module: config}
    with production_services(sources, majors={module: version}) as running:
        yield running


@pytest.fixture(scope="module")
def pg16() -> Iterator[ProductionServices]:
    with _stand_in(MODULE, "16", "STATEGATE_TEST_PG16_PASSWORD") as running:
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


@pytest.fixture(scope="module")
def redis62() -> Iterator[ProductionServices]:
    with _stand_in(REDIS, "6.2", "STATEGATE_TEST_REDIS62_PASSWORD") as running:
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


def _packet(repo: Path, module: str, old: str, new: str) -> LoadedPacket:
    path = repo / "packets" / "up.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(
        f"id: up\nmodules:\n  - module: {module}\n    from: {old}\n    to: {new}\n"
        "allowed_paths: []\n"
    )
    return load_packet(WorkTree(repo), "packets/up.yaml")


def _rehearsed(ws: Workspace, module: str, packet: LoadedPacket) -> RehearsalPredicate:
    assert run_backup(ws.context(module)).statement.predicate.result == "pass"
    drill = run_restore_drill(ws.context(module)).statement.predicate
    assert drill.result == "pass", drill.reason
    pred = run_rehearsal(ws.context(module), packet).statement.predicate
    assert isinstance(pred, RehearsalPredicate)
    return pred


def test_a_redis_patch_rehearsal_rolls_back_to_the_previous_image(
    workspace: Workspace, redis62: ProductionServices
) -> None:
    ws = _on(workspace, redis62)
    packet = _packet(ws.repo, REDIS, f"redis:6.2.6@{DIGEST}", f"redis:6.2.14@{DIGEST}")
    pred = _rehearsed(ws, REDIS, packet)
    assert pred.result == "pass", pred.reason
    assert pred.rollback.kind == "previous-image"


def test_a_redis_62_to_70_rehearsal_finds_that_rollback_needs_a_restore(
    workspace: Workspace, redis62: ProductionServices
) -> None:
    # 7.0 writes RDB version 10, which 6.2 cannot load: going back means the backup.
    # The seeded data has a stream, whose RDB form changed in 7.0: the content must
    # still compare (the fingerprint reads what both versions mean, not their format).
    ws = _on(workspace, redis62)
    packet = _packet(ws.repo, REDIS, f"redis:6.2.6@{DIGEST}", f"redis:7.0.15@{DIGEST}")
    pred = _rehearsed(ws, REDIS, packet)
    assert pred.result == "pass", pred.reason
    assert (pred.target_version or "").startswith("7.0.")
    assert pred.fingerprint is not None and pred.fingerprint.match
    assert pred.rollback.kind == "restore-backup" and pred.rollback.backup_id == pred.backup_id
    assert pred.rollback.detail.startswith("Redis 6.2.")
    assert "cannot load the RDB that 7.0." in pred.rollback.detail


def test_a_postgres_15_to_16_rehearsal_restores_and_verifies_on_16(
    workspace: Workspace,
) -> None:
    packet = _packet(workspace.repo, MODULE, f"postgres:15.8@{DIGEST}", f"postgres:16.4@{DIGEST}")
    pred = _rehearsed(workspace, MODULE, packet)
    assert pred.result == "pass", pred.reason
    assert (pred.source.server_version or "").startswith("15.")
    assert (pred.target_version or "").startswith("16.")
    assert pred.fingerprint is not None and pred.fingerprint.match
    # 16 prints the seeded schema's views, defaults and functions: compared by presence,
    # and the record says how many
    assert pred.fingerprint.presence_only > 0
    assert [s.name for s in pred.steps] == [*LOGICAL_STEPS, *IN_PLACE_STEPS]
    assert all(s.result == "pass" and s.duration_s >= 0 for s in pred.steps)
    assert pred.rollback.kind == "restore-backup" and pred.rollback.backup_id == pred.backup_id
    assert "cannot be opened by 15." in pred.rollback.detail
    # 16's default initdb makes clusters without checksums, like 15's: nothing to derive
    in_place = pred.in_place
    assert in_place is not None and in_place.default_check == "compatible"
    assert "--data-checksums" not in in_place.initdb_flags
    assert in_place.fingerprint is not None and in_place.fingerprint.match


LOGICAL_STEPS = ["verify-backup", "restore-on-target", "rollback-probe"]
IN_PLACE_STEPS = [
    "restore-on-source",
    "upgrade-check-defaults",
    "upgrade-check",
    "upgrade-in-place",
    "analyze",
]


@pytest.mark.parametrize("source_major", ["15", "16"])
def test_a_major_upgrade_to_18_is_rehearsed_in_place_with_the_flags_it_needs(
    workspace: Workspace, pg16: ProductionServices, source_major: str
) -> None:
    ws = workspace if source_major == "15" else _on(workspace, pg16)
    packet = _packet(
        ws.repo, MODULE, f"postgres:{source_major}.4@{DIGEST}", f"postgres:18.1@{DIGEST}"
    )
    pred = _rehearsed(ws, MODULE, packet)
    assert pred.result == "pass", pred.reason
    steps = {s.name: s for s in pred.steps}
    assert list(steps) == [*LOGICAL_STEPS, *IN_PLACE_STEPS]
    # both restores say how many pg_restore jobs ran (the benches give the bare one as many)
    for restore in ("restore-on-target", "restore-on-source"):
        assert "pg_restore --jobs=" in steps[restore].detail, steps[restore].detail
    # the logical path: the backup restored into 18 reads back the same content
    assert (pred.target_version or "").startswith("18.")
    assert pred.fingerprint is not None and pred.fingerprint.match
    # the in-place path: 18's initdb enables data checksums, the source has none; the
    # rehearsal finds it, and the flags it derives make pg_upgrade accept the cluster
    in_place = pred.in_place
    assert in_place is not None
    assert in_place.source_version.startswith(f"{source_major}.")
    assert in_place.settings["data_checksums"] == "off"
    assert in_place.default_check == (
        "old cluster does not use data checksums but the new one does"
    )
    assert steps["upgrade-check-defaults"].result == "fail"
    assert in_place.initdb_flags == [
        "-U",
        "postgres",
        "-E",
        "UTF8",
        "--lc-collate=C",
        "--lc-ctype=C",
        "--no-data-checksums",
    ]
    assert steps["upgrade-check"].result == "pass"
    assert (in_place.target_version or "").startswith("18.")
    assert in_place.fingerprint is not None and in_place.fingerprint.match
    assert in_place.smoke and all(o.result == "pass" for o in in_place.smoke)
    assert all(steps[name].result == "pass" for name in ("upgrade-in-place", "analyze"))


def test_a_rehearsal_whose_pg_upgrade_check_fails_is_a_fail(
    workspace: Workspace, pg16: ProductionServices
) -> None:
    # reg* columns survive a dump and restore but not pg_upgrade (their OIDs change)
    ws = _on(workspace, pg16)
    access = pg16.access[MODULE]
    assert isinstance(access, PostgresAccess)
    with PostgresProvider(access).connect("app") as conn:
        conn.execute("CREATE TABLE procs (p regproc)")
        conn.execute("INSERT INTO procs VALUES ('now'::regproc)")
        conn.commit()
    try:
        packet = _packet(ws.repo, MODULE, f"postgres:16.4@{DIGEST}", f"postgres:18.1@{DIGEST}")
        pred = _rehearsed(ws, MODULE, packet)
    finally:
        with PostgresProvider(access).connect("app") as conn:
            conn.execute("DROP TABLE procs")
            conn.commit()
    assert pred.result == "fail"
    assert (pred.reason or "").startswith("pg_upgrade --check refuses the upgrade: ")
    assert "reg*" in (pred.reason or "")
    steps = {s.name: s.result for s in pred.steps}
    assert steps["restore-on-target"] == "pass"  # the logical path does not notice
    assert steps["upgrade-check"] == "fail" and "upgrade-in-place" not in steps


def test_a_rehearsal_on_a_target_that_is_not_installed_is_an_error(
    workspace: Workspace, pg16: ProductionServices
) -> None:
    ws = _on(workspace, pg16)
    packet = _packet(ws.repo, MODULE, f"postgres:16.4@{DIGEST}", f"postgres:17.2@{DIGEST}")
    pred = _rehearsed(ws, MODULE, packet)
    assert pred.result == "error"
    assert (pred.reason or "").startswith("engine-unavailable: PostgreSQL 17 is not installed")
    assert pred.fingerprint is None and pred.rollback.kind == "unknown"


def test_a_packet_that_does_not_change_the_module_is_refused(workspace: Workspace) -> None:
    packet = _packet(workspace.repo, REDIS, f"redis:6.2.6@{DIGEST}", f"redis:6.2.14@{DIGEST}")
    with pytest.raises(InputError, match="does not name data/postgres"):
        run_rehearsal(workspace.context(MODULE), packet)
    same = _packet(workspace.repo, MODULE, f"postgres:15.8@{DIGEST}", f"postgres:15.8@{DIGEST}")
    with pytest.raises(InputError, match="does not change the image of data/postgres"):
        run_rehearsal(workspace.context(MODULE), same)


def test_a_rehearsal_needs_a_drilled_backup(workspace: Workspace) -> None:
    packet = _packet(workspace.repo, MODULE, f"postgres:15.8@{DIGEST}", f"postgres:16.4@{DIGEST}")
    with pytest.raises(InputError, match="no passing restore drill of data/postgres"):
        run_rehearsal(workspace.context(MODULE), packet)


def test_an_s3_rehearsal_round_trips_the_objects_and_says_the_server_is_seaweedfs(
    workspace: Workspace,
) -> None:
    old = f"minio/minio:RELEASE.2024-06-13T22-53-53Z@{DIGEST}"
    new = f"minio/minio:RELEASE.2025-04-22T22-12-26Z@{DIGEST}"
    packet = _packet(workspace.repo, "data/minio", old, new)
    pred = _rehearsed(workspace, "data/minio", packet)
    assert pred.result == "pass", pred.reason
    assert (pred.target_version or "").startswith("SeaweedFS ")  # what really ran
    assert pred.engine.version is not None and pred.engine.version.startswith("SeaweedFS 4.")
    assert "not the module's MinIO release" in (pred.engine.detail or "")
    assert pred.fingerprint is not None and pred.fingerprint.match
    assert [s.name for s in pred.steps] == LOGICAL_STEPS
    # nothing here can say how that MinIO release reads its disk: the way back is unknown
    assert pred.rollback.kind == "unknown"
    assert pred.rollback.detail.startswith("the sandbox S3 server is SeaweedFS ")
    assert f"not {new}" in pred.rollback.detail
    assert pred.rollback.detail.endswith(f"keep backup {pred.backup_id}")
