"""The apply-stage gate: is a runtime apply/recreate of this upgrade authorised? (pure)

Input: the pull request (as for the merge stage), the verified evidence facts the
I/O edge found, and a function that checks operator approvals against the
evidence this gate relies on. Output: the same :class:`Verdict` shape as the
merge stage, ``approved`` only when every requirement holds and a valid
approval binds the exact digests and that evidence.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from stategate.diff.changes import ChangeKind, ModuleChange
from stategate.image import parse_image, tag_version
from stategate.packet import PacketModule
from stategate.policy.backups import REFERENCE_RULE
from stategate.policy.classify import Module
from stategate.policy.gate import (
    PullRequest,
    Requirement,
    Stop,
    Verdict,
    VerdictKind,
    classes_of,
    declared_entry,
    evaluate_merge,
    module_of,
)
from stategate.policy.requirements import apply_requirements
from stategate.policy.schema import ApplyRequirement, DrTrigger, StopCondition, UpgradeClass
from stategate.policy.text import APPLY_TEXT
from stategate.providers.config import production_address

A = ApplyRequirement
C = UpgradeClass


@dataclass(frozen=True)
class EvidenceFact:
    """One verified evidence record, reduced to what the gate needs."""

    path: str  # repo-relative record path
    sha256: str  # of the record file (what approvals bind)
    kind: str  # backup | restore-drill | smoke | dr-drill
    module: str | None
    result: str  # pass | fail | error
    finished: datetime
    image_digest: str | None = None  # the digest running when the evidence was taken
    backup_id: str | None = None
    backup_record: str | None = None  # drills: the backup they restored
    target: str | None = None  # smoke: source | sandbox
    fingerprint_match: bool | None = None
    check_kinds: tuple[str, ...] = ()  # smoke: tcp, http, sql, ...
    covers: tuple[str, ...] = ()  # dr-drill: modules restored together
    engine: str | None = None
    server_version: str | None = None  # drills and rehearsals: the version they ran on
    steps: tuple[tuple[str, str], ...] = ()  # rehearsal: (step, result) in order
    rollback: str | None = None  # rehearsal: previous-image | restore-backup | unknown
    target_image: str | None = None  # rehearsal: the image reference it rehearsed
    copies: tuple[str, ...] = ()  # backup: the repositories holding it (names)
    address: str | None = None  # backup: the server it connected to
    role: str | None = None  # backup: primary | replica, as the server said
    server_ids: tuple[tuple[str, str], ...] = ()  # backup: (name, value) the server reported


@dataclass(frozen=True)
class ApprovalResult:
    path: str
    valid: bool
    issues: tuple[str, ...] = ()
    covers: tuple[str, ...] = ()  # the modules this approval names; it approves nothing else


@dataclass(frozen=True)
class ArtifactCheck:
    """The artifacts of one backup record the gate relies on, hashed against the record."""

    record: str  # the backup's record (repo path)
    status: str  # verified | failed | unreachable
    detail: str


ApprovalChecker = Callable[[Sequence[str]], Sequence[ApprovalResult]]
ArtifactChecker = Callable[[Sequence[str]], Sequence[ArtifactCheck]]

# Kinds of evidence that stand on a backup's artifacts.
_ARTIFACT_KINDS = frozenset({"backup", "restore-drill", "dr-drill", "rehearsal"})


@dataclass
class ApplyFacts:
    evidence: list[EvidenceFact]
    now: datetime
    approvals: ApprovalChecker = field(default=lambda _paths: ())
    # Fail closed: with no checker, no artifact is verified, so nothing relying on one passes.
    artifacts: ArtifactChecker = field(default=lambda _paths: ())

    def latest(self, kind: str, module: str | None, *, passing: bool = True) -> EvidenceFact | None:
        found = [
            e
            for e in self.evidence
            if e.kind == kind and e.module == module and (e.result == "pass" or not passing)
        ]
        return max(found, key=lambda e: e.finished, default=None)


def _major(version: str | None) -> str | None:
    """The major of a reported version: ``16`` from ``16.4 (Debian ...)``, ``8`` from
    ``valkey 8.1.1``."""
    match = re.match(r"\s*(?:[A-Za-z]+\s+)?v?(\d+)", version or "")
    return match.group(1) if match else None


def _digest(ref: str | None) -> str | None:
    return parse_image(ref).digest if ref else None


def _age_ok(fact: EvidenceFact, now: datetime, hours: float) -> bool:
    return now - fact.finished <= timedelta(hours=hours) and fact.finished <= now + timedelta(
        minutes=5
    )


@dataclass
class _Ctx:
    pr: PullRequest
    facts: ApplyFacts
    reqs: list[Requirement] = field(default_factory=list)
    stops: list[Stop] = field(default_factory=list)
    relied: list[str] = field(default_factory=list)

    def need(self, rid: str, module: str | None, cls: str | None, ok: bool, hint: str) -> None:
        self.reqs.append(Requirement(rid, module, cls, "met" if ok else "missing", hint))

    def backup_of(self, mid: str) -> EvidenceFact | None:
        """The newest passing backup of ``mid`` taken of its production server (see
        :func:`_not_production`): the one every rule about its backup stands on."""
        found = [
            e
            for e in self.facts.evidence
            if e.kind == "backup"
            and e.module == mid
            and e.result == "pass"
            and _not_production(self, e, mid) is None
        ]
        return max(found, key=lambda e: e.finished, default=None)

    def rely(self, fact: EvidenceFact) -> None:
        if fact.path not in self.relied:
            self.relied.append(fact.path)


def evaluate_apply(pr: PullRequest, facts: ApplyFacts) -> Verdict:
    merge = evaluate_merge(pr)
    ctx = _Ctx(pr, facts)
    modules = {c.module: m for c in pr.changes if (m := module_of(pr, c)) is not None}
    stateful_in_batch = [m for m in modules.values() if m.has(C.STATEFUL)]
    needs_approval: list[str] = []
    for change in pr.changes:
        module = modules.get(change.module)
        if module is None:
            continue
        classes = classes_of(pr, change)
        entry = declared_entry(pr, change)
        reqs = apply_requirements(_with_classes(module, classes), pr.policy, pr.head)
        for req, imposed_by in reqs.items():
            cls = imposed_by[0].value
            if req is A.OPERATOR_APPROVAL:
                needs_approval.append(change.module)
                continue
            _check(ctx, req, cls, change, module, entry, stateful_in_batch)
    _check_artifacts(ctx)
    if needs_approval:
        _check_approvals(ctx, list(dict.fromkeys(needs_approval)))
    stops = merge.stops + ctx.stops
    requirements = merge.requirements + ctx.reqs
    missing = [r for r in requirements if r.status != "met"]
    if stops:
        kind = VerdictKind.STOP
    elif missing:
        kind = VerdictKind.BLOCKED
    elif not pr.changes:
        kind = VerdictKind.PASS  # nothing that runs changes: there is nothing to approve
    else:
        kind = VerdictKind.APPROVED
    labels = sorted(
        set(merge.labels) - {"merge/auto"} | ({"risk/runtime"} if pr.changes else set())
    )
    return replace(
        merge,
        verdict=kind,
        stage="apply",
        requirements=requirements,
        stops=stops,
        labels=labels,
        relied_evidence=list(ctx.relied),
    )


def _check_artifacts(ctx: _Ctx) -> None:
    """Every backup artifact the relied evidence stands on must hash to its record."""
    by_path = {e.path: e for e in ctx.facts.evidence}
    standing = [p for p in ctx.relied if (f := by_path.get(p)) and f.kind in _ARTIFACT_KINDS]
    if not standing:
        return
    checks = list(ctx.facts.artifacts(tuple(ctx.relied)))
    bad = [c for c in checks if c.status != "verified"]
    if not checks:
        hint = "no backup artifact behind the relied evidence could be checked"
    elif bad:
        hint = "; ".join(f"{c.record}: {c.status}: {c.detail}" for c in bad)
    else:
        hint = f"{len(checks)} backup(s) hashed against their records: " + "; ".join(
            f"{c.record}: {c.detail}" for c in checks
        )
    ctx.need("apply/artifacts-verified", None, None, bool(checks) and not bad, hint)


def _check_approvals(ctx: _Ctx, modules: list[str]) -> None:
    """Each module needs a valid approval that names it; one packet's approval does not
    approve another packet's module."""
    results = list(ctx.facts.approvals(tuple(ctx.relied)))
    for mid in modules:
        mine = [r for r in results if mid in r.covers]
        valid = [r for r in mine if r.valid]
        if valid:
            hint = f"valid operator approval {valid[0].path}"
        elif mine:
            problems = "; ".join(f"{r.path}: {', '.join(r.issues)}" for r in mine)
            hint = f"no valid operator approval ({problems}); {APPLY_TEXT[A.OPERATOR_APPROVAL]}"
        elif results:
            hint = (
                f"no operator approval names {mid} (approvals on record cover "
                f"{', '.join(sorted({m for r in results for m in r.covers})) or 'nothing'}); "
                + APPLY_TEXT[A.OPERATOR_APPROVAL]
            )
        else:
            hint = f"no operator approval recorded; {APPLY_TEXT[A.OPERATOR_APPROVAL]}"
        ctx.need("apply/operator-approval", mid, None, bool(valid), hint)


