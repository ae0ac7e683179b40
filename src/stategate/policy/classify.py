"""Classification: which upgrade classes apply to each service, and why (file:line).

Pure: takes typed services and a policy, returns modules. The rules follow
PRODUCT.md "Upgrade classes and how they are detected".
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from stategate.compose.model import Service
from stategate.image import parse_image
from stategate.policy.schema import Policy, UpgradeClass
from stategate.policy.sidecar import (
    Binding,
    ProjectFacts,
    bind,
    container_lookups,
    container_names,
    is_job,
)
from stategate.policy.signals import (
    AUTH_IMAGES,
    AUTH_REPOS,
    AUTH_SERVICE_NAME,
    BROAD_CAPS,
    CONNECTION_KEY,
    CREDENTIAL_KEY,
    DATA_IMAGES,
    FLAG_VALUES,
    INLINE_CREDENTIAL,
    KEY_DIR,
    KEY_FILE,
    KEYWORD_PASSWORD,
    KV_IMAGES,
    PROXY_IMAGES,
    REDIS_NO_SAVE,
    REDIS_PERSIST,
    SOCKET,
    STRONG_CREDENTIAL_KEY,
    URL_WITH_PASSWORD,
    NearMiss,
    Reason,
    connection_without_credentials,
    image_name,
    image_repository,
    is_data_image,
    why_not_data,
)
from stategate.yamlfile import Loc

__all__ = [
    "AUTH_IMAGES",
    "AUTH_REPOS",
    "AUTH_SERVICE_NAME",
    "BROAD_CAPS",
    "CREDENTIAL_KEY",
    "DATA_IMAGES",
    "FLAG_VALUES",
    "KV_IMAGES",
    "URL_WITH_PASSWORD",
    "Inventory",
    "Module",
    "NearMiss",
    "Reason",
    "apply_policy",
    "classify",
    "credential_reason",
    "finish",
    "image_name",
    "ordered_classes",
]

C = UpgradeClass


@dataclass
class Module:
    service: Service
    classes: list[UpgradeClass]
    reasons: list[Reason]
    parent: str | None  # module id
    dependents: list[str] = field(default_factory=list)  # module ids
    tier: str = "leaf"
    backup_reference: bool = False
    near_misses: list[NearMiss] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.service.id

    @property
    def image(self) -> str | None:
        return self.service.image

    def has(self, cls: UpgradeClass) -> bool:
        return cls in self.classes


@dataclass
class Inventory:
    modules: dict[str, Module]

    @property
    def backup_reference(self) -> Module | None:
        return next((m for m in self.modules.values() if m.backup_reference), None)


def _stateful(svc: Service, near: list[NearMiss]) -> list[Reason]:
    reasons: list[Reason] = []
    name = image_name(svc)
    for mount in svc.mounts:
        why = why_not_data(mount)
        if why is None and mount.read_only:
            why = "mounted read-only"
        if why is not None:
            if mount.type in ("volume", "bind"):
                near.append(NearMiss(C.STATEFUL, "data mount", f"{mount.target}: {why}", mount.loc))
            continue
        if mount.type == "volume" and mount.source:
            what = f"named volume {mount.source} mounted writable at {mount.target}"
        elif mount.type == "volume":
            what = f"anonymous volume at {mount.target}"
        else:
            what = f"writable bind mount {mount.source} -> {mount.target}"
        reasons.append(Reason(C.STATEFUL, what, mount.loc))
    if is_data_image(svc):
        what = name if DATA_IMAGES.match(name) else image_repository(svc)
        reasons.append(Reason(C.STATEFUL, f"data-store image {what}", svc.image_loc))
    elif KV_IMAGES.match(name):
        text = f"{svc.entrypoint} {svc.command}"
        if REDIS_PERSIST.search(text):
            reasons.append(
                Reason(C.STATEFUL, f"{name} with persistence on (command)", svc.command_loc)
            )
        elif reasons:
            reasons.append(
                Reason(C.STATEFUL, f"{name} with a data mount (RDB/AOF persist)", svc.image_loc)
            )
        elif REDIS_NO_SAVE.search(text):
            near.append(
                NearMiss(
                    C.STATEFUL, "data-store image", f"{name} with snapshots off", svc.command_loc
                )
            )
        else:
            reasons.append(
                Reason(
                    C.STATEFUL,
                    f"{name} keeps data in the image's /data volume and saves RDB snapshots "
                    "by default (no volume declared: an anonymous one)",
                    svc.image_loc,
                    "likely",
                )
            )
    return reasons


def credential_reason(key: str, value: str, loc: Loc, near: list[NearMiss]) -> Reason | None:
    if key.upper().endswith("_FILE") and value.startswith("/run/secrets"):
        return Reason(C.SECRET_BEARING, f"{key} reads {value}", loc)
    if CREDENTIAL_KEY.search(key) and not key.upper().endswith("_FILE"):
        if value.lower() in FLAG_VALUES:  # SECRETS=0: a permission flag, no credential
            near.append(NearMiss(C.SECRET_BEARING, "credential variable", f"{key} is a flag", loc))
            return None
        if (
            CONNECTION_KEY.search(key)
            and not STRONG_CREDENTIAL_KEY.search(key)
            and value
            and connection_without_credentials(value)
        ):
            near.append(
                NearMiss(
                    C.SECRET_BEARING,
                    "credential variable",
                    f"{key} is a connection string with no user or password in it",
                    loc,
                )
            )
            return None
        return Reason(C.SECRET_BEARING, f"credential variable {key}", loc)
    if URL_WITH_PASSWORD.match(value) or KEYWORD_PASSWORD.search(value):
        return Reason(C.SECRET_BEARING, f"{key} embeds credentials", loc)
    return None


def _secret_bearing(svc: Service, near: list[NearMiss]) -> list[Reason]:
    reasons: list[Reason] = []
    for ref in svc.secrets:
        reasons.append(Reason(C.SECRET_BEARING, f"compose secret {ref.name}", ref.loc))
    for ref in svc.env_files:
        reasons.append(Reason(C.SECRET_BEARING, f"env_file {ref.name}", ref.loc))
    for key, setting in svc.environment.items():
        found = credential_reason(key, setting.value or "", setting.loc, near)
        if found is not None:
            reasons.append(found)
    text = f"{svc.entrypoint} {svc.command}"
    if INLINE_CREDENTIAL.search(text) or any(
        URL_WITH_PASSWORD.match(token.strip("'\"")) for token in text.replace("=", " ").split()
    ):
        reasons.append(Reason(C.SECRET_BEARING, "credential on the command line", svc.command_loc))
    for mount in svc.mounts:
        for path in (mount.source or "", mount.target):
            if (KEY_FILE.search(path) or KEY_DIR.search(path)) and not SOCKET.search(path):
                reasons.append(Reason(C.SECRET_BEARING, f"key/cert mount {path}", mount.loc))
                break
    for key, setting in svc.labels.items():
        if re.search(r"basicauth\.users$", key, re.IGNORECASE):
            reasons.append(Reason(C.SECRET_BEARING, f"credential label {key}", setting.loc))
    return reasons


def _public_edge(svc: Service, near: list[NearMiss]) -> list[Reason]:
    reasons: list[Reason] = []
    for port in svc.ports:
        if port.is_published and not port.is_loopback:
            bind_to = port.host_ip or "all interfaces"
            reasons.append(
                Reason(
                    C.PUBLIC_EDGE,
                    f"port {port.host_port}:{port.target}/{port.protocol} published on {bind_to}",
                    port.loc,
                )
            )
        elif port.is_published:
            why = f"port {port.host_port}:{port.target} published on loopback only"
            near.append(NearMiss(C.PUBLIC_EDGE, "published port", why, port.loc))
    enabled = svc.labels.get("traefik.enable")
    traefik_off = enabled is not None and (enabled.value or "").lower() == "false"
    for key, setting in svc.labels.items():
        low = key.lower()
        if re.match(r"traefik\.(http|tcp|udp)\.routers\.[^.]+\.rule$", low):
            if traefik_off:
                why = f"{key} is set but traefik.enable is false"
                near.append(NearMiss(C.PUBLIC_EDGE, "traefik router", why, setting.loc))
            else:
                reasons.append(Reason(C.PUBLIC_EDGE, f"traefik router {key}", setting.loc))
        elif low == "caddy" or re.match(r"caddy(_\d+)?$", low):
            reasons.append(Reason(C.PUBLIC_EDGE, f"caddy site label {key}", setting.loc))
        elif low in ("virtual_host", "com.github.nginx-proxy.virtual_host"):
            reasons.append(Reason(C.PUBLIC_EDGE, f"proxy label {key}", setting.loc))
    vhost = svc.environment.get("VIRTUAL_HOST")
    if vhost is not None and vhost.value:
        reasons.append(Reason(C.PUBLIC_EDGE, "nginx-proxy routing VIRTUAL_HOST", vhost.loc))
    elif vhost is not None:  # a bare pass-through name routes nothing by itself
        near.append(NearMiss(C.PUBLIC_EDGE, "proxy routing", "VIRTUAL_HOST is empty", vhost.loc))
    name = image_name(svc)
    if PROXY_IMAGES.match(name):
        reasons.append(Reason(C.PUBLIC_EDGE, f"proxy/tunnel image {name}", svc.image_loc))
    return reasons


def _auth(svc: Service, near: list[NearMiss]) -> list[Reason]:
    by_name = AUTH_SERVICE_NAME.search(svc.name)
    if not svc.image:
        if by_name:
            return [Reason(C.AUTH, f"identity provider by its name {svc.name}", svc.loc)]
        return []
    ref = parse_image(svc.image)
    name = ref.name.lower()
    if name == "server" and not ref.repository.endswith(AUTH_REPOS):
        why = f"image {ref.repository} is called server but is not authentik's"
        near.append(NearMiss(C.AUTH, "identity-provider image", why, svc.image_loc))
        return []
    if AUTH_IMAGES.match(name) or ref.repository.endswith(AUTH_REPOS):
        return [Reason(C.AUTH, f"identity provider / auth gate image {name}", svc.image_loc)]
    if by_name:
        return [Reason(C.AUTH, f"identity provider by its name {svc.name}", svc.loc)]
    return []


def _privileged(svc: Service, near: list[NearMiss]) -> list[Reason]:
    reasons: list[Reason] = []
    if svc.privileged and (svc.privileged.value or "").lower() == "true":
        reasons.append(Reason(C.PRIVILEGED, "privileged: true", svc.privileged.loc))
    for mount in svc.mounts:
        if mount.source and re.search(r"(docker|podman|containerd)\.sock$", mount.source):
            reasons.append(
                Reason(C.PRIVILEGED, f"container engine socket {mount.source}", mount.loc)
            )
        elif mount.source in ("/", "/proc", "/sys") and mount.type == "bind":
            if mount.read_only:
                why = f"host path {mount.source} mounted read-only"
                near.append(NearMiss(C.PRIVILEGED, "host path", why, mount.loc))
            else:
                reasons.append(Reason(C.PRIVILEGED, f"host path {mount.source} mounted", mount.loc))
    for cap in svc.cap_add:
        if cap.name.upper() in BROAD_CAPS:
            reasons.append(Reason(C.PRIVILEGED, f"cap_add {cap.name}", cap.loc))
        else:
            near.append(
                NearMiss(C.PRIVILEGED, "cap_add", f"{cap.name} is a narrow capability", cap.loc)
            )
    for field_name, setting in (
        ("network_mode", svc.network_mode),
        ("pid", svc.pid),
        ("ipc", svc.ipc),
    ):
        if setting is not None and setting.value == "host":
            reasons.append(Reason(C.PRIVILEGED, f"{field_name}: host", setting.loc))
    for device in svc.devices:
        reasons.append(Reason(C.PRIVILEGED, f"device {device.name}", device.loc))
    for opt in svc.security_opt:
        if "unconfined" in opt.name:
            reasons.append(Reason(C.PRIVILEGED, f"security_opt {opt.name}", opt.loc))
    return reasons


RULES = (_stateful, _secret_bearing, _public_edge, _auth, _privileged)


@dataclass(frozen=True)
class _Found:
    """What the rules found for one service, before the policy and the dependents."""

    reasons: tuple[Reason, ...]
    parent: str | None
    near: tuple[NearMiss, ...]


@dataclass(frozen=True)
class _Project:
    """One project's findings and everything they were found from: its services and the
    platform's container names they look up (a sidecar may name another's container)."""

    services: dict[str, Service]
    key_locs: dict[str, tuple[Loc, dict[str, Loc]]]  # where settings are written (.at)
    lookups: dict[str, str | None]
    found: dict[str, _Found]


class ClassifyCache:
    """Projects classified before, by name: the other side of a pull request. A project
    whose services (every field, locations included, in the same order) and the
    container names they look up in the platform are equal is not classified again;
    dependents and the policy are always applied anew, over every module, so a change in
    one project still reaches the modules of another."""

    def __init__(self) -> None:
        self._projects: dict[str, _Project] = {}

    def find(
        self, project: str, services: dict[str, Service], containers: dict[str, str]
    ) -> dict[str, _Found] | None:
        known = self._projects.get(project)
        if known is None or known.services != services or list(known.services) != list(services):
            return None  # the order counts too: some rules break ties by it
        if known.key_locs != _key_locs(services):
            return None
        if known.lookups != container_lookups(services.values(), containers):
            return None
        return known.found

    def keep(
        self,
        project: str,
        services: dict[str, Service],
        containers: dict[str, str],
        found: dict[str, _Found],
    ) -> None:
        lookups = container_lookups(services.values(), containers)
        self._projects[project] = _Project(services, _key_locs(services), lookups, found)


def _key_locs(services: dict[str, Service]) -> dict[str, tuple[Loc, dict[str, Loc]]]:
    """Where each service's settings are written: ``Service.at`` reads them from the spec,
    which service equality leaves out."""
    return {name: (svc.spec.loc, dict(svc.spec.key_locs)) for name, svc in services.items()}


def classify(
    services: Sequence[Service],
    policy: Policy,
    decisions: Iterable[str] = (),
    cache: ClassifyCache | None = None,
) -> Inventory:
    """Classify ``services``; ``decisions`` are the decision records present in the repo
    (a policy may only remove an always-manual class from a module by citing one).
    ``cache`` holds projects classified before (the other side of a pull request)."""
    cited = {posixpath.normpath(d) for d in decisions}
    by_project: dict[str, dict[str, Service]] = {}
    for svc in services:
        by_project.setdefault(svc.project, {})[svc.name] = svc
    containers = container_names(services)
    modules: dict[str, Module] = {}
    for project, project_services in by_project.items():
        found = cache.find(project, project_services, containers) if cache else None
        if found is None:
            found = _classify_project(project, project_services, containers)
            if cache is not None:
                cache.keep(project, project_services, containers, found)
        for svc in project_services.values():
            one = found[svc.name]
            modules[svc.id] = Module(
                service=svc,
                classes=ordered_classes({r.cls for r in one.reasons}),
                reasons=list(one.reasons),
                parent=one.parent,
                near_misses=list(one.near),
            )
    _link_dependents(modules, containers)
    finish(modules.values(), policy, cited)
    return Inventory(dict(sorted(modules.items())))


def _classify_project(
    project: str, project_services: dict[str, Service], containers: dict[str, str]
) -> dict[str, _Found]:
    awaited = {
        d.name
        for s in project_services.values()
        for d in s.depends_on
        if d.detail == "service_completed_successfully"
    }
    found: dict[str, list[Reason]] = {}
    near: dict[str, list[NearMiss]] = {}
    for svc in project_services.values():
        near[svc.name] = []
        found[svc.name] = [r for rule in RULES for r in rule(svc, near[svc.name])]
    facts = ProjectFacts(
        project=project,
        services=project_services,
        stateful={n for n, rs in found.items() if any(r.cls is C.STATEFUL for r in rs)},
        awaited=awaited,
        jobs={n for n, s in project_services.items() if is_job(s)[0] or n in awaited},
        containers=containers,
    )
    bindings = {name: bind(svc, facts) for name, svc in project_services.items()}
    _break_cycles(bindings, facts)
    return {
        name: _Found(
            tuple(bindings[name].reasons + found[name]),
            bindings[name].parent,
            tuple(bindings[name].near + near[name]),
        )
        for name in project_services
    }


def _break_cycles(bindings: dict[str, Binding], facts: ProjectFacts) -> None:
    """Two services bound to each other: the helper or job (else the certain side) keeps
    its parent; the other is unbound and says why."""

    def rank(name: str) -> tuple[bool, bool]:
        certain = any(r.confidence == "certain" for r in bindings[name].reasons)
        return (name in facts.helpers or name in facts.jobs, certain)

    for name, binding in bindings.items():
        other = (binding.parent or "").removeprefix(f"{facts.project}/")
        if other == name or other not in bindings or bindings[other].parent != facts.id(name):
            continue
        lose, keep = sorted((name, other), key=rank)  # the lower rank loses its parent
        loser = bindings[lose]
        why = f"bound to {keep}, which is bound to it: {keep} moves with {lose}, not both ways"
        loser.near.append(NearMiss(C.SIDECAR_BOUND, "sidecar", why, loser.reasons[0].loc))
        loser.parent, loser.reasons = None, []


def finish(modules: Iterable[Module], policy: Policy, cited: set[str]) -> None:
    """Tier from the dependents, the policy's overrides, and stateless where nothing
    applies (compose services and Kubernetes workloads alike)."""
    every = list(modules)
    known = {m.id for m in every}
    for module in every:
        module.dependents = sorted(set(module.dependents))
        module.tier = "core" if len(module.dependents) >= 2 else "leaf"
        apply_policy(module, policy, cited, known)
        if not module.classes:
            module.classes = [C.STATELESS]
            module.reasons.append(
                Reason(
                    C.STATELESS,
                    "no data, sidecar, credential, exposure, auth or host-control property found",
                    module.service.loc,
                )
            )


def _link_dependents(modules: dict[str, Module], containers: dict[str, str]) -> None:
    """Each module lists those that depend on it, share its network or read its volumes
    (``volumes_from``)."""
    for module in modules.values():
        svc = module.service
        targets = {f"{svc.project}/{d.name}" for d in svc.depends_on}
        for ref in svc.volumes_from:
            if ref.name.startswith("container:"):
                found = containers.get(ref.name.removeprefix("container:").split(":")[0])
                if found:
                    targets.add(found)
            else:
                name = ref.name.removeprefix("service:").split(":")[0]
                targets.add(f"{svc.project}/{name}")
        mode = (svc.network_mode.value or "") if svc.network_mode else ""
        if mode.startswith("service:"):
            targets.add(f"{svc.project}/{mode.split(':', 1)[1]}")
        elif mode.startswith("container:") and mode.split(":", 1)[1] in containers:
            targets.add(containers[mode.split(":", 1)[1]])
        for target in sorted(targets):
            if target in modules and target != module.id:
                modules[target].dependents.append(module.id)


_ORDER = list(UpgradeClass)


def ordered_classes(classes: Iterable[UpgradeClass]) -> list[UpgradeClass]:
    return sorted(set(classes) - {C.STATELESS}, key=_ORDER.index)


def apply_policy(
    module: Module, policy: Policy, decisions: set[str], known: Collection[str]
) -> None:
    """Policy overrides. Removing an always-manual class without a cited decision record is
    ignored here (the class stays) and reported by the policy loader as a relaxation."""
    entry = policy.modules.get(module.id)
    if entry is None:
        return
    where = Loc("stategate.yaml", 1)
    classes = set(module.classes)
    for cls in entry.classes.add:
        if cls not in classes:
            classes.add(cls)
            module.reasons.append(Reason(cls, "added by policy", where))
    if entry.parent and _set_parent(module, entry.parent, where, known):
        classes.add(C.SIDECAR_BOUND)
    for cls in entry.classes.remove:
        if cls not in classes:
            continue
        if policy.rule(cls).always_manual and not _cites(entry.decision, decisions):
            continue
        classes.discard(cls)
        module.reasons = [r for r in module.reasons if r.cls is not cls]
        if cls is C.SIDECAR_BOUND:
            module.parent = None
    if entry.tier:
        module.tier = entry.tier
    module.backup_reference = entry.backup_reference
    module.classes = ordered_classes(classes)


def _set_parent(module: Module, parent: str, where: Loc, known: Collection[str]) -> bool:
    """The policy names the parent: it confirms a likely detection of that parent, sets one
    where none was found, and replaces a likely detection of another. It never replaces a
    certain one, nor binds to something that is not a module (both: a near miss)."""
    detected = [r for r in module.reasons if r.cls is C.SIDECAR_BOUND]
    why = None
    if parent not in known or parent == module.id:
        why = f"the policy names parent {parent}, which is not another module here: ignored"
    elif module.parent not in (None, parent) and any(r.confidence == "certain" for r in detected):
        why = f"the policy names parent {parent}, but {module.parent} is certain: kept"
    if why is not None:
        module.near_misses.append(NearMiss(C.SIDECAR_BOUND, "policy parent", why, where))
        return False
    kept = [r for r in module.reasons if r.cls is not C.SIDECAR_BOUND]
    if module.parent == parent:
        confirmed = [Reason(r.cls, f"{r.reason} (confirmed by policy)", r.loc) for r in detected]
        kept = confirmed + kept
    else:
        kept.insert(0, Reason(C.SIDECAR_BOUND, f"parent {parent} set by policy", where))
    module.reasons = kept
    module.parent = parent
    return True


def _cites(decision: str | None, decisions: set[str]) -> bool:
    return bool(decision) and posixpath.normpath(decision or "") in decisions
