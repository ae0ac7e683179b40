from __future__ import annotations

import base64
import json

import pytest

from stategate.evidence.signing.dsse import EnvelopeError, pae, parse_envelope, sign_payload
from stategate.evidence.trust.keys import SigningKey


def test_pae_matches_the_dsse_spec_example() -> None:
    # protocol.md: PAE("http://example.com/HelloWorld", "hello world")
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_signing_is_deterministic_and_round_trips(evidence_key: SigningKey) -> None:
    one = sign_payload("application/vnd.in-toto+json", b'{"a":1}', evidence_key)
    two = sign_payload("application/vnd.in-toto+json", b'{"a":1}', evidence_key)
    assert one.to_json() == two.to_json()
    parsed = parse_envelope(one.to_json())
    assert parsed == one
    assert parsed.verify_with(evidence_key.public, parsed.signatures[0])


def test_payload_type_is_covered_by_the_signature(evidence_key: SigningKey) -> None:
    env = sign_payload("application/vnd.in-toto+json", b"{}", evidence_key)
    doc = json.loads(env.to_json())
    doc["payloadType"] = "text/plain"
    changed = parse_envelope(json.dumps(doc).encode())
    assert not changed.verify_with(evidence_key.public, changed.signatures[0])


def test_url_safe_base64_is_accepted(evidence_key: SigningKey) -> None:
    env = sign_payload("application/vnd.in-toto+json", b"\xff\xfe" * 10, evidence_key)
    doc = json.loads(env.to_json())
    doc["payload"] = base64.urlsafe_b64encode(env.payload).decode().rstrip("=")
    assert parse_envelope(json.dumps(doc).encode()).payload == env.payload


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not json", "not valid JSON"),
        (b"[]", "expected a JSON object"),
        (b'{"payload": "", "signatures": []}', "missing payloadType"),
        (b'{"payloadType": "x", "payload": "!!", "signatures": []}', "payload is not valid base64"),
        (b'{"payloadType": "x", "payload": "", "signatures": {}}', "signatures is not a list"),
        (b'{"payloadType": "x", "payload": "", "signatures": [{"sig": 5}]}', "not a base64"),
        (b'{"payloadType": "x", "payloadType": "y", "payload": "", "signatures": []}', "duplicate"),
    ],
)
def test_malformed_envelopes_are_one_line_errors(data: bytes, message: str) -> None:
    with pytest.raises(EnvelopeError, match=message) as err:
        parse_envelope(data)
    assert "\n" not in str(err.value)
