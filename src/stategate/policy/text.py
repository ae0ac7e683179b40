"""Metadata-only wording of every requirement, trigger and stop condition.

Used by the gate document and by the hints ``check`` gives for unmet
requirements, so both say the same thing. The wording states what evidence
must exist; it never tells anyone to run anything now.
"""

from __future__ import annotations

from stategate.policy.schema import (
    ApplyRequirement,
    DrTrigger,
    MergeRequirement,
    StopCondition,
    UpgradeClass,
)

CLASS_TEXT: dict[UpgradeClass, str] = {
    UpgradeClass.STATEFUL: "keeps data that is lost if its storage is wiped",
    UpgradeClass.SIDECAR_BOUND: "exists to serve another module's state or lifecycle and "
    "moves in lockstep with it (its parent)",
    UpgradeClass.SECRET_BEARING: "receives credentials",
    UpgradeClass.PUBLIC_EDGE: "is reachable from outside the host",
    UpgradeClass.AUTH: "is an identity provider or auth gate",
    UpgradeClass.PRIVILEGED: "can control the host",
    UpgradeClass.STATELESS: "none of the above",
}

MERGE_TEXT: dict[MergeRequirement, str] = {
    MergeRequirement.PACKET: "an upgrade packet (packets/<id>.yaml) that declares exactly the "
    "modules the diff changes, with from/to image refs and allowed paths",
    MergeRequirement.DIGEST_PINNED: "the target image is pinned by digest (repo:tag@sha256:...)",
    MergeRequirement.ROLLBACK_PATH: "the packet records a rollback path: the previous image "
    "digest and whether rolling back needs a restore",
    MergeRequirement.SMOKE_CONTRACT: "a smoke contract (in the packet or the policy) that "
    "shows the module works after the change",
    MergeRequirement.MIGRATION_NOTE: "on a major version change, the packet carries a "
    "migration note",
    MergeRequirement.MANUAL_MERGE: "never auto-merged: the PR carries a merge/manual-<reason> "
    "label and a human merges it (ADR-0022)",
}

APPLY_TEXT: dict[ApplyRequirement, str] = {
    ApplyRequirement.BACKUP: "a backup of the currently deployed digest, taken before the "
    "change and no older than the backup freshness window",
    ApplyRequirement.RESTORE_DRILL: "a passed restore drill of that same backup into a "
    "throwaway sandbox, with the restored content verified against the backup's fingerprint",
    ApplyRequirement.REHEARSAL: "on a major or minor version change (or a move to another "
    "image repository), an upgrade rehearsal of that same backup on the target version "
    "(`stategate rehearse`): for a minor change its restore on the target passed, for a "
    "major change the whole rehearsal passed, including the in-place pg_upgrade path",
    ApplyRequirement.ROLLBACK_PATH: "a recorded rollback path: the previous digest, and "
    "whether rollback needs a restore (for example a postgres major upgrade)",
    ApplyRequirement.SMOKE_BASELINE: "a passing smoke run of the module's contract before "
    "the change (the baseline)",
    ApplyRequirement.DR_DRILL: "a passing full sandbox DR drill, when one is mandatory (see below)",
    ApplyRequirement.PARENT_BACKUP: "the parent module's backup evidence, as for the parent",
    ApplyRequirement.PARENT_SMOKE: "the parent module's smoke evidence",
    ApplyRequirement.IDEMPOTENCY: "proof the job is idempotent: a re-run in a sandbox "
    "changes nothing",
    ApplyRequirement.SECRET_REFS: "no secret values in packet, evidence or report; secret "
    "references unchanged, or a rotation plan in the packet",
    ApplyRequirement.EXPOSURE_DIFF: "an exposure diff: ports, routers and hosts added or removed",
    ApplyRequirement.EXTERNAL_SMOKE: "a smoke check of the external route",
    ApplyRequirement.OPERATOR_APPROVAL: "a signed operator approval bound to the exact image "
    "digests and the evidence relied on",
}

TRIGGER_TEXT: dict[DrTrigger, str] = {
    DrTrigger.CORE: "the module is core (two or more other modules depend on it)",
    DrTrigger.BROAD: "the batch touches two or more stateful modules",
    DrTrigger.MAJOR: "a major version changes on a stateful module",
    DrTrigger.BACKUP_REFERENCE: "the backup reference module is touched",
    DrTrigger.STALE: "the last passing DR drill is older than the DR freshness window",
}

STOP_TEXT: dict[StopCondition, str] = {
    StopCondition.UNDECLARED_CHANGE: "the diff changes a module the packet does not declare",
    StopCondition.OUT_OF_SCOPE_PATH: "the diff touches paths outside the packet's allowed paths",
    StopCondition.FORBIDDEN_PATH: "the diff touches a forbidden path",
    StopCondition.POLICY_RELAXATION: "the policy relaxes an always-manual class without a "
    "decision record",
    StopCondition.DIGEST_DRIFT: "evidence is bound to a digest that is not the one "
    "currently deployed (drift)",
    StopCondition.BACKUP_REFERENCE_BATCH: "the backup reference module is upgraded in the "
    "same batch as modules whose backups live in it",
    StopCondition.SECRET_VALUE: "a secret value appears in the diff, packet or evidence",
    StopCondition.MAJOR_WITHOUT_MIGRATION_NOTE: "a stateful module changes major version "
    "with no migration note",
    StopCondition.FLOATING_TAG: "a stateful or sidecar-bound target image is a floating tag "
    "without digest",
    StopCondition.TRUST_ROOT_CHANGE: "the pull request changes its own trust inputs (the trust "
    "file, or the policy fields that locate it or bound approvals); always on",
}
