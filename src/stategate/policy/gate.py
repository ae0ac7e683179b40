"""The merge-stage gate: requirements, stop conditions and the verdict (pure).

Takes what a pull request changes and returns a :class:`Verdict`; every unmet
requirement says what would satisfy it, every stop says why it escalates.
"""

from __future__ import annotations

import enum
import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass, field

from stategate.diff.changes import ModuleChange
from stategate.diff.scan import Finding
from stategate.git import ChangedPath
from stategate.image import parse_image
from stategate.packet import LoadedPacket, PacketModule
from stategate.policy.classify import Inventory, Module
from stategate.policy.load import POLICY_FILE, Relaxation
from stategate.policy.requirements import apply_requirements, is_manual, labels_for
from stategate.policy.schema import MergeRequirement, Policy, StopCondition, UpgradeClass
from stategate.policy.text import MERGE_TEXT, STOP_TEXT
from stategate.policy.trust_inputs import TrustChange

C = UpgradeClass
M = MergeRequirement


class VerdictKind(enum.StrEnum):
    PASS = "pass"
    BLOCKED = "blocked"
    READY = "ready_for_operator"
    APPROVED = "approved"
    STOP = "stop"


@dataclass(frozen=True)
class Requirement:
    id: str
    module: str | None
    cls: str | None
    status: str  # met | missing
    hint: str
    # Where the requirement points (SARIF locations); not part of its identity.
    file: str | None = field(default=None, compare=False)
    line: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Stop:
    condition: StopCondition
    message: str
    module: str | None = None
    file: str | None = None
    line: int | None = None


@dataclass
class Verdict:
    verdict: VerdictKind
    stage: str
    changes: list[ModuleChange]
    requirements: list[Requirement]
    stops: list[Stop]
    findings: list[Finding]
    labels: list[str]
    touched_paths: list[str]
    packets: list[str] = field(default_factory=list)
    relied_evidence: list[str] = field(default_factory=list)  # apply stage
    # Where findings without a file of their own point: the policy in force, and the
    # packet file that declares each module (SARIF needs a location for every result).
    policy_file: str = POLICY_FILE
    packet_files: dict[str, str] = field(default_factory=dict)

    @property
    def missing(self) -> list[Requirement]:
        return [r for r in self.requirements if r.status != "met"]


@dataclass
class PullRequest:
    policy: Policy  # the policy in force on the base side
    base: Inventory
    head: Inventory
    changes: list[ModuleChange]
    touched: list[ChangedPath]
    packets: list[LoadedPacket]
    merged_packet_ids: set[str]
    head_relaxations: list[Relaxation] = field(default_factory=list)
    secret_findings: list[Finding] = field(default_factory=list)
    doc_findings: list[Finding] = field(default_factory=list)
    trust_changes: list[TrustChange] = field(default_factory=list)
    hazard_findings: list[Finding] = field(default_factory=list)  # known image hazards
    policy_file: str = POLICY_FILE  # the base's policy file (the default's name if absent)


def matches(path: str, patterns: Sequence[str]) -> bool:
    return any(
        fnmatch.fnmatchcase(path, p) or (path.startswith(p.rstrip("/") + "/") and p.endswith("/"))
        for p in patterns
    )


def module_of(pr: PullRequest, change: ModuleChange) -> Module | None:
    return pr.head.modules.get(change.module) or pr.base.modules.get(change.module)


def classes_of(pr: PullRequest, change: ModuleChange) -> list[UpgradeClass]:
    """Base and head classes together: an upgrade is judged by the stricter side."""
    found: list[UpgradeClass] = []
    for side in (pr.base, pr.head):
        for key in (change.module, change.renamed_from):
            if key and key in side.modules:
                found.extend(c for c in side.modules[key].classes if c not in found)
    if len(found) > 1 and C.STATELESS in found:
        found.remove(C.STATELESS)
    return found or [C.STATELESS]


def declared_entry(pr: PullRequest, change: ModuleChange) -> PacketModule | None:
    for loaded in pr.packets:
        for key in (change.module, change.renamed_from):
            if key and (entry := loaded.packet.module(key)) is not None:
                return entry
    return None


@dataclass
class _StopSink:
    """Collects stops, dropping conditions the policy does not enable."""

    stops: list[Stop]
    enabled: set[StopCondition]

    def __call__(
        self,
        cond: StopCondition,
        message: str,
        *,
        module: str | None = None,
        file: str | None = None,
        line: int | None = None,
    ) -> None:
        if cond in self.enabled:
            self.stops.append(Stop(cond, message, module, file, line))


