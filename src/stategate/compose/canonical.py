"""The resolved compose model in the canonical shape ``docker compose config`` prints."""

from __future__ import annotations

from typing import Any

from stategate.compose.load import Project
from stategate.yamlfile import to_plain

_SERVICE_ORDER_FIRST = ("image", "build", "command", "entrypoint")


def canonical_project(project: Project) -> dict[str, Any]:
    services: dict[str, Any] = {}
    for name in sorted(project.services):
        spec = to_plain(project.services[name].spec)
        spec.pop("extends", None)
        if "networks" not in spec and "network_mode" not in spec:
            spec["networks"] = {"default": None}
        services[name] = dict(sorted(spec.items()))
    out: dict[str, Any] = {"name": project.name, "services": services}
    for section in ("networks", "volumes", "secrets", "configs"):
        values = project.sections.get(section)
        if values:
            out[section] = dict(sorted(to_plain(values).items()))
    if any("default" in (svc.get("networks") or {}) for svc in services.values()):
        out.setdefault("networks", {}).setdefault("default", {"name": f"{project.name}_default"})
    return out
