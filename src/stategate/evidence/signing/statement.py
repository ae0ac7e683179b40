"""in-toto Statement v1 as stategate signs it, and the role each kind of record needs.

The signer's key id, role and signing time are bound into the signed payload
as ``predicate.signer``, so a record cannot be replayed under another role or
re-attributed to another key: the DSSE ``keyid`` field is only a hint.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from stategate.evidence.signing.canonical import format_time, is_sha256_hex, parse_time
from stategate.evidence.trust.trustfile import Role

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_BASE = "https://stategate.dev/"
SIGNER_FIELD = "signer"  # reserved key inside every stategate predicate

APPROVAL_KIND = "approval"
_OPERATOR_KINDS = frozenset({APPROVAL_KIND})


def predicate_type(kind: str, version: int = 1) -> str:
    """``predicate_type("backup")`` -> ``https://stategate.dev/backup/v1``."""
    return f"{PREDICATE_BASE}{kind}/v{version}"


def kind_of(predicate_type_uri: str) -> str:
    """The short kind of a predicate type (``backup``); a foreign URI is its own kind."""
    if predicate_type_uri.startswith(PREDICATE_BASE):
        parts = predicate_type_uri[len(PREDICATE_BASE) :].split("/")
        if len(parts) == 2 and parts[0] and parts[1].startswith("v"):
            return parts[0]
    return predicate_type_uri


def required_role(kind: str) -> Role:
    """Approvals need an operator key; every other record an evidence key."""
    return Role.OPERATOR if kind in _OPERATOR_KINDS else Role.EVIDENCE


class ResourceDescriptor(BaseModel):
    """An in-toto subject: what the statement is about, identified by digest."""

    model_config = ConfigDict(extra="allow")

    name: str | None = None
    uri: str | None = None
    digest: dict[str, str] = Field(..., min_length=1)

    @field_validator("digest")
    @classmethod
    def _sha256_is_hex(cls, value: dict[str, str]) -> dict[str, str]:
        if "sha256" in value and not is_sha256_hex(value["sha256"]):
            raise ValueError("digest.sha256 must be 64 lowercase hex digits")
        return value


class SignerClaim(BaseModel):
    """``predicate.signer``: who signed, in which role, when (all signed)."""

    model_config = ConfigDict(extra="forbid")

    keyid: str = Field(..., min_length=1)
    role: Role
    signed_at: str

    @field_validator("signed_at")
    @classmethod
    def _rfc3339(cls, value: str) -> str:
        parse_time(value)
        return value

    @property
    def signed_time(self) -> datetime:
        return parse_time(self.signed_at)


class Statement(BaseModel):
    """An in-toto Statement v1 (the payload of every stategate envelope)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    type_: Literal["https://in-toto.io/Statement/v1"] = Field(
        "https://in-toto.io/Statement/v1", alias="_type"
    )
    subject: list[ResourceDescriptor] = Field(..., min_length=1)
    predicate_type: str = Field(..., alias="predicateType", min_length=1)
    predicate: dict[str, Any] = Field(default_factory=dict)

    @property
    def kind(self) -> str:
        return kind_of(self.predicate_type)

    def signer_claim(self) -> SignerClaim | None:
        raw = self.predicate.get(SIGNER_FIELD)
        if raw is None:
            return None
        return SignerClaim.model_validate(raw)

    def to_json_obj(self) -> dict[str, Any]:
        return {
            "_type": self.type_,
            "subject": [s.model_dump(mode="json", exclude_none=True) for s in self.subject],
            "predicateType": self.predicate_type,
            "predicate": self.predicate,
        }

    def with_signer(self, keyid: str, role: Role, signed_at: datetime) -> Statement:
        claim = SignerClaim(keyid=keyid, role=role, signed_at=format_time(signed_at))
        predicate = dict(self.predicate)
        predicate[SIGNER_FIELD] = claim.model_dump(mode="json")
        return self.model_copy(update={"predicate": predicate})


def coerce_statement(value: Statement | Mapping[str, Any]) -> Statement:
    """Accept a :class:`Statement` or its JSON form (``ValueError`` if invalid)."""
    if isinstance(value, Statement):
        return value
    try:
        return Statement.model_validate(dict(value))
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "statement"
        raise ValueError(f"invalid in-toto statement: {where}: {err['msg']}") from exc