def evaluate_merge(pr: PullRequest) -> Verdict:
    policy = pr.policy
    stops: list[Stop] = []
    reqs: list[Requirement] = []
    touched = sorted({c.path for c in pr.touched} | {c.old_path for c in pr.touched if c.old_path})
    stop = _StopSink(stops, set(policy.stops))

    forbidden = list(policy.forbidden_paths)
    for loaded in pr.packets:
        forbidden.extend(loaded.packet.forbidden_paths)
    for path in touched:
        if matches(path, forbidden):
            stop(StopCondition.FORBIDDEN_PATH, f"touches forbidden path {path}", file=path)
    if pr.packets:
        allowed = [p for loaded in pr.packets for p in loaded.packet.allowed_paths]
        allowed += [loaded.path for loaded in pr.packets]
        # Evidence records are what the tool itself writes for the packet; not runtime state.
        allowed.append(policy.evidence.dir.rstrip("/") + "/*")
        for path in touched:
            if not matches(path, allowed) and not matches(path, forbidden):
                stop(
                    StopCondition.OUT_OF_SCOPE_PATH,
                    f"touches {path}, outside the packet's allowed paths",
                    file=path,
                )
    for trust_change in pr.trust_changes:  # always on: no policy can turn it off
        stops.append(
            Stop(
                StopCondition.TRUST_ROOT_CHANGE,
                trust_change.message,
                file=trust_change.file,
                line=trust_change.line,
            )
        )
    for relaxation in pr.head_relaxations:
        stop(
            StopCondition.POLICY_RELAXATION,
            relaxation.message,
            file=relaxation.loc.file,
            line=relaxation.loc.line,
        )
    for finding in pr.secret_findings:
        stop(StopCondition.SECRET_VALUE, finding.message, file=finding.file, line=finding.line)
    for loaded in pr.packets:
        for dep in loaded.packet.after:
            ok = dep in pr.merged_packet_ids
            reqs.append(
                Requirement(
                    "merge/after",
                    None,
                    None,
                    "met" if ok else "missing",
                    f"packet {dep} is merged before {loaded.packet.id}",
                    file=loaded.path,
                )
            )
    for finding in pr.doc_findings:
        reqs.append(
            Requirement(
                "repo/docs-operator-gated",
                None,
                None,
                "missing",
                f"{finding.file}:{finding.line}: put runtime instructions inside an "
                f"operator-gated block ({policy.docs.gate_marker}) or describe the evidence instead",
                file=finding.file,
                line=finding.line,
            )
        )
    changed_ids = {c.module for c in pr.changes} | {
        c.renamed_from for c in pr.changes if c.renamed_from
    }
    # One declaration per module: a second one could point the diff somewhere the approved
    # packet does not say, while the approval still matches the packet it signed.
    declared: dict[str, list[str]] = {}
    for loaded in pr.packets:
        for entry in loaded.packet.modules:
            declared.setdefault(entry.module, []).append(loaded.packet.id)
    for module_id, packet_ids in sorted(declared.items()):
        if len(packet_ids) > 1:
            stop(
                StopCondition.UNDECLARED_CHANGE,
                f"{module_id} is declared more than once ({', '.join(packet_ids)}): one packet "
                "entry per module, so what is approved is what is applied",
                module=module_id,
            )
    for loaded in pr.packets:
        for entry in loaded.packet.modules:
            if entry.module not in changed_ids:
                reqs.append(
                    Requirement(
                        "merge/packet",
                        entry.module,
                        None,
                        "missing",
                        f"packet {loaded.packet.id} declares {entry.module}, which the diff does "
                        "not change: the packet must match the diff exactly",
                        file=loaded.path,
                    )
                )
    for change in pr.changes:
        reqs.extend(_change_requirements(pr, change, stop))
    _backup_reference_batch(pr, stop)

    modules = [m for c in pr.changes if (m := module_of(pr, c)) is not None]
    labels = set(labels_for(modules, policy)) if modules else set()
    if stops:
        labels.discard("merge/auto")
        conds = {s.condition for s in stops}
        if conds & {StopCondition.UNDECLARED_CHANGE, StopCondition.OUT_OF_SCOPE_PATH}:
            labels.add("merge/manual-unclear-scope")
        if conds & {StopCondition.FORBIDDEN_PATH, StopCondition.BACKUP_REFERENCE_BATCH}:
            labels.add("merge/manual-red-zone")
        if conds & {StopCondition.SECRET_VALUE, StopCondition.POLICY_RELAXATION}:
            labels.update({"merge/manual-security-sensitive", "class/security-sensitive"})
        labels.add("risk/process")
    missing = [r for r in reqs if r.status != "met"]
    if stops:
        kind = VerdictKind.STOP
    elif missing:
        kind = VerdictKind.BLOCKED
        labels.discard("merge/auto")
    elif any(is_manual(m, policy) or apply_requirements(m, policy, pr.head) for m in modules):
        kind = VerdictKind.READY
    else:
        kind = VerdictKind.PASS
    if not pr.changes and not stops and not missing:
        labels.add("merge/auto")
    return Verdict(
        verdict=kind,
        stage="merge",
        changes=pr.changes,
        requirements=reqs,
        stops=stops,
        findings=[*pr.secret_findings, *pr.doc_findings, *pr.hazard_findings],
        labels=sorted(labels),
        touched_paths=touched,
        packets=[loaded.packet.id for loaded in pr.packets],
        policy_file=pr.policy_file,
        packet_files={
            entry.module: loaded.path
            for loaded in reversed(pr.packets)  # the first declaration wins
            for entry in loaded.packet.modules
        },
    )


