"""What a module needs at each stage, and which labels it earns (pure)."""

from __future__ import annotations

from stategate.policy.classify import Inventory, Module
from stategate.policy.schema import (
    ApplyRequirement,
    DrTrigger,
    MergeRequirement,
    Policy,
    UpgradeClass,
)


def merge_requirements(
    module: Module, policy: Policy
) -> dict[MergeRequirement, list[UpgradeClass]]:
    """Each merge requirement with the classes that impose it."""
    out: dict[MergeRequirement, list[UpgradeClass]] = {}
    for cls in module.classes:
        for req in policy.rule(cls).merge:
            out.setdefault(req, []).append(cls)
    return out


def apply_requirements(
    module: Module, policy: Policy, inventory: Inventory
) -> dict[ApplyRequirement, list[UpgradeClass]]:
    """Each apply requirement with the classes that impose it.

    A sidecar-bound module needs operator approval for its own sake only when its
    parent is stateful (PRODUCT.md); other classes may still require it.
    """
    out: dict[ApplyRequirement, list[UpgradeClass]] = {}
    parent = inventory.modules.get(module.parent) if module.parent else None
    for cls in module.classes:
        for req in policy.rule(cls).apply:
            if (
                cls is UpgradeClass.SIDECAR_BOUND
                and req is ApplyRequirement.OPERATOR_APPROVAL
                and not (parent and parent.has(UpgradeClass.STATEFUL))
            ):
                continue
            out.setdefault(req, []).append(cls)
    return out


def is_manual(module: Module, policy: Policy) -> bool:
    return any(policy.rule(c).always_manual for c in module.classes)


def labels_for(modules: list[Module], policy: Policy) -> list[str]:
    """Seed-taxonomy labels for a batch: merge/auto only when no class forbids it."""
    labels: set[str] = set()
    manual = False
    for module in modules:
        for cls in module.classes:
            rule = policy.rule(cls)
            labels.update(rule.labels)
            if rule.always_manual:
                manual = True
                labels.add(f"merge/manual-{rule.manual_reason or 'unknown'}")
    if not manual and modules:
        labels.add("merge/auto")
    return sorted(labels)


def static_dr_triggers(module: Module, policy: Policy) -> list[DrTrigger]:
    """DR triggers known from the module alone (core, backup reference)."""
    active = set(policy.dr_drill.triggers())
    found: list[DrTrigger] = []
    if not module.has(UpgradeClass.STATEFUL) and not module.backup_reference:
        return found
    if DrTrigger.CORE in active and module.tier == "core":
        found.append(DrTrigger.CORE)
    if DrTrigger.BACKUP_REFERENCE in active and module.backup_reference:
        found.append(DrTrigger.BACKUP_REFERENCE)
    return found