def _rehearsal(ctx: _Ctx, change: ModuleChange, cls: str, rid: str) -> None:
    """A major or minor change (or another image repository) needs a rehearsal of the
    drilled backup on the target major: a minor one its restore on the target, a major one
    every step. Patch changes and changes without a version need none."""
    major = change.semver == "major" or change.kind is ChangeKind.IMAGE_REPO
    if not major and change.semver != "minor":
        return
    mid = change.module
    target = tag_version(parse_image(change.to_image).tag) if change.to_image else None
    backup = ctx.backup_of(mid)
    if target is None or backup is None:
        what = "target version" if target is None else "backup to rehearse with"
        ctx.need(rid, mid, cls, False, f"no {what}: {APPLY_TEXT[A.REHEARSAL]}")
        return
    wanted = str(target.major)
    mine = [
        e
        for e in ctx.facts.evidence
        if e.kind == "rehearsal" and e.module == mid and e.backup_id == backup.backup_id
    ]
    # only a rehearsal of the very image the change runs counts: one of another image on
    # the same major rehearsed something else
    others = sorted(
        {e.target_image or "an unknown image" for e in mine if e.target_image != change.to_image}
    )
    mine = [e for e in mine if e.target_image == change.to_image]
    on_target = [e for e in mine if _major(e.server_version) == wanted]
    passed = [e for e in on_target if _rehearsed(e, major)]
    found = max(passed, key=lambda e: e.finished, default=None)
    if found is not None:
        ctx.rely(found)
        what = "rehearsal" if major else "restore on the target"
        ctx.need(rid, mid, cls, True, f"{what} {found.path} on {found.server_version}")
        return
    if on_target:
        last = max(on_target, key=lambda e: e.finished)
        failed = [name for name, result in last.steps if result not in ("pass", "skipped")]
        hint = f"rehearsal {last.path} of backup {backup.backup_id} did not pass" + (
            f" ({', '.join(failed)})" if failed else f" ({last.result})"
        )
    elif mine:
        ran = ", ".join(sorted({e.server_version or "an unknown version" for e in mine}))
        hint = f"rehearsals of backup {backup.backup_id} ran on {ran}, not major {wanted}"
    elif others:
        hint = (
            f"backup {backup.backup_id} was rehearsed on {', '.join(others)}, "
            f"not on {change.to_image}"
        )
    else:
        hint = f"no rehearsal of backup {backup.backup_id} on major {wanted}"
    ctx.need(rid, mid, cls, False, f"{hint}: {APPLY_TEXT[A.REHEARSAL]}")