def _change_requirements(
    pr: PullRequest, change: ModuleChange, stop: _StopSink
) -> list[Requirement]:
    policy = pr.policy
    classes = classes_of(pr, change)
    entry = declared_entry(pr, change)
    reqs: list[Requirement] = []
    if pr.packets and entry is None:
        stop(
            StopCondition.UNDECLARED_CHANGE,
            f"{change.module} changes ({change.kind.value}) but no packet declares it",
            module=change.module,
            file=change.file,
            line=change.line,
        )
    # every image the change makes run counts: a workload's other containers too
    floating = [i for i in change.targets if not i or not parse_image(i).is_digest_pinned]
    pinned = change.to_image is not None and not floating
    if floating and (C.STATEFUL in classes or C.SIDECAR_BOUND in classes):
        target = floating[0] or "(empty: a variable the repo does not set)"
        stop(
            StopCondition.FLOATING_TAG,
            f"{change.module} target image {target} is not pinned by digest",
            module=change.module,
            file=change.file,
            line=change.line,
        )
    majors = [(change.from_image, change.to_image)] if change.semver == "major" else []
    majors += [(m.from_image, m.to_image) for m in change.other_images if m.semver == "major"]
    major = bool(majors)
    if major and C.STATEFUL in classes and not (entry and entry.migration_note):
        before, after = majors[0]
        stop(
            StopCondition.MAJOR_WITHOUT_MIGRATION_NOTE,
            f"{change.module} changes major version ({before} -> {after}) with no migration note",
            module=change.module,
            file=change.file,
            line=change.line,
        )
    seen: set[MergeRequirement] = set()
    for cls in classes:
        for req in policy.rule(cls).merge:
            if req in seen:
                continue
            seen.add(req)
            status, hint = _check(req, change, entry, pr, pinned, major)
            if status is None:
                continue
            reqs.append(Requirement(f"merge/{req.value}", change.module, cls.value, status, hint))
    return reqs


def _check(
    req: MergeRequirement,
    change: ModuleChange,
    entry: PacketModule | None,
    pr: PullRequest,
    pinned: bool,
    major: bool,
) -> tuple[str | None, str]:
    text = MERGE_TEXT[req]
    if req is M.PACKET:
        if entry is None:
            return "missing", f"add packets/<id>.yaml declaring {change.module}: {text}"
        wrong = []
        if entry.from_ != change.from_image:
            wrong.append(f"from {entry.from_!r} but the base has {change.from_image!r}")
        if entry.to != change.to_image:
            wrong.append(f"to {entry.to!r} but the head has {change.to_image!r}")
        if wrong:
            return "missing", f"the packet entry for {change.module} says " + "; ".join(wrong)
        return "met", text
    if req is M.DIGEST_PINNED:
        if change.to_image is None:
            return None, text
        return ("met" if pinned else "missing"), text
    if req is M.ROLLBACK_PATH:
        return ("met" if entry and entry.rollback else "missing"), text
    if req is M.SMOKE_CONTRACT:
        has = bool(entry and entry.smoke) or bool(pr.policy.module(change.module).smoke)
        return ("met" if has else "missing"), text
    if req is M.MIGRATION_NOTE:
        if not major:
            return None, text
        return ("met" if entry and entry.migration_note else "missing"), text
    # MANUAL_MERGE: satisfied by the merge/manual-* label; a human merges.
    return "met", text


def _backup_reference_batch(pr: PullRequest, stop: _StopSink) -> None:
    refs = [c for c in pr.changes if (m := module_of(pr, c)) and m.backup_reference]
    if not refs:
        return
    ref_id = refs[0].module
    others = []
    for change in pr.changes:
        module = module_of(pr, change)
        if module is None or module.backup_reference or not module.has(C.STATEFUL):
            continue
        target = pr.policy.module(change.module).backups_in or ref_id
        if target == ref_id:
            others.append(change.module)
    if others:
        stop(
            StopCondition.BACKUP_REFERENCE_BATCH,
            f"{ref_id} (the backup reference module) is upgraded together with "
            f"{', '.join(others)}, whose backups live in it: {STOP_TEXT[StopCondition.BACKUP_REFERENCE_BATCH]}",
            module=ref_id,
        )
