"""DSSE envelopes (https://github.com/secure-systems-lab/dsse, protocol v1).

The signature covers ``PAE(payloadType, payload)``, so the payload type is
signed too, and the payload travels as exact bytes (base64): verification
never re-serialises anything.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from stategate.evidence.signing.canonical import canonical_json, parse_json
from stategate.evidence.trust.keys import PublicKey, SigningKey

IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"


class EnvelopeError(ValueError):
    """The bytes are not a well-formed DSSE envelope (message is one line)."""


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


@dataclass(frozen=True)
class Signature:
    keyid: str
    sig: bytes


@dataclass(frozen=True)
class Envelope:
    payload_type: str
    payload: bytes
    signatures: tuple[Signature, ...]

    def to_json(self) -> bytes:
        """The envelope as written to disk: canonical JSON plus a newline."""
        doc = {
            "payloadType": self.payload_type,
            "payload": base64.b64encode(self.payload).decode("ascii"),
            "signatures": [
                {"keyid": s.keyid, "sig": base64.b64encode(s.sig).decode("ascii")}
                for s in self.signatures
            ],
        }
        return canonical_json(doc) + b"\n"

    def verify_with(self, key: PublicKey, signature: Signature) -> bool:
        return key.verify(signature.sig, pae(self.payload_type, self.payload))


def sign_payload(payload_type: str, payload: bytes, key: SigningKey) -> Envelope:
    """Sign ``payload`` (Ed25519 is deterministic: same input, same envelope)."""
    sig = key.sign(pae(payload_type, payload))
    return Envelope(payload_type, payload, (Signature(key.keyid, sig),))


def _b64(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise EnvelopeError(f"{what} is not a base64 string")
    text = value.replace("-", "+").replace("_", "/")  # DSSE accepts URL-safe base64 too
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise EnvelopeError(f"{what} is not valid base64") from exc


def parse_envelope(data: bytes) -> Envelope:
    """Parse envelope JSON (``EnvelopeError`` if malformed)."""
    try:
        doc: Any = parse_json(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise EnvelopeError(f"not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise EnvelopeError("not a DSSE envelope (expected a JSON object)")
    missing = [k for k in ("payloadType", "payload", "signatures") if k not in doc]
    if missing:
        raise EnvelopeError(f"not a DSSE envelope (missing {', '.join(missing)})")
    payload_type = doc["payloadType"]
    if not isinstance(payload_type, str):
        raise EnvelopeError("payloadType is not a string")
    payload = _b64(doc["payload"], "payload")
    raw_sigs = doc["signatures"]
    if not isinstance(raw_sigs, list):
        raise EnvelopeError("signatures is not a list")
    signatures: list[Signature] = []
    for index, raw in enumerate(raw_sigs):
        if not isinstance(raw, dict) or not isinstance(raw.get("keyid", ""), str):
            raise EnvelopeError(f"signatures[{index}] is malformed")
        signatures.append(Signature(raw.get("keyid", ""), _b64(raw.get("sig"), "signature")))
    return Envelope(payload_type, payload, tuple(signatures))
