"""The lean S3 path (downloads, listing) against a tiny real HTTP server that replies as scripted."""

from __future__ import annotations

import datetime as dt
import hashlib
import http.server
import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from stategate.errors import ExternalError
from stategate.providers.access import S3Access
from stategate.providers.s3_http import (
    ChangedDuringBackup,
    S3Http,
    classify,
    error_fields,
    parse_listing,
    proxy_for,
)
from stategate.providers.sigv4 import Credentials, sign

SECRET = "s3cr3t-value-never-shown"
ACCESS_KEY = "AKIDTESTKEY"
BODY = bytes(range(256)) * 4099  # a little over 1 MiB: more than one read buffer
ETAG = hashlib.md5(BODY).hexdigest()


@dataclass
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    connection: int


# a reply: the handler writes it itself (status, headers, body, or worse)
Reply = Callable[["_Handler"], None]


@dataclass
class Script:
    replies: list[Reply]
    seen: list[Seen] = field(default_factory=list)
    connections: int = 0


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.script.connections += 1
        self.connection_no = self.server.script.connections

    def do_GET(self) -> None:
        script = self.server.script
        script.seen.append(
            Seen(self.command, self.path, dict(self.headers.items()), self.connection_no)
        )
        reply = script.replies.pop(0) if len(script.replies) > 1 else script.replies[0]
        reply(self)

    def log_message(self, format: str, *args: object) -> None:
        return None

    def send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    script: Script

    def handle_error(self, request: object, client_address: object) -> None:
        return None  # clients dropping connections on purpose is part of the script


def ok(body: bytes = BODY, etag: str = ETAG) -> Reply:
    return lambda h: h.send(200, body, {"ETag": f'"{etag}"'})


def s3_error(status: int, code: str, message: str) -> Reply:
    xml = f"<?xml version='1.0'?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
    return lambda h: h.send(status, xml.encode(), {"Content-Type": "application/xml"})


def hang_up(h: _Handler) -> None:
    """Close the connection without any reply."""
    h.close_connection = True
    h.connection.shutdown(socket.SHUT_RDWR)


def truncated(h: _Handler) -> None:
    h.send_response(200)
    h.send_header("ETag", f'"{ETAG}"')
    h.send_header("Content-Length", str(len(BODY)))
    h.end_headers()
    h.wfile.write(BODY[:1000])
    h.wfile.flush()
    h.close_connection = True
    h.connection.shutdown(socket.SHUT_RDWR)


def chunked(h: _Handler) -> None:
    h.send_response(200)
    h.send_header("ETag", f'"{ETAG}"')
    h.send_header("Transfer-Encoding", "chunked")
    h.end_headers()
    for start in range(0, len(BODY), 300_000):
        piece = BODY[start : start + 300_000]
        h.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
    h.wfile.write(b"0\r\n\r\n")


