"""S3 backups keep what a production restore needs, against a real SeaweedFS: versions and
delete markers in order, metadata, tags, folder keys, keys colliding as files, and the
bucket settings; a drill names every kind of difference."""

from __future__ import annotations

import hashlib
import json
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest

from stategate.evidence.records.artifact import BackupWriter
from stategate.evidence.records.predicates import BackupPredicate, DrillPredicate
from stategate.operations.backup import run_backup
from stategate.operations.drill import run_restore_drill
from stategate.operations.restore import fetched_backup, restored_sandbox
from stategate.providers import s3 as s3_module
from stategate.providers import s3_layout
from stategate.providers.access import S3Access
from stategate.providers.base import BackupHooks, BackupOutput
from stategate.providers.fingerprint import Fingerprint, FingerprintItem, compare
from stategate.providers.registry import provider_for
from stategate.providers.s3 import NOT_IN_S3_API, S3Provider, client_for, object_part
from stategate.providers.s3_http import S3Http, header_bytes, header_text
from stategate.providers.s3_layout import MANIFEST_PART, parse_manifest
from stategate.sandbox.local import LocalEngine

from .conftest import Workspace
from .failing_s3 import NOT_IMPLEMENTED, FailingS3Proxy

pytestmark = pytest.mark.integration

VERSIONED, PLAIN, LOCKED = "meta-versioned", "meta-plain", "meta-locked"
SUSPENDED = "meta-suspended"
ALL = [VERSIONED, PLAIN, LOCKED, SUSPENDED]
POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": "*",
            "Action": ["s3:GetObject"],
            "Resource": [f"arn:aws:s3:::{VERSIONED}/public/*"],
        }
    ],
}
LIFECYCLE = {
    "Rules": [
        {"ID": "tmp", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 7}}
    ]
}
ENCRYPTION = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}
RICH = {
    "ContentType": "text/csv",
    "CacheControl": "max-age=60",
    "ContentDisposition": "attachment; filename=report.csv",
    "ContentLanguage": "en",
    "Metadata": {"owner": "billing", "source": "nightly"},
    "Tagging": "class=finance&keep=yes",
}


def _seed(client: Any) -> None:
    """Created once per session: the source server is shared (names are unique here)."""
    names = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    if VERSIONED in names:
        return
    client.create_bucket(Bucket=VERSIONED)
    client.put_bucket_versioning(Bucket=VERSIONED, VersioningConfiguration={"Status": "Enabled"})
    client.put_object(Bucket=VERSIONED, Key="doc", Body=b"first", **RICH)
    client.put_object(Bucket=VERSIONED, Key="doc", Body=b"second!", ContentType="application/json")
    client.delete_object(Bucket=VERSIONED, Key="doc")  # a delete marker, the newest
    client.put_object(Bucket=VERSIONED, Key="hist", Body=b"old", Metadata={"rev": "1"})
    client.put_object(Bucket=VERSIONED, Key="hist", Body=b"new", Metadata={"rev": "2"})
    # a folder key and a file of one name: SeaweedFS keeps both only in a versioned bucket
    # (its unversioned buckets are directories: x/ is then the directory of x)
    client.put_object(Bucket=VERSIONED, Key="x/", Body=b"")
    client.put_object(Bucket=VERSIONED, Key="x", Body=b"x")
    client.put_bucket_policy(Bucket=VERSIONED, Policy=json.dumps(POLICY))
    client.put_bucket_lifecycle_configuration(Bucket=VERSIONED, LifecycleConfiguration=LIFECYCLE)
    client.put_bucket_tagging(
        Bucket=VERSIONED, Tagging={"TagSet": [{"Key": "team", "Value": "billing"}]}
    )
    client.put_bucket_cors(
        Bucket=VERSIONED,
        CORSConfiguration={"CORSRules": [{"AllowedMethods": ["GET"], "AllowedOrigins": ["*"]}]},
    )
    client.create_bucket(Bucket=PLAIN)
    client.put_bucket_encryption(Bucket=PLAIN, ServerSideEncryptionConfiguration=ENCRYPTION)
    client.put_object(Bucket=PLAIN, Key="report.csv", Body=b"a,b\n1,2\n", **RICH)
    client.put_object(
        Bucket=PLAIN, Key="meta.txt", Body=b"m", ContentType="text/plain", Metadata={"m": "1"}
    )
    client.put_object(Bucket=PLAIN, Key="invoices/2024/", Body=b"")  # a folder key
    for key in ("a", "a/b"):  # a key and a prefix: both files in a mirror by key
        client.put_object(Bucket=PLAIN, Key=key, Body=key.encode())
    client.create_bucket(Bucket=LOCKED, ObjectLockEnabledForBucket=True)
    client.put_object_lock_configuration(
        Bucket=LOCKED,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}},
        },
    )
    client.put_object(Bucket=LOCKED, Key="ledger", Body=b"locked")
    client.create_bucket(Bucket=SUSPENDED)
    client.put_bucket_versioning(Bucket=SUSPENDED, VersioningConfiguration={"Status": "Enabled"})
    client.put_object(Bucket=SUSPENDED, Key="k", Body=b"kept version")
    client.put_bucket_versioning(Bucket=SUSPENDED, VersioningConfiguration={"Status": "Suspended"})
    time.sleep(1.1)  # listings give seconds: the null version is then newer by its time too
    client.put_object(Bucket=SUSPENDED, Key="k", Body=b"the null version")


