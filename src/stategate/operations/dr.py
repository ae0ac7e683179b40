"""``stategate dr-drill``: every stateful module restored together from one backup window.

The DR drill takes, for every stateful module with an ``evidence:`` entry, the
newest passing backup inside one window (all taken within ``window`` hours of
the newest), restores them all into sandboxes that are up at the same time,
verifies each one as a restore drill does (artifacts, fingerprint, smoke
contract), then runs the policy's ``cross_smoke`` checks against the sandboxes,
tears everything down and records one signed DR attestation. Anything that
does not hold makes it a failing DR drill; it is recorded all the same.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Generic, TypeVar

from stategate import execute
from stategate.errors import InputError, StategateError
from stategate.evidence.records.predicates import (
    BackupWindow,
    CheckOutcome,
    CrossCheckOutcome,
    DrDrillPredicate,
    DrModule,
    Result,
    Subject,
    content_subject,
    statement,
)
from stategate.evidence.records.typed import (
    StoredRecord,
    latest_dr_drill,
    new_id,
    of_replica,
    passing_backups,
    write_record,
)
from stategate.evidence.store import EvidenceStore
from stategate.evidence.trust.keys import SigningKey
from stategate.evidence.trust.signer import require_evidence_signer
from stategate.operations.context import (
    ModuleContext,
    ProgressFactory,
    no_progress,
    now,
    run_fields,
)
from stategate.operations.drill import Drilled, DrillOutcome, drilled
from stategate.operations.module import context_for, job_artifacts
from stategate.operations.restore import backup_predicate
from stategate.platform import Platform
from stategate.policy.schema import UpgradeClass
from stategate.providers.base import SmokeTarget
from stategate.providers.config import SmokeCheck
from stategate.sandbox.engine import Engine, EngineName
from stategate.sandbox.select import engine_for
from stategate.smoke.checks import check_name, run_checks
from stategate.workspace import Workspace

T = TypeVar("T")

__all__ = ["choose_window", "latest_dr_drill", "run_dr_drill"]


@dataclass(frozen=True)
class WindowChoice(Generic[T]):
    """The backups chosen for a DR drill, and the modules that have none in the window."""

    window: BackupWindow | None  # None: no backup at all
    chosen: dict[str, T]  # module id -> newest backup inside the window
    missing: list[str]  # module ids without a backup inside the window


def choose_window(
    candidates: Mapping[str, Sequence[tuple[datetime, T]]], hours: float
) -> WindowChoice[T]:
    """The newest window of ``hours`` in which every module has a backup: anchored at the
    newest backup that ends such a window (an ad-hoc backup of one module after a
    consistent set does not hide the set), else at the newest backup of all (then the
    modules without one in it are missing). Each module's newest backup inside it is
    taken. Pure: ``candidates`` are (backup time, backup) per module."""
    times = sorted({moment for items in candidates.values() for moment, _ in items}, reverse=True)
    if not times:
        return WindowChoice(None, {}, sorted(candidates))
    span = timedelta(hours=hours)
    end = next(
        (
            anchor
            for anchor in times
            if all(
                any(anchor - span <= t <= anchor for t, _b in items)
                for items in candidates.values()
            )
        ),
        times[0],
    )
    start = end - span
    chosen: dict[str, T] = {}
    taken: list[datetime] = []
    missing: list[str] = []
    for module_id in sorted(candidates):
        inside = [(t, b) for t, b in candidates[module_id] if start <= t <= end]
        if not inside:
            missing.append(module_id)
            continue
        moment, backup = max(inside, key=lambda item: item[0])
        chosen[module_id] = backup
        taken.append(moment)
    if missing:  # the window searched
        window = BackupWindow(hours=hours, start=start, end=end)
    else:  # the window the restored backups actually span
        window = BackupWindow(hours=hours, start=min(taken), end=max(taken))
    return WindowChoice(window, chosen, missing)


@dataclass
class _Member:
    """One module of the drill while it runs."""

    ctx: ModuleContext
    provider: str
    backup: StoredRecord | None = None
    engine: Engine | None = None
    drilled: Drilled | None = None
    outcome: DrillOutcome | None = None
    note: str | None = None  # why it was not drilled
    consequence: bool = False  # not drilled only because another module could not be


def run_dr_drill(
    ws: Workspace,
    *,
    key: SigningKey,
    window_hours: float | None = None,
    artifacts: Path | None = None,
    engine_name: EngineName | None = None,
    progress: ProgressFactory = no_progress,
) -> StoredRecord:
    """Run the full sandbox DR drill of the opened repo and record it (pass or not), signed by ``key``.

    ``InputError`` (nothing recorded) when the window is not positive, the key
    cannot sign evidence, or no stateful module has an ``evidence:`` entry.
    """
    if window_hours is None:  # the policy's window (freshness.dr_window_minutes)
        window_hours = ws.policy.freshness.dr_window_minutes / 60
    if not (math.isfinite(window_hours) and window_hours > 0):
        raise InputError(f"--window must be a positive number of hours, not {window_hours:g}")
    require_evidence_signer(ws.store, key)
    platform, store = ws.platform, ws.store
    members, uncovered = _members(ws, key, job_artifacts(ws, artifacts), progress)
    started = now()
    scans = {mid: passing_backups(store, mid) for mid in members}
    choice = choose_window(
        {
            # a replica's backup is not production's: never part of its DR drill
            mid: [(backup_predicate(b).started, b) for b in backups if not of_replica(b)]
            for mid, (backups, _) in scans.items()
        },
        window_hours,
    )
    for mid, member in members.items():
        member.backup = choice.chosen.get(mid)
    cross: list[CrossCheckOutcome] = []
    problems: list[str] = []
    if choice.missing:  # nothing is restored: the drill is about all of them together
        for mid, member in members.items():
            if mid in choice.missing:
                member.note = _missing_text(choice.window, scans[mid][1].summary(limit=1))
            else:
                missing = ", ".join(choice.missing)
                member.note = f"not restored: no backup of {missing} in the window"
                member.consequence = True
    else:
        cross, teardown = _drill_together(platform, members, engine_name)
        if teardown:
            problems.append(teardown)
    return _record(store, key, members, choice, cross, problems, uncovered, started, platform)


def _members(
    ws: Workspace,
    key: SigningKey,
    artifacts: Path,
    progress: ProgressFactory,
) -> tuple[dict[str, _Member], list[str]]:
    platform = ws.platform
    stateful = sorted(
        (m for m in platform.modules.values() if m.has(UpgradeClass.STATEFUL)), key=lambda m: m.id
    )
    members: dict[str, _Member] = {}
    uncovered: list[str] = []
    for module in stateful:
        config = platform.policy.module(module.id).evidence
        if config is None:
            uncovered.append(module.id)
            continue
        ctx = context_for(
            ws,
            module,
            key=key,
            artifacts=artifacts,
            progress=progress,
        )
        members[module.id] = _Member(ctx, config.provider)
    if not members:
        raise InputError(
            "no stateful module has an evidence: entry in the policy: nothing to DR-drill"
        )
    return members, uncovered


def _missing_text(window: BackupWindow | None, not_counted: str) -> str:
    suffix = f" ({not_counted})" if not_counted else ""
    if window is None:
        return f"no passing backup recorded{suffix}"
    return (
        f"no passing backup in the window {_when(window.start)} to {_when(window.end)} "
        f"({window.hours:g} h before the newest backup){suffix}"
    )


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _drill_together(
    platform: Platform, members: dict[str, _Member], engine_name: EngineName | None
) -> tuple[list[CrossCheckOutcome], str | None]:
    """Restore every module into its sandbox, all up together; cross-smoke; tear down."""
    cross: list[CrossCheckOutcome] = []
    secrets: list[str] = []
    try:
        with ExitStack() as stack:
            for member in members.values():
                assert member.backup is not None
                config = member.ctx.require_config()
                member.engine = engine_for(
                    config.sandbox, override=engine_name, module_image=member.ctx.image
                )
                try:
                    member.drilled = stack.enter_context(
                        drilled(member.ctx, member.backup, member.engine)
                    )
                except (StategateError, OSError) as exc:
                    member.note = f"the drill could not start: {exc}"
                    continue
                member.outcome = member.drilled.outcome
                secrets += member.drilled.source.secrets()
            # every sandbox that came up is up now, at the same time; cross-module
            # checks may be declared on any module (e.g. the app that uses them all)
            for mid, entry in sorted(platform.policy.modules.items()):
                cross += _cross_smoke(mid, entry.cross_smoke, members, secrets)
    except (StategateError, OSError) as exc:
        return cross, "tearing down the sandboxes failed: " + execute.mask(str(exc), secrets)
    return cross, None


def _cross_smoke(
    owner_id: str,
    checks: list[SmokeCheck],
    members: dict[str, _Member],
    secrets: list[str],
) -> list[CrossCheckOutcome]:
    if not checks:
        return []
    owner = members.get(owner_id)
    if owner is not None and (owner.drilled is None or owner.drilled.box is None):
        outcomes = [
            CheckOutcome(
                name=execute.mask(check_name(c), secrets),
                kind=c.kind,
                result="error",
                detail=f"not run: the sandbox of {owner_id} is not up",
                duration_s=0.0,
            )
            for c in checks
        ]
    else:
        outcomes = run_checks(checks, cross_target(owner_id, members), secrets)
    return [CrossCheckOutcome(module=owner_id, **o.model_dump()) for o in outcomes]


def cross_target(owner_id: str, members: Mapping[str, _Member]) -> SmokeTarget:
    """The sandboxes as one smoke target: the owner's own endpoints (when the owner is
    a drilled module), else the endpoint of each kind that exactly one sandbox offers,
    and every sandbox's address rewrites."""
    boxes = {
        mid: m.drilled.box
        for mid, m in members.items()
        if m.drilled is not None and m.drilled.box is not None
    }
    own = boxes[owner_id].target if owner_id in boxes else SmokeTarget(name="sandbox")
    others = [b.target for mid, b in boxes.items() if mid != owner_id]
    rewrites: dict[str, str] = {}
    for target in [*others, own]:
        rewrites.update(target.rewrites)

    def only(values: list[T | None]) -> T | None:
        present = [v for v in values if v is not None]
        return present[0] if len(present) == 1 else None

    return dataclasses.replace(
        own,
        postgres=own.postgres or only([t.postgres for t in others]),
        redis=own.redis or only([t.redis for t in others]),
        s3=own.s3 or only([t.s3 for t in others]),
        volume=own.volume or only([t.volume for t in others]),
        rewrites=rewrites,
    )


