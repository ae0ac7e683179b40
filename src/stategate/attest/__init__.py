"""The trust layer: signed evidence, trust roots, the evidence ledger, approvals.

Records are DSSE envelopes over in-toto Statements v1, signed with Ed25519
(see ``docs/signing.md``). Typical use::

    from stategate.attest import EvidenceStore, Role, load_signing_key, predicate_type

    store = EvidenceStore.open(repo)
    key = load_signing_key(path)
    record = store.write_signed(
        "evidence/app/postgres/backup-20260527T100000Z-1a2b3c.json",
        {"_type": "https://in-toto.io/Statement/v1",
         "subject": [{"name": "app/postgres/20260527T100000Z-1a2b3c/db/app.dump.zst", "digest": {"sha256": hex}}],
         "predicateType": predicate_type("backup"),
         "predicate": {...}},
        key,
        Role.EVIDENCE,
    )
    again = store.load_verified(record.path)  # raises VerificationError if it does not count
"""

from __future__ import annotations

from stategate.attest.approval import (
    APPROVAL_PREDICATE_TYPE,
    Approval,
    ApprovalCheck,
    ApprovalExpectation,
    ApprovalIssue,
    ApprovalReason,
    ApprovalRequest,
    EvidenceRef,
    ImageBinding,
    ModuleApproval,
    PacketRef,
    image_digest,
    sign_approval,
    verify_approval,
)
from stategate.attest.approval_store import (
    check_approval,
    evidence_digests,
    evidence_refs,
    write_approval,
)
from stategate.attest.audit import VerifyReport, verify
from stategate.attest.dsse import Envelope, parse_envelope
from stategate.attest.findings import Finding, FindingCode, Problem, VerificationError
from stategate.attest.keys import PublicKey, SigningKey, default_key_dir, load_signing_key
from stategate.attest.layout import RepoLayout
from stategate.attest.ledger import LedgerEntry
from stategate.attest.signing import EnvelopeCheck, Signer, check_envelope, sign_statement
from stategate.attest.statement import (
    STATEMENT_TYPE,
    ResourceDescriptor,
    Statement,
    kind_of,
    predicate_type,
    required_role,
)
from stategate.attest.store import (
    EvidenceStore,
    VerifiedRecord,
    append,
    load_verified,
    write_signed,
)
from stategate.attest.trust import KeyState, Role, TrustRoots, load_trust
from stategate.policy.load import policy_digest

__all__ = [
    "APPROVAL_PREDICATE_TYPE",
    "STATEMENT_TYPE",
    "Approval",
    "ApprovalCheck",
    "ApprovalExpectation",
    "ApprovalIssue",
    "ApprovalReason",
    "ApprovalRequest",
    "Envelope",
    "EnvelopeCheck",
    "EvidenceRef",
    "EvidenceStore",
    "Finding",
    "FindingCode",
    "ImageBinding",
    "KeyState",
    "LedgerEntry",
    "ModuleApproval",
    "PacketRef",
    "Problem",
    "PublicKey",
    "RepoLayout",
    "ResourceDescriptor",
    "Role",
    "Signer",
    "SigningKey",
    "Statement",
    "TrustRoots",
    "VerificationError",
    "VerifiedRecord",
    "VerifyReport",
    "append",
    "check_approval",
    "check_envelope",
    "default_key_dir",
    "evidence_digests",
    "evidence_refs",
    "image_digest",
    "kind_of",
    "load_signing_key",
    "load_trust",
    "load_verified",
    "parse_envelope",
    "policy_digest",
    "predicate_type",
    "required_role",
    "sign_approval",
    "sign_statement",
    "verify",
    "verify_approval",
    "write_approval",
    "write_signed",
]
