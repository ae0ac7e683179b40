"""Back up seeded data, restore-drill it, and catch every way it can go wrong."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
import redis

from stategate.errors import InputError
from stategate.evidence.records.predicates import BackupPredicate, DrillPredicate
from stategate.evidence.records.typed import latest_drill_of, list_records, read_record
from stategate.evidence.signing.dsse import parse_envelope
from stategate.operations.backup import run_backup
from stategate.operations.drill import run_restore_drill
from stategate.operations.restore import fetched_backup
from stategate.providers.access import PostgresAccess, RedisAccess, S3Access
from stategate.providers.base import BackupHooks
from stategate.providers.config import PostgresSource, VolumeSource
from stategate.providers.fingerprint import compare
from stategate.providers.registry import provider_for
from stategate.providers.s3 import client_for
from stategate.providers.s3_layout import MANIFEST_PART, parse_manifest

from .conftest import Workspace
from .hostile_s3 import moto_server

pytestmark = pytest.mark.integration

MODULES = ["data/postgres", "data/redis", "data/minio"]
MAIN_PART = {
    "data/postgres": "db/app.dump.zst",
    "data/redis": "dump.rdb",
    "data/minio": "fingerprint.jsonl",
}


def backup_pred(record: object) -> BackupPredicate:
    pred = record.statement.predicate  # type: ignore[attr-defined]
    assert isinstance(pred, BackupPredicate)
    return pred


def drill_pred(record: object) -> DrillPredicate:
    pred = record.statement.predicate  # type: ignore[attr-defined]
    assert isinstance(pred, DrillPredicate)
    return pred


@pytest.mark.parametrize("module_id", MODULES)
def test_backup_then_drill_passes(workspace: Workspace, module_id: str) -> None:
    ctx = workspace.context(module_id)
    backup = run_backup(ctx)
    pred = backup_pred(backup)
    assert pred.result == "pass", pred.reason
    assert pred.fingerprint is not None and pred.fingerprint.items > 0
    assert pred.source.image_digest == "sha256:" + "ab" * 32
    assert pred.source.server_version
    directory = workspace.artifacts / pred.location
    assert directory.is_dir() and not any(
        p.name.endswith(".partial") for p in directory.parent.iterdir()
    )
    envelope = parse_envelope(backup.path.read_bytes())
    assert envelope.payload_type == "application/vnd.in-toto+json"
    raw = json.loads(envelope.payload)
    assert raw["predicate"]["signer"]["keyid"] == workspace.key.keyid
    assert raw["predicate"]["signer"]["role"] == "evidence"
    assert raw["_type"] == "https://in-toto.io/Statement/v1"
    assert raw["predicateType"] == "https://stategate.dev/backup/v1"
    assert all(len(s["digest"]["sha256"]) == 64 for s in raw["subject"])
    assert backup.path.parent == workspace.repo / "evidence" / module_id

    drill = run_restore_drill(ctx)
    dpred = drill_pred(drill)
    assert dpred.result == "pass", dpred.reason
    assert dpred.artifacts_verified
    assert dpred.fingerprint is not None and dpred.fingerprint.match
    assert dpred.fingerprint.observed.digest == pred.fingerprint.digest
    assert dpred.engine.name == "local" and dpred.engine.version
    assert dpred.sandbox is not None and dpred.sandbox.server_version
    assert dpred.sandbox.address != pred.source.address
    assert dpred.smoke and all(o.result == "pass" for o in dpred.smoke)
    assert dpred.backup_id == pred.backup_id
    again = read_record(workspace.store(), drill.path)
    assert again.statement == drill.statement and again.sha256 == drill.sha256
    assert again.signer.name == "ci-host"
    ledger = (workspace.repo / "evidence" / "ledger.jsonl").read_text().splitlines()
    assert [json.loads(line)["path"] for line in ledger] == [backup.rel, drill.rel]


@pytest.mark.parametrize("module_id", MODULES)
def test_one_flipped_byte_fails_the_drill(workspace: Workspace, module_id: str) -> None:
    ctx = workspace.context(module_id)
    pred = backup_pred(run_backup(ctx))
    target = workspace.artifacts / pred.location / MAIN_PART[module_id]
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    drill = drill_pred(run_restore_drill(ctx))
    assert drill.result == "fail"
    assert not drill.artifacts_verified
    assert "sha256" in (drill.reason or "")


@pytest.mark.parametrize("module_id", MODULES)
def test_truncated_artifact_fails_the_drill(workspace: Workspace, module_id: str) -> None:
    ctx = workspace.context(module_id)
    pred = backup_pred(run_backup(ctx))
    target = workspace.artifacts / pred.location / MAIN_PART[module_id]
    data = target.read_bytes()
    target.write_bytes(data[: len(data) - 7])
    drill = drill_pred(run_restore_drill(ctx))
    assert drill.result == "fail"
    assert "size" in (drill.reason or "")


def test_missing_artifact_fails_the_drill(workspace: Workspace) -> None:
    ctx = workspace.context("data/redis")
    pred = backup_pred(run_backup(ctx))
    (workspace.artifacts / pred.location / "dump.rdb").unlink()
    drill = drill_pred(run_restore_drill(ctx))
    assert drill.result == "fail" and "missing" in (drill.reason or "")


def test_s3_object_corrupted_in_mirror_fails_the_drill(workspace: Workspace) -> None:
    """Objects are listed with their digests (parts.jsonl, itself a recorded part): a
    changed object fails the drill's verification, before anything is restored."""
    ctx = workspace.context("data/minio")
    pred = backup_pred(run_backup(ctx))
    mirror = workspace.artifacts / pred.location / "objects" / "uploads"
    obj = next(p for p in mirror.rglob("*") if p.is_file() and p.stat().st_size)
    obj.write_bytes(obj.read_bytes() + b"x")
    drill = drill_pred(run_restore_drill(ctx))
    assert drill.result == "fail" and not drill.artifacts_verified
    name = obj.relative_to(workspace.artifacts / pred.location).as_posix()
    assert f"{name}: size {obj.stat().st_size} differs from recorded" in (drill.reason or "")


