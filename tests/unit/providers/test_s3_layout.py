"""What an S3 backup keeps, without a server: listings, manifest, fingerprint items, bucket
settings as the API reports them (a scripted client), restore arguments."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import replace
from typing import Any

import pytest
from botocore.exceptions import ClientError

from stategate.errors import ExternalError
from stategate.providers import s3 as s3_module
from stategate.providers.access import S3Access
from stategate.providers.fingerprint import Fingerprint, compare
from stategate.providers.s3 import (
    Listed,
    S3Provider,
    consistency_note,
    put_arguments,
    storage_findings,
)
from stategate.providers.s3_http import (
    header_bytes,
    header_text,
    kept_headers,
    parse_listing,
    parse_tags,
    parse_versions,
)
from stategate.providers.s3_layout import (
    UNSUPPORTED,
    BucketSettings,
    Version,
    canonical,
    canonical_policy,
    fingerprint_items,
    history_orders,
    manifest_jsonl,
    parse_manifest,
)
from stategate.providers.s3_settings import findings, read_settings

NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'


def test_versions_keep_the_servers_order_and_delete_markers_in_place() -> None:
    body = f"""<ListVersionsResult {NS}><EncodingType>url</EncodingType>
      <IsTruncated>true</IsTruncated><NextKeyMarker>doc%2Bx</NextKeyMarker>
      <NextVersionIdMarker>v1</NextVersionIdMarker>
      <DeleteMarker><Key>doc%2Bx</Key><VersionId>m2</VersionId><IsLatest>true</IsLatest>
      </DeleteMarker>
      <Version><Key>doc%2Bx</Key><VersionId>v1</VersionId><IsLatest>false</IsLatest>
      <ETag>"e1"</ETag><Size>3</Size></Version></ListVersionsResult>""".encode()
    versions, marker = parse_versions(body)
    assert [(v.key, v.version_id, v.delete_marker, v.latest, v.size, v.etag) for v in versions] == [
        ("doc+x", "m2", True, True, 0, ""),
        ("doc+x", "v1", False, False, 3, "e1"),
    ]
    assert marker == ("doc+x", "v1")


def test_a_truncated_version_listing_without_a_marker_is_refused() -> None:
    body = f"<ListVersionsResult {NS}><IsTruncated>true</IsTruncated></ListVersionsResult>"
    with pytest.raises(ValueError, match="without a key marker"):
        parse_versions(body.encode())
    with pytest.raises(ValueError, match="unexpected document"):
        parse_versions(f"<ListBucketResult {NS}/>".encode())


def test_tags_and_kept_headers() -> None:
    tags = f"<Tagging {NS}><TagSet><Tag><Key>b</Key><Value>2</Value></Tag>"
    tags += "<Tag><Key>a</Key><Value></Value></Tag></TagSet></Tagging>"
    assert parse_tags(tags.encode()) == (("a", ""), ("b", "2"))
    kept, count = kept_headers(
        [
            ("Content-Type", "text/csv"),
            ("ETag", '"x"'),
            ("X-Amz-Meta-Owner", "billing"),
            ("Cache-Control", "no-cache"),
            ("X-Amz-Tagging-Count", "2"),
            ("Last-Modified", "Fri, 04 Dec 2026 18:27:56 GMT"),  # a restore changes it
        ]
    )
    assert kept == (
        ("cache-control", "no-cache"),
        ("content-type", "text/csv"),
        ("x-amz-meta-owner", "billing"),
    )
    assert count == 2
    assert kept_headers([("x-amz-tagging-count", "x")])[1] == 0


def test_orders_count_from_the_oldest_of_each_key() -> None:
    same = "2026-12-04T18:27:56Z"
    # newest first within a key, as ListObjectVersions lists them
    listing = [("a", True, same), ("a", False, same), ("a", False, same), ("b", True, same)]
    assert history_orders(listing) == [3, 2, 1, 1]
    # SeaweedFS lists a suspended bucket's null version (the latest here) last
    null_last = [("k", False, "2026-12-04T18:27:56Z"), ("k", True, "2026-12-04T18:27:57Z")]
    assert history_orders(null_last) == [1, 2]
    # and when it is not the latest, its time puts it between the others
    middle = [
        ("k", True, "2026-12-04T18:30:00Z"),
        ("k", False, "2026-12-04T18:10:00.000Z"),
        ("k", False, "2026-12-04T18:20:00Z"),
    ]
    assert history_orders(middle) == [3, 1, 2]
    assert history_orders([("k", False, "?"), ("k", False, "?")]) == [2, 1]


def _versions() -> list[Version]:
    return [
        Version("b", "doc", 1, "id-1", part="objects/b/0", size=5, sha256="s1", etag="e1",
                headers=(("content-type", "text/csv"),), tags=(("k", "v"),)),
        Version("b", "doc", 2, "id-2", delete_marker=True),
        Version("b", "invoices/2024/", 1, "null", part="objects/b/2", sha256="s0"),
    ]  # fmt: skip


def test_fingerprint_names_each_kind_and_compares_by_order_not_version_id() -> None:
    settings = BucketSettings("b", "Enabled", {"policy": {"Version": "2012-10-17"}})
    items = fingerprint_items([settings], _versions())
    names = {i.name for i in items}
    assert {"doc#v1", "doc#v1 (metadata)", "doc#v1 (tags)", "doc#v2 (delete marker)"} <= names
    assert {"invoices/2024/#v1", "(bucket) versioning", "(bucket) policy"} <= names
    restored = [
        Version(v.bucket, v.key, v.order, "other-id", v.delete_marker, v.part, v.size,
                v.sha256, v.etag, v.headers, v.tags)
        for v in _versions()
    ]  # fmt: skip
    assert compare(Fingerprint(items), Fingerprint(fingerprint_items([settings], restored))).match
    untagged = [restored[0].__class__(**{**restored[0].__dict__, "tags": ()}), *restored[1:]]
    result = compare(Fingerprint(items), Fingerprint(fingerprint_items([settings], untagged)))
    assert result.examples == ["b/doc#v1 (tags): content differs"]


def test_manifest_round_trips_and_refuses_parts_outside_the_bucket() -> None:
    settings = BucketSettings("b", "Suspended", {"tags": {"team": "x"}}, ("cors",))
    manifest = parse_manifest(manifest_jsonl([settings], _versions()))
    assert manifest.buckets == (settings,)
    assert manifest.versions == tuple(_versions())
    bad = manifest_jsonl([settings], _versions()).replace(b"objects/b/0", b"../../etc/x")
    with pytest.raises(ExternalError, match="line 3: not an entry"):
        parse_manifest(bad)
    with pytest.raises(ExternalError, match=r"not a manifest of layout stategate\.s3/2"):
        parse_manifest(b'{"layout": "other"}\n')


def test_policies_compare_the_same_however_a_server_prints_lists() -> None:
    one = '{"Statement": [{"Action": ["s3:GetObject"], "Resource": ["b", "a"]}]}'
    other = '{"Statement":[{"Resource":["a","b"],"Action":"s3:GetObject"}]}'
    assert canonical_policy(one) == canonical_policy(other)
    assert canonical_policy("not json") == "not json"


def _error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "Op",
    )


class Scripted:
    """A boto3 client whose bucket-setting reads answer as scripted."""

    def __init__(self, **answers: object) -> None:
        self.answers = answers

    def __getattr__(self, name: str) -> Any:
        def call(**_kwargs: object) -> object:
            answer = self.answers.get(name, {})
            if isinstance(answer, Exception):
                raise answer
            return answer

        return call


def _fail(what: str, exc: Exception) -> ExternalError:
    return ExternalError(f"s3 http://server: {what}: {exc}")


def test_settings_the_server_does_not_implement_are_findings_not_failures() -> None:
    client = Scripted(
        get_bucket_versioning={"Status": "Enabled"},
        get_bucket_policy=_error("NoSuchBucketPolicy", 404),
        get_bucket_lifecycle_configuration=_error("NotImplemented", 501),
        get_object_lock_configuration=_error("XNotImplemented", 400),
        get_bucket_tagging={"TagSet": [{"Key": "team", "Value": "x"}]},
        get_bucket_cors=_error("", 501),
    )
    settings = read_settings(client, "b", _fail)
    assert settings.versioning == "Enabled"
    assert dict(settings.values) == {"tags": {"team": "x"}}  # no policy: absent
    assert settings.unsupported == ("lifecycle", "object-lock", "cors")
    assert findings(settings) == [
        f"bucket b: {s} not supported by this server: not backed up"
        for s in ("lifecycle", "object-lock", "cors")
    ]
    digests = {i.name: i.digest for i in fingerprint_items([settings], [])}
    assert digests["(bucket) lifecycle"] == UNSUPPORTED
    assert digests["(bucket) policy"] == "absent"


def test_a_setting_the_server_refuses_to_show_fails_naming_bucket_and_setting() -> None:
    client = Scripted(get_bucket_policy=_error("AccessDenied", 403))
    with pytest.raises(ExternalError, match=r"read the policy setting of bucket b: .*AccessDenied"):
        read_settings(client, "b", _fail)


def test_a_sandbox_does_not_read_what_the_source_did_not_support() -> None:
    client = Scripted(get_bucket_cors={"CORSRules": [{"AllowedMethods": ["GET"]}]})
    assert read_settings(client, "b", _fail, ("cors",)).unsupported == ("cors",)


def test_restore_arguments_set_headers_metadata_and_tags_again() -> None:
    version = Version(
        "b",
        "k",
        1,
        "id",
        headers=(
            ("cache-control", "max-age=60"),
            ("content-type", "text/csv"),
            ("expires", "Tue, 01 Jan 2030 00:00:00 GMT"),
            ("x-amz-meta-owner", "billing"),
        ),
        tags=(("a b", "c&d"),),
    )
    assert put_arguments(version) == {
        "CacheControl": "max-age=60",
        "ContentType": "text/csv",
        "Expires": dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
        "Metadata": {"owner": "billing"},
        "Tagging": "a+b=c%26d",
    }


def test_consistent_only_when_both_listings_are_the_same() -> None:
    before = [Listed("b", "k", 1, "e", "v1")]
    versioned = [BucketSettings("b", "Enabled")]
    assert "differs from the one before (1 entries" in consistency_note(before, [], versioned)
    assert "same versions" in consistency_note(before, list(before), versioned)
    plain = consistency_note(before, list(before), [BucketSettings("b")])
    assert "If-Match" in plain and "not seen" in plain


LOCKED = (
    ("content-type", "text/plain"),
    ("x-amz-object-lock-legal-hold", "OFF"),
    ("x-amz-object-lock-mode", "GOVERNANCE"),
    ("x-amz-object-lock-retain-until-date", "2026-12-06T18:59:11Z"),
)
UNTIL_MS = int(dt.datetime(2026, 12, 6, 18, 59, 11, tzinfo=dt.UTC).timestamp() * 1000)


def _locked(headers: tuple[tuple[str, str], ...] = LOCKED) -> Version:
    return Version("b", "k", 1, "id", part="objects/b/0", size=1, sha256="s", headers=headers)


def test_retention_is_its_own_item_that_may_expire_but_must_be_exact_in_force() -> None:
    items = {i.name: i for i in fingerprint_items([], [_locked()])}
    assert items["k#v1 (retention)"].detail == f"expires-ms:{UNTIL_MS}"
    unlocked = _locked(LOCKED[:2])  # what a restore after the date gives
    assert (
        items["k#v1 (metadata)"]
        == {i.name: i for i in fingerprint_items([], [unlocked])}["k#v1 (metadata)"]
    )
    expected, restored = Fingerprint(items.values()), Fingerprint(fingerprint_items([], [unlocked]))
    after = compare(expected, restored, now_ms=UNTIL_MS + 1)
    assert after.match and after.expired == 1
    before = compare(expected, restored, now_ms=UNTIL_MS - 1)
    assert before.examples == ["b/k#v1 (retention): missing after restore"]
    # servers print the date with or without milliseconds: the same retention
    millis = _locked((*LOCKED[:3], (LOCKED[3][0], "2026-12-06T18:59:11.000Z")))
    assert compare(expected, Fingerprint(fingerprint_items([], [millis]))).match
    later = _locked((*LOCKED[:3], (LOCKED[3][0], "2026-12-07T18:59:11Z")))
    moved = compare(expected, Fingerprint(fingerprint_items([], [later])), now_ms=UNTIL_MS + 1)
    assert not moved.match and moved.examples == [
        f"b/k#v1 (retention): content differs, expires at {UNTIL_MS + 86_400_000} ms "
        f"instead of {UNTIL_MS} ms"
    ]
    governance = _locked((*LOCKED[:2], (LOCKED[2][0], "COMPLIANCE"), LOCKED[3]))
    assert compare(expected, Fingerprint(fingerprint_items([], [governance]))).changed == 1


def test_a_passed_retention_is_not_replayed() -> None:
    version = _locked()
    assert not version.retention_passed(dt.datetime(2026, 12, 6, 18, 59, 10, tzinfo=dt.UTC))
    assert version.retention_passed(dt.datetime(2026, 12, 6, 18, 59, 11, tzinfo=dt.UTC))
    assert "ObjectLockMode" in put_arguments(version)


def test_a_layout_2_manifest_is_fingerprinted_as_it_was() -> None:
    """Layout 2 digested retention with the metadata and header values as http.client
    read them (latin-1), and had no encryption setting."""
    garbled = "Z\u00c3\u00bcrich"  # Zürich's UTF-8 bytes read as latin-1
    old_headers = (*LOCKED, ("x-amz-meta-city", garbled))
    line = canonical({"layout": "stategate.s3/2"}) + "\n" + canonical(
        {"bucket": "b", "key": "k", "order": 1, "part": "objects/b/0", "size": 1,
         "sha256": "s", "headers": dict(old_headers)}
    )  # fmt: skip
    manifest = parse_manifest(line.encode())
    assert manifest.layout == 2
    (version,) = manifest.versions
    assert dict(version.headers)["x-amz-meta-city"] == "Z\u00fcrich"  # restored as such
    items = {i.name: i for i in fingerprint_items([BucketSettings("b")], [version], 2)}
    assert (
        items["k#v1 (metadata)"].digest
        == hashlib.sha256(canonical(dict(old_headers)).encode()).hexdigest()
    )
    assert "k#v1 (retention)" not in items and "(bucket) encryption" not in items
    assert "(bucket) encryption" in {i.name for i in fingerprint_items([BucketSettings("b")], [])}


def test_header_values_are_read_as_utf8_and_nothing_is_lost() -> None:
    """http.client reads header bytes as latin-1: the kept value is their UTF-8 text,
    bytes that are not UTF-8 survive as surrogate escapes."""
    utf8 = "Z\u00fcrich".encode().decode("latin-1")
    kept, _count = kept_headers([("X-Amz-Meta-City", utf8), ("X-Amz-Meta-Raw", "caf\u00e9")])
    assert dict(kept) == {"x-amz-meta-city": "Z\u00fcrich", "x-amz-meta-raw": "caf\udce9"}
    assert header_bytes(dict(kept)["x-amz-meta-city"]) == "Z\u00fcrich".encode()
    assert header_bytes(dict(kept)["x-amz-meta-raw"]) == b"caf\xe9"
    assert header_text("plain") == "plain"
    manifest = parse_manifest(manifest_jsonl([], [_locked((("x-amz-meta-raw", "caf\udce9"),))]))
    assert dict(manifest.versions[0].headers)["x-amz-meta-raw"] == "caf\udce9"


def test_storage_that_a_restore_does_not_reproduce_is_named() -> None:
    sse = (("x-amz-server-side-encryption", "aws:kms"),)
    cold = (("x-amz-storage-class", "GLACIER"),)
    versions = [
        Version("b", "k", 1, "1", stored=sse),
        Version("b", "k", 2, "2", stored=(*sse, *cold)),
        Version("c", "k", 1, "1", stored=(("x-amz-storage-class", "STANDARD"),)),
        Version("c", "r", 1, "1", stored=(("x-amz-website-redirect-location", "/x"),)),
    ]
    found = storage_findings(versions)
    assert len(found) == 3
    assert found[2].startswith("bucket c: 1 object versions with a website redirect")
    assert found[0].startswith("bucket b: 2 object versions stored with server-side encryption")
    assert found[1].startswith("bucket b: 1 object versions in a storage class other than")
    manifest = parse_manifest(manifest_jsonl([], [replace(_locked(), stored=sse)]))
    assert manifest.versions[0].stored == sse


def test_a_metadata_only_change_moves_last_modified_in_the_listing() -> None:
    """An unversioned object replaced by a copy of itself keeps its etag: the listings
    compare its last-modified time too."""
    page = f"""<ListBucketResult {NS}><IsTruncated>false</IsTruncated><Contents><Key>k</Key>
      <Size>1</Size><ETag>"e"</ETag><LastModified>2026-12-04T18:59:11.000Z</LastModified>
      </Contents></ListBucketResult>""".encode()
    (listed,), _token = parse_listing(page)
    assert listed.modified == "2026-12-04T18:59:11.000Z"
    before = [Listed("b", "k", 1, "e", modified=listed.modified)]
    after = [Listed("b", "k", 1, "e", modified="2026-12-04T18:59:13.000Z")]
    assert "differs from the one before" in consistency_note(before, after, [BucketSettings("b")])


def test_a_put_refused_as_its_retention_passed_meanwhile_goes_again_without_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    until = dt.datetime(2026, 12, 6, 18, 59, 11, tzinfo=dt.UTC)
    clock = iter([until - dt.timedelta(seconds=1), until, until])  # read before and after

    class Clock(dt.datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return next(clock)

    monkeypatch.setattr(s3_module, "datetime", Clock)
    sent: list[Version] = []

    def put(self: S3Provider, directory: Any, version: Version) -> None:
        sent.append(version)
        if version.retention:
            raise ClientError({"Error": {"Code": "InvalidRequest"}}, "PutObject")

    monkeypatch.setattr(S3Provider, "_put_version", put)
    provider = S3Provider(S3Access("http://127.0.0.1:1", "access-key-x", "secret-key-x"))
    provider._put_chain(tmp_path, [_locked()])
    assert [bool(v.retention) for v in sent] == [True, False]
    # refused for another reason (the date still ahead): the refusal stands, named
    clock = iter([until - dt.timedelta(seconds=2), until - dt.timedelta(seconds=1)])
    with pytest.raises(ExternalError, match=r"put b/k \(version 1\)"):
        provider._put_chain(tmp_path, [_locked()])
