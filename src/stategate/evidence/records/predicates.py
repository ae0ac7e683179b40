"""Evidence records: in-toto Statement v1 documents, one per backup, drill, smoke run or DR drill.

The statement's subject is what the evidence is about (the backup's artifact
files with their sha256, or the smoke results); the predicate says what was
done, on what, with which result. Signing (``stategate.evidence``) wraps these
statements in DSSE envelopes (``stategate.evidence.records.typed``); nothing here
knows about signatures.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from stategate.providers.fingerprint import Comparison, FingerprintSummary
from stategate.sandbox.engine import EngineInfo

STATEMENT_TYPE: Final = "https://in-toto.io/Statement/v1"
PREDICATE_BASE = "https://stategate.dev"
BACKUP_TYPE = f"{PREDICATE_BASE}/backup/v1"
DRILL_TYPE = f"{PREDICATE_BASE}/restore-drill/v1"
SMOKE_TYPE = f"{PREDICATE_BASE}/smoke/v1"
DR_DRILL_TYPE = f"{PREDICATE_BASE}/dr-drill/v1"
REHEARSAL_TYPE = f"{PREDICATE_BASE}/rehearsal/v1"
PRUNE_TYPE = f"{PREDICATE_BASE}/prune/v1"

Kind = Literal["backup", "restore-drill", "smoke", "dr-drill", "rehearsal", "prune"]
# records about one module
ModuleKind = Literal["backup", "restore-drill", "smoke", "rehearsal"]
Result = Literal["pass", "fail", "error"]  # error: could not run (server gone, no engine)

PREDICATE_TYPES: dict[Kind, str] = {
    "backup": BACKUP_TYPE,
    "restore-drill": DRILL_TYPE,
    "smoke": SMOKE_TYPE,
    "dr-drill": DR_DRILL_TYPE,
    "rehearsal": REHEARSAL_TYPE,
    "prune": PRUNE_TYPE,
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Subject(_Model):
    name: str
    digest: dict[str, str]

    @property
    def sha256(self) -> str:
        return self.digest.get("sha256", "")


class Tool(_Model):
    name: Literal["stategate"] = "stategate"
    version: str


class SourceInfo(_Model):
    """The instance the evidence is about, as declared and as observed."""

    image: str | None = Field(None, description="Image ref as written in the repo.")
    image_digest: str | None = Field(None, description="sha256:... of the image, when pinned.")
    address: str = Field(..., description="Host:port, socket or endpoint; never credentials.")
    identity: str | None = Field(None, description="Server identity (system id, run id).")
    role: Literal["primary", "replica"] | None = Field(
        None,
        description="What the server said it is: a replica's (or a standby's) backup is not "
        "production's, whatever it holds.",
    )
    server_ids: dict[str, str] = Field(
        default_factory=dict,
        description="The identifiers the server reported (PostgreSQL: system_identifier; "
        "Redis: run_id, replication_id; S3: deployment_id, server), as read at backup time.",
    )
    server_version: str | None = Field(None, description="Version the server reported.")
    settings: dict[str, str] = Field(
        default_factory=dict,
        description="Server settings a restore must match (PostgreSQL: checksums, encoding, "
        "locale, WAL segment size), as the server reported them.",
    )


class Artifact(_Model):
    name: str  # path inside the backup directory
    size: int
    sha256: str
    # how it is stored, when that differs (age-encrypted): checkable without the key
    stored_name: str | None = None
    stored_size: int | None = None
    stored_sha256: str | None = None


class StoredCopy(_Model):
    """One repository holding the backup (stored and read back before the record)."""

    repository: str = Field(..., description="The repository's name in the policy.")
    type: Literal["local", "s3"]
    where: str = Field(..., description="Folder, or endpoint, bucket and prefix (no keys).")


class Encryption(_Model):
    format: Literal["age"] = "age"
    recipients: list[str] = Field(..., description="The age public keys it was encrypted to.")


class CheckOutcome(_Model):
    name: str
    kind: str
    result: Literal["pass", "fail", "error", "skipped"]
    detail: str = ""
    duration_s: float


class _Run(_Model):
    """What every record says about its run."""

    id: str
    result: Result
    reason: str | None = None  # why it did not pass, secrets masked
    started: datetime
    finished: datetime
    tool: Tool
    policy_digest: str | None


class _Common(_Run):
    module: str
    provider: str
    source: SourceInfo


class BackupPredicate(_Common):
    kind: Literal["backup"] = "backup"
    backup_id: str
    client: str | None = Field(
        None, description="The client build that read the server (e.g. pg_dump's version)."
    )
    location: str = Field(..., description="Backup directory, relative to the artifacts root.")
    artifacts: list[Artifact] = Field(default_factory=list)
    copies: list[StoredCopy] = Field(
        default_factory=list,
        description="Repositories holding it (none: the local artifacts folder, unencrypted).",
    )
    encryption: Encryption | None = None
    total_size: int = 0
    fingerprint: FingerprintSummary | None = None
    consistent: bool = Field(False, description="Fingerprint and data from one snapshot.")
    note: str = ""
    findings: list[str] = Field(
        default_factory=list,
        description="What a restore of this backup will lack, and the tools' warnings.",
    )


class RehearsalStep(_Model):
    """One step of a rehearsal or a restore drill: its result and duration (seconds)."""

    name: str
    result: Literal["pass", "fail", "error", "skipped"]
    detail: str = ""
    duration_s: float


class DrillPredicate(_Common):
    kind: Literal["restore-drill"] = "restore-drill"
    backup_id: str
    backup_record: str = Field(..., description="Evidence record of the backup (repo path).")
    backup_record_sha256: str | None = Field(None, description="sha256 of that record file.")
    artifacts_verified: bool = False
    read_from: StoredCopy | None = Field(
        None, description="The repository the backup was read back from (and verified)."
    )
    engine: EngineInfo
    sandbox: SourceInfo | None = None
    fingerprint: Comparison | None = None
    smoke: list[CheckOutcome] = Field(default_factory=list)
    steps: list[RehearsalStep] = Field(
        default_factory=list,
        description="The drill's steps in the order they ran, each with its duration: "
        "one after another, so they add up to at most the drill's own time (empty in "
        "records written before steps were kept).",
    )
    findings: list[str] = Field(
        default_factory=list, description="The backup's findings: what this restore lacked."
    )


class SmokePredicate(_Common):
    kind: Literal["smoke"] = "smoke"
    target: Literal["source", "sandbox"]
    backup_id: str | None = None  # sandbox target: the backup restored for it
    engine: EngineInfo | None = None
    checks: list[CheckOutcome] = Field(default_factory=list)


class CrossCheckOutcome(CheckOutcome):
    """A cross-module smoke check of a DR drill, and the module whose policy declares it."""

    module: str


class BackupWindow(_Model):
    """The backups a DR drill restored were all taken between ``start`` and ``end``."""

    hours: float
    start: datetime
    end: datetime


class DrModule(_Model):
    """One module of a DR drill: the backup restored, and what was verified on its sandbox."""

    module: str
    provider: str
    result: Result
    reason: str | None = None
    backup_id: str | None = None  # None: no passing backup in the window
    backup_record: str | None = Field(None, description="The backup's record (repo path).")
    backup_record_sha256: str | None = Field(None, description="sha256 of that record file.")
    backup_started: datetime | None = None
    source: SourceInfo | None = Field(None, description="What was backed up (from the record).")
    artifacts: list[Artifact] = Field(default_factory=list, description="Artifacts verified.")
    artifacts_verified: bool = False
    engine: EngineInfo | None = None
    sandbox: SourceInfo | None = None  # address and server version of the restored copy
    fingerprint: Comparison | None = None
    smoke: list[CheckOutcome] = Field(default_factory=list)


class DrDrillPredicate(_Run):
    """A full sandbox DR drill: every stateful module restored together from one window."""

    kind: Literal["dr-drill"] = "dr-drill"
    window: BackupWindow | None = None  # None: no backup at all to anchor a window
    modules: list[DrModule] = Field(default_factory=list)
    cross_smoke: list[CrossCheckOutcome] = Field(default_factory=list)
    uncovered: list[str] = Field(
        default_factory=list,
        description="Stateful modules without an evidence: entry, so not part of the drill.",
    )


class RollbackFinding(_Model):
    """What the rehearsal found about going back: never guessed."""

    kind: Literal["previous-image", "restore-backup", "unknown"]
    detail: str
    backup_id: str | None = None  # restore-backup: the backup to restore


class InPlaceUpgrade(_Model):
    """The in-place major upgrade (``pg_upgrade``) rehearsed on a copy of the backup in a
    cluster of the source major initialised like production."""

    source_version: str
    target_version: str | None = None
    settings: dict[str, str] = Field(
        default_factory=dict, description="The old cluster's (pg_controldata, template1)."
    )
    initdb_flags: list[str] = Field(
        default_factory=list, description="For the new cluster, derived from the settings."
    )
    default_check: str = Field(
        "", description="pg_upgrade --check against the target's default initdb."
    )
    fingerprint: Comparison | None = None
    smoke: list[CheckOutcome] = Field(default_factory=list)


class RehearsalPredicate(_Common):
    """An upgrade rehearsed on its target version with the operator's own backup."""

    kind: Literal["rehearsal"] = "rehearsal"
    packet: str = Field(..., description="The packet id whose upgrade was rehearsed.")
    target_image: str
    target_version: str | None = Field(None, description="The version the target ran.")
    backup_id: str
    backup_record: str = Field(..., description="Evidence record of the backup (repo path).")
    backup_record_sha256: str | None = None
    engine: EngineInfo
    steps: list[RehearsalStep] = Field(default_factory=list)
    fingerprint: Comparison | None = None
    smoke: list[CheckOutcome] = Field(default_factory=list)
    rollback: RollbackFinding
    in_place: InPlaceUpgrade | None = Field(
        None, description="PostgreSQL major upgrades: the pg_upgrade path, rehearsed."
    )


