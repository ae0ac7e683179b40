"""Upgrade classes of Kubernetes workloads, each with a file:line reason (pure).

The image, credential and capability rules are the compose ones (imported from
:mod:`stategate.policy.classify`); what differs is where Kubernetes writes the
facts: claims and claim templates, Services and routes, secret references,
pod security settings. Policy overrides go through the same ``_apply_policy``.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable

from stategate.compose.model import Mount, Service
from stategate.image import parse_image
from stategate.kubernetes.load import KubernetesSet
from stategate.kubernetes.manifest import (
    JOB_KINDS,
    PUBLIC_SERVICE_TYPES,
    Container,
    KubeService,
    Workload,
    claim_of,
)
from stategate.kubernetes.model import container_mounts, exposure, mount_type, service_of
from stategate.policy.classify import Module, credential_reason, finish, ordered_classes
from stategate.policy.schema import Policy, UpgradeClass
from stategate.policy.signals import (
    AUTH_IMAGES,
    AUTH_REPOS,
    AUTH_SERVICE_NAME,
    BROAD_CAPS,
    CREDENTIAL_KEY,
    DATA_IMAGES,
    INLINE_CREDENTIAL,
    KV_IMAGES,
    REDIS_PERSIST,
    NearMiss,
    Reason,
    mount_holds_data,
)
from stategate.yamlfile import Loc

C = UpgradeClass
_ENGINE_SOCKET = re.compile(r"(docker|podman|containerd|crio|cri-dockerd)\.sock$")
_HOST_CONTROL = ("/", "/proc", "/sys", "/dev", "/var/run", "/run", "/var/lib/docker")


def classify_kubernetes(
    kset: KubernetesSet, policy: Policy, decisions: Iterable[str] = ()
) -> dict[str, Module]:
    """Modules of every workload, by id ``<namespace>/<name>``."""
    cited = {posixpath.normpath(d) for d in decisions}
    workloads = kset.workloads
    services = {w.id: service_of(w, kset) for w in workloads}
    near: dict[str, list[NearMiss]] = {w.id: [] for w in workloads}
    found = {w.id: _own_reasons(w, services[w.id], kset, near[w.id]) for w in workloads}
    stateful = {i for i, rs in found.items() if any(r.cls is C.STATEFUL for r in rs)}
    modules: dict[str, Module] = {}
    for w in workloads:
        parent, side = _sidecar(w, workloads, kset.services, stateful)
        reasons = side + found[w.id]
        modules[w.id] = Module(
            service=services[w.id],
            classes=ordered_classes({r.cls for r in reasons}),
            reasons=reasons,
            parent=parent,
            near_misses=near[w.id],
        )
    for w in workloads:
        for target in sorted(_references(w, workloads, kset.services) | _parent_of(modules[w.id])):
            if target != w.id and target in modules:
                modules[target].dependents.append(w.id)
    finish(modules.values(), policy, cited)
    return dict(sorted(modules.items()))


def _parent_of(module: Module) -> set[str]:
    return {module.parent} if module.parent else set()


def _own_reasons(
    w: Workload, svc: Service, kset: KubernetesSet, near: list[NearMiss]
) -> list[Reason]:
    return (
        _stateful(w, near)
        + _secret_bearing(w, near)
        + _public_edge(w, kset)
        + _auth(w, svc)
        + _privileged(w)
    )


def _image_name(container: Container) -> str:
    return parse_image(container.image).name.lower() if container.image else ""


def _stateful(w: Workload, near: list[NearMiss]) -> list[Reason]:
    reasons: list[Reason] = []
    for template in w.claim_templates:
        reasons.append(
            Reason(
                C.STATEFUL, f"volumeClaimTemplate {template.name} (a claim per pod)", template.loc
            )
        )
    data_mounts = False
    # every container that writes a claim: an init container that fills or migrates the
    # claim writes the data the workload keeps as much as the main container does
    for container in w.all_containers:
        for mount, typed in zip(container.mounts, container_mounts(w, container), strict=True):
            if typed.type == "volume" and not typed.read_only:
                data_mounts = True
                if any(t.name == mount.volume for t in w.claim_templates):
                    continue  # the template itself is the reason
                what = f"{typed.source} mounted writable at {typed.target}"
                reasons.append(Reason(C.STATEFUL, what, mount.loc))
            elif (
                typed.type == "bind" and not _host_system(typed.source) and mount_holds_data(typed)
            ):
                data_mounts = True
                what = f"writable hostPath {typed.source} -> {typed.target}"
                reasons.append(Reason(C.STATEFUL, what, mount.loc))
    # data-store images of what runs for the pod's life (an init container with a
    # postgres image that only waits with pg_isready holds nothing)
    for container in w.running_containers:
        name = _image_name(container)
        if DATA_IMAGES.match(name):
            reasons.append(Reason(C.STATEFUL, f"data-store image {name}", container.image_loc))
        elif KV_IMAGES.match(name):
            if REDIS_PERSIST.search(container.command):
                what = f"{name} with persistence on (command)"
                reasons.append(Reason(C.STATEFUL, what, container.command_loc))
            elif data_mounts or w.claim_templates:
                what = f"{name} with a data volume (RDB/AOF persist)"
                reasons.append(Reason(C.STATEFUL, what, container.image_loc))
            else:
                why = (
                    f"{name} without a claim or data volume: the image's /data lives and "
                    "dies with the pod, so what it holds is a cache"
                )
                near.append(NearMiss(C.STATEFUL, "data-store image", why, container.image_loc))
    return reasons


_HOST_SYSTEM = (
    "/dev",
    "/proc",
    "/sys",
    "/boot",
    "/lib/modules",
    "/usr",
    "/etc",
    "/var/log",
    "/var/run",
    "/run",
    "/var/lib/docker",
    "/var/lib/kubelet",
    "/var/lib/containerd",
)


def _host_system(path: str | None) -> bool:
    """Host paths a node agent reads or controls; the data there is the node's, not the
    workload's (the mount is privileged instead)."""
    norm = posixpath.normpath(path or "/")
    return norm == "/" or any(norm == p or norm.startswith(f"{p}/") for p in _HOST_SYSTEM)


