"""Parsing DSSE envelopes: each malformation gets its own exact one-line error.

test_dsse.py covers the happy path and that errors are one line; these pin which
error, so a parser that mixes up fields or accepts a half-formed signature fails
(written against surviving mutants).
"""

from __future__ import annotations

import base64
import json

import pytest

from stategate.evidence.signing.dsse import (
    EnvelopeError,
    Signature,
    pae,
    parse_envelope,
    sign_payload,
)
from stategate.evidence.trust.keys import SigningKey


def doc(**fields: object) -> bytes:
    base: dict[str, object] = {"payloadType": "t", "payload": "", "signatures": []}
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not ...}).encode()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{", "not valid JSON: Expecting property name enclosed in double quotes"),
        (b'"text"', "not a DSSE envelope (expected a JSON object)"),
        (doc(payloadType=..., payload=...), "not a DSSE envelope (missing payloadType, payload)"),
        (doc(signatures=...), "not a DSSE envelope (missing signatures)"),
        (doc(payloadType=7), "payloadType is not a string"),
        (doc(payload=7), "payload is not a base64 string"),
        (doc(payload="a$b="), "payload is not valid base64"),
        (doc(signatures="x"), "signatures is not a list"),
        (doc(signatures=[{"sig": ""}, 5]), "signatures[1] is malformed"),
        (doc(signatures=[{"keyid": 5, "sig": ""}]), "signatures[0] is malformed"),
        (doc(signatures=[{"keyid": "k"}]), "signature is not a base64 string"),
        (doc(signatures=[{"keyid": "k", "sig": "%%%%"}]), "signature is not valid base64"),
    ],
)
def test_each_malformation_has_its_error(data: bytes, message: str) -> None:
    with pytest.raises(EnvelopeError) as caught:
        parse_envelope(data)
    assert str(caught.value).startswith(message), str(caught.value)
    if not message.startswith("not valid JSON"):
        assert str(caught.value) == message


def test_fields_land_where_they_belong() -> None:
    payload, sig = b"\x00payload\xff", b"\x01sig"
    data = doc(
        payloadType="application/x",
        payload=base64.b64encode(payload).decode().rstrip("="),  # unpadded is accepted
        signatures=[{"keyid": "k1", "sig": base64.b64encode(sig).decode()}, {"sig": ""}],
    )
    env = parse_envelope(data)
    assert env.payload_type == "application/x"
    assert env.payload == payload
    assert env.signatures == (Signature("k1", sig), Signature("", b""))


def test_to_json_round_trips_exact_bytes(evidence_key: SigningKey) -> None:
    env = sign_payload("application/x", b"\xfe\xff binary", evidence_key)
    written = env.to_json()
    assert written.endswith(b"}\n")
    assert json.loads(written) == {
        "payloadType": "application/x",
        "payload": base64.b64encode(b"\xfe\xff binary").decode(),
        "signatures": [
            {"keyid": evidence_key.keyid, "sig": base64.b64encode(env.signatures[0].sig).decode()}
        ],
    }
    assert parse_envelope(written) == env


def test_pae_counts_bytes_not_characters() -> None:
    assert pae("é", b"\xc3\xa9") == b"DSSEv1 2 \xc3\xa9 2 \xc3\xa9"