def stalled(until: threading.Event) -> Reply:
    """Answer only once ``until`` is set (60 s at most: that only ends a hang)."""

    def reply(h: _Handler) -> None:
        until.wait(60)
        h.send(200, BODY, {"ETag": f'"{ETAG}"'})

    return reply


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.script = Script([ok()])
    thread = threading.Thread(target=srv.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def endpoint(srv: _Server, scheme: str = "http") -> str:
    return f"{scheme}://127.0.0.1:{srv.server_address[1]}"


def downloader(srv: _Server, sleeps: list[float] | None = None, **kwargs: object) -> S3Http:
    access = S3Access(endpoint(srv), ACCESS_KEY, SECRET, "eu-central-1")
    record = sleeps if sleeps is not None else []
    return S3Http(access, sleep=record.append, **kwargs)  # type: ignore[arg-type]


def fetch(d: S3Http, key: str = "dir/a b.bin", if_match: str | None = ETAG) -> bytes:
    got = bytearray()
    d.fetch("bucket", key, got.extend, if_match=if_match)
    return bytes(got)


def test_signed_get_with_if_match_streams_the_body(server: _Server) -> None:
    with downloader(server) as d:
        assert fetch(d) == BODY
        result = d.fetch("bucket", "k", lambda _: None, if_match=ETAG)
    assert result.size == len(BODY) and result.etag == ETAG
    first = server.script.seen[0]
    assert first.path == "/bucket/dir/a%20b.bin"
    assert first.headers["If-Match"] == f'"{ETAG}"'
    # the signature is the one sigv4.sign gives for exactly what the server received
    when = dt.datetime.strptime(first.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
    expected = sign(
        "GET",
        endpoint(server) + first.path,
        {"If-Match": f'"{ETAG}"'},
        credentials=Credentials(ACCESS_KEY, SECRET),
        region="eu-central-1",
        when=when.replace(tzinfo=dt.UTC),
    )
    assert first.headers["Authorization"] == expected["Authorization"]
    assert (
        "SignedHeaders=host;if-match;x-amz-content-sha256;x-amz-date" in expected["Authorization"]
    )
    # one kept-alive connection for both requests of this thread
    assert [s.connection for s in server.script.seen] == [1, 1]


def test_without_if_match_no_precondition_is_sent(server: _Server) -> None:
    with downloader(server) as d:
        assert fetch(d, if_match=None) == BODY
    assert "If-Match" not in server.script.seen[0].headers


def test_chunked_reply_is_read_whole(server: _Server) -> None:
    server.script.replies = [chunked]
    with downloader(server) as d:
        assert fetch(d) == BODY


def test_412_means_changed_during_the_backup(server: _Server) -> None:
    server.script.replies = [s3_error(412, "PreconditionFailed", "At least one failed")]
    with downloader(server) as d, pytest.raises(ChangedDuringBackup) as err:
        fetch(d)
    assert str(err.value) == "s3 object bucket/dir/a b.bin changed during the backup: refused"
    assert len(server.script.seen) == 1  # not retried


def test_other_etag_in_the_reply_means_changed(server: _Server) -> None:
    server.script.replies = [ok(etag="0" * 32)]
    with downloader(server) as d, pytest.raises(ChangedDuringBackup, match="changed during"):
        fetch(d)


def test_404_means_the_object_disappeared(server: _Server) -> None:
    server.script.replies = [s3_error(404, "NoSuchKey", "The specified key does not exist.")]
    with downloader(server) as d, pytest.raises(ChangedDuringBackup) as err:
        fetch(d, key="gone.bin")
    assert "bucket/gone.bin disappeared after it was listed (404 NoSuchKey" in str(err.value)


def test_403_names_bucket_and_key_never_the_secret(server: _Server) -> None:
    # a server that echoes the credentials in its message: they are masked
    server.script.replies = [
        s3_error(403, "SignatureDoesNotMatch", f"calculated with {SECRET} for {ACCESS_KEY}")
    ]
    sleeps: list[float] = []
    with downloader(server, sleeps) as d, pytest.raises(ExternalError) as err:
        fetch(d, key="private/x")
    message = str(err.value)
    assert not isinstance(err.value, ChangedDuringBackup)
    assert message.startswith(f"s3 {endpoint(server)}: get bucket/private/x: access denied: 403")
    assert "SignatureDoesNotMatch" in message
    assert SECRET not in message and ACCESS_KEY not in message and "***" in message
    assert len(server.script.seen) == 1 and sleeps == []


def test_5xx_is_retried_with_backoff_then_succeeds(server: _Server) -> None:
    server.script.replies = [
        s3_error(500, "InternalError", "We encountered an internal error."),
        s3_error(503, "SlowDown", "Reduce your request rate."),
        ok(),
    ]
    sleeps: list[float] = []
    with downloader(server, sleeps) as d:
        assert fetch(d) == BODY
    assert len(server.script.seen) == 3
    assert len(sleeps) == 2 and 0 <= sleeps[0] <= 1 and 0 <= sleeps[1] <= 2
    # error bodies were read whole: the connection was kept for the retries
    assert {s.connection for s in server.script.seen} == {1}


def test_persistent_5xx_fails_after_the_attempts(server: _Server) -> None:
    server.script.replies = [s3_error(503, "SlowDown", "Reduce your request rate.")]
    with downloader(server) as d, pytest.raises(ExternalError) as err:
        fetch(d, key="k")
    assert str(err.value) == (
        f"s3 {endpoint(server)}: get bucket/k: server error: 503 SlowDown "
        "(Reduce your request rate.) (after 3 attempts)"
    )
    assert len(server.script.seen) == 3


def test_dropped_connection_is_retried_on_a_new_one(server: _Server) -> None:
    server.script.replies = [hang_up, ok()]
    with downloader(server) as d:
        assert fetch(d) == BODY
    assert [s.connection for s in server.script.seen] == [1, 2]


def test_truncated_body_fails_and_is_not_retried(server: _Server) -> None:
    server.script.replies = [truncated, ok()]
    got = bytearray()
    with downloader(server) as d, pytest.raises(ExternalError) as err:
        d.fetch("bucket", "k", got.extend, if_match=ETAG)
    assert f"connection closed after 1000 of {len(BODY)} bytes" in str(err.value)
    assert len(server.script.seen) == 1 and len(got) == 1000


def test_read_timeout_is_respected(server: _Server) -> None:
    """The server answers only after the client has given up: a client that waited
    past its read timeout would get the body, and no error. No clock is raced."""
    given_up = threading.Event()
    server.script.replies = [stalled(given_up)]
    try:
        with (
            downloader(server, read_timeout=0.2, attempts=2) as d,
            pytest.raises(ExternalError) as err,
        ):
            fetch(d)
    finally:
        given_up.set()
    assert "timed out" in str(err.value) and "(after 2 attempts)" in str(err.value)


def test_connection_refused_is_an_external_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    access = S3Access(f"http://127.0.0.1:{port}", ACCESS_KEY, SECRET)
    sleeps: list[float] = []
    with S3Http(access, sleep=sleeps.append) as d, pytest.raises(ExternalError) as err:
        d.fetch("b", "k", lambda _: None)
    assert "ConnectionRefusedError" in str(err.value) and "(after 3 attempts)" in str(err.value)
    assert len(sleeps) == 2


def test_sink_errors_propagate_unchanged(server: _Server) -> None:
    def full(_: memoryview) -> None:
        raise OSError(28, "No space left on device")

    with downloader(server) as d:
        with pytest.raises(OSError) as err:
            d.fetch("bucket", "k", full, if_match=ETAG)
        assert not isinstance(err.value, ExternalError)
        assert fetch(d) == BODY  # the half-read connection was not reused
    assert [s.connection for s in server.script.seen] == [1, 2]


def test_each_thread_keeps_its_own_connection(server: _Server) -> None:
    with downloader(server) as d:
        barrier = threading.Barrier(3)

        def worker() -> None:
            barrier.wait()
            for _ in range(3):
                assert fetch(d) == BODY

        threads = [threading.Thread(target=worker) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(server.script.seen) == 9
    assert len({s.connection for s in server.script.seen}) == 3


def test_http_proxy_gets_the_absolute_url(server: _Server) -> None:
    proxy = proxy_for("http://s3.internal:9000", {"http": f"http://u%40x:p@{endpoint(server)[7:]}"})
    assert proxy is not None
    d = downloader(server)
    d._proxy = proxy  # as if the environment named this server as the proxy
    with d:
        assert fetch(d) == BODY
    seen = server.script.seen[0]
    assert seen.path == f"{endpoint(server)}/bucket/dir/a%20b.bin"
    assert seen.headers["Proxy-Authorization"] == "Basic dUB4OnA="  # u@x:p


def test_proxy_selection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("no_proxy", "localhost,.internal")
    assert proxy_for("http://127.0.0.1:9000", {}) is None
    assert proxy_for("http://s3.internal:9000", {"http": "http://proxy:3128"}) is None
    found = proxy_for("https://s3.example.com", {"https": "proxy.corp:3128"})
    assert found is not None and (found.host, found.port, found.authorization) == (
        "proxy.corp",
        3128,
        None,
    )
    with pytest.raises(ExternalError, match="only http:// proxies"):
        proxy_for("https://s3.example.com", {"https": "socks5://proxy:1080"})


def _certificate(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_https_endpoint_verifies_the_certificate(server: _Server, tmp_path: Path) -> None:
    cert, key = _certificate(tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    access = S3Access(endpoint(server, "https"), ACCESS_KEY, SECRET)
    trusting = ssl.create_default_context(cafile=str(cert))
    with S3Http(access, ssl_context=trusting) as d:
        assert fetch(d) == BODY
        assert fetch(d) == BODY
    assert [s.connection for s in server.script.seen] == [1, 1]
    # the system's trust store does not know this certificate: refused, not retried
    sleeps: list[float] = []
    system_trust = ssl.create_default_context()
    with (
        S3Http(access, sleep=sleeps.append, ssl_context=system_trust) as d,
        pytest.raises(ExternalError, match="TLS certificate not trusted"),
    ):
        fetch(d)
    assert sleeps == []


def test_classify_and_error_fields() -> None:
    assert classify(412, "PreconditionFailed", "", "b/k").kind == "changed"
    assert classify(404, "NoSuchKey", "", "b/k").kind == "changed"
    assert (
        classify(404, "NoSuchBucket", "gone", "b/k").message == "not found: 404 NoSuchBucket (gone)"
    )
    assert classify(403, "AccessDenied", "", "b/k").kind == "fatal"
    assert classify(429, "", "", "b/k").kind == "transient"
    assert all(classify(s, "", "", "b/k").kind == "transient" for s in (500, 502, 503, 504))
    assert classify(400, "InvalidRequest", "bad", "b/k").kind == "fatal"
    assert classify(501, "NotImplemented", "", "b/k").kind == "fatal"
    body = b"<Error><Code>NoSuchKey</Code><Message> The key does not exist. </Message></Error>"
    assert error_fields(body) == ("NoSuchKey", "The key does not exist.")
    assert error_fields(b"<html>proxy error</html>") == ("", "")


def test_bad_endpoint_is_refused_masked() -> None:
    with pytest.raises(ExternalError) as err:
        S3Http(S3Access(f"ftp://{SECRET}@host", ACCESS_KEY, SECRET))
    assert SECRET not in str(err.value)


def listing_page(keys: list[str], token: str | None = None, *, encoded: bool = True) -> bytes:
    from urllib.parse import quote_plus

    entries = "".join(
        f"<Contents><Key>{quote_plus(k, safe='/') if encoded else k}</Key>"
        f"<Size>{len(k)}</Size><ETag>&quot;{hashlib.md5(k.encode()).hexdigest()}&quot;</ETag>"
        "</Contents>"
        for k in keys
    )
    more = f"<IsTruncated>true</IsTruncated><NextContinuationToken>{token}</NextContinuationToken>"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        f"<Name>bucket</Name>{'<EncodingType>url</EncodingType>' if encoded else ''}"
        f"{more if token else '<IsTruncated>false</IsTruncated>'}{entries}</ListBucketResult>"
    ).encode()


def xml_reply(body: bytes) -> Reply:
    return lambda h: h.send(200, body, {"Content-Type": "application/xml"})


def test_listing_follows_pages_and_decodes_keys(server: _Server) -> None:
    first = ["a b/c+d.txt", "ü/%41.bin"]
    second = ["x~y(1)&z=.dat"]
    server.script.replies = [
        xml_reply(listing_page(first, token="tok+/=")),
        xml_reply(listing_page(second)),
    ]
    with downloader(server) as d:
        listed = list(d.list_objects("bucket"))
    assert [o.key for o in listed] == first + second
    assert listed[0].size == len(first[0])
    assert listed[0].etag == hashlib.md5(first[0].encode()).hexdigest()
    paths = [s.path for s in server.script.seen]
    assert paths[0] == "/bucket?list-type=2&encoding-type=url"
    assert paths[1] == "/bucket?list-type=2&encoding-type=url&continuation-token=tok%2B%2F%3D"
    # the second page's request is signed for its query string too
    seen = server.script.seen[1]
    when = dt.datetime.strptime(seen.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
    expected = sign(
        "GET",
        endpoint(server) + seen.path,
        {},
        credentials=Credentials(ACCESS_KEY, SECRET),
        region="eu-central-1",
        when=when.replace(tzinfo=dt.UTC),
    )
    assert seen.headers["Authorization"] == expected["Authorization"]


def test_listing_refusals_are_not_object_changes(server: _Server) -> None:
    server.script.replies = [s3_error(404, "NoSuchBucket", "The bucket does not exist")]
    with downloader(server) as d, pytest.raises(ExternalError) as err:
        list(d.list_objects("missing"))
    assert not isinstance(err.value, ChangedDuringBackup)
    assert str(err.value) == (
        f"s3 {endpoint(server)}: list missing: not found: 404 NoSuchBucket "
        "(The bucket does not exist)"
    )
    server.script.replies = [s3_error(403, "AccessDenied", f"no access for {ACCESS_KEY}")]
    with downloader(server) as d, pytest.raises(ExternalError) as err:
        list(d.list_objects("private"))
    assert "list private: access denied: 403 AccessDenied" in str(err.value)
    assert ACCESS_KEY not in str(err.value)


def test_listing_that_is_not_a_listing_fails(server: _Server) -> None:
    server.script.replies = [xml_reply(b"<html>captive portal</html>")]
    with downloader(server) as d, pytest.raises(ExternalError, match="unexpected listing"):
        list(d.list_objects("bucket"))


def test_parse_listing() -> None:
    plain = listing_page(["a+b c"], encoded=False).replace(
        b' xmlns="http://s3.amazonaws.com/doc/2006-03-01/"', b""
    )
    objects, token = parse_listing(plain)
    assert [o.key for o in objects] == ["a+b c"] and token is None  # not encoded: as is
    objects, token = parse_listing(listing_page(["a+b c"], token="t"))
    assert [o.key for o in objects] == ["a+b c"] and token == "t"
    empty, token = parse_listing(listing_page([]))
    assert empty == [] and token is None
    with pytest.raises(ValueError, match="without a continuation token"):
        parse_listing(
            listing_page(["k"], token="t").replace(
                b"<NextContinuationToken>t</NextContinuationToken>", b""
            )
        )
    with pytest.raises(ValueError, match="unreadable"):
        parse_listing(b"<ListBucketResult>")


def test_a_version_is_fetched_by_id_with_its_headers_and_tags(server: _Server) -> None:
    headers = {
        "ETag": f'"{ETAG}"',
        "Content-Type": "text/csv",
        "X-Amz-Meta-Owner": "billing",
        "X-Amz-Tagging-Count": "1",
    }
    tags = b"<Tagging><TagSet><Tag><Key>k</Key><Value>v w</Value></Tag></TagSet></Tagging>"
    server.script.replies = [lambda h: h.send(200, BODY, headers), xml_reply(tags)]
    with downloader(server) as d:
        got = d.fetch("bucket", "a b", lambda _: None, version_id="v+1/=")
        assert d.tags("bucket", "a b", "v+1/=") == (("k", "v w"),)
    assert got.headers == (("content-type", "text/csv"), ("x-amz-meta-owner", "billing"))
    assert got.tag_count == 1
    paths = [s.path for s in server.script.seen]
    assert paths == [
        "/bucket/a%20b?versionId=v%2B1%2F%3D",
        "/bucket/a%20b?tagging&versionId=v%2B1%2F%3D",
    ]
    seen = server.script.seen[1]  # a sub-resource without a value is signed as "tagging="
    when = dt.datetime.strptime(seen.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
    expected = sign(
        "GET",
        endpoint(server) + seen.path,
        {},
        credentials=Credentials(ACCESS_KEY, SECRET),
        region="eu-central-1",
        when=when.replace(tzinfo=dt.UTC),
    )
    assert seen.headers["Authorization"] == expected["Authorization"]


def test_version_listing_follows_the_markers(server: _Server) -> None:
    ns = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'
    first = (
        f"<ListVersionsResult {ns}><IsTruncated>true</IsTruncated><NextKeyMarker>k</NextKeyMarker>"
        "<NextVersionIdMarker>v2</NextVersionIdMarker><Version><Key>k</Key><VersionId>v2"
        "</VersionId><Size>1</Size></Version></ListVersionsResult>"
    )
    second = (
        f"<ListVersionsResult {ns}><IsTruncated>false</IsTruncated><Version><Key>k</Key>"
        "<VersionId>v1</VersionId><Size>2</Size></Version></ListVersionsResult>"
    )
    server.script.replies = [xml_reply(first.encode()), xml_reply(second.encode())]
    with downloader(server) as d:
        assert [v.version_id for v in d.list_versions("bucket")] == ["v2", "v1"]
    assert [s.path for s in server.script.seen] == [
        "/bucket?versions=&encoding-type=url",
        "/bucket?versions=&encoding-type=url&key-marker=k&version-id-marker=v2",
    ]
