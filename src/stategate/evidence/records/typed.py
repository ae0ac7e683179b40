"""Where evidence records and artifacts live; records written signed and read verified.

Records follow the one naming scheme of the trust layer (``docs/signing.md``):
``<repo>/<evidence dir>/<scope>/<kind>-<id>.json`` with ``<id>`` =
``<UTC yyyymmddThhmmssZ>-<6 hex>``, so names sort by time and never collide.
A module's backups, restore drills and smoke runs have the scope
``<project>/<service>``; DR drills the scope ``_platform``.

Every record is a DSSE envelope signed by an ``evidence`` key and appended to
the ledger (:func:`write_record`, the single point where records are written).
Every reader verifies what it reads: signature, role, key validity and the
ledger entry. A record that does not verify does not count: listing skips it
(and says why in :class:`RecordScan`), naming it explicitly is an error.

Artifacts: ``<artifacts root>/<project>/<service>/<backup id>/``, outside git.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from stategate.errors import InputError
from stategate.evidence.findings import FindingCode, Problem, VerificationError
from stategate.evidence.layout import PLATFORM_SCOPE, RepoLayout
from stategate.evidence.records.predicates import (
    PREDICATE_TYPES,
    BackupPredicate,
    DrDrillPredicate,
    DrillPredicate,
    Kind,
    ModulePredicate,
    PrunePredicate,
    Result,
    Statement,
)
from stategate.evidence.signing.sign import Signer
from stategate.evidence.signing.statement import SIGNER_FIELD
from stategate.evidence.store import EvidenceStore, VerifiedRecord
from stategate.evidence.trust.keys import SigningKey
from stategate.evidence.trust.trustfile import Role

ID_RE = r"\d{8}T\d{6}Z-[0-9a-f]{6}"
_KINDS = "|".join(re.escape(k) for k in PREDICATE_TYPES)
RECORD_RE = re.compile(rf"^({_KINDS})-({ID_RE})\.json$")
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
ARTIFACTS_ENV = "STATEGATE_ARTIFACTS"


def new_id(now: datetime | None = None) -> str:
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{moment:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def module_path(module_id: str) -> Path:
    """``project/service`` as a relative path; refuses ids that could escape."""
    parts = module_id.split("/")
    if len(parts) != 2 or not all(_SEGMENT.match(p) for p in parts):
        raise InputError(f"not a module id (<project>/<service>): {module_id!r}")
    return Path(*parts)


def module_scope(module_id: str) -> str:
    """The scope (folder under the evidence folder) of a module's records."""
    return module_path(module_id).as_posix()


def record_path(layout: RepoLayout, stmt: Statement) -> str:
    """Where ``stmt`` is stored (repo-relative), by the naming scheme."""
    pred = stmt.predicate
    if isinstance(pred, DrDrillPredicate | PrunePredicate):
        return layout.record_path(PLATFORM_SCOPE, pred.kind, pred.id)
    scope = module_scope(pred.module)
    return layout.record_path(scope, pred.kind, pred.id)


@dataclass(frozen=True)
class StoredRecord:
    """A record that counts: verified signature, trusted evidence key, ledgered."""

    path: Path  # absolute
    rel: str  # repo-relative, as the ledger names it
    sha256: str  # of the record file (the envelope), as the ledger names it
    statement: Statement
    signer: Signer

    @property
    def kind(self) -> Kind:
        return self.statement.predicate.kind

    @property
    def result(self) -> Result:
        return self.statement.predicate.result

    @property
    def module(self) -> str | None:
        """The module the record is about; None for platform records (DR drills, prunes)."""
        pred = self.statement.predicate
        return None if isinstance(pred, DrDrillPredicate | PrunePredicate) else pred.module

    def module_predicate(self) -> ModulePredicate:
        pred = self.statement.predicate
        if isinstance(pred, DrDrillPredicate | PrunePredicate):
            raise InputError(f"a {pred.kind} record is not about one module", file=self.rel)
        return pred


@dataclass(frozen=True)
class Rejected:
    """A record file that does not count, and why (one line)."""

    rel: str
    reason: str


@dataclass(frozen=True)
class RecordScan:
    """The records found in a scope: those that count, oldest first, and those that do not."""

    records: list[StoredRecord]
    rejected: list[Rejected]

    def summary(self, limit: int = 2) -> str:
        """``N record(s) do not count: path: reason; ...`` (empty when all count)."""
        if not self.rejected:
            return ""
        shown = "; ".join(f"{r.rel}: {r.reason}" for r in self.rejected[:limit])
        more = f"; and {len(self.rejected) - limit} more" if len(self.rejected) > limit else ""
        return f"{len(self.rejected)} record(s) do not count: {shown}{more}"


