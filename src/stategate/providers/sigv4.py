"""AWS Signature Version 4 for S3 requests, as a pure function of the request.

Used by the lean object download path (:mod:`stategate.providers.s3_http`), which
skips botocore's per-request machinery. Only header-based signing of requests
without a body (or with a known payload hash) is covered; header values are signed as
their UTF-8 bytes (the restore sends metadata that is not ASCII as such); S3 paths are signed
as sent (already percent-encoded, not encoded twice, unlike other services).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

ALGORITHM = "AWS4-HMAC-SHA256"
# White space as the S3 servers a sandbox runs (MinIO, SeaweedFS: Go's strings.Fields,
# unicode.IsSpace) trim and collapse it in a header value before they check a
# signature: ASCII white space, NEL, no-break space and Unicode's other spaces. AWS
# itself collapses ASCII spaces only; stategate's own signed requests go to sandboxes.
_SPACE_CHARS = (
    " \t\r\n\f\v\u0085\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_SPACES = re.compile(f"[{_SPACE_CHARS}]+")
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
DEFAULT_PORTS = {"http": 80, "https": 443}
# never part of the signature: hop-by-hop or rewritten by proxies (as botocore)
UNSIGNED_HEADERS = frozenset(
    {"authorization", "connection", "expect", "keep-alive", "te", "user-agent", "x-amzn-trace-id"}
)


@dataclass(frozen=True)
class Credentials:
    access_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)


def object_path(bucket: str, key: str) -> str:
    """The path-style request path of an object, percent-encoded the way S3 signs it."""
    return "/" + urllib.parse.quote(bucket, safe="") + "/" + urllib.parse.quote(key, safe="/~")


def host_header(url: str) -> str:
    """``Host`` as signed: lower-case host, the port only when it is not the default."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None and parts.port != DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}:{parts.port}"
    return host


def sign(
    method: str,
    url: str,
    headers: Mapping[str, str],
    *,
    credentials: Credentials,
    region: str,
    when: datetime,
    service: str = "s3",
    payload_sha256: str = EMPTY_SHA256,
) -> dict[str, str]:
    """The headers to send: ``headers`` plus Host, X-Amz-Date, X-Amz-Content-SHA256,
    the session token (if any) and Authorization, all signed for ``when``."""
    stamp = when.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = {k: v for k, v in headers.items() if k.lower() != "authorization"}
    lowered = {k.lower() for k in out}
    if "host" not in lowered:
        out["Host"] = host_header(url)
    out["X-Amz-Date"] = stamp
    out["X-Amz-Content-SHA256"] = payload_sha256
    if credentials.session_token:
        out["X-Amz-Security-Token"] = credentials.session_token
    signed = _canonical_headers(out)
    names = ";".join(signed)
    parts = urllib.parse.urlsplit(url)
    canonical = "\n".join(
        [
            method.upper(),
            parts.path or "/",
            _canonical_query(parts.query),
            "".join(f"{k}:{v}\n" for k, v in signed.items()),
            names,
            payload_sha256,
        ]
    )
    scope = f"{stamp[:8]}/{region}/{service}/aws4_request"
    to_sign = "\n".join([ALGORITHM, stamp, scope, hashlib.sha256(_wire(canonical)).hexdigest()])
    key = signing_key(credentials.secret_key, stamp[:8], region, service)
    signature = hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    out["Authorization"] = (
        f"{ALGORITHM} Credential={credentials.access_key}/{scope}, "
        f"SignedHeaders={names}, Signature={signature}"
    )
    return out


def _wire(text: str) -> bytes:
    """Text as sent: UTF-8, surrogate escapes as the bytes they stand for (a header
    value that is not UTF-8 is signed as the bytes sent)."""
    return text.encode("utf-8", "surrogateescape")


def signing_key(secret_key: str, day: str, region: str, service: str) -> bytes:
    """The derived key for one day, region and service (cacheable per day)."""
    key = _hmac(f"AWS4{secret_key}".encode(), day)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    return key


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def _canonical_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Signed header names (lower-case, sorted) to trimmed values; repeats are joined."""
    merged: dict[str, list[str]] = {}
    for name, value in headers.items():
        lname = name.lower().strip()
        if lname not in UNSIGNED_HEADERS:
            merged.setdefault(lname, []).append(_trim(value))
    return {name: ",".join(merged[name]) for name in sorted(merged)}


def _trim(value: str) -> str:
    """Trimmed, runs of white space as one space, as the server does (``_SPACES``)."""
    return _SPACES.sub(" ", value).strip(" ")


def _canonical_query(query: str) -> str:
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    encoded = sorted(
        (urllib.parse.quote(k, safe="-_.~"), urllib.parse.quote(v, safe="-_.~")) for k, v in pairs
    )
    return "&".join(f"{k}={v}" for k, v in encoded)