@dataclass
class Setup:
    workspace: Workspace
    client: Any

    def context(self, buckets: list[str]) -> Any:
        config = self.workspace.services.sources["data/minio"].model_copy(
            update={"buckets": buckets}
        )
        return self.workspace.context("data/minio", config, smoke=[])


@pytest.fixture
def setup(workspace: Workspace) -> Setup:
    access = workspace.services.access["data/minio"]
    assert isinstance(access, S3Access)
    client = client_for(access)
    _seed(client)
    return Setup(workspace, client)


def _backup(ctx: Any, hooks: BackupHooks | None = None) -> BackupPredicate:
    pred = run_backup(ctx, hooks=hooks).statement.predicate
    assert isinstance(pred, BackupPredicate)
    return pred


def test_versions_metadata_tags_and_settings_survive_backup_and_drill(setup: Setup) -> None:
    ctx = setup.context(ALL)
    pred = _backup(ctx)
    assert pred.result == "pass", pred.reason
    assert pred.consistent and "same versions" not in pred.note  # PLAIN is unversioned
    assert NOT_IN_S3_API in pred.findings
    stored = setup.workspace.artifacts / pred.location
    manifest = parse_manifest((stored / MANIFEST_PART).read_bytes())
    doc = sorted((v for v in manifest.versions if v.key == "doc"), key=lambda v: v.order)
    assert [(v.order, v.delete_marker) for v in doc] == [(1, False), (2, False), (3, True)]
    assert (stored / doc[0].part).read_bytes() == b"first"
    first = dict(doc[0].headers)
    assert first["content-type"] == "text/csv"
    assert first["cache-control"] == "max-age=60"
    assert first["x-amz-meta-owner"] == "billing"
    assert dict(doc[0].tags) == {"class": "finance", "keep": "yes"}
    plain = {v.key: (stored / v.part).read_bytes() for v in manifest.versions if v.bucket == PLAIN}
    assert plain["invoices/2024/"] == b""
    assert (plain["a"], plain["a/b"]) == (b"a", b"a/b")
    colliding = {v.key: v.size for v in manifest.versions if v.key in ("x", "x/")}
    assert colliding == {"x": 1, "x/": 0}
    settings = {b.bucket: b for b in manifest.buckets}
    assert settings[VERSIONED].versioning == "Enabled"
    assert set(settings[VERSIONED].values) == {"policy", "lifecycle", "tags", "cors"}
    assert set(settings[PLAIN].values) == {"encryption"}
    assert any(
        f.startswith(f"bucket {PLAIN}: ") and "server-side encryption" in f for f in pred.findings
    ), pred.findings
    assert settings[LOCKED].object_lock
    (ledger,) = (v for v in manifest.versions if v.bucket == LOCKED)
    assert dict(ledger.headers)["x-amz-object-lock-mode"] == "GOVERNANCE"
    assert settings[SUSPENDED].versioning == "Suspended"
    # SeaweedFS lists the null version last: it is still the newest, the current object
    history = sorted((v for v in manifest.versions if v.bucket == SUSPENDED), key=lambda v: v.order)
    assert [(stored / v.part).read_bytes() for v in history] == [
        b"kept version",
        b"the null version",
    ]
    drill = run_restore_drill(ctx).statement.predicate
    assert isinstance(drill, DrillPredicate)
    assert drill.result == "pass", (drill.reason, drill.fingerprint)


