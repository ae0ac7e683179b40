"""A restore drill records where its time went: ``steps[]`` in the signed record.

Real PostgreSQL, Redis and S3 (SeaweedFS) servers; the restore runs with one
pg_restore job (the archive streamed from its zstd part) and with two (the part
decompressed to a file first, for parallel jobs), and both must restore the same.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import psycopg
import pytest

from stategate.commands.evidence_output import _details
from stategate.evidence.records.compression import CorruptStream
from stategate.evidence.records.predicates import DrillPredicate
from stategate.evidence.records.typed import StoredRecord, find_backup
from stategate.evidence.signing.dsse import parse_envelope
from stategate.operations.backup import run_backup
from stategate.operations.drill import run_restore_drill
from stategate.operations.restore import backup_predicate, fetched_backup, restored_sandbox
from stategate.providers import postgres as pg_provider
from stategate.providers.fingerprint import compare
from stategate.providers.postgres import archive_file, dump_part
from stategate.providers.registry import provider_for
from stategate.sandbox.select import engine_for
from stategate.schemas import find, load

from .conftest import Workspace

pytestmark = pytest.mark.integration

POSTGRES_STEPS = [
    "verify-artifacts",
    "sandbox-start",
    "restore-globals",
    "restore-db app",
    "sandbox-check",
    "fingerprint",
    "compare",
    "smoke",
    "teardown",
]


def _pred(record: StoredRecord) -> DrillPredicate:
    pred = record.statement.predicate
    assert isinstance(pred, DrillPredicate)
    return pred


def _signed_payload(record: StoredRecord) -> dict[str, object]:
    payload: dict[str, object] = json.loads(parse_envelope(record.path.read_bytes()).payload)
    return payload


def _check_steps(record: StoredRecord, names: list[str]) -> None:
    pred = _pred(record)
    assert [s.name for s in pred.steps] == names
    assert all(s.duration_s >= 0 and s.result == "pass" for s in pred.steps)
    total = (pred.finished - pred.started).total_seconds()
    assert 0 < sum(s.duration_s for s in pred.steps) <= total
    # the steps are in the signed payload, and it matches the shipped schema
    payload = _signed_payload(record)
    predicate = payload["predicate"]
    assert isinstance(predicate, dict)
    assert [s["name"] for s in predicate["steps"]] == names
    jsonschema.Draft202012Validator(load(find("evidence-restore-drill"))).validate(payload)


@pytest.mark.parametrize("jobs", [1, 2])
def test_postgres_drill_records_its_steps(
    workspace: Workspace, jobs: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pg_provider, "restore_jobs", lambda: jobs)
    ctx = workspace.context("data/postgres")
    backup = run_backup(ctx)
    assert backup.statement.predicate.result == "pass"
    drill = run_restore_drill(ctx)
    pred = _pred(drill)
    assert pred.result == "pass", pred.reason
    assert pred.fingerprint is not None and pred.fingerprint.match
    _check_steps(drill, POSTGRES_STEPS)
    # the restore says how many jobs it ran (the benches give the bare pg_restore as many)
    restore = next(s for s in pred.steps if s.name == "restore-db app")
    assert restore.detail.startswith(f"pg_restore --jobs={jobs}"), restore.detail
    # the operator sees the breakdown
    lines = _details(pred)
    at = lines.index(next(line for line in lines if line.startswith("steps: ")))
    assert [line.split(":")[0].strip() for line in lines[at + 1 : at + 10]] == POSTGRES_STEPS


@pytest.mark.parametrize(
    ("module_id", "names"),
    [
        ("data/redis", ["sandbox-start-and-load"]),
        ("data/minio", ["sandbox-start", "restore-objects"]),
    ],
)
def test_other_providers_record_their_steps(
    workspace: Workspace, module_id: str, names: list[str]
) -> None:
    ctx = workspace.context(module_id)
    assert run_backup(ctx).statement.predicate.result == "pass"
    drill = run_restore_drill(ctx)
    assert _pred(drill).result == "pass", _pred(drill).reason
    expected = ["verify-artifacts", *names, "sandbox-check", "fingerprint", "compare", "smoke"]
    _check_steps(drill, [*expected, "teardown"])


def test_a_failing_restore_is_a_failed_step(workspace: Workspace, tmp_path: Path) -> None:
    """The sandbox cannot be created (no postgres binary where the policy says): the drill
    fails, and its steps say which one failed, after the artifacts were verified."""
    ctx = workspace.context("data/postgres")
    assert run_backup(ctx).statement.predicate.result == "pass"
    config = ctx.require_config()
    broken = config.model_copy(
        update={"sandbox": config.sandbox.model_copy(update={"postgres_bin": str(tmp_path)})}
    )
    drill = run_restore_drill(workspace.context("data/postgres", config=broken))
    pred = _pred(drill)
    assert pred.result == "error", pred.reason
    # what was set up (the fetched backup) is still torn down, and timed
    assert [s.name for s in pred.steps] == ["verify-artifacts", "sandbox-start", "teardown"]
    assert [s.result for s in pred.steps] == ["pass", "error", "pass"]
    assert "no postgres binary" in pred.steps[1].detail


def test_parallel_restore_archive_is_checked_whole_before_use(
    workspace: Workspace, tmp_path: Path
) -> None:
    """The decompressed archive a parallel restore reads exists only once the whole zstd
    frame and its checksum held; a damaged part never reaches pg_restore."""
    ctx = workspace.context("data/postgres")
    backup = run_backup(ctx)
    location = backup.statement.predicate.location  # type: ignore[union-attr]
    part = workspace.artifacts / location / dump_part("app")
    damaged = tmp_path / "damaged.zst"
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    with pytest.raises(CorruptStream, match="x: corrupt zstd data"), archive_file(damaged, "x"):
        pytest.fail("the archive of a damaged part was handed out")
    with archive_file(part, "db/app.dump.zst") as archive:
        assert archive.read_bytes()[:5] == b"PGDMP"  # a custom-format archive
        held = archive.parent
    assert not held.exists()  # removed on exit


def test_restore_sandbox_settings(workspace: Workspace) -> None:
    """The sandbox a drill restores into runs the throwaway-cluster settings; its content
    still compares (the drill above), and the source's own settings are untouched."""
    ctx = workspace.context("data/postgres")
    assert run_backup(ctx).statement.predicate.result == "pass"
    source = provider_for(ctx.require_config(), ctx.repo)
    record = find_backup(ctx.store, ctx.module_id, None)
    engine = engine_for(ctx.require_config().sandbox, module_image=ctx.image)
    with (
        fetched_backup(ctx, record, source) as stored,
        restored_sandbox(source, stored, engine, backup_predicate(record).source) as box,
    ):
        seen = _settings(box.provider)
        assert seen == {"wal_level": "minimal", "autovacuum": "off", "fsync": "off"}
        assert compare(stored.fingerprint, box.provider.fingerprint(), now_ms=0).match
    assert _settings(source)["wal_level"] != "minimal"


def _settings(provider: object) -> dict[str, str]:
    connect = provider.connect  # type: ignore[attr-defined]
    with connect("postgres") as conn:
        assert isinstance(conn, psycopg.Connection)
        rows = conn.execute(
            "SELECT name, setting FROM pg_settings WHERE name = ANY(%s)",
            (["wal_level", "autovacuum", "fsync"],),
        ).fetchall()
    return {str(n): str(v) for n, v in rows}