def _pg(access: PostgresAccess, db: str = "app") -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(
        host=access.host,
        port=access.port,
        user=access.user,
        password=access.password,
        dbname=db,
        autocommit=True,
    )


def test_postgres_change_during_backup_stays_out_of_the_snapshot(workspace: Workspace) -> None:
    """Fingerprint and dump share one exported snapshot: a concurrent write is in neither."""
    access = workspace.services.access["data/postgres"]
    assert isinstance(access, PostgresAccess)

    def write() -> None:
        with _pg(access) as conn:
            conn.execute("INSERT INTO notes (title) VALUES ('written during backup')")

    ctx = workspace.context("data/postgres")
    pred = backup_pred(run_backup(ctx, hooks=BackupHooks(after_fingerprint=write)))
    assert pred.result == "pass" and pred.consistent
    drill = drill_pred(run_restore_drill(ctx))
    assert drill.result == "pass", drill.reason


def test_postgres_change_between_fingerprint_and_dump_is_detected(workspace: Workspace) -> None:
    """Without a shared snapshot the change reaches the dump and the drill must fail."""
    access = workspace.services.access["data/postgres"]
    assert isinstance(access, PostgresAccess)
    config = workspace.services.sources["data/postgres"]
    assert isinstance(config, PostgresSource)
    loose = config.model_copy(update={"snapshot": False})

    def write() -> None:
        with _pg(access) as conn:
            conn.execute("UPDATE users SET email = email || '.changed' WHERE id = 7")

    ctx = workspace.context("data/postgres", loose)
    pred = backup_pred(run_backup(ctx, hooks=BackupHooks(after_fingerprint=write)))
    assert pred.result == "pass" and not pred.consistent
    drill = drill_pred(run_restore_drill(ctx))
    assert drill.result == "fail"
    assert drill.fingerprint is not None and drill.fingerprint.changed == 1
    assert any("app/public.users" in e for e in drill.fingerprint.examples)


def test_redis_change_during_backup_stays_out_of_the_snapshot(workspace: Workspace) -> None:
    """The fingerprint is read from the RDB snapshot itself: a write after the fork is in
    neither the artifact nor the fingerprint, and the drill of that backup passes."""
    access = workspace.services.access["data/redis"]
    assert isinstance(access, RedisAccess)

    def write() -> None:
        with redis.Redis(host=access.host, port=access.port, password=access.password) as c:
            c.hset("user:5", "plan", "enterprise-changed")
            c.set("written:during:backup", "1")

    ctx = workspace.context("data/redis")
    pred = backup_pred(run_backup(ctx, hooks=BackupHooks(after_snapshot=write)))
    assert pred.result == "pass" and pred.consistent
    drill = drill_pred(run_restore_drill(ctx))
    assert drill.result == "pass", drill.reason
    # the source moved on: a fresh backup sees the write, the old fingerprint does not
    later = backup_pred(run_backup(ctx))
    assert later.fingerprint is not None and pred.fingerprint is not None
    assert later.fingerprint.items == pred.fingerprint.items + 1
    assert later.fingerprint.digest != pred.fingerprint.digest


