"""What relies on a backup, read from the evidence of every place an upgrade can be at.

The places are the work tree (where the host's backups, drills and approvals are
written) and the tip of every local and remote-tracking branch (where a pull request
carries its packet, its rehearsal and its approval, which is where the apply gate
reads them). Every place's records are judged with the same trust roots (the default
branch's, or an operator-held file), as the gate judges them.

What relies on a backup:

* a **live approval** (signed by an operator, not expired, within the policy's
  maximum lifetime): every backup behind the records it binds (a backup, or the
  backup a drill, rehearsal or DR drill restored);
* an **open packet** (a ``packets/*.yaml`` in the work tree or at a branch tip; a
  packet is closed by removing its file once its upgrade is applied): the backups
  behind the records it names, behind the newest passing rehearsal of each of its
  modules for that packet, and behind the newest passing restore drill of each of its
  modules, as that place's evidence has them; every copy of a packet counts;
* the **newest passing DR drill** of each place: every backup it restored.

The work tree is read strictly: a record, approval or packet there that cannot be read
is a doubt, and prune deletes nothing while there is one. At a branch tip, what does
not verify or parse is left out, as the gate leaves it out, and said in a note.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from pydantic import ValidationError

from stategate.apply_inputs import evidence_at_revision
from stategate.errors import InputError
from stategate.evidence.approvals.approval import Approval
from stategate.evidence.findings import VerificationError
from stategate.evidence.layout import APPROVALS_SCOPE
from stategate.evidence.records.predicates import (
    BackupPredicate,
    DrDrillPredicate,
    DrillPredicate,
    PrunePredicate,
    RehearsalPredicate,
)
from stategate.evidence.records.typed import RecordScan, StoredRecord, scan_records
from stategate.evidence.signing.statement import SIGNER_FIELD
from stategate.evidence.store import EvidenceStore
from stategate.evidence.trust.roots import TrustBase
from stategate.git import Git
from stategate.packet import LoadedPacket, is_packet_path, load_packet
from stategate.repository.retention import Backup, Reliance
from stategate.source import Source, WorkTree
from stategate.workspace import Workspace


@dataclass(frozen=True)
class Lock:
    """A backup an approval relies on, to be retained (Object Lock) until ``until``."""

    record: str
    until: datetime


@dataclass(frozen=True)
class Pruned:
    """A backup an earlier prune record names, checked against the backup's own record."""

    backup: Backup | None  # None: the prune record does not match a backup record here
    prune_record: str
    repositories: tuple[str, ...]
    problem: str = ""


@dataclass
class PruneFacts:
    backups: list[Backup] = field(default_factory=list)  # passing, not pruned
    reliances: list[Reliance] = field(default_factory=list)
    locks: list[Lock] = field(default_factory=list)
    doubts: list[str] = field(default_factory=list)  # work-tree evidence that cannot be read
    notes: list[str] = field(default_factory=list)  # branch evidence left out, and why
    earlier: list[Pruned] = field(default_factory=list)


@dataclass
class _Place:
    """The evidence and packets of one place: the work tree or a branch tip."""

    label: str
    strict: bool
    store: EvidenceStore
    source: Source
    records: dict[str, StoredRecord] = field(default_factory=dict)


def gather(ws: Workspace, trust: TrustBase, now: datetime) -> PruneFacts:
    """Every passing backup not yet pruned (from the work tree), what relies on any
    backup (from every place), and the earlier prunes' entries, checked."""
    facts = PruneFacts()
    with ExitStack() as stack:
        places = list(_places(ws, trust, now, stack, facts))
        work = places[0]
        pruned = _pruned_entries(work, facts)
        for record in work.records.values():
            pred = record.statement.predicate
            if (
                isinstance(pred, BackupPredicate)
                and pred.result == "pass"
                and pred.artifacts
                and record.rel not in pruned
            ):
                facts.backups.append(backup_of(record, pred))
        max_age = timedelta(hours=trust.policy.policy.freshness.approval_max_age_hours)
        for place in places:
            # a branch's records may point at records of the work tree (a backup on main)
            records = {**work.records, **place.records}
            _approvals(place, records, now, max_age, facts)
            _packets(place, records, facts)
            _dr_drill(place, facts)
    return facts


def backup_of(record: StoredRecord, pred: BackupPredicate) -> Backup:
    return Backup(
        record.rel,
        record.sha256,
        pred.module,
        pred.backup_id,
        pred.started,
        pred.location,
        tuple(c.repository for c in pred.copies),
        finished=pred.finished,
    )


def _places(
    ws: Workspace, trust: TrustBase, now: datetime, stack: ExitStack, facts: PruneFacts
) -> Iterator[_Place]:
    work = _Place("the work tree", True, ws.store, WorkTree(ws.repo))
    scan = scan_records(ws.store)
    facts.doubts += [f"{r.rel}: {r.reason}" for r in scan.rejected]
    work.records = {r.rel: r for r in scan.records}
    yield work
    git = Git(ws.repo)
    head = git.run("rev-parse", "--verify", "--quiet", "HEAD^{commit}", check=False).strip()
    seen = {head}
    for name, commit in sorted(git.branch_tips().items()):
        if commit in seen:
            continue  # the checked-out commit is the work tree's; a tip shared is read once
        seen.add(commit)
        label = f"branch {name}"
        try:
            store = stack.enter_context(evidence_at_revision(ws.repo, commit, trust, [], now))
            branch_scan: RecordScan = scan_records(store)
        except (InputError, VerificationError) as exc:
            facts.notes.append(f"{label}: evidence not read: {exc}")
            continue
        facts.notes += [f"{label}: {r.rel} left out: {r.reason}" for r in branch_scan.rejected]
        place = _Place(label, False, store, git.tree(commit))
        place.records = {r.rel: r for r in branch_scan.records}
        yield place


