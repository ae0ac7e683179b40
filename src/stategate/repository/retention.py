"""Which backups ``stategate prune`` keeps, and why (pure: records in, decisions out).

A backup is kept when anything the gate relies on needs it (a live approval, an open
packet's drill or rehearsal, the newest passing DR drill, the newest passing backup of
its module), or when the retention rule keeps it (the newest N of its module, or taken
within a duration). Everything else is pruned. Every kept backup carries each reason
that keeps it; a backup with no reason is the only kind ever deleted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from stategate.errors import InputError

_DURATION = re.compile(r"(\d+)([hdwy])")
_UNIT_HOURS = {"h": 1, "d": 24, "w": 24 * 7, "y": 24 * 365}


def parse_duration(text: str) -> timedelta:
    """``36h``, ``30d``, ``2w``, ``1y`` or a sum such as ``1w3d`` (as restic's
    ``--keep-within``, without months)."""
    clean = text.strip().lower()
    if not clean or _DURATION.sub("", clean):
        raise InputError(
            f"not a duration: {text!r} (use hours, days, weeks or years: 36h, 30d, 2w, 1y)"
        )
    hours = sum(int(n) * _UNIT_HOURS[u] for n, u in _DURATION.findall(clean))
    if hours <= 0:
        raise InputError(f"not a duration: {text!r} (it must be longer than zero)")
    return timedelta(hours=hours)


@dataclass(frozen=True)
class Rule:
    keep_last: int | None = None
    keep_within: timedelta | None = None

    def __post_init__(self) -> None:
        if self.keep_last is None and self.keep_within is None:
            raise InputError(
                "say what to keep: --keep-last N and/or --keep-within DURATION "
                "(what the gate relies on is always kept)"
            )
        if self.keep_last is not None and self.keep_last < 1:
            raise InputError("--keep-last must be at least 1")


@dataclass(frozen=True)
class Backup:
    """One passing backup, as its record describes it."""

    record: str  # repo path of its record
    record_sha256: str
    module: str
    backup_id: str
    started: datetime
    location: str
    repositories: tuple[str, ...]  # names; () = the artifacts folder
    finished: datetime | None = None  # what "newest" goes by, as in the apply gate

    @property
    def order(self) -> tuple[datetime, datetime, str]:
        return (self.finished or self.started, self.started, self.backup_id)


@dataclass(frozen=True)
class Reliance:
    """Something that needs a backup: its record path and why."""

    record: str  # the backup's record
    reason: str


@dataclass(frozen=True)
class Decision:
    backup: Backup
    reasons: tuple[str, ...] = field(default=())

    @property
    def keep(self) -> bool:
        return bool(self.reasons)


def decide(
    backups: Sequence[Backup], reliances: Iterable[Reliance], rule: Rule, now: datetime
) -> list[Decision]:
    """Every backup with the reasons it is kept (none: it is pruned), newest first."""
    reasons: dict[str, list[str]] = {b.record: [] for b in backups}
    for reliance in reliances:
        if reliance.record in reasons and reliance.reason not in reasons[reliance.record]:
            reasons[reliance.record].append(reliance.reason)
    by_module: dict[str, list[Backup]] = {}
    for backup in sorted(backups, key=lambda b: b.order, reverse=True):
        by_module.setdefault(backup.module, []).append(backup)
    for module, newest_first in by_module.items():
        reasons[newest_first[0].record].append(
            f"the newest passing backup of {module} (the apply gate's backup)"
        )
        for rank, backup in enumerate(newest_first, start=1):
            if rule.keep_last is not None and rank <= rule.keep_last:
                reasons[backup.record].append(f"one of the last {rule.keep_last} of {module}")
            if rule.keep_within is not None and now - backup.started <= rule.keep_within:
                reasons[backup.record].append(f"taken within {_hours(rule.keep_within)}")
    ordered = sorted(backups, key=lambda b: b.order, reverse=True)
    return [Decision(b, tuple(reasons[b.record])) for b in ordered]


def _hours(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    return f"{hours / 24:g} days" if hours >= 48 and hours % 24 == 0 else f"{hours:g} hours"
