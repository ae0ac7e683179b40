"""Helpers for tests that need keys, trust files and (also malicious) signed records.

Shipped with the package so every test suite (evidence, gate, DR drill) builds
its fixtures the same way. Nothing here is used at run time.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from stategate.evidence.files import atomic_write
from stategate.evidence.layout import RepoLayout
from stategate.evidence.signing.canonical import canonical_json, format_time, sha256_bytes, utc_now
from stategate.evidence.signing.dsse import IN_TOTO_PAYLOAD_TYPE, Envelope, sign_payload
from stategate.evidence.signing.statement import STATEMENT_TYPE, coerce_statement, predicate_type
from stategate.evidence.trust.keys import SigningKey
from stategate.evidence.trust.trustfile import (
    TRUST_HEADER,
    Role,
    TrustEntry,
    TrustRoots,
    parse_trust,
)
from stategate.evidence.trust.trustfile import (
    trust_entry as trust_entry,  # re-exported for the test suites
)


def as_layout(repo: RepoLayout | str | os.PathLike[str]) -> RepoLayout:
    """Tests only: a bare path means the default layout (evidence/, trust.yaml)."""
    return repo if isinstance(repo, RepoLayout) else RepoLayout(Path(repo))


def statement(
    kind: str,
    *,
    subject_name: str = "artifact.bin",
    subject_sha256: str | None = None,
    predicate: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A minimal in-toto statement of ``kind`` (``backup``, ``approval``, ...)."""
    return {
        "_type": STATEMENT_TYPE,
        "subject": [
            {
                "name": subject_name,
                "digest": {"sha256": subject_sha256 or sha256_bytes(subject_name.encode())},
            }
        ],
        "predicateType": predicate_type(kind),
        "predicate": dict(predicate or {}),
    }


def write_trust_file(
    repo: RepoLayout | str | os.PathLike[str], entries: Iterable[TrustEntry]
) -> Path:
    """Write (replace) the repo's trust file with ``entries``."""
    layout = as_layout(repo)
    rows: list[dict[str, Any]] = []
    for entry in entries:
        row: dict[str, Any] = {
            "name": entry.name,
            "role": entry.role.value,
            "keyid": entry.keyid,
            "public_key": entry.public_key,
        }
        if entry.valid_after is not None:
            row["valid_after"] = format_time(entry.valid_after)
        if entry.valid_before is not None:
            row["valid_before"] = format_time(entry.valid_before)
        row["revoked"] = (
            entry.revoked if isinstance(entry.revoked, bool) else format_time(entry.revoked)
        )
        rows.append(row)
    text = TRUST_HEADER.removesuffix("keys:\n") + yaml.safe_dump(
        {"keys": rows}, sort_keys=False, width=1000
    )
    path = layout.path(layout.trust_file)
    atomic_write(path, text.encode("utf-8"))
    return path


def sign_as(
    raw: Mapping[str, Any],
    key: SigningKey,
    role: Role,
    *,
    signed_at: datetime | None = None,
    claimed_keyid: str | None = None,
) -> Envelope:
    """Sign like :func:`sign_statement` but without its safety checks, to build
    records that must be rejected (wrong role for the kind, a claimed key id that
    is not the signing key's)."""
    parsed = coerce_statement(raw)
    bound = parsed.with_signer(claimed_keyid or key.keyid, role, signed_at or utc_now())
    envelope = sign_payload(IN_TOTO_PAYLOAD_TYPE, canonical_json(bound.to_json_obj()), key)
    return envelope


def write_envelope(repo: RepoLayout | str | os.PathLike[str], rel: str, envelope: Envelope) -> Path:
    """Write ``envelope`` to ``rel`` without ledgering it."""
    layout = as_layout(repo)
    path = layout.path(rel)
    atomic_write(path, envelope.to_json())
    return path


def trust_roots(entries: Iterable[TrustEntry]) -> TrustRoots:
    """In-memory trust roots, through the same validation as the trust file."""
    rows = [e.model_dump(mode="json") for e in entries]
    return parse_trust({"version": 1, "keys": rows}, shown="trust/allowed_signers.yaml")
