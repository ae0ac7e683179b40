"""``stategate prune``: what the evidence relies on, read from the records, and the
deletion of the rest (see :mod:`stategate.repository.retention` for the decisions).

What relies on a backup:

* a **live approval** (signed by an operator, not yet expired): every backup behind the
  records it binds (a backup, or the backup a drill, rehearsal or DR drill restored);
* an **open packet** (a ``packets/*.yaml`` in the work tree or at the tip of any local
  or remote-tracking branch: a packet is closed by removing its file once its upgrade
  is applied): the backups behind the records it names, behind the newest passing
  rehearsal of each of its modules for that packet, and behind the newest passing
  restore drill of each of its modules;
* the **newest passing DR drill**: every backup it restored.

Prune decides from evidence; evidence it cannot read is a doubt, and while there is
any doubt nothing is deleted. The prune record (signed, ledgered) is written before
anything is deleted, so a prune cut short leaves files that ``repo check`` names as
left by that prune, and the next ``prune --yes`` removes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import ValidationError

from stategate.errors import ExternalError, InputError
from stategate.evidence.approvals.approval import Approval
from stategate.evidence.findings import VerificationError
from stategate.evidence.layout import APPROVALS_SCOPE
from stategate.evidence.records.predicates import (
    BackupPredicate,
    DrDrillPredicate,
    DrillPredicate,
    PrunedBackup,
    PrunePredicate,
    RehearsalPredicate,
    RetentionRule,
    content_subject,
    statement,
)
from stategate.evidence.records.typed import (
    StoredRecord,
    new_id,
    pruned_backups,
    read_record,
    scan_records,
    write_record,
)
from stategate.evidence.signing.statement import SIGNER_FIELD
from stategate.evidence.store import EvidenceStore
from stategate.evidence.trust.keys import SigningKey
from stategate.git import Git
from stategate.operations.context import run_fields
from stategate.packet import LoadedPacket, is_packet_path, load_packet
from stategate.repository.repositories import Repositories, Repository
from stategate.repository.retention import Backup, Decision, Reliance, Rule
from stategate.source import Source, WorkTree
from stategate.workspace import Workspace


@dataclass(frozen=True)
class Lock:
    """A backup an approval relies on, to be retained (Object Lock) until ``until``."""

    record: str
    until: datetime


@dataclass
class PruneFacts:
    backups: list[Backup] = field(default_factory=list)
    reliances: list[Reliance] = field(default_factory=list)
    locks: list[Lock] = field(default_factory=list)
    doubts: list[str] = field(default_factory=list)  # evidence that could not be read
    earlier: dict[str, str] = field(default_factory=dict)  # backup record -> prune record
    records: dict[str, StoredRecord] = field(default_factory=dict)


def gather(ws: Workspace, now: datetime) -> PruneFacts:
    """Every passing backup not yet pruned, and everything that relies on one."""
    facts = PruneFacts()
    scan = scan_records(ws.store)
    facts.doubts += [f"{r.rel}: {r.reason}" for r in scan.rejected]
    facts.records = {r.rel: r for r in scan.records}
    facts.earlier = pruned_backups(ws.store)
    for record in scan.records:
        pred = record.statement.predicate
        if (
            isinstance(pred, BackupPredicate)
            and pred.result == "pass"
            and pred.artifacts
            and record.rel not in facts.earlier
        ):
            facts.backups.append(
                Backup(
                    record.rel,
                    record.sha256,
                    pred.module,
                    pred.backup_id,
                    pred.started,
                    pred.location,
                    tuple(c.repository for c in pred.copies),
                )
            )
    _approvals(ws, now, facts)
    _packets(ws, facts)
    _dr_drill(facts)
    return facts


def backups_behind(records: dict[str, StoredRecord], rel: str) -> list[tuple[str, str]]:
    """(backup record, how) for the record at ``rel``: itself when it is a backup, the
    backup(s) it restored when it is a drill, rehearsal or DR drill."""
    record = records.get(rel)
    if record is None:
        return []
    pred = record.statement.predicate
    if isinstance(pred, BackupPredicate):
        return [(rel, "")]
    if isinstance(pred, DrillPredicate | RehearsalPredicate):
        return [(pred.backup_record, f" (through {pred.kind} {rel})")]
    if isinstance(pred, DrDrillPredicate):
        return [
            (m.backup_record, f" (through DR drill {rel})") for m in pred.modules if m.backup_record
        ]
    return []


def _approvals(ws: Workspace, now: datetime, facts: PruneFacts) -> None:
    layout = ws.layout
    folder = layout.path(f"{layout.evidence_dir}/{APPROVALS_SCOPE}")
    if not folder.is_dir() or folder.is_symlink():
        return
    for path in sorted(folder.glob("*/*.json")):
        rel = path.relative_to(layout.root).as_posix()
        try:
            verified = ws.store.load_verified(rel)
            fields = {k: v for k, v in verified.statement.predicate.items() if k != SIGNER_FIELD}
            approval = Approval.model_validate(fields)
        except (VerificationError, InputError) as exc:
            facts.doubts.append(f"{rel}: {exc}")
            continue
        except ValidationError as exc:
            facts.doubts.append(f"{rel}: not an approval: {exc.errors()[0]['msg']}")
            continue
        if now >= approval.expires_at:
            continue
        until = approval.expires_at
        for ref in approval.evidence:
            for backup, how in backups_behind(facts.records, ref.path):
                facts.reliances.append(
                    Reliance(
                        backup,
                        f"live approval {rel} of packet {approval.packet.id}{how}, until "
                        f"{until.astimezone(UTC):%Y-%m-%d %H:%M} UTC",
                    )
                )
                facts.locks.append(Lock(backup, until))


def open_packets(ws: Workspace, facts: PruneFacts) -> list[tuple[LoadedPacket, str]]:
    """(packet, where it was found) of every open packet, each id once."""
    sources: list[tuple[Source, str]] = [(WorkTree(ws.repo), "the work tree")]
    git = Git(ws.repo)
    sources += [(git.tree(commit), f"branch {name}") for name, commit in git.branch_tips().items()]
    found: dict[str, tuple[LoadedPacket, str]] = {}
    for source, where in sources:
        for rel in source.list_files():
            if not is_packet_path(rel):
                continue
            try:
                loaded = load_packet(source, rel)
            except InputError as exc:
                facts.doubts.append(f"{rel} ({where}): {exc.message}")
                continue
            found.setdefault(loaded.packet.id, (loaded, where))
    return list(found.values())


def _packets(ws: Workspace, facts: PruneFacts) -> None:
    passing = [r for r in facts.records.values() if r.result == "pass"]
    for loaded, where in open_packets(ws, facts):
        packet = loaded.packet
        label = f"open packet {packet.id} ({loaded.path}, {where})"
        for rel in packet.evidence:
            for backup, how in backups_behind(facts.records, rel):
                facts.reliances.append(Reliance(backup, f"{label} names it{how}"))
        for entry in packet.modules:
            if entry.to is None:
                continue
            rehearsals = [
                r
                for r in passing
                if isinstance(p := r.statement.predicate, RehearsalPredicate)
                and p.packet == packet.id
                and p.module == entry.module
            ]
            drills = [
                r
                for r in passing
                if isinstance(r.statement.predicate, DrillPredicate) and r.module == entry.module
            ]
            for newest, what in ((_newest(rehearsals), "rehearsal"), (_newest(drills), "drill")):
                if newest is None:
                    continue
                for backup, how in backups_behind(facts.records, newest.rel):
                    facts.reliances.append(
                        Reliance(
                            backup, f"{label}: its newest passing {what} of {entry.module}{how}"
                        )
                    )


def _dr_drill(facts: PruneFacts) -> None:
    drills = [
        r
        for r in facts.records.values()
        if isinstance(r.statement.predicate, DrDrillPredicate) and r.result == "pass"
    ]
    newest = _newest(drills)
    if newest is None:
        return
    for backup, _how in backups_behind(facts.records, newest.rel):
        facts.reliances.append(Reliance(backup, f"the newest passing DR drill {newest.rel}"))


def _newest(records: Sequence[StoredRecord]) -> StoredRecord | None:
    return max(records, key=lambda r: (r.statement.predicate.finished, r.rel), default=None)


# -- deleting ----------------------------------------------------------------


@dataclass
class PruneOutcome:
    record: StoredRecord | None = None
    deleted: list[str] = field(default_factory=list)  # "<location> from <repository>"
    leftovers: list[str] = field(default_factory=list)  # of earlier prunes, removed now
    locked: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def holders(repositories: Repositories, backup: Backup) -> list[Repository]:
    """The configured repositories a backup is stored in (its record's copies; none: the
    artifacts folder). A copy in a repository the policy no longer names is an error."""
    if not backup.repositories:
        return [repositories.legacy]
    return [repositories.named(name) for name in backup.repositories]


def prune(
    ws: Workspace,
    facts: PruneFacts,
    decisions: Sequence[Decision],
    repositories: Repositories,
    *,
    key: SigningKey,
    rule: Rule,
    now: datetime,
    lock: bool = True,
) -> PruneOutcome:
    """Record, then delete, every backup ``decisions`` does not keep; finish earlier
    prunes; give the backups live approvals rely on an Object Lock retention date."""
    if facts.doubts:
        raise InputError(
            f"{len(facts.doubts)} piece(s) of evidence could not be read, so what relies on "
            f"a backup is not known; nothing deleted (first: {facts.doubts[0]})"
        )
    outcome = PruneOutcome()
    doomed = [d.backup for d in decisions if not d.keep]
    stores = {b.record: holders(repositories, b) for b in doomed}  # unknown ones: refused now
    if doomed:
        outcome.record = _write_record(
            ws, key, rule, doomed, stores, len(decisions) - len(doomed), now
        )
    for backup in doomed:
        for repository in stores[backup.record]:
            _delete(repository, backup.location, outcome.deleted, outcome.errors)
    _finish_earlier(ws, facts, repositories, outcome)
    if lock:
        _lock(facts, decisions, repositories, outcome)
    return outcome


def _write_record(
    ws: Workspace,
    key: SigningKey,
    rule: Rule,
    doomed: Sequence[Backup],
    stores: dict[str, list[Repository]],
    kept: int,
    now: datetime,
) -> StoredRecord:
    prune_id = new_id(now)
    predicate = PrunePredicate(
        **run_fields(prune_id, now, "pass", None, ws.platform.policy_digest),
        rule=RetentionRule(
            keep_last=rule.keep_last,
            keep_within_hours=rule.keep_within.total_seconds() / 3600 if rule.keep_within else None,
        ),
        pruned=[
            PrunedBackup(
                module=b.module,
                backup_id=b.backup_id,
                backup_record=b.record,
                backup_record_sha256=b.record_sha256,
                location=b.location,
                repositories=[r.name for r in stores[b.record]],
            )
            for b in doomed
        ],
        kept=kept,
    )
    subject = content_subject(f"prune/{prune_id}", [b.record for b in doomed])
    return write_record(ws.store, statement([subject], predicate), key)


def _delete(repository: Repository, location: str, done: list[str], errors: list[str]) -> None:
    try:
        repository.backend.remove(location)
        left = next(iter(repository.backend.listing(location)), None)
    except (ExternalError, InputError, OSError) as exc:
        errors.append(f"{location} in {repository.name}: {exc}")
        return
    if left is not None:
        errors.append(f"{location} in {repository.name}: {left[0]} is still there")
        return
    done.append(f"{location} from {repository.name}")


def _finish_earlier(
    ws: Workspace, facts: PruneFacts, repositories: Repositories, outcome: PruneOutcome
) -> None:
    """Remove what earlier prunes recorded but did not get to delete (cut short)."""
    if not facts.earlier:
        return
    by_prune: dict[str, list[PrunedBackup]] = {}
    for record in scan_records(ws.store, kind="prune").records:
        pred = record.statement.predicate
        if isinstance(pred, PrunePredicate):
            by_prune[record.rel] = pred.pruned
    wanted: dict[str, set[str]] = {}  # repository -> locations
    for pruned in (p for entries in by_prune.values() for p in entries):
        for name in pruned.repositories:
            wanted.setdefault(name, set()).add(pruned.location)
    for name, locations in sorted(wanted.items()):
        try:
            repository = (
                repositories.legacy
                if name == repositories.legacy.name
                else repositories.named(name)
            )
            present = {_location(path) for path, _size in repository.backend.listing()}
        except (ExternalError, InputError, OSError) as exc:
            outcome.errors.append(f"repository {name}: {exc}")
            continue
        for location in sorted(locations & present):
            _delete(repository, location, outcome.leftovers, outcome.errors)


def _location(path: str) -> str:
    return "/".join(path.split("/")[:3])


def _lock(
    facts: PruneFacts,
    decisions: Sequence[Decision],
    repositories: Repositories,
    outcome: PruneOutcome,
) -> None:
    """Backups live approvals rely on, in S3 buckets with Object Lock, are retained
    until the approval expires (extended, never shortened)."""
    until: dict[str, datetime] = {}
    for item in facts.locks:
        until[item.record] = max(item.until, until.get(item.record, item.until))
    for decision in decisions:
        backup = decision.backup
        if backup.record in until:
            retain(repositories, backup, until[backup.record], outcome.locked, outcome.errors)


def retain(
    repositories: Repositories,
    backup: Backup,
    until: datetime,
    locked: list[str],
    errors: list[str],
) -> None:
    """Retain ``backup`` until ``until`` in every repository holding it that has Object
    Lock (what was retained goes to ``locked``, what failed to ``errors``)."""
    try:
        stores = holders(repositories, backup)
    except InputError as exc:
        errors.append(f"lock {backup.location}: {exc.message}")
        return
    for repository in stores:
        try:
            if repository.backend.retain(backup.location, until):
                locked.append(
                    f"{backup.location} in {repository.name} until "
                    f"{until.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
                )
        except (ExternalError, InputError, OSError) as exc:
            errors.append(f"lock {backup.location} in {repository.name}: {exc}")


def retain_approved(
    store: EvidenceStore,
    repositories: Repositories,
    paths: Sequence[str],
    until: datetime,
) -> tuple[list[str], list[str]]:
    """At approval: retain the backups behind the records an approval binds until it
    expires, where their repositories have Object Lock. (retained, problems)."""
    locked: list[str] = []
    problems: list[str] = []
    records: dict[str, StoredRecord] = {}
    for path in paths:
        try:
            records[path] = read_record(store, path)
        except (VerificationError, InputError) as exc:
            problems.append(f"{path}: {exc}")
    seen: set[str] = set()
    for path in paths:
        for rel, _how in backups_behind(records, path):
            if rel in seen:
                continue
            seen.add(rel)
            try:
                record = read_record(store, rel)
            except (VerificationError, InputError) as exc:
                problems.append(f"{rel}: {exc}")
                continue
            pred = record.statement.predicate
            if isinstance(pred, BackupPredicate) and pred.artifacts:
                backup = Backup(
                    rel,
                    record.sha256,
                    pred.module,
                    pred.backup_id,
                    pred.started,
                    pred.location,
                    tuple(c.repository for c in pred.copies),
                )
                retain(repositories, backup, until, locked, problems)
    return locked, problems
