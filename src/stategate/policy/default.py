"""The built-in default: the strict W8.3 gate of PRODUCT.md.

Stateful, public-edge, auth and privileged (security-sensitive) modules are
always manual (ADR-0022); the DR drill is required on every trigger; every
stop condition is on. A platform policy may tighten any of it; relaxing an
always-manual rule needs a decision record.
"""

from __future__ import annotations

from stategate.policy.schema import (
    ApplyRequirement as A,
)
from stategate.policy.schema import (
    ClassRule,
    DocsLint,
    Policy,
    UpgradeClass,
)
from stategate.policy.schema import (
    MergeRequirement as M,
)

C = UpgradeClass

RUNTIME_PATTERNS = [
    # at most eight words between docker and the verb: bounded, so linear on any line
    r"\bdocker(-compose|\s+compose)?\s+(\S+\s+){0,8}?(up|pull|restart|rm|stop|down|start|run|exec|kill)\b",
    r"\bpg_restore\b|\bpg_upgrade\b|\bpg_dropcluster\b|\b(restic|borg|kopia)\s+restore\b",
    r"\bdb:migrate\b|\bmanage\.py\s+migrate\b|\bmigrate\s+(up|down|deploy)\b",
    r"\bFLUSHALL\b|\bFLUSHDB\b",
    r"\bmc\s+(rb|rm)\b|\bdelete-bucket\b|\brm\s+-r?f\b",
    r"\bDROP\s+(DATABASE|TABLE|SCHEMA)\b",
]


def default_policy() -> Policy:
    return Policy(
        name="stategate default (strict W8.3)",
        classes={
            C.STATEFUL: ClassRule(
                always_manual=True,
                manual_reason="red-zone",
                labels=["risk/runtime"],
                merge=[
                    M.PACKET,
                    M.DIGEST_PINNED,
                    M.ROLLBACK_PATH,
                    M.SMOKE_CONTRACT,
                    M.MIGRATION_NOTE,
                    M.MANUAL_MERGE,
                ],
                apply=[
                    A.BACKUP,
                    A.RESTORE_DRILL,
                    A.REHEARSAL,
                    A.ROLLBACK_PATH,
                    A.SMOKE_BASELINE,
                    A.DR_DRILL,
                    A.OPERATOR_APPROVAL,
                ],
            ),
            C.SIDECAR_BOUND: ClassRule(
                labels=["risk/runtime"],
                merge=[M.PACKET, M.DIGEST_PINNED, M.ROLLBACK_PATH, M.SMOKE_CONTRACT],
                apply=[A.PARENT_BACKUP, A.PARENT_SMOKE, A.IDEMPOTENCY, A.OPERATOR_APPROVAL],
            ),
            C.SECRET_BEARING: ClassRule(
                labels=["risk/process"],
                merge=[],
                apply=[A.SECRET_REFS, A.OPERATOR_APPROVAL],
            ),
            C.PUBLIC_EDGE: ClassRule(
                always_manual=True,
                manual_reason="red-zone",
                labels=["risk/exposure"],
                merge=[M.PACKET, M.ROLLBACK_PATH, M.SMOKE_CONTRACT, M.MANUAL_MERGE],
                apply=[A.EXPOSURE_DIFF, A.EXTERNAL_SMOKE, A.OPERATOR_APPROVAL],
            ),
            C.AUTH: ClassRule(
                always_manual=True,
                manual_reason="security-sensitive",
                labels=["class/security-sensitive"],
                merge=[M.PACKET, M.ROLLBACK_PATH, M.MANUAL_MERGE],
                apply=[A.OPERATOR_APPROVAL],
            ),
            C.PRIVILEGED: ClassRule(
                always_manual=True,
                manual_reason="security-sensitive",
                labels=["class/security-sensitive"],
                merge=[M.PACKET, M.ROLLBACK_PATH, M.MANUAL_MERGE],
                apply=[A.OPERATOR_APPROVAL],
            ),
            C.STATELESS: ClassRule(),
        },
        docs=DocsLint(runtime_patterns=list(RUNTIME_PATTERNS)),
    )
