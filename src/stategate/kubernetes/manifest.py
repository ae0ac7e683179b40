"""Parsed manifest documents to typed objects (pure): workloads, Services, routes.

Every field read is type-checked; a wrong type is an :class:`InputError` naming
the file and line. Kustomize transformations (namespace, name prefix and
suffix, image overrides) arrive as :class:`Layer` objects, innermost first.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Any

from stategate.errors import InputError
from stategate.yamlfile import Loc, YMap, YSeq

WORKLOAD_KINDS = (
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "CronJob",
    "ReplicaSet",
    "ReplicationController",
    "Pod",
)
JOB_KINDS = frozenset({"Job", "CronJob"})
ROUTE_KINDS = frozenset({"Ingress", "HTTPRoute"})
PUBLIC_SERVICE_TYPES = frozenset({"LoadBalancer", "NodePort"})
_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


@dataclass(frozen=True)
class ImageOverride:
    """One entry of a kustomization's ``images:``."""

    name: str
    new_name: str | None
    new_tag: str | None
    digest: str | None
    loc: Loc
    tag_suffix: str | None = None
    # kustomize's patterns for ``name`` (v5.5.0's sha256-only digest, and later any digest)
    patterns: tuple[re.Pattern[str], ...] = ()


@dataclass(frozen=True)
class Layer:
    """What one kustomization does to the objects it includes."""

    namespace: str | None = None
    prefix: str = ""
    suffix: str = ""
    images: tuple[ImageOverride, ...] = ()


@dataclass(frozen=True)
class EnvVar:
    name: str
    value: str | None  # a literal value; None when taken from elsewhere
    source: str | None  # "secretKeyRef <secret>", "configMapKeyRef <map>", "fieldRef", ...
    loc: Loc


@dataclass(frozen=True)
class EnvFrom:
    kind: str  # secretRef, configMapRef
    name: str
    loc: Loc


@dataclass(frozen=True)
class VolumeMount:
    volume: str
    path: str
    read_only: bool
    loc: Loc


@dataclass(frozen=True)
class Capability:
    name: str
    loc: Loc


@dataclass(frozen=True)
class HostPort:
    host_port: str
    container_port: str
    protocol: str
    loc: Loc


@dataclass(frozen=True)
class Container:
    name: str
    role: str  # main, init, sidecar (an init container with restartPolicy: Always)
    image: str | None  # after kustomize image overrides
    image_loc: Loc
    loc: Loc
    command: str  # command and args, shell-quoted
    command_loc: Loc
    env: tuple[EnvVar, ...]
    env_from: tuple[EnvFrom, ...]
    mounts: tuple[VolumeMount, ...]
    privileged: Loc | None  # where securityContext.privileged: true is written
    capabilities: tuple[Capability, ...]
    host_ports: tuple[HostPort, ...]
    spec: YMap


@dataclass(frozen=True)
class Volume:
    name: str
    type: str  # persistentVolumeClaim, hostPath, emptyDir, secret, projected, configMap, ...
    source: str | None  # claim name, host path, secret or config map name
    read_only: bool
    secrets: tuple[str, ...]  # secrets it projects (secret and projected volumes)
    medium: str | None  # emptyDir medium
    loc: Loc


@dataclass(frozen=True)
class ClaimTemplate:
    name: str
    loc: Loc