def _rehearsed_rollback(ctx: _Ctx, mid: str, image: str | None) -> EvidenceFact | None:
    """The newest rehearsal of the module's latest backup, on the image the change runs,
    that found rollback needs a restore (None: none did, or nothing was rehearsed)."""
    backup = ctx.backup_of(mid)
    found = [
        e
        for e in ctx.facts.evidence
        if e.kind == "rehearsal"
        and e.module == mid
        and backup is not None
        and e.backup_id == backup.backup_id
        and e.target_image == image
        and e.rollback == "restore-backup"
    ]
    return max(found, key=lambda e: e.finished, default=None)


def _rehearsed(fact: EvidenceFact, major: bool) -> bool:
    """Major: the whole rehearsal passed (a pg_upgrade --check that fails only with the
    target's default initdb is a finding, not a failure). Minor: its restore on the target
    passed with the content verified."""
    if major:
        return fact.result == "pass" and fact.fingerprint_match is True
    return ("restore-on-target", "pass") in fact.steps and fact.fingerprint_match is True


def _with_classes(module: Module, classes: list[UpgradeClass]) -> Module:
    return replace(module, classes=list(classes))


def _check(
    ctx: _Ctx,
    req: ApplyRequirement,
    cls: str,
    change: ModuleChange,
    module: Module,
    entry: PacketModule | None,
    stateful_in_batch: list[Module],
) -> None:
    pr, facts = ctx.pr, ctx.facts
    fresh = pr.policy.freshness
    mid = change.module
    deployed = _digest(change.from_image)
    rid = f"apply/{req.value}"
    if req is A.BACKUP or req is A.PARENT_BACKUP:
        target = mid if req is A.BACKUP else module.parent
        backup = _backup(ctx, target, deployed if req is A.BACKUP else None, rid, cls, mid)
        if backup is not None and req is A.BACKUP:
            ctx.rely(backup)
            _version_match(ctx, backup, change.from_image, mid)
        return
    if req is A.RESTORE_DRILL:
        backup = ctx.backup_of(mid)
        passing: list[EvidenceFact] = []
        if backup is not None:
            passing = [
                e
                for e in facts.evidence
                if e.kind == "restore-drill"
                and e.module == mid
                and e.result == "pass"
                and e.backup_id == backup.backup_id
                and e.fingerprint_match is True
            ]
        running = _major(backup.server_version) if backup is not None else None
        # a drill proves a restore only on the major that runs
        on_running = [e for e in passing if running and _major(e.server_version) == running]
        drill = max(on_running, key=lambda e: e.finished, default=None)
        if drill is not None:
            ctx.rely(drill)
            where = f" on {drill.engine} {drill.server_version or ''}".rstrip()
            ctx.need(
                rid,
                mid,
                cls,
                True,
                f"restore drill {drill.path} of backup {backup and backup.backup_id}{where}",
            )
        elif passing and backup is not None:
            other = max(passing, key=lambda e: e.finished)
            needed = f"major {running}" if running else "a known version"
            ctx.need(
                rid,
                mid,
                cls,
                False,
                f"restore drill {other.path} ran on {other.server_version or 'an unknown version'}, "
                f"but {mid} runs {backup.server_version or 'an unrecorded version'}: a drill "
                f"counts only on the running major ({needed}); {APPLY_TEXT[req]}",
            )
        else:
            which = backup.backup_id if backup else "the latest backup"
            ctx.need(rid, mid, cls, False, f"a passed restore drill of {which}: {APPLY_TEXT[req]}")
        return
    if req is A.REHEARSAL:
        _rehearsal(ctx, change, cls, rid)
        return
    if req is A.ROLLBACK_PATH:
        major = change.semver == "major"
        rollback = entry.rollback if entry else None
        ok = rollback is not None and (not major or rollback.needs_restore)
        hint = APPLY_TEXT[req]
        if rollback is not None and major and not rollback.needs_restore:
            hint = "a major upgrade changes the data format: the rollback path must say it needs a restore (rollback.needs_restore: true)"
        found = _rehearsed_rollback(ctx, mid, change.to_image)
        if ok and rollback is not None and found is not None and not rollback.needs_restore:
            # the rehearsal observed the way back: a re-pin it found impossible is no path
            ok = False
            hint = (
                f"rehearsal {found.path} found that rolling back needs a restore of backup "
                f"{found.backup_id}, but the packet's rollback path re-pins the previous image "
                "(rollback.needs_restore: false)"
            )
        ctx.need(rid, mid, cls, ok, hint)
        return
    if req in (A.SMOKE_BASELINE, A.PARENT_SMOKE, A.EXTERNAL_SMOKE):
        target = module.parent if req is A.PARENT_SMOKE else mid
        smokes = [
            e
            for e in facts.evidence
            if e.kind == "smoke"
            and e.module == target
            and e.result == "pass"
            and e.target == "source"
            and _age_ok(e, facts.now, fresh.backup_max_age_hours)
            and (req is not A.EXTERNAL_SMOKE or "http" in e.check_kinds)
        ]
        smoke = max(smokes, key=lambda e: e.finished, default=None)
        if smoke is None:
            ctx.need(rid, mid, cls, False, f"{APPLY_TEXT[req]} ({target})")
        elif target == mid and not _drift(ctx, smoke, deployed, mid):
            # evidence of another image never counts, even where the policy has no drift stop
            ctx.need(rid, mid, cls, False, f"{_drifted(smoke, deployed, mid)}: {APPLY_TEXT[req]}")
        else:
            ctx.rely(smoke)
            ctx.need(rid, mid, cls, True, f"smoke {smoke.path}")
        return
    if req is A.DR_DRILL:
        triggers = _dr_triggers(ctx, change, module, stateful_in_batch)
        if not triggers:
            return
        dr = facts.latest("dr-drill", None)
        ok = (
            dr is not None
            and _age_ok(dr, facts.now, fresh.dr_drill_max_age_days * 24)
            and mid in dr.covers
        )
        if ok and dr is not None:
            ctx.rely(dr)
        why = ", ".join(t.value for t in triggers)
        ctx.need(
            rid,
            mid,
            cls,
            ok,
            f"DR drill {dr.path}"
            if ok and dr
            else f"mandatory ({why}): {APPLY_TEXT[req]}, restoring {mid} within {fresh.dr_drill_max_age_days:g} days",
        )
        return
    if req is A.IDEMPOTENCY:
        rerun = [
            e
            for e in facts.evidence
            if e.kind == "smoke"
            and e.module == mid
            and e.result == "pass"
            and e.target == "sandbox"
        ]
        fact = max(rerun, key=lambda e: e.finished, default=None)
        if fact is not None:
            ctx.rely(fact)
        ctx.need(
            rid,
            mid,
            cls,
            fact is not None,
            APPLY_TEXT[req] + " (a passing sandbox smoke of the job's contract after a re-run)",
        )
        return
    if req is A.SECRET_REFS:
        before = pr.base.modules.get(change.renamed_from or mid)
        after = pr.head.modules.get(mid)
        same = (
            before is not None and after is not None and _secret_refs(before) == _secret_refs(after)
        )
        rotation = bool(entry and entry.rotation_plan)
        ctx.need(
            rid,
            mid,
            cls,
            same or rotation,
            "secret references unchanged" if same else APPLY_TEXT[req],
        )
        return
    if req is A.EXPOSURE_DIFF:
        before = pr.base.modules.get(change.renamed_from or mid)
        after = pr.head.modules.get(mid)
        added, removed = _exposure_diff(before, after)
        summary = (
            f"exposure diff: added {sorted(added) or 'none'}, removed {sorted(removed) or 'none'}"
        )
        ctx.need(rid, mid, cls, True, summary)
        return