def test_a_write_during_a_versioned_backup_is_not_called_consistent(setup: Setup) -> None:
    """Versions are fetched by id, so the backup stands; the second listing sees the new
    version and the record says it is not one point in time."""
    ctx = setup.context([VERSIONED])

    def write() -> None:
        setup.client.put_object(Bucket=VERSIONED, Key="during/backup", Body=b"new")

    pred = _backup(ctx, BackupHooks(after_fingerprint=write))
    setup.client.delete_object(Bucket=VERSIONED, Key="during/backup")
    assert pred.result == "pass", pred.reason
    assert not pred.consistent
    assert "differs from the one before" in pred.note


@contextmanager
def _sandbox(setup: Setup, buckets: list[str]) -> Iterator[tuple[Fingerprint, S3Provider]]:
    ctx = setup.context(buckets)
    record = run_backup(ctx)
    pred = record.statement.predicate
    assert isinstance(pred, BackupPredicate) and pred.result == "pass", pred.reason
    source = provider_for(ctx.require_config(), ctx.repo)
    with (
        fetched_backup(ctx, record, source) as stored,
        restored_sandbox(source, stored, LocalEngine(), pred.source) as box,
    ):
        assert isinstance(box.provider, S3Provider)
        yield stored.fingerprint, box.provider


