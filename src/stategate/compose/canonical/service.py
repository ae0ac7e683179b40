"""One service in the shape ``docker compose config`` prints it.

Each rule takes the plain service mapping and returns a new one; they run in order.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from stategate.compose.canonical.paths import go_clean, repo_path
from stategate.compose.canonical.shell import ShellSplitError, shell_split
from stategate.compose.canonical.units import duration_text, ram_bytes
from stategate.compose.envfile import parse_env
from stategate.errors import InputError
from stategate.yamlfile import Loc

Spec = dict[str, Any]


@dataclass(frozen=True)
class ServiceContext:
    name: str
    base_dir: str  # repo-relative directory that relative paths are resolved against
    loc: Loc  # where the service is written, for errors
    read_text: Callable[[str], str | None] | None  # repo file -> text (None: absent)
    variables: Mapping[str, str] = field(default_factory=dict)  # the project's, for env files


Rule = Callable[[Spec, ServiceContext], Spec]

_BYTES = ("mem_limit", "memswap_limit", "mem_reservation", "shm_size")
_HEALTH_DURATIONS = ("interval", "timeout", "start_period", "start_interval")
_KEEP_EMPTY = frozenset({"command", "entrypoint", "scale", "attach", "init"})
# lists compose keeps one of each item of (checked with the binary)
_UNIQUE = ("cap_add", "cap_drop", "dns", "dns_search", "expose", "profiles", "secrets", "configs")


def _without_extensions(spec: Spec, ctx: ServiceContext) -> Spec:
    """``extends`` is applied and ``x-*`` keys of a service are not printed."""
    return {k: v for k, v in spec.items() if k != "extends" and not k.startswith("x-")}


def _command_words(value: Any, key: str, ctx: ServiceContext) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return shell_split(value)
    except ShellSplitError as exc:
        raise InputError(
            f"service {ctx.name!r}: {key}: {exc}", file=ctx.loc.file, line=ctx.loc.line
        ) from None


def _commands(spec: Spec, ctx: ServiceContext) -> Spec:
    """``command``/``entrypoint``: null when absent, a string split into words."""
    out = dict(spec)
    for key in ("command", "entrypoint"):
        out[key] = _command_words(spec.get(key), key, ctx)
    return out


def _healthcheck(spec: Spec, ctx: ServiceContext) -> Spec:
    check = spec.get("healthcheck")
    if not isinstance(check, dict):
        return spec
    check = dict(check)
    if isinstance(check.get("test"), str):
        check["test"] = ["CMD-SHELL", check["test"]]
    for key in _HEALTH_DURATIONS:
        if key in check:
            check[key] = duration_text(check[key])
    return {**spec, "healthcheck": check}


def _sizes_and_durations(spec: Spec, ctx: ServiceContext) -> Spec:
    out = dict(spec)
    for key in _BYTES:
        if key in out:
            out[key] = ram_bytes(out[key])
    if "stop_grace_period" in out:
        out["stop_grace_period"] = duration_text(out["stop_grace_period"])
    for key in ("cpus", "cpu_count", "cpu_percent"):
        if key in out:
            out[key] = _number(out[key])
    return out


def _volume(entry: Any, ctx: ServiceContext) -> Any:
    if not isinstance(entry, dict):
        return entry
    out = dict(entry)
    if isinstance(out.get("target"), str):
        out["target"] = go_clean(out["target"])
    if out.get("type") == "bind" and isinstance(out.get("source"), str):
        out["source"] = repo_path(ctx.base_dir, out["source"])
    return out


def _volumes(spec: Spec, ctx: ServiceContext) -> Spec:
    volumes = spec.get("volumes")
    if not isinstance(volumes, list):
        return spec
    return {**spec, "volumes": [_volume(v, ctx) for v in volumes]}


def _device(entry: Any) -> Any:
    """``/dev/a[:/dev/b[:rwm]]`` in long form."""
    if not isinstance(entry, str):
        return entry
    pieces = entry.split(":")
    source = pieces[0]
    target = pieces[1] if len(pieces) > 1 and pieces[1] else source
    permissions = pieces[2] if len(pieces) > 2 else "rwm"
    return {"source": source, "target": target, "permissions": permissions}


def _devices(spec: Spec, ctx: ServiceContext) -> Spec:
    devices = spec.get("devices")
    if not isinstance(devices, list):
        return spec
    return {**spec, "devices": [_device(d) for d in devices]}


def _number(value: Any) -> Any:
    """A float as Go's JSON prints it: ``1.0`` and ``"1.0"`` are ``1``, ``1.5`` stays."""
    number = value
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value
    if isinstance(number, float) and number.is_integer():
        return int(number)
    return number


def _resources(resources: Any) -> Any:
    if not isinstance(resources, dict):
        return resources
    out = dict(resources)
    for level in ("limits", "reservations"):
        spec = out.get(level)
        if isinstance(spec, dict):
            spec = dict(spec)
            if "cpus" in spec:
                spec["cpus"] = _number(spec["cpus"])
            if "memory" in spec:
                spec["memory"] = ram_bytes(spec["memory"])
            if "pids" in spec:
                spec["pids"] = _number(spec["pids"])
            out[level] = spec
    return out


def _durations_in(value: Any, keys: tuple[str, ...]) -> Any:
    if not isinstance(value, dict):
        return value
    return {k: duration_text(v) if k in keys else v for k, v in value.items()}


