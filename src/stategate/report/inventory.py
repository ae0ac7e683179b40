"""The inventory (``classify``) as the ``stategate.inventory/v1`` JSON contract or a table."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stategate.compose.diagnostics import Warning
from stategate.policy.classify import Inventory, Module, Reason

if TYPE_CHECKING:  # rich is imported by the table output alone (start-up of --format json)
    from rich.table import Table

INVENTORY_SCHEMA = "stategate.inventory/v1"
EXPLAIN_SCHEMA = "stategate.explain/v1"


def module_json(module: Module) -> dict[str, Any]:
    svc = module.service
    return {
        "id": module.id,
        "service": svc.name,
        "file": svc.file,
        "image": svc.image,
        "classes": [c.value for c in module.classes],
        "reasons": [_reason_json(r) for r in module.reasons],
        "tier": module.tier,
        "parent": module.parent,
        "dependents": list(module.dependents),
    }


def _reason_json(r: Reason) -> dict[str, Any]:
    return {
        "class": r.cls.value,
        "reason": r.reason,
        "file": r.loc.file,
        "line": r.loc.line,
        "confidence": r.confidence,
    }


def explain_json(module: Module) -> dict[str, Any]:
    """Every rule that counted for ``module`` and every one that looked and did not."""
    return {
        "schema": EXPLAIN_SCHEMA,
        "module": module_json(module),
        "near_misses": [
            {
                "class": n.cls.value,
                "rule": n.rule,
                "why": n.why,
                "file": n.loc.file,
                "line": n.loc.line,
            }
            for n in module.near_misses
        ],
    }


def explain_lines(module: Module) -> list[str]:
    """``classify --explain``: the module, then what counted and what nearly did."""
    svc = module.service
    lines = [
        f"module {module.id} ({svc.file}:{svc.loc.line})",
        f"  image: {svc.image or svc.effective_image or '-'}",
        f"  classes: {', '.join(c.value for c in module.classes)}",
        f"  tier: {module.tier}; parent: {module.parent or '-'}; "
        f"dependents: {', '.join(module.dependents) or '-'}",
        "",
        "counted:",
    ]
    for r in module.reasons:
        note = ""
        if r.confidence == "likely":
            note = (
                "  [likely: confirm with `parent:` or reject with `classes: {remove: "
                f"[{r.cls.value}]}}` under modules.{module.id} in stategate.yaml]"
            )
        lines.append(f"  {r.cls.value:<15} {r.loc}  {r.reason}{note}")
    lines.append("")
    lines.append("did not count:" if module.near_misses else "did not count: nothing came close")
    for n in module.near_misses:
        lines.append(f"  {n.cls.value:<15} {n.loc}  {n.rule}: {n.why}")
    return lines


def inventory_json(inventory: Inventory, warnings: list[Warning]) -> dict[str, Any]:
    return {
        "schema": INVENTORY_SCHEMA,
        "modules": [module_json(m) for m in inventory.modules.values()],
        "warnings": [str(w) for w in warnings],
    }


def inventory_table(inventory: Inventory) -> Table:
    """One row per module; each class with the file:line of its first reason
    (``--format json`` carries every reason in full)."""
    from rich.table import Table

    table = Table(title="stategate inventory")
    table.add_column("module", style="bold", no_wrap=True)
    table.add_column("classes (why: file:line)", overflow="fold")
    table.add_column("tier", no_wrap=True)
    table.add_column("parent / dependents", overflow="fold")
    for module in inventory.modules.values():
        first: dict[str, str] = {}
        for r in module.reasons:
            first.setdefault(r.cls.value, f"{r.cls.value} ({r.loc})")
        classes = "\n".join(first.values())
        if module.backup_reference:
            classes += "\nbackup reference (policy)"
        related = f"parent {module.parent}" if module.parent else ""
        if module.dependents:
            related += ("\n" if related else "") + f"{len(module.dependents)} dependents"
        table.add_row(module.id, classes, module.tier, related or "-")
    return table


UNSET_TODO = "set it in the policy's compose.env_file (or .env) or pass --env NAME=VALUE"
OTHER_TODO = "stategate read it as docker compose would; fix the file if that is not what you meant"


def warning_summary(warnings: list[Warning]) -> list[tuple[str, str]]:
    """Warnings for a terminal, each with what to do about it: unset variables grouped
    by name, the rest as they are."""
    unset: dict[str, list[str]] = {}
    other: list[str] = []
    for w in warnings:
        name = _unset_name(w.message)
        if name:
            unset.setdefault(name, []).append(str(w.loc))
        else:
            other.append(str(w))
    lines = [
        (
            f"{name} is not set in the repo (substituted an empty string; {len(locs)} use(s), "
            f"first {locs[0]})",
            UNSET_TODO,
        )
        for name, locs in sorted(unset.items())
    ]
    return lines + [(line, OTHER_TODO) for line in other]


def warning_todo(warning: Warning) -> str:
    """What to do about one compose warning."""
    return UNSET_TODO if _unset_name(warning.message) else OTHER_TODO


def _unset_name(message: str) -> str | None:
    for prefix in ("variable ", "required variable "):
        if message.startswith(prefix) and " is not set" in message:
            return message[len(prefix) :].split(" ", 1)[0]
    return None