Change = Callable[[Any], object]
# (what is done to the sandbox after the restore, the lines the drill must print)
CHANGES: list[tuple[str, Change, set[str]]] = [
    (
        "content",
        lambda c: c.put_object(Bucket=PLAIN, Key="report.csv", Body=b"a,b\n9,9\n", **RICH),
        {f"{PLAIN}/report.csv#v1: content differs"},
    ),
    (
        "content type",
        lambda c: c.put_object(Bucket=PLAIN, Key="a/b", Body=b"a/b", ContentType="image/png"),
        {f"{PLAIN}/a/b#v1 (metadata): content differs"},
    ),
    (
        "user metadata",
        lambda c: c.put_object(
            Bucket=PLAIN, Key="meta.txt", Body=b"m", ContentType="text/plain", Metadata={"m": "2"}
        ),
        {f"{PLAIN}/meta.txt#v1 (metadata): content differs"},
    ),
    (
        "tags",
        lambda c: c.put_object_tagging(
            Bucket=VERSIONED,
            Key="doc",
            VersionId=_version_id(c, VERSIONED, "doc", 0),
            Tagging={"TagSet": [{"Key": "class", "Value": "public"}]},
        ),
        {f"{VERSIONED}/doc#v1 (tags): content differs"},
    ),
    (
        "delete marker",
        lambda c: c.delete_object(
            Bucket=VERSIONED, Key="doc", VersionId=_marker_id(c, VERSIONED, "doc")
        ),
        {f"{VERSIONED}/doc#v3 (delete marker): missing after restore"},
    ),
    (
        "a version",
        lambda c: c.delete_object(
            Bucket=VERSIONED, Key="hist", VersionId=_version_id(c, VERSIONED, "hist", -1)
        ),
        {
            f"{VERSIONED}/hist#v2{kind}: missing after restore"
            for kind in ("", " (metadata)", " (tags)")
        },
    ),
    (
        "folder key",
        lambda c: c.delete_object(Bucket=PLAIN, Key="invoices/2024/"),
        {
            f"{PLAIN}/invoices/2024/#v1{kind}: missing after restore"
            for kind in ("", " (metadata)", " (tags)")
        },
    ),
    (
        "key colliding with a prefix",
        lambda c: c.delete_object(Bucket=PLAIN, Key="a"),
        {f"{PLAIN}/a#v1{kind}: missing after restore" for kind in ("", " (metadata)", " (tags)")},
    ),
    (
        "key colliding with a folder key",
        lambda c: c.delete_object(
            Bucket=VERSIONED, Key="x", VersionId=_version_id(c, VERSIONED, "x", 0)
        ),
        {
            f"{VERSIONED}/x#v1{kind}: missing after restore"
            for kind in ("", " (metadata)", " (tags)")
        },
    ),
    (
        "policy",
        lambda c: c.delete_bucket_policy(Bucket=VERSIONED),
        {f"{VERSIONED}/(bucket) policy: content differs"},
    ),
    (
        "lifecycle",
        lambda c: c.delete_bucket_lifecycle(Bucket=VERSIONED),
        {f"{VERSIONED}/(bucket) lifecycle: content differs"},
    ),
    (
        "bucket tags",
        lambda c: c.delete_bucket_tagging(Bucket=VERSIONED),
        {f"{VERSIONED}/(bucket) tags: content differs"},
    ),
    (
        "cors",
        lambda c: c.delete_bucket_cors(Bucket=VERSIONED),
        {f"{VERSIONED}/(bucket) cors: content differs"},
    ),
    (
        "object lock",
        lambda c: c.put_object_lock_configuration(
            Bucket=LOCKED,
            ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 2}},
            },
        ),
        {f"{LOCKED}/(bucket) object-lock: content differs"},
    ),
    (
        "encryption",
        lambda c: c.delete_bucket_encryption(Bucket=PLAIN),
        {f"{PLAIN}/(bucket) encryption: content differs"},
    ),
    (
        "versioning",
        lambda c: c.put_bucket_versioning(
            Bucket=VERSIONED, VersioningConfiguration={"Status": "Suspended"}
        ),
        {f"{VERSIONED}/(bucket) versioning: content differs"},
    ),
]


def _versions(client: Any, bucket: str, key: str) -> list[dict[str, Any]]:
    reply = client.list_object_versions(Bucket=bucket, Prefix=key)
    return [v for v in reply.get("Versions", []) if v["Key"] == key][::-1]  # oldest first


def _version_id(client: Any, bucket: str, key: str, index: int) -> str:
    return str(_versions(client, bucket, key)[index]["VersionId"])


def _marker_id(client: Any, bucket: str, key: str) -> str:
    reply = client.list_object_versions(Bucket=bucket, Prefix=key)
    return str(next(m["VersionId"] for m in reply["DeleteMarkers"] if m["Key"] == key))


def test_every_kind_of_difference_in_the_sandbox_is_named(setup: Setup) -> None:
    """One restore; each change in turn must add exactly its own lines to the comparison
    (so every kind is detected on its own, and named)."""
    with _sandbox(setup, ALL) as (expected, sandbox):
        clean = compare(expected, sandbox.fingerprint())
        assert clean.match, clean.examples
        client = client_for(sandbox.access)
        current = client.get_object(Bucket=SUSPENDED, Key="k")["Body"].read()
        assert current == b"the null version"  # the newest is the current object again
        seen: set[str] = set()
        for kind, change, lines in CHANGES:
            change(client)
            result = compare(expected, sandbox.fingerprint(), examples=1000)
            assert not result.match, kind
            new = set(result.examples) - seen
            assert new == lines, kind
            seen |= new


def _wants(sub_resource: str) -> Callable[[str, str], bool]:
    def pick(method: str, path: str) -> bool:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query, keep_blank_values=True)
        return method == "GET" and sub_resource in query

    return pick


