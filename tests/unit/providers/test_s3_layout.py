"""What an S3 backup keeps, without a server: listings, manifest, fingerprint items, bucket
settings as the API reports them (a scripted client), restore arguments."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from botocore.exceptions import ClientError

from stategate.errors import ExternalError
from stategate.providers.fingerprint import Fingerprint, compare
from stategate.providers.s3 import Listed, consistency_note, put_arguments
from stategate.providers.s3_http import kept_headers, parse_tags, parse_versions
from stategate.providers.s3_layout import (
    UNSUPPORTED,
    BucketSettings,
    Version,
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
    with pytest.raises(ExternalError, match=r"not a stategate\.s3/2 manifest"):
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