def write_record(store: EvidenceStore, stmt: Statement, key: SigningKey) -> StoredRecord:
    """Sign ``stmt`` with an evidence key, write it and append it to the ledger.

    The single point where evidence records are written. Never overwrites a
    record; a key the trust file does not allow for ``evidence`` is refused
    before anything is written.
    """
    rel = record_path(store.layout, stmt)
    signed = store.write_signed(rel, stmt.to_json_obj(), key, Role.EVIDENCE)
    return StoredRecord(store.layout.path(rel), rel, signed.sha256, stmt, signed.signer)


def read_record(store: EvidenceStore, path: str | os.PathLike[str]) -> StoredRecord:
    """Load one record that counts, or raise :class:`VerificationError` saying why not."""
    verified = store.load_verified(path)
    stmt = _typed(verified)
    expected = record_path(store.layout, stmt)
    if expected != verified.path:
        raise VerificationError(
            verified.path,
            [
                Problem(
                    FindingCode.RECORD_MALFORMED,
                    f"record content belongs at {expected}, not here (moved or copied)",
                )
            ],
        )
    return StoredRecord(
        store.layout.path(verified.path), verified.path, verified.sha256, stmt, verified.signer
    )


def _typed(verified: VerifiedRecord) -> Statement:
    """The verified statement as stategate's typed record (without the signer binding)."""
    raw = verified.statement.to_json_obj()
    raw["predicate"] = {k: v for k, v in raw["predicate"].items() if k != SIGNER_FIELD}
    try:
        stmt = Statement.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        problem = Problem(
            FindingCode.RECORD_MALFORMED,
            f"not a stategate evidence record: {where}: {first['msg']}",
        )
        raise VerificationError(verified.path, [problem]) from exc
    if stmt.predicateType != PREDICATE_TYPES[stmt.predicate.kind]:
        problem = Problem(
            FindingCode.RECORD_MALFORMED,
            f"predicateType {stmt.predicateType} does not match kind {stmt.predicate.kind}",
        )
        raise VerificationError(verified.path, [problem])
    return stmt


def scan_records(
    store: EvidenceStore, scope: str | None = None, kind: Kind | None = None
) -> RecordScan:
    """Every record file named by the scheme in ``scope`` (default: everywhere), verified."""
    layout = store.layout
    base = layout.path(layout.evidence_dir)
    root = base / scope if scope else base
    found: list[tuple[str, str]] = []
    if root.is_dir() and not root.is_symlink():
        for dirpath, dirs, files in os.walk(root):
            dirs.sort()
            for name in files:
                match = RECORD_RE.match(name)
                if match and (kind is None or match.group(1) == kind):
                    rel = (Path(dirpath) / name).relative_to(layout.root).as_posix()
                    found.append((match.group(2), rel))
    found.sort()
    if found:
        store.chain()  # an unreadable ledger (FIFO, device, outside) is an error, not a rejection
    records: list[StoredRecord] = []
    rejected: list[Rejected] = []
    for _id, rel in found:
        try:
            records.append(read_record(store, rel))
        except VerificationError as exc:
            rejected.append(Rejected(rel, exc.message))
        except InputError as exc:
            rejected.append(Rejected(rel, exc.message))
    return RecordScan(records, rejected)


def list_records(
    store: EvidenceStore, module_id: str | None = None, kind: Kind | None = None
) -> list[StoredRecord]:
    """Records that count, oldest first (by id, which starts with the UTC time)."""
    scope = module_scope(module_id) if module_id else None
    records = scan_records(store, scope, kind).records
    if module_id:
        records = [r for r in records if r.module == module_id]
    return records


def latest_record(
    store: EvidenceStore, module_id: str, kind: Kind, result: Result | None = "pass"
) -> StoredRecord | None:
    """The newest record of a kind for a module that counts (by default: the newest passing)."""
    records = [
        r for r in list_records(store, module_id, kind) if result is None or r.result == result
    ]
    return records[-1] if records else None


