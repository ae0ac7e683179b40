"""The ``stategate.yaml`` policy schema.

One set of pydantic models drives validation, the exported JSON Schema and the
generated gate document, so the three cannot disagree.
"""

from __future__ import annotations

import enum
import posixpath
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from stategate.providers.config import ProviderConfig, SmokeCheck
from stategate.repository.config import EncryptionSettings, RepositoryConfig

POLICY_VERSION = 1


def _inside_repo(value: str) -> str:
    """A path the policy names must stay in the repo: relative, no ``..``, no NUL."""
    norm = posixpath.normpath(value.replace("\\", "/")) if value else ""
    if (
        not value
        or "\x00" in value
        or value.startswith(("/", "\\", "~"))
        or (len(value) > 1 and value[1] == ":")
        or norm == ".."
        or norm.startswith("../")
    ):
        raise ValueError(f"{value!r} must be a path inside the repository (relative, no '..')")
    return value


RepoPath = Annotated[str, AfterValidator(_inside_repo)]
# an interpolation variable's name, as compose reads it
VariableName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class UpgradeClass(enum.StrEnum):
    STATEFUL = "stateful"
    SIDECAR_BOUND = "sidecar-bound"
    SECRET_BEARING = "secret-bearing"
    PUBLIC_EDGE = "public-edge"
    AUTH = "auth"
    PRIVILEGED = "privileged"
    STATELESS = "stateless"


class MergeRequirement(enum.StrEnum):
    """What an upgrade packet PR needs before merge."""

    PACKET = "packet"  # a packet that matches the diff exactly
    DIGEST_PINNED = "digest-pinned"  # target image pinned by digest
    ROLLBACK_PATH = "rollback-path"  # packet declares how to roll back
    SMOKE_CONTRACT = "smoke-contract"  # packet or policy declares smoke checks
    MIGRATION_NOTE = "migration-note"  # on a major version change
    MANUAL_MERGE = "manual-merge"  # never auto-merged (ADR-0022)


class ApplyRequirement(enum.StrEnum):
    """What a runtime apply/recreate needs, beyond the merge requirements."""

    BACKUP = "backup"  # of the running digest, within the freshness window
    RESTORE_DRILL = "restore-drill"  # of that same backup, content verified
    REHEARSAL = "rehearsal"  # major/minor change: that same backup upgraded on the target
    ROLLBACK_PATH = "rollback-path"  # previous digest; whether rollback needs a restore
    SMOKE_BASELINE = "smoke-baseline"  # a passing smoke run before the change
    DR_DRILL = "dr-drill"  # full sandbox DR drill, when mandatory
    PARENT_BACKUP = "parent-backup"  # sidecar: the parent's backup
    PARENT_SMOKE = "parent-smoke"  # sidecar: the parent's smoke evidence
    IDEMPOTENCY = "idempotency"  # sidecar: re-run in a sandbox changes nothing
    SECRET_REFS = "secret-refs"  # secret references unchanged, or a rotation plan
    EXPOSURE_DIFF = "exposure-diff"  # ports, routers, hosts added or removed
    EXTERNAL_SMOKE = "external-smoke"  # smoke of the external route
    OPERATOR_APPROVAL = "operator-approval"


class DrTrigger(enum.StrEnum):
    """When the full sandbox DR drill is mandatory before an apply."""

    CORE = "core"  # the module is core
    BROAD = "broad"  # the batch touches two or more stateful modules
    MAJOR = "major"  # a major version change on a stateful module
    BACKUP_REFERENCE = "backup-reference"  # the backup reference module is touched
    STALE = "stale"  # the last passing DR drill is older than the window


class StopCondition(enum.StrEnum):
    UNDECLARED_CHANGE = "undeclared-change"
    OUT_OF_SCOPE_PATH = "out-of-scope-path"
    FORBIDDEN_PATH = "forbidden-path"
    POLICY_RELAXATION = "policy-relaxation"
    DIGEST_DRIFT = "digest-drift"
    BACKUP_REFERENCE_BATCH = "backup-reference-batch"
    SECRET_VALUE = "secret-value"
    MAJOR_WITHOUT_MIGRATION_NOTE = "major-without-migration-note"
    FLOATING_TAG = "floating-tag"
    TRUST_ROOT_CHANGE = "trust-root-change"  # always on: see ALWAYS_ON_STOPS


