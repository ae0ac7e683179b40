from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from unittest import mock

import botocore.auth
import pytest
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from stategate.providers.sigv4 import (
    EMPTY_SHA256,
    Credentials,
    host_header,
    object_path,
    sign,
)

# AWS's published example (S3 API reference, "Signature Calculations for the
# Authorization Header", example "GET Object"): a Range request for test.txt.
AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
AWS_WHEN = datetime(2013, 5, 24, tzinfo=UTC)


def test_aws_published_get_object_example() -> None:
    headers = sign(
        "GET",
        "https://examplebucket.s3.amazonaws.com/test.txt",
        {"Range": "bytes=0-9"},
        credentials=Credentials(AWS_KEY, AWS_SECRET),
        region="us-east-1",
        when=AWS_WHEN,
    )
    assert headers["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    )
    assert headers["Host"] == "examplebucket.s3.amazonaws.com"
    assert headers["X-Amz-Date"] == "20130524T000000Z"
    assert headers["X-Amz-Content-SHA256"] == EMPTY_SHA256


def _botocore(
    method: str,
    url: str,
    headers: dict[str, str],
    creds: Credentials,
    region: str,
    when: datetime,
) -> str:
    """The Authorization header botocore's S3 signer computes for the same request."""
    request = AWSRequest(method=method, url=url, headers=dict(headers))
    request.headers["X-Amz-Content-SHA256"] = EMPTY_SHA256
    signer = botocore.auth.S3SigV4Auth(
        BotoCredentials(creds.access_key, creds.secret_key, creds.session_token), "s3", region
    )
    naive_utc = when.astimezone(UTC).replace(tzinfo=None)
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=naive_utc):
        signer.add_auth(request)
    return str(request.headers["Authorization"])


CASES = [
    # a plain GET on a local endpoint with a port
    ("http://127.0.0.1:9000", "data", "dir0/obj-1.bin", {}, None, "us-east-1"),
    # If-Match as the backup sends it, https on the default port
    ("https://s3.example.net", "b", "k", {"If-Match": '"0123abcd"'}, None, "eu-west-1"),
    # keys needing percent-encoding: spaces, unicode, reserved characters, tilde
    ("http://localhost:9000", "bkt", "a b/ü+x=y&z~(1).txt", {}, None, "us-east-1"),
    ("http://localhost:9000", "bkt", "weird/%41/;,:@!$'*", {"Range": "bytes=0-9"}, None, "r"),
    # a session token is signed too; header values with inner runs of spaces are trimmed
    (
        "https://s3.example.net:8443",
        "b",
        "k",
        {"X-Amz-Meta-Note": "a   b "},
        "tok/en+",
        "us-west-2",
    ),
]


@pytest.mark.parametrize(("endpoint", "bucket", "key", "headers", "token", "region"), CASES)
def test_matches_botocore_signer(
    endpoint: str,
    bucket: str,
    key: str,
    headers: dict[str, str],
    token: str | None,
    region: str,
) -> None:
    creds = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    when = datetime(2024, 2, 29, 23, 59, 58, tzinfo=UTC)
    url = endpoint + object_path(bucket, key)
    ours = sign("GET", url, headers, credentials=creds, region=region, when=when)
    extra = {"X-Amz-Security-Token": token} if token else {}
    expected = _botocore("GET", url, {**headers, **extra}, creds, region, when)
    assert ours["Authorization"] == expected


def test_query_string_is_canonicalised_like_botocore() -> None:
    creds = Credentials("AKIDEXAMPLE", "secret")
    when = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    url = "http://127.0.0.1:9000/bkt?prefix=a%20b&list-type=2&max-keys=1000&empty="
    ours = sign("GET", url, {}, credentials=creds, region="us-east-1", when=when)
    assert ours["Authorization"] == _botocore("GET", url, {}, creds, "us-east-1", when)


def test_time_zone_of_when_does_not_matter() -> None:
    creds = Credentials("AKIDEXAMPLE", "secret")
    utc = datetime(2024, 1, 2, 0, 30, tzinfo=UTC)
    shifted = utc.astimezone(timezone(timedelta(hours=5)))
    a = sign("GET", "http://h/b/k", {}, credentials=creds, region="r", when=utc)
    b = sign("GET", "http://h/b/k", {}, credentials=creds, region="r", when=shifted)
    assert a == b
    assert a["X-Amz-Date"] == "20240102T003000Z"


def test_signature_depends_on_secret_and_if_match() -> None:
    base = {"credentials": Credentials("AK", "s1"), "region": "r", "when": AWS_WHEN}
    a = sign("GET", "http://h/b/k", {"If-Match": '"1"'}, **base)  # type: ignore[arg-type]
    b = sign("GET", "http://h/b/k", {"If-Match": '"2"'}, **base)  # type: ignore[arg-type]
    c = sign(
        "GET",
        "http://h/b/k",
        {"If-Match": '"1"'},
        credentials=Credentials("AK", "s2"),
        region="r",
        when=AWS_WHEN,
    )
    assert len({a["Authorization"], b["Authorization"], c["Authorization"]}) == 3
    assert "s1" not in a["Authorization"]


def test_host_and_path() -> None:
    assert host_header("http://127.0.0.1:80/x") == "127.0.0.1"
    assert host_header("https://Example.COM:443") == "example.com"
    assert host_header("https://example.com:9000") == "example.com:9000"
    assert host_header("http://[::1]:9000/") == "[::1]:9000"
    assert object_path("b", "a b/c~d+e") == "/b/a%20b/c~d%2Be"


def _signature(value: str) -> str:
    headers = sign(
        "PUT",
        "http://127.0.0.1:9000/b/k",
        {"x-amz-meta-city": value},
        credentials=Credentials(AWS_KEY, AWS_SECRET),
        region="us-east-1",
        when=AWS_WHEN,
    )
    return headers["Authorization"].rpartition("Signature=")[2]


def test_header_values_are_signed_as_the_bytes_sent() -> None:
    """Metadata that is not ASCII goes out as its UTF-8 bytes (bytes that are not UTF-8
    as surrogate escapes) and is signed as those bytes; white space is trimmed and
    collapsed as MinIO and SeaweedFS do (Go's unicode.IsSpace), no-break spaces too."""
    assert _signature("caf\udce9") != _signature("caf\udce8")  # not UTF-8: still signed
    assert _signature("Z\u00fcrich") != _signature("Zurich")
    assert _signature("  a \t b ") == _signature("a b")
    for space in ("\u00a0", "\u0085", "\u2003", "\u3000", " \u00a0\t"):
        assert _signature(f"a{space}b") == _signature("a b")
    assert _signature("\u3000a\u00a0") == _signature("a")
    assert _signature("a\u200bb") != _signature("a b")  # a zero-width space is no space
