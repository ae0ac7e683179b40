"""Operator approvals: what an approval binds, how it is signed, and when it counts.

An approval is an in-toto Statement (predicate type
``https://stategate.dev/approval/v1``) signed by an ``operator`` key. It binds
the packet (id and file sha256), per module the exact from/to image digests,
the evidence records it relied on (path and sha256), the policy digest, the
approver's key id, and a validity window capped by the policy's
``approval_max_age_hours``. :func:`verify_approval` is pure: it takes the
current facts and "now" and lists every reason the approval does not count.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from stategate.evidence.findings import FindingCode
from stategate.evidence.layout import APPROVALS_SCOPE, record_file_name
from stategate.evidence.signing.canonical import (
    format_time,
    is_sha256_hex,
    parse_time,
)
from stategate.evidence.signing.dsse import Envelope
from stategate.evidence.signing.sign import CLOCK_SKEW, Signer, check_envelope, sign_statement
from stategate.evidence.signing.statement import (
    APPROVAL_KIND,
    SIGNER_FIELD,
    Statement,
    predicate_type,
)
from stategate.evidence.trust.keys import SigningKey
from stategate.evidence.trust.trustfile import Role, TrustRoots
from stategate.image import parse_image

APPROVAL_PREDICATE_TYPE = predicate_type(APPROVAL_KIND)
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def image_digest(ref: str) -> str | None:
    """``sha256:...`` from an image reference pinned by digest (``repo:tag@sha256:...``)."""
    image = parse_image(ref)
    return image.digest if image.is_digest_pinned else None


def _sha256_hex(value: str) -> str:
    if not is_sha256_hex(value):
        raise ValueError("must be 64 lowercase hex digits")
    return value


# a file's sha256 as the approval binds it (packet file, evidence record)
Sha256Hex = Annotated[str, AfterValidator(_sha256_hex)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ImageBinding(_Model):
    image: str = Field(..., description="The image reference as the packet writes it.")
    digest: str = Field(..., description="sha256:<hex>, the exact image approved.")

    @field_validator("digest")
    @classmethod
    def _is_digest(cls, value: str) -> str:
        if not (value.startswith("sha256:") and is_sha256_hex(value[7:])):
            raise ValueError("must be sha256:<64 hex digits>")
        return value


class ModuleApproval(_Model):
    module: str = Field(..., min_length=1, description="Module id <project>/<service>.")
    from_: ImageBinding | None = Field(None, alias="from", description="None: module added.")
    to: ImageBinding
    config: Sha256Hex | None = Field(
        None,
        description="sha256 of the module's resolved compose service at the approved revision "
        "(credentials masked): a runtime change made after the approval voids it.",
    )

    def digests(self) -> tuple[str | None, str]:
        return (self.from_.digest if self.from_ else None, self.to.digest)


class EvidenceRef(_Model):
    path: str = Field(..., min_length=1, description="Record path, repo-relative.")
    sha256: Sha256Hex


class PacketRef(_Model):
    id: str = Field(..., min_length=1)
    path: str = Field(..., min_length=1, description="Packet file, repo-relative.")
    sha256: Sha256Hex


class Approval(_Model):
    """The approval predicate (without the ``signer`` binding)."""

    packet: PacketRef
    modules: tuple[ModuleApproval, ...] = Field(..., min_length=1)
    evidence: tuple[EvidenceRef, ...] = ()
    policy_digest: str
    approver: str = Field(..., description="Key id of the operator key that signed.")
    created: str
    expires: str

    @property
    def created_at(self) -> datetime:
        return parse_time(self.created)

    @property
    def expires_at(self) -> datetime:
        return parse_time(self.expires)


@dataclass(frozen=True)
class ApprovalRequest:
    """What the operator approves: everything except who and when."""

    packet: PacketRef
    modules: tuple[ModuleApproval, ...]
    evidence: tuple[EvidenceRef, ...]
    policy_digest: str


def approval_window(
    now: datetime, hours: float | None, max_age_hours: float
) -> tuple[datetime, datetime]:
    """(created, expires): ``hours`` (default: the maximum) capped by ``max_age_hours``."""
    created = now.replace(microsecond=0)
    wanted = max_age_hours if hours is None else min(hours, max_age_hours)
    if wanted <= 0:
        raise ValueError("an approval must be valid for a positive number of hours")
    return created, created + timedelta(hours=wanted)


def approval_statement(
    request: ApprovalRequest, approver: str, created: datetime, expires: datetime
) -> Statement:
    """The unsigned approval statement; its subject is the packet file."""
    if not _SAFE_ID.match(request.packet.id):
        raise ValueError(
            f"packet id {request.packet.id!r} must be letters, digits, '.', '_' or '-'"
        )
    approval = Approval(
        packet=request.packet,
        modules=tuple(sorted(request.modules, key=lambda m: m.module)),
        evidence=tuple(sorted(request.evidence, key=lambda e: e.path)),
        policy_digest=request.policy_digest,
        approver=approver,
        created=format_time(created),
        expires=format_time(expires),
    )
    return Statement.model_validate(
        {
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": request.packet.path, "digest": {"sha256": request.packet.sha256}}],
            "predicateType": APPROVAL_PREDICATE_TYPE,
            "predicate": approval.model_dump(mode="json", by_alias=True),
        }
    )


def sign_approval(
    request: ApprovalRequest,
    key: SigningKey,
    *,
    now: datetime,
    hours: float | None,
    max_age_hours: float,
) -> Envelope:
    """Build and sign an approval (``ValueError`` if the request is invalid)."""
    created, expires = approval_window(now, hours, max_age_hours)
    statement = approval_statement(request, key.keyid, created, expires)
    return sign_statement(statement, key, Role.OPERATOR, signed_at=created)


def approval_record_path(evidence_dir: str, packet_id: str, created: datetime, keyid: str) -> str:
    """Where an approval is written: ``evidence/_approvals/<packet>/approval-<time>-<key>.json``."""
    stamp = created.strftime("%Y%m%dT%H%M%SZ")
    short = "".join(c for c in keyid.removeprefix("SHA256:") if c.isalnum())[:10]
    name = record_file_name(APPROVAL_KIND, f"{stamp}-{short}")
    return f"{evidence_dir}/{APPROVALS_SCOPE}/{packet_id}/{name}"


class ApprovalReason(enum.StrEnum):
    """Why an approval does not count."""

    MALFORMED = "malformed"
    NOT_AN_APPROVAL = "not-an-approval"
    FORGED_SIGNATURE = "forged-signature"
    UNKNOWN_KEY = "unknown-key"
    NOT_OPERATOR = "not-operator"
    KEY_REVOKED = "key-revoked"
    KEY_EXPIRED = "key-expired"
    KEY_NOT_YET_VALID = "key-not-yet-valid"
    NOT_YET_VALID = "not-yet-valid"  # created in the future
    EXPIRED = "expired"
    TOO_LONG = "too-long"  # validity beyond the policy's approval_max_age_hours
    PACKET_CHANGED = "packet-changed"  # other packet id or file sha256
    CONFIG_CHANGED = "config-changed"  # the module's resolved compose service changed
    DIGESTS_CHANGED = "digests-changed"  # other modules or from/to image digests
    POLICY_CHANGED = "policy-changed"
    EVIDENCE_CHANGED = "evidence-changed"
    EVIDENCE_MISSING = "evidence-missing"
    EVIDENCE_NOT_APPROVED = "evidence-not-approved"  # the gate relies on evidence not approved
    NOT_LEDGERED = "not-ledgered"  # the approval record is not (intact) in the ledger


_FROM_FINDING: dict[FindingCode, ApprovalReason] = {
    FindingCode.RECORD_MALFORMED: ApprovalReason.MALFORMED,
    FindingCode.BAD_SIGNATURE: ApprovalReason.FORGED_SIGNATURE,
    FindingCode.UNKNOWN_KEY: ApprovalReason.UNKNOWN_KEY,
    FindingCode.WRONG_ROLE: ApprovalReason.NOT_OPERATOR,
    FindingCode.KEY_REVOKED: ApprovalReason.KEY_REVOKED,
    FindingCode.KEY_EXPIRED: ApprovalReason.KEY_EXPIRED,
    FindingCode.KEY_NOT_YET_VALID: ApprovalReason.KEY_NOT_YET_VALID,
    FindingCode.SIGNED_IN_FUTURE: ApprovalReason.NOT_YET_VALID,
}


@dataclass(frozen=True)
class ApprovalIssue:
    reason: ApprovalReason
    message: str


@dataclass(frozen=True)
class ApprovalExpectation:
    """The current facts an approval must match."""

    packet_id: str
    packet_sha256: str
    modules: tuple[ModuleApproval, ...]  # from the current packet
    evidence: Mapping[str, str | None]  # current sha256 per evidence path (None: gone)
    policy_digest: str
    max_age_hours: float
    required_evidence: tuple[str, ...] = ()  # evidence the gate relies on: must be approved


@dataclass(frozen=True)
class ApprovalCheck:
    approval: Approval | None
    signer: Signer | None
    issues: tuple[ApprovalIssue, ...]

    @property
    def valid(self) -> bool:
        return not self.issues and self.approval is not None and self.signer is not None


def verify_approval(
    envelope: Envelope, trust: TrustRoots, expected: ApprovalExpectation, now: datetime
) -> ApprovalCheck:
    """Every reason ``envelope`` is not a valid approval of ``expected`` at ``now``. Pure."""
    check = check_envelope(envelope, trust, now=now)
    issues = [
        ApprovalIssue(_FROM_FINDING.get(p.code, ApprovalReason.MALFORMED), p.message)
        for p in check.problems
    ]
    statement = check.statement
    if statement is None:
        return ApprovalCheck(None, check.signer, tuple(issues))
    if statement.predicate_type != APPROVAL_PREDICATE_TYPE:
        issues.append(
            ApprovalIssue(
                ApprovalReason.NOT_AN_APPROVAL,
                f"predicate type is {statement.predicate_type}, not {APPROVAL_PREDICATE_TYPE}",
            )
        )
        return ApprovalCheck(None, check.signer, tuple(issues))
    fields = {k: v for k, v in statement.predicate.items() if k != SIGNER_FIELD}
    try:
        approval = Approval.model_validate(fields)
        created, expires = approval.created_at, approval.expires_at
    except (ValidationError, ValueError) as exc:
        issues.append(
            ApprovalIssue(
                ApprovalReason.MALFORMED, f"approval predicate is malformed: {exc}".splitlines()[0]
            )
        )
        return ApprovalCheck(None, check.signer, tuple(issues))
    claim = statement.signer_claim()
    if claim is not None and (approval.approver != claim.keyid or created != claim.signed_time):
        issues.append(
            ApprovalIssue(
                ApprovalReason.MALFORMED, "approver or created differ from the signature binding"
            )
        )
    issues.extend(_window_issues(created, expires, now, expected.max_age_hours))
    issues.extend(_binding_issues(approval, expected))
    return ApprovalCheck(approval, check.signer, tuple(issues))


def _window_issues(
    created: datetime, expires: datetime, now: datetime, max_age_hours: float
) -> list[ApprovalIssue]:
    issues: list[ApprovalIssue] = []
    if created > now + CLOCK_SKEW:
        issues.append(
            ApprovalIssue(
                ApprovalReason.NOT_YET_VALID, f"created {format_time(created)} is in the future"
            )
        )
    if now >= expires:
        issues.append(ApprovalIssue(ApprovalReason.EXPIRED, f"expired at {format_time(expires)}"))
    if expires - created > timedelta(hours=max_age_hours, seconds=1):
        issues.append(
            ApprovalIssue(
                ApprovalReason.TOO_LONG,
                f"valid for {(expires - created).total_seconds() / 3600:g} h, the policy allows "
                f"at most {max_age_hours:g} h",
            )
        )
    return issues


def _binding_issues(approval: Approval, expected: ApprovalExpectation) -> list[ApprovalIssue]:
    issues: list[ApprovalIssue] = []
    if approval.packet.id != expected.packet_id:
        issues.append(
            ApprovalIssue(
                ApprovalReason.PACKET_CHANGED,
                f"approves packet {approval.packet.id}, not {expected.packet_id}",
            )
        )
    elif approval.packet.sha256 != expected.packet_sha256:
        issues.append(
            ApprovalIssue(
                ApprovalReason.PACKET_CHANGED,
                f"packet {approval.packet.path} changed since it was approved (sha256 differs)",
            )
        )
    issues.extend(_module_issues(approval.modules, expected.modules))
    if approval.policy_digest != expected.policy_digest:
        issues.append(
            ApprovalIssue(ApprovalReason.POLICY_CHANGED, "the policy changed since the approval")
        )
    approved = {ref.path: ref.sha256 for ref in approval.evidence}
    for path, digest in sorted(approved.items()):
        current = expected.evidence.get(path)
        if current is None:
            issues.append(
                ApprovalIssue(ApprovalReason.EVIDENCE_MISSING, f"approved evidence {path} is gone")
            )
        elif current != digest:
            issues.append(
                ApprovalIssue(
                    ApprovalReason.EVIDENCE_CHANGED,
                    f"approved evidence {path} changed since the approval",
                )
            )
    for path in expected.required_evidence:
        if path not in approved:
            issues.append(
                ApprovalIssue(
                    ApprovalReason.EVIDENCE_NOT_APPROVED,
                    f"evidence {path} was not part of the approval",
                )
            )
    return issues


def _module_issues(
    approved: Sequence[ModuleApproval], current: Sequence[ModuleApproval]
) -> list[ApprovalIssue]:
    issues: list[ApprovalIssue] = []
    was = {m.module: m.digests() for m in approved}
    now = {m.module: m.digests() for m in current}
    for module in sorted(now.keys() - was.keys()):
        issues.append(
            ApprovalIssue(
                ApprovalReason.DIGESTS_CHANGED, f"module {module} is not covered by the approval"
            )
        )
    for module in sorted(was.keys() - now.keys()):
        issues.append(
            ApprovalIssue(
                ApprovalReason.DIGESTS_CHANGED,
                f"approval covers module {module}, which the packet no longer changes",
            )
        )
    for module in sorted(was.keys() & now.keys()):
        (a_from, a_to), (c_from, c_to) = was[module], now[module]
        if a_from != c_from:
            issues.append(
                ApprovalIssue(
                    ApprovalReason.DIGESTS_CHANGED,
                    f"module {module}: approved from {a_from}, now from {c_from}",
                )
            )
        if a_to != c_to:
            issues.append(
                ApprovalIssue(
                    ApprovalReason.DIGESTS_CHANGED,
                    f"module {module}: approved to {a_to}, now to {c_to}",
                )
            )
    approved_config = {m.module: m.config for m in approved}
    for entry in current:
        if entry.module in approved_config and entry.config != approved_config[entry.module]:
            issues.append(
                ApprovalIssue(
                    ApprovalReason.CONFIG_CHANGED,
                    f"module {entry.module}: its runtime configuration is not the one approved",
                )
            )
    return issues