# Stops no policy can turn off: the PR would be judging its own trust inputs.
ALWAYS_ON_STOPS = frozenset({StopCondition.TRUST_ROOT_CHANGE})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClassRule(_Strict):
    """Gate rules for one upgrade class."""

    always_manual: bool = Field(
        False,
        description="Never auto-merged; relaxing it needs a decision record (ADR-0022).",
    )
    merge: list[MergeRequirement] = Field(
        default_factory=list, description="Requirements before an upgrade packet PR merges."
    )
    apply: list[ApplyRequirement] = Field(
        default_factory=list, description="Requirements before a runtime apply/recreate."
    )
    labels: list[str] = Field(default_factory=list, description="PR labels this class adds.")
    manual_reason: str | None = Field(
        None, description="Suffix of the merge/manual-<reason> label when always manual."
    )


class Freshness(_Strict):
    backup_max_age_hours: float = Field(24, description="A backup older than this is stale.")
    dr_drill_max_age_days: float = Field(30, description="A DR drill older than this is stale.")
    approval_max_age_hours: float = Field(72, description="Longest validity of an approval.")
    dr_window_minutes: float = Field(
        30,
        gt=0,
        description="A DR drill restores backups all taken within this many minutes of each "
        "other (one point in time, as a real disaster recovery would need).",
    )


class DrDrillRule(_Strict):
    mode: Literal["strict", "core-and-broad"] = Field(
        "strict",
        description="strict: every trigger applies; core-and-broad: only core and broad batches.",
    )

    def triggers(self) -> list[DrTrigger]:
        if self.mode == "core-and-broad":
            return [DrTrigger.CORE, DrTrigger.BROAD]
        return list(DrTrigger)


class ComposeSettings(_Strict):
    files: list[RepoPath] = Field(
        default_factory=list,
        description="Compose files in merge order; empty: discover them.",
    )
    profiles: list[str] = Field(
        default_factory=list,
        description="Active profiles; empty: every service counts, whatever its profiles.",
    )
    env_file: RepoPath | None = Field(
        None, description="Variables file for interpolation (default: .env beside the project)."
    )
    host_variables: list[VariableName] = Field(
        default_factory=list,
        description=(
            "Variables the deploy host sets (its secret store, its shell) and the repo "
            "deliberately does not: a required reference to one (${X:?message}) is "
            "accepted and read as empty. Any other missing required variable is refused, "
            "as compose refuses it."
        ),
    )


class InventorySource(enum.StrEnum):
    COMPOSE = "compose"
    KUBERNETES = "kubernetes"


class KubernetesSettings(_Strict):
    paths: list[RepoPath] = Field(
        default_factory=list,
        description="Manifest files or folders (a folder with a kustomization.yaml is built "
        "as a kustomization); empty: discover YAML files carrying apiVersion and kind.",
    )


class InventorySettings(_Strict):
    sources: list[InventorySource] = Field(
        default_factory=list,
        description="Where modules come from; empty: compose, plus kubernetes when manifests "
        "are found (docs/kubernetes.md).",
    )
    kubernetes: KubernetesSettings = Field(default_factory=KubernetesSettings)


class DocsLint(_Strict):
    runtime_patterns: list[str] = Field(
        default_factory=list,
        description="Regular expressions of runtime instructions that must be operator-gated.",
    )
    gate_marker: str = Field(
        "operator-gated",
        description="Marker opening a fenced block or HTML comment region that is operator-gated.",
    )