def pruned_backups(store: EvidenceStore) -> dict[str, str]:
    """Backup record -> the prune record that deleted its artifacts (records that count)."""
    found: dict[str, str] = {}
    for record in scan_records(store, PLATFORM_SCOPE, "prune").records:
        pred = record.statement.predicate
        if isinstance(pred, PrunePredicate):
            for pruned in pred.pruned:
                found.setdefault(pruned.backup_record, record.rel)
    return found


def passing_backups(store: EvidenceStore, module_id: str) -> tuple[list[StoredRecord], RecordScan]:
    """A module's passing backups that count and were not pruned, oldest first, and the
    scan they came from."""
    scan = scan_records(store, module_scope(module_id), "backup")
    pruned = pruned_backups(store)
    return [
        r
        for r in scan.records
        if r.result == "pass" and r.module == module_id and r.rel not in pruned
    ], scan


def of_replica(record: StoredRecord) -> bool:
    """A backup whose server said it is a replica (it counts for no apply gate)."""
    pred = record.statement.predicate
    return isinstance(pred, BackupPredicate) and pred.source.role == "replica"


def find_backup(store: EvidenceStore, module_id: str, backup_id: str | None) -> StoredRecord:
    """The passing backup record to drill: by id, or the newest one that counts.

    A backup named by id that does not verify is an error saying why
    (:class:`VerificationError`); without an id such records are skipped.
    """
    if backup_id is None:
        every, scan = passing_backups(store, module_id)
        # a replica's backup is drilled only when named: the gate counts none of them
        backups = [b for b in every if not of_replica(b)]
        if not backups:
            note = scan.summary() or (
                f"{len(every)} backup(s) of a replica, drilled only when named by id"
                if every
                else ""
            )
            raise InputError(
                f"no passing backup recorded for {module_id} in {store.layout.evidence_dir}/"
                + (f" ({note})" if note else "")
            )
        return backups[-1]
    wanted = backup_id.removeprefix("backup-").removesuffix(".json")
    if not re.fullmatch(ID_RE, wanted):
        raise InputError(f"not a backup id: {backup_id!r} (expected e.g. 20260527T100000Z-1a2b3c)")
    rel = store.layout.record_path(module_scope(module_id), "backup", wanted)
    if not store.layout.path(rel).exists():
        raise InputError(f"no backup {wanted} recorded for {module_id}", file=rel)
    record = read_record(store, rel)
    if record.result != "pass":
        raise InputError(f"backup {wanted} of {module_id} did not pass: nothing to drill")
    pruned_by = pruned_backups(store).get(rel)
    if pruned_by is not None:
        raise InputError(
            f"backup {wanted} of {module_id} was pruned ({pruned_by}): nothing to drill"
        )
    return record


def latest_drill_of(
    store: EvidenceStore, backup: StoredRecord, result: Result | None = "pass"
) -> StoredRecord | None:
    """The newest restore drill (by default: passing) of exactly ``backup``: same module,
    backup id and backup record sha256."""
    pred = backup.statement.predicate
    if not isinstance(pred, BackupPredicate):
        raise InputError("not a backup record", file=backup.rel)
    found = [
        r
        for r in list_records(store, pred.module, "restore-drill")
        if isinstance(drill := r.statement.predicate, DrillPredicate)
        and drill.backup_id == pred.backup_id
        and drill.backup_record == backup.rel
        and drill.backup_record_sha256 == backup.sha256
        and (result is None or drill.result == result)
    ]
    return found[-1] if found else None


def latest_dr_drill(store: EvidenceStore, result: Result | None = "pass") -> StoredRecord | None:
    """The newest DR drill record that counts (by default: the newest passing one)."""
    records = [
        r
        for r in scan_records(store, PLATFORM_SCOPE, "dr-drill").records
        if result is None or r.result == result
    ]
    return records[-1] if records else None


def artifacts_root(repo: Path, configured: str | None, override: Path | None = None) -> Path:
    """Artifacts folder: --artifacts, $STATEGATE_ARTIFACTS, the policy, or the user's state dir.

    It must lie outside the platform repo: artifacts never go into git.
    """
    if override is not None:
        root = override
    elif os.environ.get(ARTIFACTS_ENV):
        root = Path(os.environ[ARTIFACTS_ENV])
    elif configured:
        root = Path(os.path.expanduser(configured))
        root = root if root.is_absolute() else repo / root
    else:
        state = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
        root = Path(state) / "stategate" / "artifacts"
    root = root.resolve()
    if root.is_relative_to(repo.resolve()):
        raise InputError(
            f"artifacts folder {root} is inside the platform repo: keep it outside git"
        )
    return root
