"""The inventory (``classify``) as the ``stategate.inventory/v1`` JSON contract or a table."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from stategate.compose.diagnostics import Warning
from stategate.policy.classify import Inventory, Module

INVENTORY_SCHEMA = "stategate.inventory/v1"


def module_json(module: Module) -> dict[str, Any]:
    svc = module.service
    return {
        "id": module.id,
        "service": svc.name,
        "file": svc.file,
        "image": svc.image,
        "classes": [c.value for c in module.classes],
        "reasons": [
            {"class": r.cls.value, "reason": r.reason, "file": r.loc.file, "line": r.loc.line}
            for r in module.reasons
        ],
        "tier": module.tier,
        "parent": module.parent,
        "dependents": list(module.dependents),
    }


def inventory_json(inventory: Inventory, warnings: list[Warning]) -> dict[str, Any]:
    return {
        "schema": INVENTORY_SCHEMA,
        "modules": [module_json(m) for m in inventory.modules.values()],
        "warnings": [str(w) for w in warnings],
    }


def inventory_table(inventory: Inventory) -> Table:
    table = Table(title="stategate inventory", show_lines=True)
    table.add_column("module", style="bold", no_wrap=True)
    table.add_column("classes")
    table.add_column("tier", no_wrap=True)
    table.add_column("why (file:line)", overflow="fold")
    for module in inventory.modules.values():
        classes = ", ".join(c.value for c in module.classes)
        if module.parent:
            classes += f"\n(parent {module.parent})"
        if module.backup_reference:
            classes += "\n(backup reference)"
        tier = module.tier
        if module.dependents:
            tier += f"\n{len(module.dependents)} dependents"
        first: dict[str, str] = {}
        for r in module.reasons:  # the first reason per class; --format json has them all
            first.setdefault(r.cls.value, f"{r.cls.value}: {r.reason} ({r.loc})")
        why = "\n".join(first.values())
        table.add_row(module.id, classes, tier, why or "-")
    return table