class EvidenceSettings(_Strict):
    dir: RepoPath = Field(
        "evidence", description="Folder of evidence records in the platform repo."
    )
    artifacts: str | None = Field(
        None,
        description="Folder of backup artifacts, outside git (default: $STATEGATE_ARTIFACTS).",
    )
    trust_file: RepoPath = Field(
        "trust/allowed_signers.yaml",
        description="Trust roots: public keys allowed to sign, per role (evidence, operator).",
    )
    repositories: list[RepositoryConfig] = Field(
        default_factory=list,
        description="Where backups are stored: local folders and S3 buckets (none: one local "
        "repository named 'local' in the artifacts folder).",
    )
    backup_to: list[str] | None = Field(
        None, description="Names of the repositories every backup goes to (default: all)."
    )
    encryption: EncryptionSettings | None = Field(
        None, description="age encryption of backup parts before they leave the host."
    )

    @model_validator(mode="after")
    def _repositories(self) -> EvidenceSettings:
        names = [r.name for r in self.repositories]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"repository names must be unique: {', '.join(twice)}")
        unknown = [n for n in self.backup_to or [] if n not in names]
        if unknown:
            raise ValueError(f"backup_to names no repository called {', '.join(unknown)}")
        if self.backup_to is not None and not self.backup_to:
            raise ValueError("backup_to names no repository: backups would go nowhere")
        remote = [r.name for r in self.repositories if r.type == "s3"]
        if remote and self.encryption is None:
            raise ValueError(
                f"repository {remote[0]} is off-host: backups leave the host only encrypted "
                "(set evidence.encryption.recipients_file)"
            )
        return self


class ClassOverride(_Strict):
    add: list[UpgradeClass] = Field(default_factory=list)
    remove: list[UpgradeClass] = Field(default_factory=list)


class ModulePolicy(_Strict):
    """Per-module settings, keyed by module id ``<project>/<service>``."""

    classes: ClassOverride = Field(default_factory=ClassOverride)
    tier: Literal["core", "leaf"] | None = Field(None, description="Force the tier.")
    parent: str | None = Field(
        None,
        description="Module this one moves with (sidecar-bound): confirms a likely detection "
        "or sets one the rules missed.",
    )
    backup_reference: bool = Field(False, description="This module stores other modules' backups.")
    backups_in: str | None = Field(
        None, description="Module holding this module's backups (default: the reference module)."
    )
    decision: str | None = Field(
        None, description="Decision record (path) justifying a relaxation for this module."
    )
    evidence: ProviderConfig | None = Field(None, description="How to reach its data.")
    smoke: list[SmokeCheck] = Field(default_factory=list, description="Smoke contract.")
    cross_smoke: list[SmokeCheck] = Field(
        default_factory=list, description="Cross-module checks run in the DR drill."
    )


class Policy(_Strict):
    """A complete, validated policy (defaults applied)."""

    version: Literal[1] = 1
    name: str = Field("default", description="Name shown in reports.")
    decision: str | None = Field(
        None, description="Decision record justifying any policy-wide relaxation."
    )
    compose: ComposeSettings = Field(default_factory=ComposeSettings)
    inventory: InventorySettings = Field(default_factory=InventorySettings)
    classes: dict[UpgradeClass, ClassRule] = Field(default_factory=dict)
    freshness: Freshness = Field(default_factory=Freshness)
    dr_drill: DrDrillRule = Field(default_factory=DrDrillRule)
    stops: list[StopCondition] = Field(default_factory=lambda: list(StopCondition))
    forbidden_paths: list[str] = Field(default_factory=list)
    docs: DocsLint = Field(default_factory=DocsLint)
    evidence: EvidenceSettings = Field(default_factory=EvidenceSettings)
    modules: dict[str, ModulePolicy] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _backups_leave_the_reference_module(self) -> Policy:
        from stategate.policy.backups import reference_rule_problem, repository_homes

        evidence = self.evidence
        targets = evidence.backup_to or [r.name for r in evidence.repositories]
        sources = {mid: m.evidence for mid, m in self.modules.items() if m.evidence}
        homes = repository_homes(evidence.repositories, sources)
        references = [mid for mid, m in self.modules.items() if m.backup_reference]
        problem = reference_rule_problem(targets, homes, references)
        if problem is not None:
            raise ValueError(f"evidence.repositories: {problem}")
        return self

    def repository_homes(self) -> dict[str, str]:
        """Repository name -> the module whose server holds it."""
        from stategate.policy.backups import repository_homes

        sources = {mid: m.evidence for mid, m in self.modules.items() if m.evidence}
        return repository_homes(self.evidence.repositories, sources)

    def rule(self, cls: UpgradeClass) -> ClassRule:
        return self.classes.get(cls, ClassRule())

    def module(self, module_id: str) -> ModulePolicy:
        return self.modules.get(module_id, ModulePolicy())
