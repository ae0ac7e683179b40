"""The consistency checks compose runs on a loaded project (compose-go
``loader/validate.go`` ``checkConsistency``): every reference a service makes
(networks, volumes, secrets, configs, other services) must name something the
project defines, and a service must say what it runs.

Pure: takes the merged project, raises an :class:`InputError` at the first problem,
naming the file and line of the reference.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from stategate.compose.normalize import scalar_text
from stategate.errors import InputError
from stategate.yamlfile import Loc, YMap, YSeq

if TYPE_CHECKING:  # load.py calls this module
    from stategate.compose.load import Project, ServiceDef

_HEALTHCHECK_KINDS = ("CMD", "CMD-SHELL", "NONE")
_INTEGER = re.compile(r"[+-]?[0-9]+")
# Go's time.ParseDuration: "0", or numbers each with a unit ("1h2m3.5s")
_DURATION = re.compile(
    r"[+-]?(?:0|(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:ns|us|\u00b5s|\u03bcs|ms|s|m|h))+)"
)
_DURATIONS = (
    ("stop_grace_period",),
    ("healthcheck", "interval"),
    ("healthcheck", "timeout"),
    ("healthcheck", "start_period"),
    ("healthcheck", "start_interval"),
    ("deploy", "update_config", "delay"),
    ("deploy", "update_config", "monitor"),
    ("deploy", "rollback_config", "delay"),
    ("deploy", "rollback_config", "monitor"),
    ("deploy", "restart_policy", "delay"),
    ("deploy", "restart_policy", "window"),
)


def check_consistency(project: Project) -> None:
    """Refuse what ``docker compose config`` refuses as "invalid compose project"."""
    for svc in project.services.values():
        _check_service(project, svc)
    _check_sections(project)
    _check_cycles(project)


def _fail(message: str, loc: Loc) -> InputError:
    return InputError(message, file=loc.file, line=loc.line)


def _declared(project: Project, section: str) -> YMap:
    return project.sections.get(section) or YMap(Loc("", 0))


def _seq(value: Any) -> Iterator[tuple[Any, Loc]]:
    if isinstance(value, YSeq):
        for index, item in enumerate(value):
            yield item, value.item_loc(index)


def _check_service(project: Project, svc: ServiceDef) -> None:
    spec, name = svc.spec, svc.name
    if "build" not in spec and not scalar_text(spec.get("image")) and "provider" not in spec:
        raise _fail(f"service {name!r} has neither an image nor a build context specified", svc.loc)
    networks = spec.get("networks")
    if "network_mode" in spec and isinstance(networks, YMap) and networks:
        raise _fail(
            f"service {name!r} declares mutually exclusive 'network_mode' and 'networks'",
            spec.key_loc("network_mode"),
        )
    declared_networks = _declared(project, "networks")
    if isinstance(networks, YMap):
        for network in networks:
            if network != "default" and network not in declared_networks:
                raise _fail(
                    f"service {name!r} refers to undefined network {network}",
                    networks.key_loc(network),
                )
    _check_healthcheck(spec)
    for dependency, loc in _service_references(spec):
        if dependency not in project.services:
            raise _fail(f"service {name!r} depends on undefined service {dependency!r}", loc)
    declared_volumes = _declared(project, "volumes")
    for volume, loc in _seq(spec.get("volumes")):
        source = scalar_text(volume.get("source")) if isinstance(volume, YMap) else None
        named = isinstance(volume, YMap) and scalar_text(volume.get("type")) == "volume"
        if named and source and source not in declared_volumes:
            raise _fail(f"service {name!r} refers to undefined volume {source}", loc)
    build = spec.get("build")
    if isinstance(build, YMap):
        _check_sources(project, name, build.get("secrets"), "secrets", "build secret")
    _check_sources(project, name, spec.get("configs"), "configs", "config")
    _check_sources(project, name, spec.get("secrets"), "secrets", "secret")
    scale = spec.get("scale")
    if isinstance(scale, int) and not isinstance(scale, bool) and scale < 0:
        raise _fail(
            f"services.{name}.scale: must be greater than or equal to 0", spec.key_loc("scale")
        )
    _check_mount_targets(spec, name)
    _check_long_forms(spec, name)
    _check_durations(spec, name)


def _check_long_forms(spec: YMap, name: str) -> None:
    """Long-syntax entries compose refuses past the schema."""
    for volume, loc in _seq(spec.get("volumes")):
        if isinstance(volume, YMap) and volume.get("type") == "bind" and "source" not in volume:
            raise _fail('invalid mount config for type "bind": field Source must not be empty', loc)
    deploy = spec.get("deploy")
    resources = deploy.get("resources") if isinstance(deploy, YMap) else None
    reservations = resources.get("reservations") if isinstance(resources, YMap) else None
    devices = reservations.get("devices") if isinstance(reservations, YMap) else None
    for device, loc in [*_seq(devices), *_seq(spec.get("gpus"))]:
        if not isinstance(device, YMap):
            continue
        if "count" in device and "device_ids" in device:
            raise _fail(f'services.{name}: "count" and "device_ids" attributes are exclusive', loc)
        count = device.get("count")
        if isinstance(count, str) and count.lower() != "all" and not _INTEGER.fullmatch(count):
            raise _fail(
                f"invalid device count {count!r}: the only value allowed is 'all' or a number",
                device.key_loc("count"),
            )


def _check_durations(spec: YMap, name: str) -> None:
    """Durations compose decodes with Go's ``time.ParseDuration``."""
    for path in _DURATIONS:
        node: Any = spec
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, YMap) else None
        value = node.get(path[-1]) if isinstance(node, YMap) else None
        if isinstance(value, str) and not _DURATION.fullmatch(value):
            raise _fail(
                f"services.{name}.{'.'.join(path)}: invalid duration {value!r}",
                node.key_loc(path[-1]),
            )