def _secret_bearing(w: Workload, near: list[NearMiss]) -> list[Reason]:
    reasons: list[Reason] = []
    for container in w.all_containers:
        for var in container.env:
            value = var.value or ""
            if var.source and var.source.startswith("secretKeyRef"):
                what = f"{var.name} from {var.source}"
                reasons.append(Reason(C.SECRET_BEARING, what, var.loc))
            elif var.source is not None:  # from a ConfigMap or a field: judged by its name
                if CREDENTIAL_KEY.search(var.name) and not var.name.upper().endswith("_FILE"):
                    what = f"credential variable {var.name}"
                    reasons.append(Reason(C.SECRET_BEARING, what, var.loc))
            elif (found := credential_reason(var.name, value, var.loc, near)) is not None:
                reasons.append(found)
        for ref in container.env_from:
            if ref.kind == "secretRef":
                what = f"envFrom secretRef {ref.name}"
                reasons.append(Reason(C.SECRET_BEARING, what, ref.loc))
        if INLINE_CREDENTIAL.search(container.command):
            what = f"credential on the command line of {container.name}"
            reasons.append(Reason(C.SECRET_BEARING, what, container.command_loc))
    for volume in w.volumes:
        for secret in volume.secrets:
            what = f"{volume.type} volume {volume.name} holds secret {secret}"
            reasons.append(Reason(C.SECRET_BEARING, what, volume.loc))
    return reasons


def _public_edge(w: Workload, kset: KubernetesSet) -> list[Reason]:
    reasons: list[Reason] = []
    services, routes = exposure(w, kset)
    for service in services:
        if service.type in PUBLIC_SERVICE_TYPES:
            what = f"Service {service.name} of type {service.type} selects it"
            reasons.append(Reason(C.PUBLIC_EDGE, what, service.type_loc))
        if service.external_ips is not None:
            what = f"Service {service.name} has externalIPs"
            reasons.append(Reason(C.PUBLIC_EDGE, what, service.external_ips))
    names = {s.name for s in services}
    for found in routes:
        for backend in found.backends:
            if backend.service in names:
                what = f"{found.kind} {found.name} routes to Service {backend.service}"
                reasons.append(Reason(C.PUBLIC_EDGE, what, backend.loc))
    for container in w.all_containers:  # an init container's port is open while it runs
        for port in container.host_ports:
            what = f"hostPort {port.host_port}:{port.container_port}/{port.protocol} on the node"
            reasons.append(Reason(C.PUBLIC_EDGE, what, port.loc))
    return reasons


def _auth(w: Workload, svc: Service) -> list[Reason]:
    for container in w.running_containers:
        if not container.image:
            continue
        ref = parse_image(container.image)
        name = ref.name.lower()
        if name == "server" and not ref.repository.endswith(AUTH_REPOS):
            continue
        if AUTH_IMAGES.match(name) or ref.repository.endswith(AUTH_REPOS):
            what = f"identity provider / auth gate image {name}"
            return [Reason(C.AUTH, what, container.image_loc)]
    if AUTH_SERVICE_NAME.search(w.name):
        return [Reason(C.AUTH, f"identity provider by its name {w.name}", svc.loc)]
    return []