def test_redis_keys_whose_ttl_passed_before_the_drill_count_as_expired(
    workspace: Workspace,
) -> None:
    """A key expiring between backup and drill is not loaded by the sandbox: the drill
    says so (expired), and still fails on any key that should be there and is not.

    No race with the clock: the backup's own hook checks, right after the snapshot is
    forked, that the key was still alive in it (else the TTL was too short for this
    machine and it starts again with a longer one); the drill waits until the server
    itself says the key has expired."""
    access = workspace.services.access["data/redis"]
    assert isinstance(access, RedisAccess)
    ctx = workspace.context("data/redis")
    with redis.Redis(host=access.host, port=access.port, password=access.password) as c:
        try:
            ttl_ms = 1500
            alive: list[bool] = []
            hooks = BackupHooks(after_snapshot=lambda: alive.append(c.pttl("session:short") > 0))
            while True:
                alive.clear()
                c.set("session:short", "gone soon", px=ttl_ms)
                pred = backup_pred(run_backup(ctx, hooks=hooks))
                assert pred.result == "pass", pred.reason
                if alive == [True]:
                    break  # alive after the fork, so alive in the snapshot
                ttl_ms *= 4
                assert ttl_ms < 200_000, "the key expired before every snapshot"
            while c.exists("session:short"):  # the server's clock, which the sandbox shares
                time.sleep(0.05)
            drill = drill_pred(run_restore_drill(ctx))
            assert drill.result == "pass", drill.reason
            assert drill.fingerprint is not None
            assert drill.fingerprint.expired == 1 and drill.fingerprint.missing == 0
        finally:
            c.delete("session:short")


def test_s3_change_between_listing_and_download_fails_the_backup(workspace: Workspace) -> None:
    access = workspace.services.access["data/minio"]
    assert isinstance(access, S3Access)
    client = client_for(access)

    def write() -> None:
        client.put_object(Bucket="uploads", Key="users/1/file-1.bin", Body=b"changed under us")

    ctx = workspace.context("data/minio")
    record = run_backup(ctx, hooks=BackupHooks(after_fingerprint=write))
    pred = backup_pred(record)
    assert pred.result == "error"
    assert "changed during the backup" in (pred.reason or "")
    assert not (workspace.artifacts / pred.location).exists()
    assert pred.artifacts == []
    with pytest.raises(InputError, match="no passing backup"):
        run_restore_drill(ctx)


HOSTILE_KEYS = ["../../etc/evil", "a\\b", "/lead", "a/./b", "a//b", ".", "nul\0x"]


class _MotoEngine:
    """A sandbox engine whose S3 endpoint is a fresh moto server (SeaweedFS and MinIO
    normalise or refuse these keys, AWS S3 and moto keep them)."""

    @contextmanager
    def s3(self) -> Iterator[S3Access]:
        with moto_server() as endpoint:
            yield S3Access(endpoint, "sandbox", "sandbox-secret")


def test_s3_keys_a_mirror_could_not_hold_are_backed_up_and_restored(
    workspace: Workspace,
) -> None:
    """AWS S3 (and moto) store keys like ``../../etc/evil``, ``a\\b`` (Windows clients)
    or ``/lead``; no key is a path in the backup, so they are kept (nothing is written
    outside it) and restore to a server that takes them, compared exactly."""
    access = workspace.services.access["data/minio"]
    assert isinstance(access, S3Access)
    with moto_server() as endpoint:
        client = client_for(replace(access, endpoint=endpoint))
        client.create_bucket(Bucket="hostile")
        for key in HOSTILE_KEYS:
            client.put_object(Bucket="hostile", Key=key, Body=key.encode())
        config = workspace.services.sources["data/minio"].model_copy(
            update={"buckets": ["hostile"], "endpoint": endpoint}
        )
        ctx = workspace.context("data/minio", config, smoke=[])
        record = run_backup(ctx)
        pred = backup_pred(record)
        assert pred.result == "pass", pred.reason
        # said up front: the local sandbox (SeaweedFS) and MinIO cannot hold them
        (odd,) = [f for f in pred.findings if "cannot hold as written" in f]
        assert odd.startswith("bucket hostile: ") and "a restore there refuses" in odd
        source = provider_for(ctx.require_config(), ctx.repo)
        with (
            fetched_backup(ctx, record, source) as stored,
            source.restore(stored, _MotoEngine()) as sandbox,  # type: ignore[arg-type]
        ):
            result = compare(stored.fingerprint, sandbox.fingerprint())
            assert result.match, result.examples
            restored = client_for(sandbox.access)
            for key in HOSTILE_KEYS:
                body = restored.get_object(Bucket="hostile", Key=key)["Body"].read()
                assert body == key.encode()
    backup = workspace.artifacts / pred.location
    manifest = parse_manifest((backup / MANIFEST_PART).read_bytes())
    assert sorted(v.key for v in manifest.versions) == sorted(HOSTILE_KEYS)
    assert not list(workspace.artifacts.parent.rglob("evil"))
    assert all(p.parent.name == "hostile" for p in (backup / "objects").rglob("*") if p.is_file())