def _problem(place: _Place, facts: PruneFacts, text: str) -> None:
    (facts.doubts if place.strict else facts.notes).append(
        text if place.strict else f"{place.label}: {text} (left out)"
    )


def _pruned_entries(work: _Place, facts: PruneFacts) -> set[str]:
    """The backup records earlier prunes name; each entry checked against the backup's
    own record (path, sha256 and location), so a prune record cannot point elsewhere."""
    names: set[str] = set()
    for record in work.records.values():
        pred = record.statement.predicate
        if not isinstance(pred, PrunePredicate):
            continue
        for entry in pred.pruned:
            names.add(entry.backup_record)
            backup_record = work.records.get(entry.backup_record)
            bpred = backup_record.statement.predicate if backup_record else None
            if (
                backup_record is None
                or not isinstance(bpred, BackupPredicate)
                or backup_record.sha256 != entry.backup_record_sha256
                or bpred.location != entry.location
            ):
                problem = (
                    f"{record.rel} names {entry.backup_record} at {entry.location}, which no "
                    "backup record here matches: its files are left alone"
                )
                facts.notes.append(problem)
                facts.earlier.append(Pruned(None, record.rel, tuple(entry.repositories), problem))
                continue
            backup = backup_of(backup_record, bpred)
            facts.earlier.append(Pruned(backup, record.rel, tuple(entry.repositories)))
    return names


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


def _approvals(
    place: _Place,
    records: dict[str, StoredRecord],
    now: datetime,
    max_age: timedelta,
    facts: PruneFacts,
) -> None:
    layout = place.store.layout
    folder = layout.path(f"{layout.evidence_dir}/{APPROVALS_SCOPE}")
    if not folder.is_dir() or folder.is_symlink():
        return
    where = "" if place.strict else f" ({place.label})"
    for path in sorted(folder.glob("*/*.json")):
        rel = path.relative_to(layout.root).as_posix()
        try:
            verified = place.store.load_verified(rel)
            fields = {k: v for k, v in verified.statement.predicate.items() if k != SIGNER_FIELD}
            approval = Approval.model_validate(fields)
        except (VerificationError, InputError) as exc:
            _problem(place, facts, f"{rel}: {exc}")
            continue
        except ValidationError as exc:
            _problem(place, facts, f"{rel}: not an approval: {exc.errors()[0]['msg']}")
            continue
        until = approval.expires_at
        # an approval the gate would not accept (expired, or longer than the policy
        # allows) relies on nothing
        if now >= until or until - approval.created_at > max_age + timedelta(seconds=1):
            continue
        for ref in approval.evidence:
            for backup, how in backups_behind(records, ref.path):
                facts.reliances.append(
                    Reliance(
                        backup,
                        f"live approval {rel}{where} of packet {approval.packet.id}{how}, until "
                        f"{until.astimezone(UTC):%Y-%m-%d %H:%M} UTC",
                    )
                )
                facts.locks.append(Lock(backup, until))


def _packets(place: _Place, records: dict[str, StoredRecord], facts: PruneFacts) -> None:
    passing = [r for r in records.values() if r.result == "pass"]
    for rel in place.source.list_files():
        if not is_packet_path(rel):
            continue
        try:
            loaded = load_packet(place.source, rel)
        except InputError as exc:
            _problem(place, facts, f"{rel}: {exc.message}")
            continue
        _packet_reliances(loaded, f"{place.label}", records, passing, facts)


def _packet_reliances(
    loaded: LoadedPacket,
    where: str,
    records: dict[str, StoredRecord],
    passing: Sequence[StoredRecord],
    facts: PruneFacts,
) -> None:
    packet = loaded.packet
    label = f"open packet {packet.id} ({loaded.path}, {where})"
    for rel in packet.evidence:
        for backup, how in backups_behind(records, rel):
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
            for backup, how in backups_behind(records, newest.rel):
                facts.reliances.append(
                    Reliance(backup, f"{label}: its newest passing {what} of {entry.module}{how}")
                )


def _dr_drill(place: _Place, facts: PruneFacts) -> None:
    drills = [
        r
        for r in place.records.values()
        if isinstance(r.statement.predicate, DrDrillPredicate) and r.result == "pass"
    ]
    newest = _newest(drills)
    if newest is None:
        return
    where = "" if place.strict else f" ({place.label})"
    for backup, _how in backups_behind(place.records, newest.rel):
        facts.reliances.append(Reliance(backup, f"the newest passing DR drill {newest.rel}{where}"))


def _newest(records: Sequence[StoredRecord]) -> StoredRecord | None:
    return max(records, key=lambda r: (r.statement.predicate.finished, r.rel), default=None)