def _backup(
    ctx: _Ctx,
    target: str | None,
    deployed: str | None,
    rid: str,
    cls: str,
    mid: str,
) -> EvidenceFact | None:
    facts, fresh = ctx.facts, ctx.pr.policy.freshness
    latest = facts.latest("backup", target) if target else None
    backup = ctx.backup_of(target) if target else None
    if latest is not None and target is not None and backup is None:
        elsewhere = _not_production(ctx, latest, target)
        ctx.need(
            rid,
            mid,
            cls,
            False,
            f"backup {latest.backup_id} {elsewhere}: {APPLY_TEXT[A.BACKUP]}",
        )
        return None
    if backup is None:
        ctx.need(rid, mid, cls, False, f"{APPLY_TEXT[A.BACKUP]} ({target})")
        return None
    if not _age_ok(backup, facts.now, fresh.backup_max_age_hours):
        age = facts.now - backup.finished
        ctx.need(
            rid,
            mid,
            cls,
            False,
            f"backup {backup.backup_id} is {age.total_seconds() / 3600:.1f} h old, over the "
            f"{fresh.backup_max_age_hours:g} h window: {APPLY_TEXT[A.BACKUP]}",
        )
        return None
    if deployed is not None and not _drift(ctx, backup, deployed, mid):
        # evidence of another image never counts, even where the policy has no drift stop
        ctx.need(rid, mid, cls, False, f"{_drifted(backup, deployed, mid)}: {APPLY_TEXT[A.BACKUP]}")
        return None
    inside = _only_inside(ctx, backup, mid)
    if inside:
        ctx.need(
            rid,
            mid,
            cls,
            False,
            f"backup {backup.backup_id} is stored only in {', '.join(inside)}, inside "
            f"{mid} itself: {REFERENCE_RULE}",
        )
        return None
    ctx.need(rid, mid, cls, True, f"backup {backup.path} ({backup.backup_id})")
    return backup


