"""``repo check``: what a repository holds against what the evidence records say.

* **orphans**: stored files no passing backup record names in that repository: a
  backup killed midway (a ``.partial`` folder, or parts uploaded before the kill), a
  failed one whose cleanup did not finish, or files put there by hand;
* **incomplete uploads**: S3 multipart uploads never completed nor aborted;
* **missing**: recorded parts that are not there, or not at their recorded size.

A backup a prune record names was deleted on purpose: it is counted as pruned, not
missing, and files of it still there are orphans left by that prune (cut short).

Sizes are compared, not digests: ``evidence verify --artifacts`` and every drill
hash what they read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from stategate.evidence.records.artifact import PARTIAL_SUFFIX
from stategate.evidence.records.predicates import BackupPredicate

LOCATION_DEPTH = 3  # <project>/<service>/<backup id>


@dataclass(frozen=True)
class Recorded:
    """One passing backup as its record describes it: where, and the stored files."""

    record: str
    location: str
    repositories: tuple[str, ...]  # names; () = the artifacts folder ("local")
    files: dict[str, int]  # stored name -> size (the recorded parts only)


@dataclass(frozen=True)
class Orphan:
    path: str  # relative to the repository's root or prefix
    size: int
    reason: str


@dataclass(frozen=True)
class Missing:
    record: str
    path: str
    problem: str


@dataclass
class RepoReport:
    repository: str
    where: str
    backups: int = 0  # recorded backups found whole
    pruned: int = 0  # recorded backups a prune deleted from here
    orphans: list[Orphan] = field(default_factory=list)
    incomplete: list[str] = field(default_factory=list)
    missing: list[Missing] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.orphans or self.incomplete or self.missing)

    def to_json(self) -> dict[str, object]:
        return {
            "repository": self.repository,
            "where": self.where,
            "backups": self.backups,
            "pruned": self.pruned,
            "clean": self.clean,
            "orphans": [o.__dict__ for o in self.orphans],
            "incomplete_uploads": self.incomplete,
            "missing": [m.__dict__ for m in self.missing],
        }


def recorded(pred: BackupPredicate, rel: str) -> Recorded | None:
    """A passing backup's expectations; None for one that stored nothing."""
    if pred.result != "pass" or not pred.artifacts:
        return None
    files = {(a.stored_name or a.name): (a.stored_size or a.size) for a in pred.artifacts}
    names = tuple(c.repository for c in pred.copies)
    return Recorded(rel, pred.location, names, files)


def location_of(path: str) -> str:
    return "/".join(path.split("/")[:LOCATION_DEPTH])


def check(
    name: str,
    where: str,
    stored: Iterable[tuple[str, int]],
    incomplete: Sequence[str],
    backups: Sequence[Recorded],
    *,
    legacy: bool,
    pruned: Mapping[str, str] | None = None,
) -> RepoReport:
    """Compare the listing of repository ``name`` with the backups recorded there
    (``legacy``: it is the artifacts folder, which holds backups recorded with no
    repository; ``pruned``: backup record -> the prune record that deleted it)."""
    pruned = pruned or {}
    here = [b for b in backups if name in b.repositories or (legacy and not b.repositories)]
    gone = {b.location: pruned[b.record] for b in here if b.record in pruned}
    mine = {b.location: b for b in here if b.record not in pruned}
    report = RepoReport(name, where, incomplete=list(incomplete), pruned=len(gone))
    seen: dict[str, dict[str, int]] = {}
    for path, size in stored:
        location = location_of(path)
        backup = mine.get(location)
        if backup is None:
            if location in gone:
                reason = f"left by {gone[location]} (cut short): prune --yes removes it"
            elif location.endswith(PARTIAL_SUFFIX):
                reason = "an unfinished backup (killed while it was written)"
            else:
                reason = "no passing backup record names it"
            report.orphans.append(Orphan(path, size, reason))
            continue
        seen.setdefault(location, {})[path[len(location) + 1 :]] = size
    for location, backup in sorted(mine.items()):
        found = seen.get(location, {})
        problems = [
            Missing(backup.record, f"{location}/{part}", _problem(found.get(part), size))
            for part, size in sorted(backup.files.items())
            if found.get(part) != size
        ]
        report.missing += problems
        report.backups += 0 if problems else 1
    return report


def _problem(found: int | None, size: int) -> str:
    if found is None:
        return "missing"
    return f"{found} bytes stored, {size} recorded"
