"""The status page's model: per module, its classes and the age of each kind of evidence.

Pure: :func:`build_status` takes the classified modules, the records that verified
(and the files that did not), the policy and ``now``, and returns data; the
renderers (``status_table``, ``status_json``, ``status_html``) only print it.

Each module shows its newest backup, restore drill, rehearsal, smoke run and DR
drill. A cell is ``fresh`` (passed, within the policy's limit), ``stale`` (passed,
older than the limit), ``failed`` (the newest run did not pass), ``untrusted`` (the
newest record file of that kind does not verify, or claims to have finished in the
future: it never counts as evidence),
``missing`` (none, and the module's classes need it) or ``none`` (none, not needed).

Limits come from the policy's ``freshness``: a DR drill against
``dr_drill_max_age_days``; the others against ``backup_max_age_hours`` (the apply gate
wants a backup in that window, a drill and a rehearsal of that same backup, and a
smoke baseline within it).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from stategate.evidence.layout import PLATFORM_SCOPE
from stategate.evidence.records.predicates import (
    BackupPredicate,
    DrDrillPredicate,
    DrillPredicate,
    PrunePredicate,
    RehearsalPredicate,
    SmokePredicate,
)
from stategate.evidence.records.typed import Rejected, StoredRecord
from stategate.evidence.signing.sign import CLOCK_SKEW
from stategate.policy.classify import Module
from stategate.policy.schema import Freshness, UpgradeClass

STATUS_SCHEMA = "stategate.status/v1"
KINDS: tuple[str, ...] = ("backup", "restore-drill", "rehearsal", "smoke", "dr-drill")
KIND_TITLES: dict[str, str] = {
    "backup": "backup",
    "restore-drill": "restore drill",
    "rehearsal": "rehearsal",
    "smoke": "smoke",
    "dr-drill": "DR drill",
}
# the kinds a stateful module needs before an apply (a rehearsal only for an upgrade
# that changes the version, so a missing one is not flagged)
_STATEFUL_NEEDS = ("backup", "restore-drill", "smoke", "dr-drill")
_FILE_RE = re.compile(r"(?:^|/)([a-z-]+)-(\d{8}T\d{6}Z)-[0-9a-f]{6}\.json$")


class State(enum.StrEnum):
    FRESH = "fresh"
    STALE = "stale"
    FAILED = "failed"
    UNTRUSTED = "untrusted"
    MISSING = "missing"
    NONE = "none"

    @property
    def attention(self) -> bool:
        """Whether the operator should look: anything but fresh or not needed."""
        return self not in (State.FRESH, State.NONE)


@dataclass(frozen=True)
class Mark:
    """One record on the timeline."""

    kind: str
    when: datetime  # finished (a rejected file: the time in its name)
    result: str  # pass | fail | error | untrusted
    record: str  # repo-relative path
    counts: bool = True  # False: a replica's backup, which counts for no apply gate


@dataclass(frozen=True)
class StepTime:
    """One step of a drill or rehearsal and how long it took."""

    name: str
    seconds: float
    result: str  # pass | fail | error | skipped


@dataclass(frozen=True)
class Cell:
    """One kind of evidence of one module: its newest record, judged."""

    kind: str
    state: State
    limit_hours: float
    age_hours: float | None = None
    finished: datetime | None = None
    result: str | None = None  # pass | fail | error (of a record that verified)
    engine: str | None = None  # e.g. "postgres 16.4"
    record: str | None = None
    reason: str | None = None  # why it failed or does not verify
    # a restore drill's or rehearsal's steps in the order they ran (older records: none)
    steps: tuple[StepTime, ...] = ()

    @property
    def took(self) -> float | None:
        """The steps' total (None without steps)."""
        return sum(s.seconds for s in self.steps) if self.steps else None


@dataclass(frozen=True)
class ModuleStatus:
    id: str
    classes: tuple[str, ...]
    tier: str
    parent: str | None
    backup_reference: bool
    cells: tuple[Cell, ...]
    marks: tuple[Mark, ...]  # oldest first

    @property
    def attention(self) -> tuple[Cell, ...]:
        return tuple(c for c in self.cells if c.state.attention)


@dataclass(frozen=True)
class StatusModel:
    now: datetime
    limits: Mapping[str, float]  # kind -> hours
    modules: tuple[ModuleStatus, ...]
    untrusted: tuple[Rejected, ...]  # every record file that does not verify
    trust_origin: str

    @property
    def attention(self) -> int:
        return sum(len(m.attention) for m in self.modules)


