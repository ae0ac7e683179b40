"""Typed view of a loaded compose service: every fact keeps its file and line."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stategate.compose.dockerfile import base_image
from stategate.compose.load import Project, ServiceDef
from stategate.compose.normalize import as_map, scalar_text
from stategate.source import Source
from stategate.yamlfile import Loc, YMap, YSeq

LOOPBACK_PREFIXES = ("127.", "::1", "localhost")


@dataclass(frozen=True)
class Setting:
    """An environment variable or label: its value (None when unset) and where it is set."""

    value: str | None
    loc: Loc


@dataclass(frozen=True)
class Port:
    target: str
    published: str | None
    host_ip: str | None
    protocol: str
    loc: Loc

    @property
    def is_published(self) -> bool:
        """Every ``ports:`` entry publishes: with no host port, docker picks a free one on
        all interfaces (``expose:`` is what stays inside the network)."""
        return True

    @property
    def host_port(self) -> str:
        return self.published or "random"

    @property
    def is_loopback(self) -> bool:
        return self.host_ip is not None and self.host_ip.startswith(LOOPBACK_PREFIXES)


@dataclass(frozen=True)
class Mount:
    type: str  # volume, bind, tmpfs, npipe, cluster
    source: str | None
    target: str
    read_only: bool
    loc: Loc


@dataclass(frozen=True)
class Ref:
    """A reference to another service or object (depends_on, volumes_from, secrets)."""

    name: str
    loc: Loc
    detail: str | None = None  # depends_on condition, secret target, ...


@dataclass(frozen=True)
class Service:
    project: str
    name: str
    file: str
    loc: Loc
    image: str | None
    image_loc: Loc
    build: bool
    base_image: str | None
    command: str
    command_loc: Loc
    entrypoint: str
    restart: str | None
    restart_loc: Loc
    ports: tuple[Port, ...]
    expose: tuple[Ref, ...]
    mounts: tuple[Mount, ...]
    volumes_from: tuple[Ref, ...]
    depends_on: tuple[Ref, ...]
    environment: Mapping[str, Setting]
    labels: Mapping[str, Setting]
    env_files: tuple[Ref, ...]
    secrets: tuple[Ref, ...]
    network_mode: Setting | None
    pid: Setting | None
    ipc: Setting | None
    privileged: Setting | None
    cap_add: tuple[Ref, ...]
    devices: tuple[Ref, ...]
    security_opt: tuple[Ref, ...]
    profiles: tuple[str, ...]
    deploy_restart: Setting | None
    spec: YMap = field(repr=False, compare=False)
    # (container, image) of every container after the first (a Kubernetes workload's
    # other and init containers); a compose service runs one image and has none
    more_images: tuple[tuple[str, str | None], ...] = ()

    @property
    def id(self) -> str:
        return f"{self.project}/{self.name}"

    @property
    def effective_image(self) -> str | None:
        """What runs: the image, or for a built service its Dockerfile's base image. An
        ``image:`` that interpolates to nothing (a variable the repo does not set) stays
        ``""``: an image nobody pinned, never "no image"."""
        return self.image if self.image is not None else self.base_image

    def at(self, key: str) -> Loc:
        return self.spec.key_loc(key)


def _refs(seq: Any, fallback: Loc, *, detail_key: str | None = None) -> tuple[Ref, ...]:
    if not isinstance(seq, YSeq):
        return ()
    out: list[Ref] = []
    for index, item in enumerate(seq):
        loc = seq.item_loc(index)
        if isinstance(item, YMap):
            name = scalar_text(item.get("source")) or scalar_text(item.get("path")) or ""
            detail = scalar_text(item.get(detail_key)) if detail_key else None
            out.append(Ref(name, loc, detail))
        else:
            out.append(Ref(scalar_text(item) or "", loc))
    return tuple(out)


def _settings(value: Any) -> dict[str, Setting]:
    if not isinstance(value, YMap):
        return {}
    return {k: Setting(scalar_text(v), value.key_loc(k)) for k, v in value.items()}


def _setting(spec: YMap, key: str) -> Setting | None:
    if key not in spec:
        return None
    return Setting(scalar_text(spec[key]), spec.key_loc(key))


def _command_text(value: Any) -> str:
    if isinstance(value, YSeq):
        return shlex.join(str(v) for v in value)
    return scalar_text(value) or ""


def service_from(project: Project, definition: ServiceDef, source: Source | None = None) -> Service:
    spec = definition.spec
    ports = []
    for index, item in enumerate(spec.get("ports") or []):
        loc = spec["ports"].item_loc(index)
        ports.append(
            Port(
                target=str(item.get("target")),
                published=scalar_text(item.get("published")),
                host_ip=scalar_text(item.get("host_ip")),
                protocol=scalar_text(item.get("protocol")) or "tcp",
                loc=loc,
            )
        )
    mounts = []
    for index, item in enumerate(spec.get("volumes") or []):
        mounts.append(
            Mount(
                type=scalar_text(item.get("type")) or "volume",
                source=scalar_text(item.get("source")),
                target=scalar_text(item.get("target")) or "",
                read_only=item.get("read_only") is True,
                loc=spec["volumes"].item_loc(index),
            )
        )
    for index, item in enumerate(spec.get("tmpfs") or []):
        mounts.append(Mount("tmpfs", None, str(item), False, spec["tmpfs"].item_loc(index)))
    depends = spec.get("depends_on")
    depends_on = (
        tuple(
            Ref(name, depends.key_loc(name), scalar_text(entry.get("condition")))
            for name, entry in (depends or {}).items()
        )
        if isinstance(depends, YMap)
        else ()
    )
    deploy = spec.get("deploy")
    deploy_restart = None
    if isinstance(deploy, YMap) and isinstance(deploy.get("restart_policy"), YMap):
        policy = deploy["restart_policy"]
        if "condition" in policy:
            deploy_restart = Setting(scalar_text(policy["condition"]), policy.key_loc("condition"))
    restart = _setting(spec, "restart")
    labels = _settings(spec.get("labels"))
    if isinstance(deploy, YMap) and deploy.get("labels") is not None:
        # swarm-style deploy.labels route traffic too (caddy-docker-proxy, traefik swarm)
        deploy_labels = as_map(deploy["labels"], deploy.key_loc("labels"), "deploy.labels")
        labels = {**_settings(deploy_labels), **labels}
    return Service(
        project=project.name,
        name=definition.name,
        file=definition.file,
        loc=definition.loc,
        image=scalar_text(spec.get("image")),
        image_loc=spec.key_loc("image"),
        build="build" in spec,
        base_image=(
            base_image(source, project.directory, spec["build"], spec.key_loc("build"))
            if source is not None and "build" in spec and "image" not in spec
            else None
        ),
        command=_command_text(spec.get("command")),
        command_loc=spec.key_loc("command" if "command" in spec else "entrypoint"),
        entrypoint=_command_text(spec.get("entrypoint")),
        restart=restart.value if restart else None,
        restart_loc=restart.loc if restart else definition.loc,
        ports=tuple(ports),
        expose=_refs(spec.get("expose"), definition.loc),
        mounts=tuple(mounts),
        volumes_from=_refs(spec.get("volumes_from"), definition.loc),
        depends_on=depends_on,
        environment=_settings(spec.get("environment")),
        labels=labels,
        env_files=_refs(spec.get("env_file"), definition.loc),
        secrets=_refs(spec.get("secrets"), definition.loc, detail_key="target"),
        network_mode=_setting(spec, "network_mode"),
        pid=_setting(spec, "pid"),
        ipc=_setting(spec, "ipc"),
        privileged=_setting(spec, "privileged"),
        cap_add=_refs(spec.get("cap_add"), definition.loc),
        devices=_refs(spec.get("devices"), definition.loc),
        security_opt=_refs(spec.get("security_opt"), definition.loc),
        profiles=tuple(str(p) for p in spec.get("profiles") or ()),
        deploy_restart=deploy_restart,
        spec=spec,
    )


def services_of(project: Project, source: Source | None = None) -> list[Service]:
    """Typed services; with ``source``, built services also get their Dockerfile's base image."""
    return [service_from(project, d, source) for d in project.services.values()]