def _not_production(ctx: _Ctx, backup: EvidenceFact, target: str) -> str | None:
    """Why ``backup`` is not of ``target``'s production server (None: it is): taken of a
    replica, at another address than the policy configures, or of a cluster whose
    identifier is not the one the policy pins."""
    if backup.role == "replica":
        return f"was taken of a replica ({backup.address}), not of production's primary"
    module = ctx.pr.policy.modules.get(target)
    config = module.evidence if module is not None else None
    if config is None:
        return None
    configured = production_address(config)
    if configured is not None and backup.address is not None and backup.address != configured:
        return (
            f"was taken of {backup.address}, but the policy names {configured} as "
            f"{target}'s production"
        )
    pinned = getattr(config, "system_identifier", None)
    if pinned is not None:
        found = dict(backup.server_ids).get("system_identifier")
        if found != pinned:
            return (
                f"was taken of a cluster whose system identifier is {found or 'unknown'}, "
                f"not {pinned}, the one the policy names for {target}"
            )
    return None


def _only_inside(ctx: _Ctx, backup: EvidenceFact, mid: str) -> list[str]:
    """The repositories holding a backup of module ``mid`` when every one of them lives
    in ``mid`` itself (the backup reference module's own backup, typically): a backup
    that goes down with the module it protects does not count. Empty: it has a copy
    elsewhere."""
    homes = ctx.pr.policy.repository_homes()
    inside = [name for name in backup.copies if homes.get(name) == mid]
    return inside if inside and len(inside) == len(backup.copies) else []