def limits_of(freshness: Freshness) -> dict[str, float]:
    hours = freshness.backup_max_age_hours
    limits = dict.fromkeys(KINDS, hours)
    limits["dr-drill"] = freshness.dr_drill_max_age_days * 24
    return limits


def build_status(
    modules: Mapping[str, Module],
    records: Sequence[StoredRecord],
    rejected: Sequence[Rejected],
    freshness: Freshness,
    now: datetime,
    trust_origin: str = "",
) -> StatusModel:
    """The status of every module, judged at ``now`` (records: those that verified)."""
    now = now.astimezone(UTC)
    limits = limits_of(freshness)
    pruned = {
        p.backup_record
        for r in records
        if isinstance(r.statement.predicate, PrunePredicate)
        for p in r.statement.predicate.pruned
    }
    marks: dict[str, list[Mark]] = {mid: [] for mid in modules}
    details: dict[tuple[str, str], tuple[Mark, Cell]] = {}
    for record in records:
        pred = record.statement.predicate
        if isinstance(pred, PrunePredicate) or record.rel in pruned:
            continue  # a pruned backup's artifacts are gone: it backs nothing
        for mid, mark, cell in _entries(record, limits, now):
            if mid in marks:
                marks[mid].append(mark)
                details[(mid, record.rel)] = (mark, cell)
    for bad in rejected:
        found = _rejected_mark(bad)
        if found is None:
            continue
        if found[0] == PLATFORM_SCOPE:  # a DR drill speaks for every stateful module
            for mid, module in modules.items():
                if module.has(UpgradeClass.STATEFUL):
                    marks[mid].append(found[1])
        elif found[0] in marks:
            marks[found[0]].append(found[1])
    out: list[ModuleStatus] = []
    for mid in sorted(modules):
        module = modules[mid]
        ordered = tuple(sorted(marks[mid], key=lambda m: (m.when, m.record)))
        cells = tuple(
            _cell(module, kind, ordered, details, rejected, limits[kind]) for kind in KINDS
        )
        out.append(
            ModuleStatus(
                id=mid,
                classes=tuple(c.value for c in module.classes),
                tier=module.tier,
                parent=module.parent,
                backup_reference=module.backup_reference,
                cells=cells,
                marks=ordered,
            )
        )
    return StatusModel(now, limits, tuple(out), tuple(rejected), trust_origin)


def _needs(module: Module, kind: str) -> bool:
    if module.has(UpgradeClass.STATEFUL):
        return kind in _STATEFUL_NEEDS
    # a sidecar's own evidence is its idempotency smoke; its parent's row shows the rest
    return module.has(UpgradeClass.SIDECAR_BOUND) and kind == "smoke"


def _cell(
    module: Module,
    kind: str,
    marks: Sequence[Mark],
    details: Mapping[tuple[str, str], tuple[Mark, Cell]],
    rejected: Sequence[Rejected],
    limit: float,
) -> Cell:
    of_kind = [m for m in marks if m.kind == kind and m.counts]
    if not of_kind:
        state = State.MISSING if _needs(module, kind) else State.NONE
        return Cell(kind, state, limit)
    newest = of_kind[-1]
    if newest.result == "untrusted":
        reason = next((r.reason for r in rejected if r.rel == newest.record), None)
        return Cell(kind, State.UNTRUSTED, limit, record=newest.record, reason=reason)
    return details[(module.id, newest.record)][1]


def _judge(
    kind: str, result: str, finished: datetime, limits: Mapping[str, float], now: datetime
) -> tuple[State, float]:
    age = max(0.0, (now - finished.astimezone(UTC)).total_seconds() / 3600)
    if finished.astimezone(UTC) > now + CLOCK_SKEW:
        return State.UNTRUSTED, age  # as the apply gate: a record from the future has no age
    if result != "pass":
        return State.FAILED, age
    return (State.FRESH if age <= limits[kind] else State.STALE), age


def _why(state: State, reason: str | None, finished: datetime) -> str | None:
    """What a cell says about its record: why it failed, or that it claims the future."""
    if state is State.UNTRUSTED:
        return f"finished {finished:%Y-%m-%d %H:%M}Z, in the future: a clock is wrong"
    return reason if state is State.FAILED else None