def test_a_setting_the_server_does_not_implement_is_a_finding_not_a_failure(
    setup: Setup,
) -> None:
    """A server answering 501 NotImplemented for a bucket setting (CORS here): the backup
    passes, its record names what was not backed up, and the drill has nothing of it
    to compare (the sandbox's CORS is not read either)."""
    access = setup.workspace.services.access["data/minio"]
    assert isinstance(access, S3Access)
    with FailingS3Proxy(access.endpoint, _wants("cors"), status=501, body=NOT_IMPLEMENTED) as px:
        config = setup.workspace.services.sources["data/minio"].model_copy(
            update={"buckets": [VERSIONED], "endpoint": px.endpoint}
        )
        ctx = setup.workspace.context("data/minio", config, smoke=[])
        pred = _backup(ctx)
        assert pred.result == "pass", pred.reason
        assert px.failed
        assert f"bucket {VERSIONED}: cors not supported by this server: not backed up" in (
            pred.findings
        )
        stored = setup.workspace.artifacts / pred.location
        (settings,) = parse_manifest((stored / MANIFEST_PART).read_bytes()).buckets
        assert settings.unsupported == ("cors",) and "cors" not in settings.values
        assert "policy" in settings.values  # the rest was read
        drill = run_restore_drill(ctx).statement.predicate
        assert isinstance(drill, DrillPredicate)
        assert drill.result == "pass", (drill.reason, drill.fingerprint)


def _layout1_backup(self: S3Provider, out: BackupWriter, hooks: BackupHooks) -> BackupOutput:
    """What S3 backups wrote before the manifest (layout 1): a mirror of current objects
    by key, items (bucket, key, size, sha256, etag)."""
    listed = self.list_objects()
    hooks.fingerprinted()
    items = []
    with self.http() as downloads:
        for obj in listed:
            with out.part(object_part(obj.bucket, obj.key)) as dest:
                downloads.fetch(obj.bucket, obj.key, dest.write, if_match=obj.etag)
            items.append(
                FingerprintItem(obj.bucket, obj.key, dest.size, dest.hexdigest(), obj.etag)
            )
    return BackupOutput(Fingerprint(items), consistent=True, covered_prefix="objects/")