def _version_match(ctx: _Ctx, backup: EvidenceFact, image: str | None, mid: str) -> None:
    """The major the compose image names must be the major the server reports: a
    ``postgres:18`` tag over a server still on 17 means the evidence and the upgrade
    are about different things."""
    version = tag_version(parse_image(image).tag) if image else None
    running = _major(backup.server_version)
    if version is None or running is None:
        return
    ok = str(version.major) == running
    hint = (
        f"{image} names major {version.major} and the server reports {backup.server_version}"
        if ok
        else f"{image} names major {version.major}, but the server reports "
        f"{backup.server_version} ({backup.path}): make the compose file say what runs, "
        "or find out what runs, before an apply"
    )
    ctx.need("apply/version-match", mid, None, ok, hint)


def _drift(ctx: _Ctx, fact: EvidenceFact, deployed: str | None, mid: str) -> bool:
    """Evidence bound to a digest other than the deployed one is a stop (drift).
    False: the evidence is of another image (the caller must not count it)."""
    if deployed is None:
        return True
    if fact.image_digest != deployed:
        if StopCondition.DIGEST_DRIFT in ctx.pr.policy.stops:
            ctx.stops.append(
                Stop(
                    StopCondition.DIGEST_DRIFT,
                    _drifted(fact, deployed, mid),
                    module=mid,
                    file=fact.path,
                )
            )
        return False
    return True


def _drifted(fact: EvidenceFact, deployed: str | None, mid: str) -> str:
    taken = fact.image_digest or "an unpinned image"
    return f"{fact.path} was taken of {taken}, but {mid} runs {deployed}"


def _dr_triggers(
    ctx: _Ctx, change: ModuleChange, module: Module, stateful_in_batch: list[Module]
) -> list[DrTrigger]:
    policy, facts = ctx.pr.policy, ctx.facts
    active = set(policy.dr_drill.triggers())
    found: list[DrTrigger] = []
    if DrTrigger.CORE in active and module.tier == "core":
        found.append(DrTrigger.CORE)
    if DrTrigger.BROAD in active and len(stateful_in_batch) >= 2:
        found.append(DrTrigger.BROAD)
    if DrTrigger.MAJOR in active and change.semver == "major" and module.has(C.STATEFUL):
        found.append(DrTrigger.MAJOR)
    if DrTrigger.BACKUP_REFERENCE in active and any(
        m.backup_reference for m in [module, *stateful_in_batch]
    ):
        found.append(DrTrigger.BACKUP_REFERENCE)
    if DrTrigger.STALE in active:
        last = facts.latest("dr-drill", None)
        if last is None or not _age_ok(
            last, facts.now, policy.freshness.dr_drill_max_age_days * 24
        ):
            found.append(DrTrigger.STALE)
    return found


def _secret_refs(module: Module) -> tuple[object, ...]:
    svc = module.service
    refs: list[object] = [("secret", r.name, r.detail) for r in svc.secrets]
    refs += [("env_file", r.name) for r in svc.env_files]
    refs += [
        ("file", k, s.value)
        for k, s in svc.environment.items()
        if k.upper().endswith("_FILE") and (s.value or "").startswith("/run/secrets")
    ]
    return tuple(sorted(map(str, refs)))


def _exposure(module: Module | None) -> set[str]:
    if module is None:
        return set()
    svc = module.service
    out = {
        f"port {p.host_ip or '*'}:{p.host_port}->{p.target}/{p.protocol}"
        for p in svc.ports
        if p.is_published and not p.is_loopback
    }
    out |= {f"label {k}={s.value}" for k, s in svc.labels.items() if k.endswith(".rule")}
    return out


def _exposure_diff(before: Module | None, after: Module | None) -> tuple[set[str], set[str]]:
    a, b = _exposure(before), _exposure(after)
    return b - a, a - b
