"""Backups in an off-host S3 repository (a real SeaweedFS server), age-encrypted on the
host, and drills that read them back from there."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyrage import x25519

from stategate.engines import discover
from stategate.evidence import audit
from stategate.evidence.findings import FindingCode
from stategate.evidence.records.predicates import BackupPredicate, DrillPredicate
from stategate.operations.backup import run_backup
from stategate.operations.drill import run_restore_drill
from stategate.policy.schema import EvidenceSettings
from stategate.providers.access import PostgresAccess, S3Access
from stategate.providers.s3 import client_for
from stategate.repository.repositories import Repositories, from_policy
from stategate.sandbox.servers import LocalPostgres, LocalS3

from .conftest import Workspace, write_platform

pytestmark = pytest.mark.integration

MODULES = ["data/postgres", "data/redis", "data/minio"]


@pytest.fixture(scope="module")
def offsite() -> Iterator[S3Access]:
    """The off-host repository's S3 server, with its bucket."""
    with LocalS3(binary=discover().newest("seaweedfs").path) as access:
        client_for(access).create_bucket(Bucket="backups")
        yield access


@pytest.fixture
def identity() -> x25519.Identity:
    return x25519.Identity.generate()


@pytest.fixture
def repositories(
    workspace: Workspace,
    offsite: S3Access,
    identity: x25519.Identity,
    monkeypatch: pytest.MonkeyPatch,
) -> Repositories:
    monkeypatch.setenv("OFFSITE_ACCESS_KEY", offsite.access_key)
    monkeypatch.setenv("OFFSITE_SECRET_KEY", offsite.secret_key)
    monkeypatch.setenv("STATEGATE_AGE_IDENTITY", str(identity))
    recipients = workspace.repo / "trust" / "backup-recipients.txt"
    recipients.write_text(f"# the operators' backup key\n{identity.to_public()}\n")
    settings = EvidenceSettings.model_validate(
        {
            "repositories": [
                {
                    "name": "offsite",
                    "type": "s3",
                    "endpoint": offsite.endpoint,
                    "bucket": "backups",
                    "prefix": "platform-a",
                    "access_key": {"env": "OFFSITE_ACCESS_KEY"},
                    "secret_key": {"env": "OFFSITE_SECRET_KEY"},
                },
                {"name": "here", "type": "local"},
            ],
            "backup_to": ["offsite", "here"],
            "encryption": {"recipients_file": "trust/backup-recipients.txt"},
        }
    )
    return from_policy(settings, workspace.repo, workspace.artifacts)


def _stored(offsite: S3Access, prefix: str) -> dict[str, bytes]:
    client = client_for(offsite)
    listed = client.list_objects_v2(Bucket="backups", Prefix=prefix).get("Contents", [])
    return {
        o["Key"]: client.get_object(Bucket="backups", Key=o["Key"])["Body"].read() for o in listed
    }


def _backup(ws: Workspace, module: str, repositories: Repositories) -> BackupPredicate:
    pred = run_backup(ws.context(module, repositories=repositories)).statement.predicate
    assert isinstance(pred, BackupPredicate)
    assert pred.result == "pass", pred.reason
    return pred


