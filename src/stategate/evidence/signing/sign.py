"""Signing statements and checking signed envelopes against the trust roots."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from stategate.evidence.findings import FindingCode, Problem
from stategate.evidence.signing.canonical import canonical_json, format_time, parse_json, utc_now
from stategate.evidence.signing.dsse import IN_TOTO_PAYLOAD_TYPE, Envelope, sign_payload
from stategate.evidence.signing.statement import (
    SIGNER_FIELD,
    SignerClaim,
    Statement,
    coerce_statement,
    required_role,
)
from stategate.evidence.trust.keys import SigningKey
from stategate.evidence.trust.trustfile import KeyState, Role, TrustedKey, TrustRoots

# a signing time this far ahead of the verifier's clock is suspicious
CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class Signer:
    """Who signed a record, as proven by a valid signature and the trust roots."""

    keyid: str
    name: str | None  # from the trust file; None when the key is not trusted
    role: Role
    signed_at: datetime


def sign_statement(
    statement: Statement | Mapping[str, Any],
    key: SigningKey,
    role: Role,
    *,
    signed_at: datetime | None = None,
) -> Envelope:
    """Bind ``key``'s id, ``role`` and the signing time into ``statement`` and sign it.

    The payload is canonical JSON, so the same statement, key and time always
    give the same envelope. ``ValueError`` if the statement is invalid, already
    carries ``predicate.signer``, or its kind needs another role.
    """
    parsed = coerce_statement(statement)
    if SIGNER_FIELD in parsed.predicate:
        raise ValueError(f"predicate.{SIGNER_FIELD} is reserved for the signature binding")
    needed = required_role(parsed.kind)
    if role is not needed:
        raise ValueError(
            f"a {parsed.kind} record is signed in role {needed.value}, not {role.value}"
        )
    moment = signed_at or utc_now()
    bound = parsed.with_signer(key.keyid, role, moment)
    try:
        payload = canonical_json(bound.to_json_obj())
    except (TypeError, ValueError) as exc:  # e.g. a datetime or NaN in the predicate
        raise ValueError(f"statement is not plain JSON: {exc}") from exc
    return sign_payload(IN_TOTO_PAYLOAD_TYPE, payload, key)


@dataclass(frozen=True)
class EnvelopeCheck:
    """The outcome of checking one envelope; it counts only when ``problems`` is empty."""

    statement: Statement | None
    claim: SignerClaim | None  # what the payload says about its signer
    signer: Signer | None  # set when the signature verifies with a trusted key
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems and self.signer is not None


def decode_statement(envelope: Envelope) -> tuple[Statement, SignerClaim]:
    """The statement and signer claim inside ``envelope`` (``ValueError`` if malformed)."""
    if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE:
        raise ValueError(f"payloadType is {envelope.payload_type!r}, not {IN_TOTO_PAYLOAD_TYPE}")
    try:
        raw = parse_json(envelope.payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"payload is not valid JSON: {exc}") from exc
    if canonical_json(raw) != envelope.payload:
        raise ValueError("payload is not canonical JSON")
    if not isinstance(raw, dict):
        raise ValueError("payload is not a JSON object")
    statement = coerce_statement(raw)
    try:
        claim = statement.signer_claim()
    except ValidationError as exc:
        raise ValueError(f"predicate.{SIGNER_FIELD} is malformed") from exc
    if claim is None:
        raise ValueError(f"predicate.{SIGNER_FIELD} is missing (not signed by stategate)")
    return statement, claim


def check_envelope(
    envelope: Envelope, trust: TrustRoots, *, now: datetime | None = None
) -> EnvelopeCheck:
    """Check signature, key, role and key validity at signing time. Pure: no I/O."""
    try:
        statement, claim = decode_statement(envelope)
    except ValueError as exc:
        return EnvelopeCheck(None, None, None, (Problem(FindingCode.RECORD_MALFORMED, str(exc)),))
    if len(envelope.signatures) != 1:
        problem = Problem(
            FindingCode.RECORD_MALFORMED,
            f"expected exactly one signature, found {len(envelope.signatures)}",
        )
        return EnvelopeCheck(statement, claim, None, (problem,))

    entries = trust.find(claim.keyid)
    if not entries:
        problem = Problem(
            FindingCode.UNKNOWN_KEY,
            f"signed by key {claim.keyid}, which {trust.source} does not list",
        )
        return EnvelopeCheck(statement, claim, None, (problem,))
    if not envelope.verify_with(entries[0].public, envelope.signatures[0]):
        problem = Problem(
            FindingCode.BAD_SIGNATURE,
            f"signature does not verify with key {claim.keyid} ({entries[0].name}): "
            "forged or altered",
        )
        return EnvelopeCheck(statement, claim, None, (problem,))

    problems: list[Problem] = []
    needed = required_role(statement.kind)
    if claim.role is not needed:
        problems.append(
            Problem(
                FindingCode.WRONG_ROLE,
                f"a {statement.kind} record needs role {needed.value}, but was signed as "
                f"{claim.role.value}",
            )
        )
    signed_at = claim.signed_time
    key_check = trust.check(claim.keyid, claim.role, signed_at)
    name = key_check.key.name if key_check.key else entries[0].name
    key_problem = _key_problem(
        key_check.state, claim, name, key_check.roles, signed_at, key_check.key
    )
    if key_problem is not None:
        problems.append(key_problem)
    if signed_at > (now or utc_now()) + CLOCK_SKEW:
        problems.append(
            Problem(
                FindingCode.SIGNED_IN_FUTURE, f"signing time {claim.signed_at} is in the future"
            )
        )
    signer = Signer(claim.keyid, name, claim.role, signed_at)
    return EnvelopeCheck(statement, claim, signer, tuple(problems))


def _key_problem(
    state: KeyState,
    claim: SignerClaim,
    name: str,
    roles: tuple[Role, ...],
    signed_at: datetime,
    key: TrustedKey | None,
) -> Problem | None:
    who = f"key {claim.keyid} ({name})"
    when = format_time(signed_at)
    if state is KeyState.VALID:
        return None
    if state is KeyState.WRONG_ROLE:
        trusted = ", ".join(r.value for r in roles)
        return Problem(
            FindingCode.WRONG_ROLE, f"{who} is trusted for {trusted}, not {claim.role.value}"
        )
    if state is KeyState.REVOKED:
        since = ""
        if key is not None and isinstance(key.revoked, datetime):
            since = f" as of {format_time(key.revoked)}"
        return Problem(FindingCode.KEY_REVOKED, f"{who} is revoked{since} (signed {when})")
    if state is KeyState.EXPIRED:
        until = _time_or_unknown(key.valid_before if key else None)
        return Problem(
            FindingCode.KEY_EXPIRED, f"{who} expired at {until}, before signing time {when}"
        )
    if state is KeyState.NOT_YET_VALID:
        start = _time_or_unknown(key.valid_after if key else None)
        return Problem(
            FindingCode.KEY_NOT_YET_VALID, f"{who} is valid only from {start}, signed {when}"
        )
    return Problem(FindingCode.UNKNOWN_KEY, f"{who} is not trusted")


def _time_or_unknown(moment: datetime | None) -> str:
    return format_time(moment) if moment is not None else "?"