def _check_healthcheck(spec: YMap) -> None:
    check = spec.get("healthcheck")
    if not isinstance(check, YMap):
        return
    test = check.get("test")
    if isinstance(test, YSeq) and test and scalar_text(test[0]) not in _HEALTHCHECK_KINDS:
        raise _fail(
            'healthcheck.test must start either by "CMD", "CMD-SHELL" or "NONE"',
            check.key_loc("test"),
        )


def _service_references(spec: YMap) -> Iterator[tuple[str, Loc]]:
    """Services this one needs: compose turns ``volumes_from``, ``links`` and
    ``network_mode: service:`` into ``depends_on`` entries."""
    depends = spec.get("depends_on")
    if isinstance(depends, YMap):
        for other in depends:
            yield other, depends.key_loc(other)
    for item, loc in _seq(spec.get("volumes_from")):
        text = scalar_text(item) or ""
        if not text.startswith("container:"):
            yield text.split(":")[0], loc
    for item, loc in _seq(spec.get("links")):
        yield (scalar_text(item) or "").split(":")[0], loc
    mode = spec.get("network_mode")
    if isinstance(mode, str) and mode.startswith("service:"):
        yield mode[len("service:") :], spec.key_loc("network_mode")


def _check_sources(project: Project, name: str, value: Any, section: str, what: str) -> None:
    declared = _declared(project, section)
    for item, loc in _seq(value):
        source = scalar_text(item.get("source")) if isinstance(item, YMap) else scalar_text(item)
        if source is not None and source not in declared:
            raise _fail(f"service {name!r} refers to undefined {what} {source}", loc)


def _check_mount_targets(spec: YMap, name: str) -> None:
    mounted: dict[str, str] = {}
    for index, (item, _loc) in enumerate(_seq(spec.get("tmpfs"))):
        path = (scalar_text(item) or "").partition(":")[0]
        mounted.setdefault(path, f"services.{name}.tmpfs[{index}]")
    for index, (item, loc) in enumerate(_seq(spec.get("volumes"))):
        target = scalar_text(item.get("target")) if isinstance(item, YMap) else None
        if target is not None and target in mounted:
            raise _fail(
                f"services.{name}.volumes[{index}]: target {target} already mounted as "
                f"{mounted[target]}",
                loc,
            )


def _check_sections(project: Project) -> None:
    """compose-go ``validation.Validate`` and ``transformMaybeExternal`` on the
    top-level sections."""
    for section in ("volumes", "networks", "secrets", "configs"):
        values = _declared(project, section)
        for name, spec in values.items():
            if not isinstance(spec, YMap):
                continue
            loc = values.key_loc(name)
            external = spec.get("external")
            external_name = external.get("name") if isinstance(external, YMap) else None
            if external_name is not None and "name" in spec and spec["name"] != external_name:
                raise _fail(
                    f"{section}.{name}: name and external.name conflict; only use name", loc
                )
            if section == "volumes" and external is True:
                for key in spec:
                    if key not in ("name", "external") and not key.startswith("x-"):
                        raise _fail(
                            f'{section}.{name}: conflicting parameters "external" and "{key}" '
                            "specified",
                            spec.key_loc(key),
                        )
            if section in _CONTENT_KEYS:
                _check_file_object(section, name, spec, loc)


_CONTENT_KEYS = {"secrets": ("file", "environment"), "configs": ("file", "environment", "content")}


def _check_file_object(section: str, name: str, spec: YMap, loc: Loc) -> None:
    keys = _CONTENT_KEYS[section]
    count = sum(key in spec for key in keys)
    if count > 1:
        raise _fail(f"{section}.{name}: {'|'.join(keys)} attributes are mutually exclusive", loc)
    if count == 0 and "driver" not in spec and "external" not in spec:
        raise _fail(f"{section}.{name}: one of {'|'.join(keys)} must be set", loc)


def _check_cycles(project: Project) -> None:
    """compose-go ``graph.CheckCycle``, iteratively (a long chain must not overflow)."""
    edges = {name: list(_service_references(svc.spec)) for name, svc in project.services.items()}
    done: set[str] = set()
    for start in edges:
        if start in done:
            continue
        path: list[str] = [start]
        stack: list[Iterator[tuple[str, Loc]]] = [iter(edges[start])]
        while stack:
            step = next(stack[-1], None)
            if step is None:
                done.add(path.pop())
                stack.pop()
                continue
            other, loc = step
            if other in path:
                cycle = [*path[path.index(other) :], other]
                raise _fail("dependency cycle detected: " + " -> ".join(cycle), loc)
            if other in done or other not in edges:
                continue
            path.append(other)
            stack.append(iter(edges[other]))