def _deploy(spec: Spec, ctx: ServiceContext) -> Spec:
    deploy = spec.get("deploy")
    if not isinstance(deploy, dict):
        return spec
    out = dict(deploy)
    if "replicas" in out:
        out["replicas"] = _number(out["replicas"])
    out["resources"] = _resources(out.get("resources") or {})
    out.setdefault("placement", {})
    if "restart_policy" in out:
        out["restart_policy"] = _durations_in(out["restart_policy"], ("delay", "window"))
    for key in ("update_config", "rollback_config"):
        if key in out:
            out[key] = _durations_in(out[key], ("delay", "monitor"))
    return {**spec, "deploy": out}


def _secrets(spec: Spec, ctx: ServiceContext) -> Spec:
    """Service secrets are mounted at ``/run/secrets/<source>`` unless a target is given."""
    secrets = spec.get("secrets")
    if not isinstance(secrets, list):
        return spec
    filled = [
        {**s, "target": s.get("target") or f"/run/secrets/{s.get('source')}"}
        if isinstance(s, dict)
        else s
        for s in secrets
    ]
    return {**spec, "secrets": filled}


def _build(spec: Spec, ctx: ServiceContext) -> Spec:
    build = spec.get("build")
    if not isinstance(build, dict):
        return spec
    out = dict(build)
    context = out.get("context")
    if context is None or (isinstance(context, str) and "://" not in context):
        out["context"] = repo_path(ctx.base_dir, context or ".")
    if "dockerfile" not in out and "dockerfile_inline" not in out:
        out["dockerfile"] = "Dockerfile"
    if "shm_size" in out:
        out["shm_size"] = ram_bytes(out["shm_size"])
    return {**spec, "build": out}


def _env_file_values(entry: Any, ctx: ServiceContext) -> dict[str, str]:
    path = entry.get("path") if isinstance(entry, dict) else entry
    required = entry.get("required", True) if isinstance(entry, dict) else True
    if not isinstance(path, str) or ctx.read_text is None:
        return {}
    rel = repo_path(ctx.base_dir, path)
    text = ctx.read_text(rel)
    if text is None:
        if required is False:
            return {}
        raise InputError(
            f"service {ctx.name!r}: an env file is not found", file=ctx.loc.file, line=ctx.loc.line
        )
    return parse_env(text, rel, lookup=ctx.variables)


def _env_files(spec: Spec, ctx: ServiceContext) -> Spec:
    """Env files are read into ``environment`` (the service's own keys win) and dropped."""
    files = spec.get("env_file")
    if files is None or ctx.read_text is None:
        return spec
    merged: dict[str, Any] = {}
    for entry in files if isinstance(files, list) else [files]:
        merged.update(_env_file_values(entry, ctx))
    merged.update(spec.get("environment") or {})
    out = {k: v for k, v in spec.items() if k != "env_file"}
    out["environment"] = merged
    return out


def _implied_dependencies(spec: Spec) -> dict[str, Spec]:
    """Services that ``network_mode: service:x`` (and ipc, pid, ...) or ``volumes_from``
    depend on, with the conditions compose adds for them."""
    implied: dict[str, Spec] = {}
    for key in ("network_mode", "ipc", "pid", "uts", "cgroup"):
        value = spec.get(key)
        if isinstance(value, str) and value.startswith("service:"):
            implied[value[len("service:") :]] = {
                "condition": "service_started",
                "restart": True,
                "required": True,
            }
    for item in spec.get("links") or []:
        if isinstance(item, str):
            implied.setdefault(
                item.split(":")[0],
                {"condition": "service_started", "restart": True, "required": True},
            )
    for item in spec.get("volumes_from") or []:
        if isinstance(item, str) and not item.startswith("container:"):
            implied.setdefault(
                item.split(":")[0],
                {"condition": "service_started", "required": True},
            )
    return implied


def _depends_on(spec: Spec, ctx: ServiceContext) -> Spec:
    implied = _implied_dependencies(spec)
    if not implied:
        return spec
    return {**spec, "depends_on": {**implied, **(spec.get("depends_on") or {})}}


def _unique(spec: Spec, ctx: ServiceContext) -> Spec:
    out = dict(spec)
    for key in _UNIQUE:
        if isinstance(out.get(key), list):
            kept: list[Any] = []
            for item in out[key]:
                if item not in kept:
                    kept.append(item)
            out[key] = kept
    if isinstance(out.get("labels"), dict):  # a label without a value is empty, not null
        out["labels"] = {k: "" if v is None else v for k, v in out["labels"].items()}
    return out


def _omit_empty(spec: Spec, ctx: ServiceContext) -> Spec:
    """Go's ``omitempty``: compose prints no empty string, false, zero or empty list or
    map (``hostname: ""``, ``read_only: false``); command and entrypoint print null,
    and ``scale`` (a pointer in compose-go) prints even when zero."""
    return {k: v for k, v in spec.items() if k in _KEEP_EMPTY or not _empty(v)}


def _empty(value: Any) -> bool:
    if isinstance(value, bool):
        return value is False
    if isinstance(value, int | float):
        return value == 0
    return value in ("", [], {})


def _default_network(spec: Spec, ctx: ServiceContext) -> Spec:
    if "networks" in spec or "network_mode" in spec:
        return spec
    return {**spec, "networks": {"default": None}}


RULES: tuple[Rule, ...] = (
    _without_extensions,
    _commands,
    _healthcheck,
    _sizes_and_durations,
    _volumes,
    _devices,
    _deploy,
    _secrets,
    _build,
    _env_files,
    _depends_on,
    _unique,
    _omit_empty,
    _default_network,
)


def canonical_service(spec: Spec, ctx: ServiceContext) -> Spec:
    for rule in RULES:
        spec = rule(spec, ctx)
    return dict(sorted(spec.items()))


def service_dir(file: str) -> str:
    return posixpath.dirname(file)