@pytest.mark.parametrize("module", MODULES)
def test_a_backup_lands_encrypted_in_both_repositories_and_drills_from_s3(
    workspace: Workspace, repositories: Repositories, offsite: S3Access, module: str
) -> None:
    pred = _backup(workspace, module, repositories)
    assert [c.repository for c in pred.copies] == ["offsite", "here"]
    assert pred.copies[0].where == f"{offsite.endpoint}/backups/platform-a"
    assert pred.encryption is not None and len(pred.encryption.recipients) == 1
    prefix = f"platform-a/{pred.location}/"
    stored = _stored(offsite, prefix)
    assert {f"{prefix}{a.name}.age" for a in pred.artifacts} <= set(stored)
    local = workspace.artifacts / pred.location
    # the same parts, all encrypted, in both (an S3 backup's objects are listed in parts.jsonl)
    assert {k.removeprefix(prefix) for k in stored} == {
        p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file()
    }
    assert all(key.endswith(".age") for key in stored)
    for artifact in pred.artifacts:
        body = stored[f"platform-a/{pred.location}/{artifact.name}.age"]
        assert body.startswith(b"age-encryption.org/v1\n")
        assert (artifact.stored_size, artifact.stored_name) == (len(body), artifact.name + ".age")
        local = workspace.artifacts / pred.location / f"{artifact.name}.age"
        assert local.read_bytes() == body  # the same stored bytes in both
    drill = run_restore_drill(workspace.context(module, repositories=repositories))
    dpred = drill.statement.predicate
    assert isinstance(dpred, DrillPredicate)
    assert dpred.result == "pass", dpred.reason
    assert dpred.read_from is not None and dpred.read_from.repository == "offsite"


def test_the_stored_bytes_hold_no_plaintext(
    workspace: Workspace, repositories: Repositories, offsite: S3Access
) -> None:
    """A seeded canary object's content is in an unencrypted backup and nowhere in an
    encrypted one."""
    access = workspace.services.access["data/minio"]
    assert isinstance(access, S3Access)
    canary = f"stategate-canary-{secrets.token_hex(16)}".encode()
    client_for(access).put_object(Bucket="uploads", Key="canary-plain.txt", Body=canary)
    try:
        plain = _backup(workspace, "data/minio", workspace.context("data/minio").stores())
        on_disk = b"".join(
            p.read_bytes() for p in (workspace.artifacts / plain.location).rglob("*") if p.is_file()
        )
        assert canary in on_disk  # the control: unencrypted, it is there
        pred = _backup(workspace, "data/minio", repositories)
        stored = _stored(offsite, f"platform-a/{pred.location}/")
        assert stored and not any(canary in body for body in stored.values())
        local = workspace.artifacts / pred.location
        assert not any(canary in p.read_bytes() for p in local.rglob("*") if p.is_file())
    finally:
        client_for(access).delete_object(Bucket="uploads", Key="canary-plain.txt")


def test_an_operator_restores_the_postgres_dump_with_the_age_cli_alone(
    workspace: Workspace,
    repositories: Repositories,
    offsite: S3Access,
    identity: x25519.Identity,
    tmp_path: Path,
) -> None:
    pred = _backup(workspace, "data/postgres", repositories)
    stored = _stored(offsite, f"platform-a/{pred.location}/")
    dump = next(k for k in stored if k.endswith("/db/app.dump.zst.age"))
    encrypted = tmp_path / "app.dump.zst.age"
    encrypted.write_bytes(stored[dump])
    roles = tmp_path / "globals.sql.age"
    roles.write_bytes(next(v for k, v in stored.items() if k.endswith("/globals.sql.age")))
    key = tmp_path / "key.txt"
    key.write_text(str(identity) + "\n")
    key.chmod(0o600)
    bin_dir = discover().require("postgresql", "15").path
    with LocalPostgres(bin_dir=bin_dir) as access:
        # roles first, then age -d | zstd -dc | pg_restore, as docs/evidence.md says
        connect = f"-h {access.host} -p {access.port} -U {access.user}"
        pipeline = (
            f"age -d -i {key} {roles} | grep -vE '^(CREATE ROLE {access.user};|ALTER ROLE "
            f"{access.user} WITH )' | {bin_dir / 'psql'} -X -q -v ON_ERROR_STOP=1 -d postgres "
            f"{connect} && "
            f"age -d -i {key} {encrypted} | zstd -dc | "
            f"{bin_dir / 'pg_restore'} --exit-on-error --create -d postgres "
            f"-h {access.host} -p {access.port} -U {access.user}"
        )
        done = subprocess.run(["sh", "-c", pipeline], capture_output=True, check=False)
        assert done.returncode == 0, done.stderr.decode(errors="replace")
        assert _count(access, "app", "users") == 500


