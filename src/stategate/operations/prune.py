"""``stategate prune``: the deletion of the backups nothing keeps (what keeps one:
:mod:`stategate.operations.prune_facts` and :mod:`stategate.repository.retention`).

The prune record (signed, ledgered) is written before anything is deleted, so a prune
cut short leaves files that ``repo check`` names as left by that prune, and the next
``prune --yes`` removes them, unless something has come to rely on that backup since
(then its files are left alone, and said so). A backup stored in a repository the
policy no longer names is kept: prune cannot reach it there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from stategate.errors import ExternalError, InputError
from stategate.evidence.findings import VerificationError
from stategate.evidence.records.predicates import (
    BackupPredicate,
    PrunedBackup,
    PrunePredicate,
    RetentionRule,
    content_subject,
    statement,
)
from stategate.evidence.records.typed import StoredRecord, new_id, read_record, write_record
from stategate.evidence.store import EvidenceStore
from stategate.evidence.trust.keys import SigningKey
from stategate.operations.context import run_fields
from stategate.operations.prune_facts import PruneFacts, backup_of, backups_behind
from stategate.repository.repositories import LEGACY_NAME, Repositories, Repository
from stategate.repository.retention import Backup, Decision, Reliance, Rule, decide
from stategate.workspace import Workspace


@dataclass
class PruneOutcome:
    record: StoredRecord | None = None
    deleted: list[str] = field(default_factory=list)  # "<location> from <repository>"
    absent: list[str] = field(default_factory=list)  # nothing was there to delete
    leftovers: list[str] = field(default_factory=list)  # of earlier prunes, removed now
    locked: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def repository_for(repositories: Repositories, name: str) -> Repository | None:
    """The configured repository called ``name`` (``local``: the artifacts folder), or
    None when the policy no longer names it."""
    if name in (LEGACY_NAME, repositories.legacy.name):
        return repositories.legacy
    return next((r for r in repositories.every if r.name == name), None)


def holders(repositories: Repositories, backup: Backup) -> list[Repository]:
    """The configured repositories a backup is stored in (its record's copies; none: the
    artifacts folder); ``InputError`` when one of them is no longer configured."""
    if not backup.repositories:
        return [repositories.legacy]
    found = [repository_for(repositories, name) for name in backup.repositories]
    missing = [n for n, r in zip(backup.repositories, found, strict=True) if r is None]
    if missing:
        raise InputError(f"stored in {', '.join(missing)}, which the policy no longer names")
    return [r for r in found if r is not None]


def unreachable(repositories: Repositories, backups: Sequence[Backup]) -> list[Reliance]:
    """Backups prune cannot delete everywhere they are: kept, and why."""
    kept: list[Reliance] = []
    for backup in backups:
        try:
            holders(repositories, backup)
        except InputError as exc:
            kept.append(Reliance(backup.record, f"{exc.message}: prune cannot reach it there"))
    return kept


def prune(
    ws: Workspace,
    facts: PruneFacts,
    decisions: Sequence[Decision],
    repositories: Repositories,
    *,
    key: SigningKey,
    rule: Rule,
    now: datetime,
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
    stores = {b.record: holders(repositories, b) for b in doomed}  # kept when unreachable
    if doomed:
        kept = len(decisions) - len(doomed)
        outcome.record = _write_record(ws, key, rule, doomed, stores, kept, now)
    for backup in doomed:
        for repository in stores[backup.record]:
            _delete(repository, backup.location, outcome, outcome.deleted)
    _finish_earlier(facts, decisions, repositories, rule, now, outcome)
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


def _delete(repository: Repository, location: str, outcome: PruneOutcome, done: list[str]) -> None:
    what = f"{location} from {repository.name}"
    try:
        present = next(iter(repository.backend.listing(location)), None) is not None
        if not present:
            outcome.absent.append(what)
            return
        repository.backend.remove(location)
        left = next(iter(repository.backend.listing(location)), None)
    except (ExternalError, InputError, OSError) as exc:
        outcome.errors.append(f"{location} in {repository.name}: {exc}")
        return
    if left is not None:
        outcome.errors.append(f"{location} in {repository.name}: {left[0]} is still there")
        return
    done.append(what)


def _finish_earlier(
    facts: PruneFacts,
    decisions: Sequence[Decision],
    repositories: Repositories,
    rule: Rule,
    now: datetime,
    outcome: PruneOutcome,
) -> None:
    """Remove what earlier prunes recorded but did not get to delete (cut short), unless
    something would keep that backup now (then its files are left alone, and said so)."""
    earlier = [p for p in facts.earlier if p.backup is not None]
    if not earlier:
        return
    pruned = [p.backup for p in earlier if p.backup is not None]
    # judged with every backup, the pruned ones included: a prune record cannot take
    # the files of a backup that is the newest, or one something relies on
    verdicts = {
        d.backup.record: d
        for d in decide([*(d.backup for d in decisions), *pruned], facts.reliances, rule, now)
    }
    wanted: dict[str, set[str]] = {}  # repository -> locations
    for entry in earlier:
        assert entry.backup is not None
        keep = verdicts[entry.backup.record].reasons
        if keep:
            outcome.notes.append(
                f"{entry.prune_record} pruned backup {entry.backup.backup_id} of "
                f"{entry.backup.module}, but now it is kept ({keep[0]}): its files are left alone"
            )
            continue
        for name in entry.repositories:
            wanted.setdefault(name, set()).add(entry.backup.location)
    for name, locations in sorted(wanted.items()):
        repository = repository_for(repositories, name)
        if repository is None:
            outcome.notes.append(f"repository {name} is no longer in the policy: not checked")
            continue
        try:
            present = {_location(path) for path, _size in repository.backend.listing()}
        except (ExternalError, InputError, OSError) as exc:
            outcome.errors.append(f"repository {name}: {exc}")
            continue
        for location in sorted(locations & present):
            _delete(repository, location, outcome, outcome.leftovers)


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
                retain(repositories, backup_of(record, pred), until, locked, problems)
    return locked, problems
