"""Top-level networks, volumes, secrets and configs as compose prints them: only
those a service uses, each with its resolved ``name``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stategate.compose.canonical.paths import repo_path

Spec = dict[str, Any]


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def used_names(services: Mapping[str, Spec]) -> dict[str, set[str]]:
    """Which resources the services refer to (compose drops the others)."""
    used: dict[str, set[str]] = {s: set() for s in ("networks", "volumes", "secrets", "configs")}
    for spec in services.values():
        used["networks"].update(spec.get("networks") or {})
        for volume in spec.get("volumes") or []:
            if isinstance(volume, dict) and volume.get("type") == "volume" and volume.get("source"):
                used["volumes"].add(str(volume["source"]))
        for section in ("secrets", "configs"):
            used[section].update(str(e.get("source")) for e in spec.get(section) or [])
        build = spec.get("build")
        if isinstance(build, dict):
            used["secrets"].update(str(e.get("source")) for e in build.get("secrets") or [])
    return used


def _named(key: str, spec: Spec, project: str) -> Spec:
    out = dict(spec)
    external = _truthy(out.pop("external", None))
    if out.get("name") in ("", None) and "name" in out:
        del out["name"]  # compose prints an empty name as none and fills nothing
    elif "name" not in out:
        out["name"] = key if external else f"{project}_{key}"
    if external:
        out["external"] = True
    return out


def _network(spec: Spec) -> Spec:
    out = dict(spec)
    out.setdefault("ipam", {})
    for key in ("enable_ipv6", "enable_ipv4", "internal", "attachable"):
        if key in out and isinstance(out[key], str):
            out[key] = _truthy(out[key])
    return out


def _file_backed(spec: Spec, base_dir: str) -> Spec:
    if isinstance(spec.get("file"), str):
        return {**spec, "file": repo_path(base_dir, spec["file"])}
    return spec


def canonical_section(
    section: str, values: Mapping[str, Any], used: set[str], project: str, base_dir: str
) -> dict[str, Spec]:
    out: dict[str, Spec] = {}
    for key in sorted(used):
        if key not in values:
            continue
        spec = _named(key, dict(values[key] or {}), project)
        if section == "networks":
            spec = _network(spec)
        elif section in ("secrets", "configs"):
            spec = _file_backed(spec, base_dir)
        out[key] = spec
    return out