def test_s3_keys_needing_encoding_round_trip(workspace: Workspace) -> None:
    """Keys with spaces, plus signs, percent signs, unicode and reserved characters
    survive the listing (URL-encoded on the wire), the signed GETs and the drill."""
    access = workspace.services.access["data/minio"]
    assert isinstance(access, S3Access)
    client = client_for(access)
    client.create_bucket(Bucket="odd-keys")
    keys = {"a b/c+d.txt": b"1", "\u00fc/%41.bin": b"22", "x~y(1)&z=;,@!$'*.dat": b"333"}
    for key, body in keys.items():
        client.put_object(Bucket="odd-keys", Key=key, Body=body)
    config = workspace.services.sources["data/minio"].model_copy(update={"buckets": ["odd-keys"]})
    ctx = workspace.context("data/minio", config, smoke=[])  # no canary bucket here
    pred = backup_pred(run_backup(ctx))
    assert pred.result == "pass", pred.reason
    stored = workspace.artifacts / pred.location
    manifest = parse_manifest((stored / MANIFEST_PART).read_bytes())
    assert {v.key: (stored / v.part).read_bytes() for v in manifest.versions} == keys
    drill = drill_pred(run_restore_drill(ctx))
    assert drill.result == "pass", drill.reason


def test_volume_backup_and_drill(workspace: Workspace, tmp_path: Path) -> None:
    data = tmp_path / "volume"
    (data / "sub" / "deep").mkdir(parents=True)
    (data / "sub" / "deep" / "file.bin").write_bytes(bytes(range(256)) * 100)
    (data / "config.yml").write_text("a: 1\n")
    (data / "link").symlink_to("config.yml")
    ctx = workspace.context("data/files", VolumeSource(path=str(data)), smoke=[])
    pred = backup_pred(run_backup(ctx))
    assert pred.result == "pass", pred.reason
    assert pred.fingerprint is not None and pred.fingerprint.items == 6  # the root too
    drill = drill_pred(run_restore_drill(ctx))
    assert drill.result == "pass", drill.reason
    (data / "config.yml").write_text(
        "a: 2\n"
    )  # the source moves on; the drill still reads the backup
    assert drill_pred(run_restore_drill(ctx)).result == "pass"


def test_drill_of_unknown_or_failed_backup_is_refused(workspace: Workspace) -> None:
    ctx = workspace.context("data/redis")
    with pytest.raises(InputError, match="no passing backup"):
        run_restore_drill(ctx)
    with pytest.raises(InputError, match="no backup 20990101T000000Z-abcdef"):
        run_restore_drill(ctx, backup_id="20990101T000000Z-abcdef")


def test_drill_named_backup(workspace: Workspace) -> None:
    ctx = workspace.context("data/redis")
    first_record = run_backup(ctx)
    first = backup_pred(first_record)
    second_record = run_backup(ctx)
    drill_record = run_restore_drill(ctx, backup_id=first.backup_id)
    drill = drill_pred(drill_record)
    assert drill.result == "pass" and drill.backup_id == first.backup_id
    assert drill.backup_record_sha256 == first_record.sha256
    store = workspace.store()
    found = latest_drill_of(store, first_record)
    assert found is not None and found.rel == drill_record.rel
    assert latest_drill_of(store, second_record) is None
    kinds = [r.kind for r in list_records(workspace.store(), "data/redis")]
    assert kinds.count("backup") == 2 and kinds.count("restore-drill") == 1