def test_a_backup_written_before_the_manifest_still_verifies_restores_and_drills(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = workspace.context("data/minio")
    with monkeypatch.context() as patch:
        patch.setattr(S3Provider, "backup", _layout1_backup)
        pred = _backup(ctx)
    assert pred.result == "pass", pred.reason
    stored = workspace.artifacts / pred.location
    assert not (stored / MANIFEST_PART).exists()
    assert (stored / "objects" / "uploads" / "users" / "1" / "file-1.bin").is_file()
    drill = run_restore_drill(ctx).statement.predicate
    assert isinstance(drill, DrillPredicate)
    assert drill.result == "pass", (drill.reason, drill.fingerprint)
    assert (
        drill.fingerprint is not None and drill.fingerprint.expected.items == pred.fingerprint.items
    )


def _retention_bucket(client: Any, bucket: str, seconds: float) -> int:
    """An object-lock bucket: ``short`` retained ``seconds`` from now, ``long`` a day,
    ``city`` with UTF-8 metadata; the short retention's date (epoch ms)."""
    client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    now = datetime.now(UTC)
    short = now + timedelta(seconds=seconds)
    for key, until in (("short", short), ("long", now + timedelta(days=1))):
        client.put_object(
            Bucket=bucket,
            Key=key,
            Body=key.encode(),
            ObjectLockMode="GOVERNANCE",
            ObjectLockRetainUntilDate=until,
        )
    return int(short.timestamp()) * 1000


def _until_passed(ms: int) -> None:
    """Wait until the epoch ``ms`` has passed (a retention date, second precision)."""
    time.sleep(max(0.0, ms / 1000 + 1.1 - time.time()))


def test_a_retention_that_has_passed_is_not_restored_one_in_force_is_exact(
    setup: Setup, tmp_path: Any
) -> None:
    """A backup holds a retention; once its date has passed a PUT may not set it: the
    drill restores the object without it and counts it expired. One still in force is
    restored (also by the PUT that sends UTF-8 metadata), and a sandbox whose date
    differs fails naming it."""
    access = setup.workspace.services.access["data/minio"]
    assert isinstance(access, S3Access)
    bucket = f"meta-retention-{time.time_ns()}"
    short_ms = _retention_bucket(setup.client, bucket, 2)
    body = tmp_path / "body"
    body.write_bytes(b"c")
    until = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    lock = {"x-amz-object-lock-mode": "GOVERNANCE", "x-amz-object-lock-retain-until-date": until}
    with S3Http(access) as s3:
        sha = hashlib.sha256(b"c").hexdigest()
        s3.put(bucket, "city", body, sha256=sha, headers={**UTF8_HEADERS, **lock})
    ctx = setup.context([bucket])
    pred = _backup(ctx)
    assert pred.result == "pass", pred.reason
    stored = setup.workspace.artifacts / pred.location
    manifest = parse_manifest((stored / MANIFEST_PART).read_bytes())
    assert manifest.layout == 3
    _until_passed(short_ms)
    drill = run_restore_drill(ctx).statement.predicate
    assert isinstance(drill, DrillPredicate)
    assert drill.result == "pass", (drill.reason, drill.fingerprint)
    assert drill.fingerprint is not None and drill.fingerprint.expired == 1
    with _sandbox(setup, [bucket]) as (expected, sandbox):
        read_by = int(time.time() * 1000)
        assert compare(expected, sandbox.fingerprint(), now_ms=read_by).match
        assert _raw(sandbox.access, bucket, "city")["x-amz-object-lock-retain-until-date"] == (
            until.encode()
        )
        client = client_for(sandbox.access)
        later = datetime.now(UTC) + timedelta(days=2)
        client.put_object_retention(
            Bucket=bucket, Key="long", Retention={"Mode": "GOVERNANCE", "RetainUntilDate": later}
        )
        result = compare(expected, sandbox.fingerprint(), now_ms=int(time.time() * 1000))
        # (SeaweedFS also resets the content type on PutObjectRetention: a metadata line)
        (line,) = (e for e in result.examples if "(retention)" in e)
        assert line.startswith(f"{bucket}/long#v1 (retention): content differs, expires at")


def _raw(access: S3Access, bucket: str, key: str) -> dict[str, bytes]:
    """The kept headers of ``bucket/key`` as the bytes the server sent."""
    with S3Http(access) as s3:
        got = s3.fetch(bucket, key, lambda _data: None)
    return {name: header_bytes(value) for name, value in got.headers}


UTF8_HEADERS = {
    "x-amz-meta-city": "Z\u00fcrich",
    "x-amz-meta-raw": header_text("caf\u00e9"),  # the byte 0xE9: not UTF-8
    # white space the server collapses when it checks a signature (Go's unicode.IsSpace)
    "x-amz-meta-spaced": "a\u00a0b\u3000c",
    "content-type": "text/plain",
}


def test_metadata_that_is_not_ascii_is_restored_byte_for_byte(setup: Setup, tmp_path: Any) -> None:
    """MinIO and SeaweedFS keep x-amz-meta-* as the UTF-8 bytes sent: the manifest holds
    the text, and the sandbox returns the very bytes production does."""
    access = setup.workspace.services.access["data/minio"]
    assert isinstance(access, S3Access)
    bucket = f"meta-utf8-{time.time_ns()}"
    setup.client.create_bucket(Bucket=bucket)
    body = tmp_path / "body"
    body.write_bytes(b"hello")
    with S3Http(access) as s3:
        s3.put(
            bucket,
            "k",
            body,
            sha256=hashlib.sha256(b"hello").hexdigest(),
            headers={**UTF8_HEADERS, "x-amz-tagging": "a=b"},
        )
    source = _raw(access, bucket, "k")
    assert source["x-amz-meta-city"] == "Z\u00fcrich".encode()
    assert source["x-amz-meta-raw"] == b"caf\xe9"
    with _sandbox(setup, [bucket]) as (expected, sandbox):
        stored = setup.workspace.artifacts
        (version,) = (
            v
            for path in stored.rglob(MANIFEST_PART)
            for v in parse_manifest(path.read_bytes()).versions
            if v.bucket == bucket
        )
        assert dict(version.headers)["x-amz-meta-city"] == "Z\u00fcrich"
        assert compare(expected, sandbox.fingerprint()).match
        assert _raw(sandbox.access, bucket, "k") == source
        assert client_for(sandbox.access).get_object_tagging(Bucket=bucket, Key="k")["TagSet"]


def test_a_layout_2_backup_with_a_passed_retention_and_utf8_metadata_still_drills(
    setup: Setup, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """Backups written before retention had its own item digested it with the metadata
    (and kept header values as latin-1): their drill still passes once a retention has
    passed, and restores UTF-8 metadata as its bytes."""
    access = setup.workspace.services.access["data/minio"]
    assert isinstance(access, S3Access)
    bucket = f"meta-layout2-{time.time_ns()}"
    short_ms = _retention_bucket(setup.client, bucket, 2)
    body = tmp_path / "body"
    body.write_bytes(b"x")
    with S3Http(access) as s3:
        sha = hashlib.sha256(b"x").hexdigest()
        s3.put(bucket, "city", body, sha256=sha, headers=UTF8_HEADERS)
    ctx = setup.context([bucket])
    with monkeypatch.context() as patch:
        patch.setattr(s3_module, "manifest_jsonl", partial(s3_layout.manifest_jsonl, layout=2))
        patch.setattr(
            s3_module, "fingerprint_items", partial(s3_layout.fingerprint_items, layout=2)
        )
        pred = _backup(ctx)
    assert pred.result == "pass", pred.reason
    stored = setup.workspace.artifacts / pred.location
    raw = (stored / MANIFEST_PART).read_bytes()
    assert raw.startswith(b'{"layout":"stategate.s3/2"}') and b"Z\\u00c3\\u00bcrich" in raw
    _until_passed(short_ms)
    drill = run_restore_drill(ctx).statement.predicate
    assert isinstance(drill, DrillPredicate)
    assert drill.result == "pass", (drill.reason, drill.fingerprint)
    assert drill.fingerprint is not None and drill.fingerprint.expired == 0


def test_a_metadata_only_change_in_an_unversioned_bucket_is_not_called_consistent(
    setup: Setup,
) -> None:
    """A copy of an object onto itself with new metadata keeps its etag; its
    last-modified time moves, and the second listing sees it."""
    bucket = f"meta-touched-{time.time_ns()}"
    setup.client.create_bucket(Bucket=bucket)
    setup.client.put_object(Bucket=bucket, Key="k", Body=b"same", Metadata={"rev": "1"})
    time.sleep(1.1)  # listings give seconds: the copy below is then a later second

    def touch() -> None:
        setup.client.copy_object(
            Bucket=bucket,
            Key="k",
            CopySource={"Bucket": bucket, "Key": "k"},
            MetadataDirective="REPLACE",
            Metadata={"rev": "2"},
        )

    pred = _backup(setup.context([bucket]), BackupHooks(after_fingerprint=touch))
    assert pred.result == "pass", pred.reason
    assert not pred.consistent
    assert "differs from the one before" in pred.note


def test_a_bucket_encrypted_with_a_kms_key_the_sandbox_lacks_still_drills(setup: Setup) -> None:
    """The default encryption is restored after the objects: SeaweedFS without a KMS
    refuses writes into a bucket whose default is a KMS key, so set first it would fail
    the restore; set last, it is compared like any setting."""
    bucket = f"meta-kms-{time.time_ns()}"
    setup.client.create_bucket(Bucket=bucket)
    setup.client.put_object(Bucket=bucket, Key="k", Body=b"written before the default")
    kms = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "arn:aws:kms:us-east-1:1:key/k"}
    setup.client.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": kms}]},
    )
    ctx = setup.context([bucket])
    pred = _backup(ctx)
    assert pred.result == "pass", pred.reason
    drill = run_restore_drill(ctx).statement.predicate
    assert isinstance(drill, DrillPredicate)
    assert drill.result == "pass", (drill.reason, drill.fingerprint)