def _module_entry(mid: str, member: _Member) -> DrModule:
    backup, outcome, engine = member.backup, member.outcome, member.engine
    bpred = backup_predicate(backup) if backup is not None else None
    if outcome is not None:
        result, reason = outcome.result, outcome.reason
    else:  # never drilled: no backup in the window, or the drill could not start
        result, reason = ("fail" if backup is None else "error"), member.note
    return DrModule(
        module=mid,
        provider=member.provider,
        result=result,
        reason=reason,
        backup_id=bpred.backup_id if bpred else None,
        backup_record=backup.rel if backup else None,
        backup_record_sha256=backup.sha256 if backup else None,
        backup_started=bpred.started if bpred else None,
        source=bpred.source if bpred else None,
        artifacts=list(bpred.artifacts) if bpred else [],
        artifacts_verified=outcome.verified if outcome else False,
        engine=engine.info() if engine else None,
        sandbox=outcome.sandbox if outcome else None,
        fingerprint=outcome.comparison if outcome else None,
        smoke=outcome.smoke if outcome else [],
    )


def _overall(
    modules: list[DrModule],
    cross: list[CrossCheckOutcome],
    problems: list[str],
    consequences: set[str],
) -> tuple[Result, str | None]:
    """Pass only if every module and every cross-module check passed; else why not."""
    reasons = [
        f"{m.module}: {m.reason or m.result}"
        for m in modules
        if m.result != "pass" and m.module not in consequences
    ]
    # a cross-module check that could not run proved nothing: it does not pass
    reasons += [
        f"cross-smoke {c.module} {c.name}: {c.result}" + (f": {c.detail}" if c.detail else "")
        for c in cross
        if c.result != "pass"
    ]
    reasons += problems
    if not reasons:
        return "pass", None
    failed = bool(problems) or any(m.result == "fail" for m in modules)
    failed = failed or any(c.result in ("fail", "skipped") for c in cross)
    result: Result = "fail" if failed else "error"
    return result, "; ".join(reasons)


def _record(
    store: EvidenceStore,
    key: SigningKey,
    members: dict[str, _Member],
    choice: WindowChoice[StoredRecord],
    cross: list[CrossCheckOutcome],
    problems: list[str],
    uncovered: list[str],
    started: datetime,
    platform: Platform,
) -> StoredRecord:
    modules = [_module_entry(mid, m) for mid, m in members.items()]
    consequences = {mid for mid, m in members.items() if m.consequence}
    result, reason = _overall(modules, cross, problems, consequences)
    drill_id = new_id(started)
    predicate = DrDrillPredicate(
        **run_fields(drill_id, started, result, reason, platform.policy_digest),
        window=choice.window,
        modules=modules,
        cross_smoke=cross,
        uncovered=uncovered,
    )
    subjects: dict[str, Subject] = {}
    for backup in choice.chosen.values():
        for subject in backup.statement.subject:
            subjects.setdefault(subject.name, Subject(name=subject.name, digest=subject.digest))
    listed = list(subjects.values()) or [
        content_subject(f"dr-drill/{drill_id}", {"result": result, "reason": reason})
    ]
    return write_record(store, statement(listed, predicate), key)