def _privileged(w: Workload) -> list[Reason]:
    reasons: list[Reason] = []
    for key, loc in w.host_namespaces:
        reasons.append(Reason(C.PRIVILEGED, f"{key}: true", loc))
    for volume in w.volumes:
        if volume.type != "hostPath":
            continue
        path = volume.source or ""
        if _ENGINE_SOCKET.search(path):
            what = f"container engine socket {path}"
        else:
            what = f"hostPath volume {path}" + (
                " (host control)" if posixpath.normpath(path or "/") in _HOST_CONTROL else ""
            )
        reasons.append(Reason(C.PRIVILEGED, what, volume.loc))
    for container in w.all_containers:
        if container.privileged is not None:
            what = f"securityContext.privileged: true ({container.name})"
            reasons.append(Reason(C.PRIVILEGED, what, container.privileged))
        for cap in container.capabilities:
            if cap.name.upper() in BROAD_CAPS or f"CAP_{cap.name.upper()}" in BROAD_CAPS:
                reasons.append(Reason(C.PRIVILEGED, f"capability {cap.name}", cap.loc))
    return reasons


# -- sidecar-bound and dependencies ---------------------------------------------


def _shares_state(w: Workload, helper: Container, main: Container) -> Loc | None:
    """Where ``helper`` mounts, writable, a data-holding volume ``main`` mounts too."""
    main_volumes = {m.volume for m in main.mounts}
    for mount, typed in zip(helper.mounts, container_mounts(w, helper), strict=True):
        if mount.volume not in main_volumes or mount.read_only:
            continue
        kind, _ = mount_type(w, mount.volume)
        shared = Mount(
            "volume" if kind == "emptyDir" else typed.type,
            typed.source,
            typed.target,
            typed.read_only,
            typed.loc,
        )
        if mount_holds_data(shared):
            return mount.loc
    return None


def _host_pattern(service: KubeService, *, here: bool) -> re.Pattern[str]:
    qualified = rf"{re.escape(service.name)}\.{re.escape(service.namespace)}(\.svc(\.[\w.-]+)?)?"
    name = rf"{re.escape(service.name)}(?!\.)|{qualified}" if here else qualified
    return re.compile(rf"(?<![\w.-])(?:{name})(?![\w-])")


def _selected(service: KubeService, workloads: list[Workload]) -> list[Workload]:
    return [w for w in workloads if service.selects(w)]


def _waits_on(
    w: Workload, text: str, workloads: list[Workload], services: list[KubeService]
) -> list[tuple[str, KubeService]]:
    """Workloads (ids) whose Service ``text`` names as a host."""
    out: list[tuple[str, KubeService]] = []
    for service in services:
        if not _host_pattern(service, here=service.namespace == w.namespace).search(text):
            continue
        out.extend(
            (other.id, service) for other in _selected(service, workloads) if other.id != w.id
        )
    return out


def _sidecar(
    w: Workload, workloads: list[Workload], services: list[KubeService], stateful: set[str]
) -> tuple[str | None, list[Reason]]:
    if w.kind in JOB_KINDS:
        for volume in w.volumes:
            if volume.type != "persistentVolumeClaim" or not volume.source:
                continue
            for other in workloads:
                if other.id == w.id or other.namespace != w.namespace:
                    continue
                template = claim_of(volume.source, other)
                if volume.source in other.claim_names() or template is not None:
                    what = f"{w.kind} mounts claim {volume.source} of {other.id}"
                    return other.id, [Reason(C.SIDECAR_BOUND, what, volume.loc)]
        for container in w.init_containers:
            waits = _waits_on(w, container.command, workloads, services)
            if waits:
                target, service = next(((i, s) for i, s in waits if i in stateful), waits[0])
                what = f"{w.kind} init container {container.name} waits for Service {service.name}"
                return target, [Reason(C.SIDECAR_BOUND, what, container.command_loc)]
    main = w.containers[0]
    for helper in (*w.init_containers, *w.containers[1:]):
        loc = _shares_state(w, helper, main)
        if loc is not None:
            role = {"init": "init container", "sidecar": "sidecar container"}.get(
                helper.role, "container"
            )
            what = f"{role} {helper.name} works on the data {main.name} serves"
            return w.id, [Reason(C.SIDECAR_BOUND, what, loc)]
    return None, []


def _references(w: Workload, workloads: list[Workload], services: list[KubeService]) -> set[str]:
    """Workloads ``w`` depends on: Services it names in env values, command or args."""
    texts = [c.command for c in w.all_containers]
    texts.extend(v.value for c in w.all_containers for v in c.env if v.value)
    text = "\n".join(texts)
    return {target for target, _ in _waits_on(w, text, workloads, services)}