class RetentionRule(_Model):
    """What ``stategate prune`` keeps besides what the gate relies on."""

    keep_last: int | None = Field(None, ge=1, description="The newest N of each module.")
    keep_within_hours: float | None = Field(None, gt=0, description="Taken this recently.")


class PrunedBackup(_Model):
    """One backup deleted from its repositories; its record stays, so a missing backup
    can be told from a lost one."""

    module: str
    backup_id: str
    backup_record: str = Field(..., description="The backup's record (repo path).")
    backup_record_sha256: str
    location: str
    repositories: list[str] = Field(..., description="Where it was deleted from.")


class PrunePredicate(_Run):
    """A prune: the backups it deleted, written (signed) before anything is deleted."""

    kind: Literal["prune"] = "prune"
    rule: RetentionRule
    pruned: list[PrunedBackup] = Field(default_factory=list)
    kept: int = Field(0, description="Passing backups kept.")


ModulePredicate = BackupPredicate | DrillPredicate | SmokePredicate | RehearsalPredicate
PlatformPredicate = DrDrillPredicate | PrunePredicate
Predicate = Annotated[
    BackupPredicate
    | DrillPredicate
    | SmokePredicate
    | DrDrillPredicate
    | RehearsalPredicate
    | PrunePredicate,
    Field(discriminator="kind"),
]


class Statement(_Model):
    """An in-toto Statement v1 whose predicate is one of stategate's kinds."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    type_: Literal["https://in-toto.io/Statement/v1"] = Field(STATEMENT_TYPE, alias="_type")
    subject: list[Subject]
    predicateType: str
    predicate: Predicate

    def to_json_obj(self) -> dict[str, Any]:
        """The statement as plain JSON data (what is signed)."""
        data: dict[str, Any] = self.model_dump(mode="json", by_alias=True)
        return data


def statement(
    subjects: list[Subject],
    predicate: ModulePredicate | PlatformPredicate,
) -> Statement:
    if not subjects:
        raise ValueError("an in-toto statement needs at least one subject")
    return Statement(
        subject=subjects, predicateType=PREDICATE_TYPES[predicate.kind], predicate=predicate
    )


def content_subject(name: str, payload: object) -> Subject:
    """A subject for evidence without an artifact: the digest of its canonical JSON."""
    raw = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str).encode()
    return Subject(name=name, digest={"sha256": hashlib.sha256(raw).hexdigest()})