def _count(access: PostgresAccess, db: str, table: str) -> int:
    import psycopg

    with psycopg.connect(host=access.host, port=access.port, user=access.user, dbname=db) as c:
        row = c.execute(f"select count(*) from {table}").fetchone()
    assert row is not None
    return int(row[0])


def test_a_flipped_byte_in_a_stored_object_fails_the_drill_and_says_so(
    workspace: Workspace, repositories: Repositories, offsite: S3Access
) -> None:
    pred = _backup(workspace, "data/redis", repositories)
    client = client_for(offsite)
    key = f"platform-a/{pred.location}/dump.rdb.age"
    body = bytearray(client.get_object(Bucket="backups", Key=key)["Body"].read())
    body[len(body) // 2] ^= 0x01
    client.put_object(Bucket="backups", Key=key, Body=bytes(body))
    drill = run_restore_drill(workspace.context("data/redis", repositories=repositories))
    dpred = drill.statement.predicate
    assert isinstance(dpred, DrillPredicate)
    assert dpred.result == "fail" and not dpred.artifacts_verified, dpred.reason
    assert dpred.reason == (
        "dump.rdb.age in repository offsite: the stored bytes differ from the record "
        "(changed or truncated in the repository); it does not decrypt"
    )
    # the local copy is intact: read from there, the same backup drills
    local = run_restore_drill(
        workspace.context("data/redis", repositories=repositories), repository="here"
    ).statement.predicate
    assert isinstance(local, DrillPredicate)
    assert local.result == "pass", local.reason
    assert local.read_from is not None and local.read_from.repository == "here"


def test_without_the_right_identity_nothing_decrypts_and_the_drill_says_why(
    workspace: Workspace,
    repositories: Repositories,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _backup(workspace, "data/redis", repositories)
    monkeypatch.setenv("STATEGATE_AGE_IDENTITY", str(x25519.Identity.generate()))
    drill = run_restore_drill(workspace.context("data/redis", repositories=repositories))
    dpred = drill.statement.predicate
    assert isinstance(dpred, DrillPredicate)
    assert dpred.result == "fail"
    assert dpred.reason == (
        "dump.rdb.age in repository offsite: does not decrypt with the identity given "
        "(the stored bytes are the ones recorded)"
    )
    monkeypatch.delenv("STATEGATE_AGE_IDENTITY")
    drill = run_restore_drill(workspace.context("data/redis", repositories=repositories))
    dpred = drill.statement.predicate
    assert isinstance(dpred, DrillPredicate)
    assert dpred.result == "error"
    assert dpred.reason == (
        "evidence.encryption.identity: environment variable STATEGATE_AGE_IDENTITY is not set"
    )


def test_a_backup_that_fails_midway_leaves_nothing_in_any_repository(
    workspace: Workspace, repositories: Repositories, offsite: S3Access
) -> None:
    # the first database is dumped and stored in both before the second fails
    config = workspace.services.sources["data/postgres"].model_copy(
        update={"databases": ["app", "no_such_db"]}
    )
    ctx = workspace.context("data/postgres", config, repositories=repositories)
    pred = run_backup(ctx).statement.predicate
    assert isinstance(pred, BackupPredicate)
    assert pred.result == "error" and "no_such_db" in (pred.reason or "")
    assert pred.copies == [] and pred.artifacts == []
    assert _stored(offsite, f"platform-a/{pred.location}") == {}
    assert not (workspace.artifacts / pred.location).exists()
    assert not list((workspace.artifacts / "data" / "postgres").glob("*.partial"))


def test_a_part_larger_than_one_upload_part_goes_multipart_and_reads_back(
    repositories: Repositories, offsite: S3Access, tmp_path: Path
) -> None:
    from stategate.repository.s3 import PART_SIZE

    plain = secrets.token_bytes(PART_SIZE * 2 + 12345)
    offsite_repo = repositories.named("offsite")
    one = Repositories(
        (offsite_repo,),
        (offsite_repo,),
        repositories.legacy,
        repositories.recipients,
        repositories.identity,
        repositories.repo,
    )
    with one.writing("big/b1") as writer, writer.part("blob.bin") as out:
        for start in range(0, len(plain), 1 << 20):
            out.write(plain[start : start + (1 << 20)])
    (part,) = writer.parts
    assert part.stored is not None and part.stored.size > len(plain)
    with one.fetched(offsite_repo, "big/b1", [part]) as folder:
        assert (folder / "blob.bin").read_bytes() == plain
    one.remove("big/b1")
    assert _stored(offsite, "platform-a/big/") == {}


def _policy_with_repositories(workspace: Workspace, offsite: S3Access) -> None:
    """The workspace repo as a platform whose backups go to offsite and here."""
    write_platform(workspace.repo, workspace.services)
    policy = workspace.repo / "stategate.yaml"
    policy.write_text(
        policy.read_text().replace(
            "modules:\n",
            "evidence:\n"
            "  repositories:\n"
            f"    - {{name: offsite, type: s3, endpoint: '{offsite.endpoint}', bucket: backups,\n"
            "       prefix: platform-b, access_key: {env: OFFSITE_ACCESS_KEY},\n"
            "       secret_key: {env: OFFSITE_SECRET_KEY}}\n"
            "    - {name: here, type: local}\n"
            "  encryption: {recipients_file: trust/backup-recipients.txt}\n"
            "modules:\n",
            1,
        )
    )


def _cli(workspace: Workspace, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "stategate", *args, "--repo", str(workspace.repo)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={
            **os.environ,
            **workspace.services.env,
            "STATEGATE_ARTIFACTS": str(workspace.artifacts),
            "STATEGATE_EVIDENCE_KEY": str(workspace.key_path()),
            "STATEGATE_KEYS": str(workspace.repo.parent / "no-keys"),
        },
    )


def test_a_backup_killed_mid_upload_leaves_no_record_and_repo_check_lists_its_parts(
    workspace: Workspace, repositories: Repositories, offsite: S3Access
) -> None:
    _policy_with_repositories(workspace, offsite)
    child = _cli(workspace, "backup", "data/minio", "--format", "json")
    client = client_for(offsite)
    deadline = time.monotonic() + 120
    stored: list[str] = []
    while child.poll() is None and len(stored) < 5 and time.monotonic() < deadline:
        listed = client.list_objects_v2(Bucket="backups", Prefix="platform-b/data/minio/")
        stored = [o["Key"] for o in listed.get("Contents", [])]
        time.sleep(0.02)
    assert child.poll() is None, "the backup finished before it could be killed"
    child.kill()
    child.wait()
    assert len(stored) >= 5  # parts were stored in the repository before the kill
    assert not list((workspace.repo / "evidence").rglob("backup-*.json"))  # no record
    check = _cli(workspace, "repo", "check", "--format", "json")
    out, err = check.communicate(timeout=120)
    assert check.returncode == 1, out + err
    doc = json.loads(out)
    reports = {r["repository"]: r for r in doc["repositories"]}
    orphans = [o["path"] for o in reports["offsite"]["orphans"]]
    assert orphans and all(p.startswith("data/minio/") for p in orphans)
    assert {f"platform-b/{p}" for p in orphans} >= set(stored)
    assert {o["reason"] for o in reports["offsite"]["orphans"]} == {
        "no passing backup record names it"
    }
    local = reports["here"]["orphans"]
    assert local and {o["reason"] for o in local} == {
        "an unfinished backup (killed while it was written)"
    }
    # the next backup works and is not an orphan: only the killed one's parts are
    done = _cli(workspace, "backup", "data/minio", "--format", "json")
    out, err = done.communicate(timeout=300)
    assert done.returncode == 0, out + err
    check = _cli(workspace, "repo", "check", "--format", "json")
    out, _err = check.communicate(timeout=120)
    after = {r["repository"]: r for r in json.loads(out)["repositories"]}
    assert after["offsite"]["backups"] == 1 and after["offsite"]["missing"] == []
    assert sorted(o["path"] for o in after["offsite"]["orphans"]) == sorted(orphans)


def test_evidence_verify_checks_the_stored_bytes_without_the_key(
    workspace: Workspace, repositories: Repositories, monkeypatch: pytest.MonkeyPatch
) -> None:
    pred = _backup(workspace, "data/redis", repositories)
    monkeypatch.delenv("STATEGATE_AGE_IDENTITY")  # an auditor has no key
    clean = audit.verify(workspace.store(), artifacts=workspace.artifacts)
    assert clean.findings == [] and clean.artifacts_checked >= 1
    stored = workspace.artifacts / pred.location / "dump.rdb.age"
    data = bytearray(stored.read_bytes())
    data[-10] ^= 0x01
    stored.write_bytes(bytes(data))
    tampered = audit.verify(workspace.store(), artifacts=workspace.artifacts)
    assert [f.code for f in tampered.findings] == [FindingCode.ARTIFACT_MISMATCH]
    assert f"artifact {pred.location}/dump.rdb.age has sha256" in tampered.findings[0].message


def test_a_multipart_part_failing_mid_upload_fails_the_backup_and_leaves_nothing(
    workspace: Workspace,
    offsite: S3Access,
    identity: x25519.Identity,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The server answers 500 to every try of the second part of a multipart upload:
    the part fails with the key named, the upload is aborted, and neither repository
    keeps anything of the backup."""
    from stategate.errors import ExternalError
    from stategate.repository.s3 import PART_SIZE

    from .failing_s3 import FailingS3Proxy

    def second_part(method: str, path: str) -> bool:
        return method == "PUT" and "partNumber=2&" in path + "&"

    monkeypatch.setenv("OFFSITE_ACCESS_KEY", offsite.access_key)
    monkeypatch.setenv("OFFSITE_SECRET_KEY", offsite.secret_key)
    recipients = workspace.repo / "trust" / "backup-recipients.txt"
    recipients.write_text(f"{identity.to_public()}\n")
    with FailingS3Proxy(offsite.endpoint, second_part) as proxy:
        settings = EvidenceSettings.model_validate(
            {
                "repositories": [
                    {
                        "name": "offsite",
                        "type": "s3",
                        "endpoint": proxy.endpoint,
                        "bucket": "backups",
                        "prefix": "platform-f",
                        "access_key": {"env": "OFFSITE_ACCESS_KEY"},
                        "secret_key": {"env": "OFFSITE_SECRET_KEY"},
                    },
                    {"name": "here", "type": "local"},
                ],
                "encryption": {"recipients_file": "trust/backup-recipients.txt"},
            }
        )
        repositories = from_policy(settings, workspace.repo, workspace.artifacts)
        block = secrets.token_bytes(1 << 20)
        with (
            pytest.raises(ExternalError) as caught,
            repositories.writing("data/pg/b-fault") as writer,
            writer.part("db.dump") as out,
        ):
            for _ in range(PART_SIZE * 3 // len(block)):
                out.write(block)
        message = str(caught.value)
        assert "platform-f/data/pg/b-fault/db.dump.age" in message and "InternalError" in message
        assert offsite.secret_key not in message
        assert len(proxy.failed) >= 2  # botocore retried it; it failed every time
        assert any("uploads" in s and s.startswith("POST") for s in proxy.seen)  # multipart
    assert _stored(offsite, "platform-f/") == {}
    uploads = client_for(offsite).list_multipart_uploads(Bucket="backups", Prefix="platform-f/")
    assert uploads.get("Uploads", []) == []  # aborted, not left to linger
    assert not (workspace.artifacts / "data" / "pg").exists() or not any(
        (workspace.artifacts / "data" / "pg").iterdir()
    )