@dataclass(frozen=True)
class Workload:
    kind: str
    namespace: str
    name: str
    file: str
    loc: Loc  # where metadata.name is written
    labels: dict[str, str]  # of the pod template
    containers: tuple[Container, ...]  # main containers, in order
    init_containers: tuple[Container, ...]
    volumes: tuple[Volume, ...]
    claim_templates: tuple[ClaimTemplate, ...]
    host_namespaces: tuple[tuple[str, Loc], ...]  # hostNetwork/hostPID/hostIPC set true
    doc: YMap  # the whole object as written

    @property
    def id(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def all_containers(self) -> tuple[Container, ...]:
        return self.containers + self.init_containers

    @property
    def running_containers(self) -> tuple[Container, ...]:
        """Containers that run for the pod's life: the main ones and native sidecars
        (init containers with ``restartPolicy: Always``)."""
        return self.containers + tuple(c for c in self.init_containers if c.role == "sidecar")

    def volume(self, name: str) -> Volume | None:
        return next((v for v in self.volumes if v.name == name), None)

    def claim_names(self) -> set[str]:
        """Claims its pods mount (StatefulSet templates name claims ``<t>-<name>-<n>``)."""
        return {v.source for v in self.volumes if v.type == "persistentVolumeClaim" and v.source}


@dataclass(frozen=True)
class KubeService:
    namespace: str
    name: str
    file: str
    loc: Loc
    type: str
    type_loc: Loc
    selector: dict[str, str]
    external_ips: Loc | None  # where a non-empty externalIPs is written
    doc: YMap

    def selects(self, workload: Workload) -> bool:
        return (
            self.namespace == workload.namespace
            and bool(self.selector)
            and all(workload.labels.get(k) == v for k, v in self.selector.items())
        )


@dataclass(frozen=True)
class Backend:
    service: str
    loc: Loc


@dataclass(frozen=True)
class Route:
    kind: str  # Ingress, HTTPRoute
    namespace: str
    name: str
    file: str
    backends: tuple[Backend, ...]
    doc: YMap


# -- typed access ---------------------------------------------------------------


def _where(node: YMap, key: str) -> Loc:
    return node.key_loc(key)


def get_map(node: YMap, key: str, path: str) -> YMap | None:
    value = node.get(key)
    if value is None:
        return None
    if not isinstance(value, YMap):
        loc = _where(node, key)
        raise InputError(f"{path}.{key} must be a mapping", file=loc.file, line=loc.line)
    return value


def get_seq(node: YMap, key: str, path: str) -> YSeq:
    value = node.get(key)
    if value is None:
        return YSeq(node.loc)
    if not isinstance(value, YSeq):
        loc = _where(node, key)
        raise InputError(f"{path}.{key} must be a list", file=loc.file, line=loc.line)
    return value


def get_text(node: YMap, key: str, path: str) -> str | None:
    value = node.get(key)
    if value is None:
        return None
    if isinstance(value, YMap | YSeq):
        loc = _where(node, key)
        raise InputError(f"{path}.{key} must be a scalar", file=loc.file, line=loc.line)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def get_true(node: YMap, key: str, path: str) -> Loc | None:
    """Where ``key: true`` is written (None when absent or false)."""
    text = get_text(node, key, path)
    return _where(node, key) if text is not None and text.lower() == "true" else None


def maps_of(seq: YSeq, path: str) -> list[tuple[YMap, Loc]]:
    out: list[tuple[YMap, Loc]] = []
    for index, item in enumerate(seq):
        loc = seq.item_loc(index)
        if not isinstance(item, YMap):
            raise InputError(f"{path}[{index}] must be a mapping", file=loc.file, line=loc.line)
        out.append((item, loc))
    return out


def string_map(node: YMap | None, path: str) -> dict[str, str]:
    if node is None:
        return {}
    return {k: get_text(node, k, path) or "" for k in node}


# -- objects ----------------------------------------------------------------


def object_name(doc: YMap, kind: str, layers: tuple[Layer, ...]) -> tuple[str, Loc]:
    metadata = get_map(doc, "metadata", kind)
    name = get_text(metadata, "name", f"{kind}.metadata") if metadata is not None else None
    loc = metadata.key_loc("name") if metadata is not None else doc.loc
    if not name:
        raise InputError(f"{kind} has no metadata.name", file=loc.file, line=loc.line)
    for layer in layers:
        name = f"{layer.prefix}{name}{layer.suffix}"
    if len(name) > 253 or not _NAME.fullmatch(name):
        raise InputError(
            f"invalid {kind} name {name[:64]!r}: Kubernetes allows lowercase letters, digits, "
            "'-' and '.', starting and ending with a letter or digit",
            file=loc.file,
            line=loc.line,
        )
    return name, loc


def object_namespace(doc: YMap, kind: str, layers: tuple[Layer, ...]) -> str:
    metadata = get_map(doc, "metadata", kind)
    namespace = get_text(metadata, "namespace", f"{kind}.metadata") if metadata else None
    for layer in layers:
        namespace = layer.namespace or namespace
    namespace = namespace or "default"
    if not _NAMESPACE.fullmatch(namespace):
        loc = metadata.key_loc("namespace") if metadata is not None else doc.loc
        raise InputError(
            f"invalid namespace {namespace[:64]!r}: lowercase letters, digits and '-' only",
            file=loc.file,
            line=loc.line,
        )
    return namespace


def prefixed(name: str, layers: tuple[Layer, ...]) -> str:
    """A reference to another object of the same kustomization (a Service, a claim)."""
    for layer in layers:
        name = f"{layer.prefix}{name}{layer.suffix}"
    return name


def split_image(ref: str) -> tuple[str, str | None, str | None]:
    """``name[:tag][@digest]`` to its three parts, as kustomize's ``image.Split``: the
    first ``:`` or ``@`` after the first ``/`` (so a registry port stays in the name)."""
    slash = ref.find("/")
    offset = slash if slash > 0 else 0
    search = ref[offset:]
    at, colon = search.find("@"), search.find(":")
    if at < 0 and colon < 0:
        return ref, None, None
    if at >= 0 and (colon < 0 or at < colon):
        return ref[: offset + at], None, ref[offset + at + 1 :] or None
    if at >= 0:
        name, tag = ref[: offset + colon], ref[offset + colon + 1 : offset + at]
        return name, tag or None, ref[offset + at + 1 :] or None
    return ref[: offset + colon], ref[offset + colon + 1 :] or None, None


# -- kustomize images: ------------------------------------------------------------

# kustomize (api/internal/image/image.go, v5.5.0) matches an ``images:`` name as a Go
# regexp: "^" + name + these, against the whole image string
_KUSTOMIZE_TAIL = "(:[a-zA-Z0-9_.{}-]*)?(@sha256:[a-zA-Z0-9_.{}-]*)?$"
# later kustomize matches a digest of any OCI algorithm; where the two disagree we refuse
_KUSTOMIZE_TAIL_ANY = (
    "(:[a-zA-Z0-9_.{}-]*)?(@[a-zA-Z0-9]+([.+_-][a-zA-Z0-9]+)*:[a-zA-Z0-9_.{}-]*)?$"
)
_GO_ESCAPES = {
    "d": r"\d",
    "D": r"\D",
    "w": r"\w",
    "W": r"\W",
    "s": r"[\t\n\f\r ]",
    "S": r"[^\t\n\f\r ]",
    "b": r"\b",
    "B": r"\B",
    "A": r"\A",
    "z": r"\Z",
}
_GO_CLASS_ESCAPES = {"d": r"\d", "D": r"\D", "w": r"\w", "W": r"\W", "s": r"\t\n\f\r "}
_GO_REPEAT = re.compile(r"\{(\d+)(,(\d*))?\}")
_GO_POSIX_CLASS = re.compile(r"\[:\^?[A-Za-z]+:\]")
_REPEAT_OPS = "*+?{"


class GoRegexpError(ValueError):
    """A Go (RE2) regexp that does not compile, or that we do not translate."""


def go_regexp(pattern: str) -> re.Pattern[str]:
    """A Python pattern matching exactly what Go's ``regexp.MatchString`` matches, for
    the RE2 syntax kustomize image names use (literals, ``.``, classes, groups,
    ``|``, repetitions, Perl classes, anchors). Flags, Unicode classes, POSIX
    classes and other escapes raise :class:`GoRegexpError`."""
    out: list[str] = []
    i, n = 0, len(pattern)
    repeatable = False  # the last item can take a repetition operator
    repeated = False  # the last item is a repetition (Go refuses a second one)
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            if i + 1 >= n:
                raise GoRegexpError("trailing backslash")
            nxt = pattern[i + 1]
            if nxt.isascii() and nxt.isalnum():
                if nxt not in _GO_ESCAPES:
                    raise GoRegexpError(f"escape \\{nxt} not supported")
                out.append(_GO_ESCAPES[nxt])
                repeatable = nxt not in "bBAz"
            elif nxt.isascii():  # escaped punctuation is the character itself
                out.append(re.escape(nxt))
                repeatable = True
            else:
                raise GoRegexpError(f"escape \\{nxt} not supported")
            repeated = False
            i += 2
            continue
        if ch == "[":
            i = _go_class(pattern, i, out)
            repeatable, repeated = True, False
            continue
        if ch in "*+?" or (ch == "{" and _GO_REPEAT.match(pattern, i)):
            if ch == "{":
                found = _GO_REPEAT.match(pattern, i)
                assert found is not None
                low, high = found.group(1), found.group(3)
                if int(low) > 1000 or (high and int(high) > 1000):
                    raise GoRegexpError("repeat count above 1000")
                op, i = found.group(0), found.end()
            else:
                op, i = ch, i + 1
            if repeated:
                raise GoRegexpError(f"invalid nested repetition operator {op}")
            if not repeatable:
                raise GoRegexpError(f"missing argument to repetition operator {op}")
            if i < n and pattern[i] == "?":  # non-greedy
                op += "?"
                i += 1
            out.append(op)
            repeated = True
            continue
        repeated = False
        if ch == "(":
            if pattern.startswith("(?:", i):
                out.append("(?:")
                i += 3
            elif pattern.startswith("(?P<", i):
                out.append("(?P<")
                i += 4
            elif pattern.startswith("(?", i):
                raise GoRegexpError("group flags not supported")
            else:
                out.append("(")
                i += 1
            repeatable = False
            continue
        if ch == ")":
            out.append(")")
            repeatable = True
        elif ch == "|":
            out.append("|")
            repeatable = False
        elif ch == "^":
            out.append(r"\A")
            repeatable = False
        elif ch == "$":
            out.append(r"\Z")
            repeatable = False
        elif ch == ".":
            out.append(".")
            repeatable = True
        else:  # a literal ({ that is not a repetition, }, ], letters, ...)
            out.append(re.escape(ch))
            repeatable = True
        i += 1
    try:
        return re.compile("".join(out), re.ASCII)
    except re.error as exc:
        raise GoRegexpError(str(exc)) from None


def _go_class(pattern: str, start: int, out: list[str]) -> int:
    """Translate the character class at ``start``; the index after it."""
    i, n = start + 1, len(pattern)
    body = ["["]
    if i < n and pattern[i] == "^":
        body.append("^")
        i += 1
    first = True
    while True:
        if i >= n:
            raise GoRegexpError("missing closing ]")
        ch = pattern[i]
        if ch == "]" and not first:
            body.append("]")
            i += 1
            break
        first = False
        if ch == "\\":
            if i + 1 >= n:
                raise GoRegexpError("trailing backslash")
            nxt = pattern[i + 1]
            if nxt.isascii() and nxt.isalnum():
                if nxt not in _GO_CLASS_ESCAPES:
                    raise GoRegexpError(f"escape \\{nxt} in a class not supported")
                body.append(_GO_CLASS_ESCAPES[nxt])
            elif nxt.isascii():
                body.append(re.escape(nxt))
            else:
                raise GoRegexpError(f"escape \\{nxt} not supported")
            i += 2
            continue
        if ch == "[" and _GO_POSIX_CLASS.match(pattern, i):
            raise GoRegexpError("POSIX classes ([:alpha:]) not supported")
        body.append("-" if ch == "-" else re.escape(ch))
        i += 1
    out.append("".join(body))
    return i


def image_matcher(name: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """kustomize's pattern for an ``images:`` name (v5.5.0 and later grammars)."""
    return go_regexp("^" + name + _KUSTOMIZE_TAIL), go_regexp("^" + name + _KUSTOMIZE_TAIL_ANY)


def override_image(image: str, layers: tuple[Layer, ...], *, passes: int = 2) -> str:
    """Apply kustomize ``images:`` (innermost kustomization first, entries in order) as
    kustomize v5.5.0 does: each entry runs its legacy filter and then its field-spec
    filter, so it applies twice to the images of ``spec.containers`` and
    ``spec.template.spec.containers`` and once to a CronJob's (``passes``); a later
    entry sees what an earlier one wrote."""
    for layer in layers:
        for entry in layer.images:
            for _ in range(passes):
                image = _apply_image(image, entry)
    return image


def _apply_image(image: str, entry: ImageOverride) -> str:
    old, new = (bool(p.search(image)) for p in entry.patterns)
    if old != new:
        raise InputError(
            f"images name {entry.name!r} matches {image!r} in some kustomize versions and not "
            "in others (digest algorithm); write the digest as sha256 or the name literally",
            file=entry.loc.file,
            line=entry.loc.line,
        )
    if not old:
        return image
    name, tag, digest = split_image(image)
    if entry.new_name:
        name = entry.new_name
    if entry.new_tag and entry.digest:
        tag, digest = entry.new_tag, entry.digest
    elif entry.new_tag:
        tag, digest = entry.new_tag, None
    elif entry.digest:
        tag, digest = None, entry.digest
    elif entry.tag_suffix:
        tag, digest = (tag or "") + entry.tag_suffix, None
    return name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


def _pod_paths(kind: str) -> tuple[str, ...]:
    if kind == "Pod":
        return ()
    if kind == "CronJob":
        return ("spec", "jobTemplate", "spec", "template")
    return ("spec", "template")


def _descend(doc: YMap, keys: tuple[str, ...], kind: str) -> YMap:
    node, path = doc, kind
    for key in keys:
        child = get_map(node, key, path)
        if child is None:
            raise InputError(f"{kind} has no {path}.{key}", file=doc.loc.file, line=node.loc.line)
        node, path = child, f"{path}.{key}"
    return node


def workload(doc: YMap, kind: str, file: str, layers: tuple[Layer, ...]) -> Workload:
    name, loc = object_name(doc, kind, layers)
    namespace = object_namespace(doc, kind, layers)
    template = _descend(doc, _pod_paths(kind), kind)
    template_meta = get_map(template, "metadata", "template") if kind != "Pod" else None
    if kind == "Pod":
        template_meta = get_map(doc, "metadata", kind)
    labels = string_map(
        get_map(template_meta, "labels", "metadata") if template_meta is not None else None,
        "metadata.labels",
    )
    pod = _descend(template, ("spec",), f"{kind} pod template")
    passes = 1 if kind == "CronJob" else 2  # kustomize's field specs miss jobTemplate
    containers = tuple(
        _container(item, "main", layers, passes)
        for item, _ in maps_of(get_seq(pod, "containers", "spec"), "containers")
    )
    if not containers:
        raise InputError(f"{kind} {name} has no containers", file=loc.file, line=pod.loc.line)
    inits = []
    for item, _ in maps_of(get_seq(pod, "initContainers", "spec"), "initContainers"):
        role = (
            "sidecar" if get_text(item, "restartPolicy", "initContainers") == "Always" else "init"
        )
        inits.append(_container(item, role, layers, passes))
    volumes = tuple(
        _volume(item, loc) for item, loc in maps_of(get_seq(pod, "volumes", "spec"), "volumes")
    )
    templates: list[ClaimTemplate] = []
    if kind == "StatefulSet":
        spec = get_map(doc, "spec", kind)
        assert spec is not None  # _descend found spec.template
        for item, item_loc in maps_of(
            get_seq(spec, "volumeClaimTemplates", "spec"), "volumeClaimTemplates"
        ):
            meta = get_map(item, "metadata", "volumeClaimTemplates")
            claim = get_text(meta, "name", "metadata") if meta is not None else None
            templates.append(ClaimTemplate(claim or "", item_loc))
    hosts = tuple(
        (key, where)
        for key in ("hostNetwork", "hostPID", "hostIPC")
        if (where := get_true(pod, key, "spec")) is not None
    )
    return Workload(
        kind=kind,
        namespace=namespace,
        name=name,
        file=file,
        loc=loc,
        labels=labels,
        containers=containers,
        init_containers=tuple(inits),
        volumes=volumes,
        claim_templates=tuple(templates),
        host_namespaces=hosts,
        doc=doc,
    )


def _command(spec: YMap) -> tuple[str, Loc]:
    parts: list[str] = []
    for key in ("command", "args"):
        value = spec.get(key)
        if value is None:
            continue
        if isinstance(value, YSeq):
            parts.extend(str(v) for v in value if not isinstance(v, YMap | YSeq))
        elif isinstance(value, YMap):
            loc = spec.key_loc(key)
            raise InputError(f"container {key} must be a list", file=loc.file, line=loc.line)
        else:
            parts.append(str(value))
    where = "command" if "command" in spec else "args" if "args" in spec else "image"
    return shlex.join(parts), spec.key_loc(where)


def _container(spec: YMap, role: str, layers: tuple[Layer, ...], passes: int) -> Container:
    path = "initContainers" if role != "main" else "containers"
    name = get_text(spec, "name", path) or ""
    image = get_text(spec, "image", path)
    env: list[EnvVar] = []
    for item, loc in maps_of(get_seq(spec, "env", path), f"{path}.env"):
        key = get_text(item, "name", "env") or ""
        source: str | None = None
        value_from = get_map(item, "valueFrom", "env")
        if value_from is not None:
            for ref in ("secretKeyRef", "configMapKeyRef"):
                target = get_map(value_from, ref, "valueFrom")
                if target is not None:
                    source = f"{ref} {get_text(target, 'name', ref) or ''}".strip()
            source = source or next(iter(value_from), "valueFrom")
        env.append(EnvVar(key, get_text(item, "value", "env"), source, loc))
    env_from: list[EnvFrom] = []
    for item, loc in maps_of(get_seq(spec, "envFrom", path), f"{path}.envFrom"):
        for ref in ("secretRef", "configMapRef"):
            target = get_map(item, ref, "envFrom")
            if target is not None:
                env_from.append(EnvFrom(ref, get_text(target, "name", ref) or "", loc))
    mounts = tuple(
        VolumeMount(
            get_text(item, "name", "volumeMounts") or "",
            get_text(item, "mountPath", "volumeMounts") or "",
            get_true(item, "readOnly", "volumeMounts") is not None,
            loc,
        )
        for item, loc in maps_of(get_seq(spec, "volumeMounts", path), f"{path}.volumeMounts")
    )
    security = get_map(spec, "securityContext", path)
    privileged = get_true(security, "privileged", "securityContext") if security else None
    caps: list[Capability] = []
    capabilities = get_map(security, "capabilities", "securityContext") if security else None
    if capabilities is not None:
        added = get_seq(capabilities, "add", "capabilities")
        for index, cap in enumerate(added):
            caps.append(Capability(str(cap), added.item_loc(index)))
    host_ports = tuple(
        HostPort(
            get_text(item, "hostPort", "ports") or "",
            get_text(item, "containerPort", "ports") or "",
            get_text(item, "protocol", "ports") or "TCP",
            loc,
        )
        for item, loc in maps_of(get_seq(spec, "ports", path), f"{path}.ports")
        if item.get("hostPort") not in (None, 0)
    )
    command, command_loc = _command(spec)
    return Container(
        name=name,
        role=role,
        image=override_image(image, layers, passes=passes) if image else None,
        image_loc=spec.key_loc("image"),
        loc=spec.loc,
        command=command,
        command_loc=command_loc,
        env=tuple(env),
        env_from=tuple(env_from),
        mounts=mounts,
        privileged=privileged,
        capabilities=tuple(caps),
        host_ports=host_ports,
        spec=spec,
    )


_VOLUME_SOURCES = {
    "persistentVolumeClaim": "claimName",
    "hostPath": "path",
    "secret": "secretName",
    "configMap": "name",
}


# the volume sources of the core/v1 Volume (Kubernetes 1.33)
VOLUME_TYPES = frozenset(
    {
        "hostPath",
        "emptyDir",
        "gcePersistentDisk",
        "awsElasticBlockStore",
        "gitRepo",
        "secret",
        "nfs",
        "iscsi",
        "glusterfs",
        "persistentVolumeClaim",
        "rbd",
        "flexVolume",
        "cinder",
        "cephfs",
        "flocker",
        "downwardAPI",
        "fc",
        "azureFile",
        "configMap",
        "vsphereVolume",
        "quobyte",
        "azureDisk",
        "photonPersistentDisk",
        "projected",
        "portworxVolume",
        "scaleIO",
        "storageos",
        "csi",
        "ephemeral",
        "image",
    }
)


def volume_type(spec: YMap, name: str) -> str:
    """The one source a volume sets, as the API server reads it: keys set to null are
    absent, none at all is ``emptyDir`` (its default), more than one is refused ("may
    not specify more than 1 volume type"). An unknown key beside a known source is
    ignored (the API server drops or refuses it); an unknown key alone is an error."""
    known = [k for k in spec if k in VOLUME_TYPES and spec[k] is not None]
    if len(known) > 1:
        loc = spec.key_loc(known[1])
        raise InputError(
            f"volume {name!r} may not specify more than 1 volume type ({', '.join(known)})",
            file=loc.file,
            line=loc.line,
        )
    if known:
        return known[0]
    unknown = [k for k in spec if k != "name" and spec[k] is not None]
    if unknown:
        loc = spec.key_loc(unknown[0])
        raise InputError(
            f"volume {name!r} has an unknown volume type {unknown[0]!r}",
            file=loc.file,
            line=loc.line,
        )
    return "emptyDir"


def _volume(spec: YMap, loc: Loc) -> Volume:
    name = get_text(spec, "name", "volumes") or ""
    kind = volume_type(spec, name)
    body = (
        get_map(spec, kind, "volumes")
        if kind in _VOLUME_SOURCES
        or kind
        in (
            "emptyDir",
            "projected",
        )
        else None
    )
    source = (
        get_text(body, _VOLUME_SOURCES[kind], kind) if body and kind in _VOLUME_SOURCES else None
    )
    secrets: list[str] = []
    if kind == "secret":
        secrets.append(source or "")
    elif kind == "projected" and body is not None:
        for item, _ in maps_of(get_seq(body, "sources", "projected"), "projected.sources"):
            secret = get_map(item, "secret", "sources")
            if secret is not None:
                secrets.append(get_text(secret, "name", "secret") or "")
    read_only = body is not None and get_true(body, "readOnly", kind) is not None
    medium = (
        get_text(body, "medium", "emptyDir") if body is not None and kind == "emptyDir" else None
    )
    return Volume(name, kind, source, read_only, tuple(secrets), medium, loc)


def kube_service(doc: YMap, file: str, layers: tuple[Layer, ...]) -> KubeService:
    name, loc = object_name(doc, "Service", layers)
    namespace = object_namespace(doc, "Service", layers)
    spec = get_map(doc, "spec", "Service") or YMap(doc.loc)
    service_type = get_text(spec, "type", "Service.spec") or "ClusterIP"
    ips = get_seq(spec, "externalIPs", "Service.spec")
    return KubeService(
        namespace=namespace,
        name=name,
        file=file,
        loc=loc,
        type=service_type,
        type_loc=spec.key_loc("type"),
        selector=string_map(get_map(spec, "selector", "Service.spec"), "Service.spec.selector"),
        external_ips=spec.key_loc("externalIPs") if ips else None,
        doc=doc,
    )


def route(doc: YMap, kind: str, file: str, layers: tuple[Layer, ...]) -> Route:
    name, _ = object_name(doc, kind, layers)
    namespace = object_namespace(doc, kind, layers)
    spec = get_map(doc, "spec", kind) or YMap(doc.loc)
    backends: list[Backend] = []
    if kind == "Ingress":
        default = get_map(spec, "defaultBackend", "spec") or get_map(spec, "backend", "spec")
        if default is not None:
            backends.extend(_ingress_backend(default))
        for rule, _ in maps_of(get_seq(spec, "rules", "spec"), "rules"):
            http = get_map(rule, "http", "rules")
            if http is None:
                continue
            for path, _ in maps_of(get_seq(http, "paths", "http"), "paths"):
                backend = get_map(path, "backend", "paths")
                if backend is not None:
                    backends.extend(_ingress_backend(backend))
    else:
        for rule, _ in maps_of(get_seq(spec, "rules", "spec"), "rules"):
            for ref, loc in maps_of(get_seq(rule, "backendRefs", "rules"), "backendRefs"):
                ref_kind = get_text(ref, "kind", "backendRefs") or "Service"
                target = get_text(ref, "name", "backendRefs")
                if ref_kind == "Service" and target:
                    backends.append(Backend(target, loc))
    return Route(
        kind,
        namespace,
        name,
        file,
        tuple(Backend(prefixed(b.service, layers), b.loc) for b in backends),
        doc,
    )


def _ingress_backend(backend: YMap) -> list[Backend]:
    service = get_map(backend, "service", "backend")
    if service is not None:  # networking.k8s.io/v1
        target = get_text(service, "name", "backend.service")
        return [Backend(target, backend.key_loc("service"))] if target else []
    target = get_text(backend, "serviceName", "backend")  # extensions/v1beta1
    return [Backend(target, backend.key_loc("serviceName"))] if target else []


def object_kind(doc: YMap) -> tuple[str, str]:
    """``(apiVersion, kind)`` of a document; both are required."""
    api = get_text(doc, "apiVersion", "object")
    kind = get_text(doc, "kind", "object")
    if not api or not kind:
        missing = "kind" if api else "apiVersion"
        raise InputError(
            f"not a Kubernetes object: no {missing}", file=doc.loc.file, line=doc.loc.line
        )
    return api, kind


def claim_of(claim: str, workload_: Workload) -> str | None:
    """The claim template of ``workload_`` that names ``claim`` (``<t>-<name>-<n>``)."""
    for template in workload_.claim_templates:
        stem = f"{template.name}-{workload_.name}-"
        if claim.startswith(stem) and claim[len(stem) :].isdigit():
            return template.name
    return None


def plain_text(value: Any) -> str:
    """Scalars of a YAML tree joined (for finding references in a container's config)."""
    if isinstance(value, YMap):
        return " ".join(plain_text(v) for v in value.values())
    if isinstance(value, YSeq):
        return " ".join(plain_text(v) for v in value)
    return "" if value is None else str(value)