def _entries(
    record: StoredRecord, limits: Mapping[str, float], now: datetime
) -> list[tuple[str, Mark, Cell]]:
    """(module, mark, cell) per module a record speaks for: one, or a DR drill's modules."""
    pred = record.statement.predicate
    if isinstance(pred, DrDrillPredicate):
        return _dr_entries(record, pred, limits, now)
    if isinstance(pred, PrunePredicate):
        return []
    if isinstance(pred, BackupPredicate):
        engine = _engine(pred.provider, pred.source.server_version, None)
    elif isinstance(pred, DrillPredicate):
        # the version the drill ran on: the sandbox's, not the source's
        version = (pred.sandbox.server_version if pred.sandbox else None) or pred.engine.version
        engine = _engine(pred.provider, version, pred.engine.name)
    elif isinstance(pred, RehearsalPredicate):
        version = pred.target_version or pred.engine.version
        engine = _engine(pred.provider, version, pred.engine.name)
    else:
        assert isinstance(pred, SmokePredicate)
        where = pred.engine.name if pred.engine else None
        engine = _engine(pred.provider, pred.source.server_version, where)
    state, age = _judge(pred.kind, pred.result, pred.finished, limits, now)
    steps: tuple[StepTime, ...] = ()
    if isinstance(pred, DrillPredicate | RehearsalPredicate):
        steps = tuple(StepTime(s.name, s.duration_s, s.result) for s in pred.steps)
    replica = isinstance(pred, BackupPredicate) and pred.source.role == "replica"
    mark = Mark(pred.kind, pred.finished, pred.result, record.rel, counts=not replica)
    cell = Cell(
        pred.kind,
        state,
        limits[pred.kind],
        age,
        pred.finished,
        pred.result,
        engine,
        record.rel,
        _why(state, pred.reason, pred.finished),
        steps,
    )
    return [(pred.module, mark, cell)]


def _dr_entries(
    record: StoredRecord, pred: DrDrillPredicate, limits: Mapping[str, float], now: datetime
) -> list[tuple[str, Mark, Cell]]:
    """A DR drill, per module. As the apply gate reads it: a module counts as drilled only
    when the whole drill passed too; a stateful module left out of it is a failure."""
    out = []
    rows: list[tuple[str, str, str | None, str | None]] = []  # module, result, reason, engine
    for entry in pred.modules:
        engine = _engine(
            entry.provider,
            (entry.sandbox.server_version if entry.sandbox else None)
            or (entry.engine.version if entry.engine else None),
            entry.engine.name if entry.engine else None,
        )
        if entry.result != "pass":
            rows.append((entry.module, entry.result, entry.reason or pred.reason, engine))
        elif pred.result != "pass":
            why = f"the drill as a whole did not pass: {pred.reason or pred.result}"
            rows.append((entry.module, pred.result, why, engine))
        else:
            rows.append((entry.module, "pass", None, engine))
    for mid in pred.uncovered:
        rows.append((mid, "fail", "not in the drill: no evidence entry in the policy", None))
    for mid, result, reason, shown in rows:
        state, age = _judge(pred.kind, result, pred.finished, limits, now)
        mark = Mark(pred.kind, pred.finished, result, record.rel)
        cell = Cell(
            pred.kind,
            state,
            limits[pred.kind],
            age,
            pred.finished,
            result,
            shown,
            record.rel,
            _why(state, reason, pred.finished),
        )
        out.append((mid, mark, cell))
    return out


def _engine(provider: str, version: str | None, where: str | None) -> str:
    """``postgres 16.6 (local)``: the engine and version a record ran on, and where."""
    text = f"{provider} {version}" if version else provider
    return f"{text} ({where})" if where else text


def _rejected_mark(bad: Rejected) -> tuple[str, Mark] | None:
    """A file that does not verify, placed by its name: ``<dir>/<project>/<service>/
    <kind>-<time>-<hex>.json`` (a module's), or ``<dir>/_platform/dr-drill-...`` (the
    platform's: :data:`PLATFORM_SCOPE`). None when the name places it nowhere."""
    match = _FILE_RE.search(bad.rel)
    parts = bad.rel.split("/")
    if match is None or len(parts) < 3 or match.group(1) not in KINDS:
        return None
    try:  # the name's digits need not be a date (a hostile file: 20261399T...)
        when = datetime.strptime(match.group(2), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None
    mark = Mark(match.group(1), when, "untrusted", bad.rel)
    if parts[-2] == PLATFORM_SCOPE:
        return (PLATFORM_SCOPE, mark) if mark.kind == "dr-drill" else None
    return f"{parts[-3]}/{parts[-2]}", mark
