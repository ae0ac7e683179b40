"""A Kubernetes workload as the one module model: a compose :class:`Service`.

project = namespace, name = workload name, image = the first container's image
(the others in ``more_images``), mounts, environment and host settings of the
first container and the pod. ``spec`` is a flat view of what would run, so
``config_fields`` names what a PR changed (``containers.app``, ``pod``,
``services.web``) and ``runtime_digest`` binds all of it, the Services and
routes exposing the workload included.
"""

from __future__ import annotations

from stategate.compose.model import Mount, Port, Ref, Service, Setting
from stategate.kubernetes.load import KubernetesSet
from stategate.kubernetes.manifest import (
    Container,
    KubeService,
    Route,
    Workload,
    get_map,
)
from stategate.yamlfile import Loc, YMap

# volume types whose data outlives the pod (mapped to compose "volume"/"bind" mounts)
PERSISTENT_VOLUMES = frozenset(
    {
        "persistentVolumeClaim",
        "gcePersistentDisk",
        "awsElasticBlockStore",
        "azureDisk",
        "azureFile",
        "cinder",
        "nfs",
        "glusterfs",
        "cephfs",
        "rbd",
        "iscsi",
        "portworxVolume",
        "vsphereVolume",
        "fc",
        "flocker",
        "storageos",
        "quobyte",
        "photonPersistentDisk",
        "scaleIO",
    }
)


def mount_type(workload: Workload, volume_name: str) -> tuple[str, str | None]:
    """The compose mount type and source of a volume mount: ``volume`` for data that
    outlives the pod (claims, claim templates, network storage), ``bind`` for hostPath,
    ``tmpfs`` for emptyDir in memory, ``emptyDir``, ``secret``, ``configMap``, ... else."""
    if any(t.name == volume_name for t in workload.claim_templates):
        return "volume", f"{volume_name} (volumeClaimTemplate)"
    volume = workload.volume(volume_name)
    if volume is None:
        return "unknown", None
    if volume.type in PERSISTENT_VOLUMES:
        return "volume", volume.source or f"{volume.type} {volume.name}"
    if volume.type == "hostPath":
        return "bind", volume.source
    if volume.type == "emptyDir" and (volume.medium or "").lower() == "memory":
        return "tmpfs", None
    return volume.type, volume.source


def container_mounts(workload: Workload, container: Container) -> tuple[Mount, ...]:
    out: list[Mount] = []
    for mount in container.mounts:
        kind, source = mount_type(workload, mount.volume)
        volume = workload.volume(mount.volume)
        read_only = mount.read_only or (volume is not None and volume.read_only)
        out.append(Mount(kind, source, mount.path, read_only, mount.loc))
    return tuple(out)


def _copy(node: YMap, *drop: str) -> YMap:
    out = YMap(node.loc)
    for key, value in node.items():
        if key not in drop:
            out.put(key, value, node.key_loc(key))
    return out


def _runtime_view(workload: Workload, services: list[KubeService], routes: list[Route]) -> YMap:
    doc = workload.doc
    view = YMap(doc.loc)
    view.put("kind", workload.kind, doc.key_loc("kind"))
    first = workload.containers[0]
    view.put("image", first.image, first.image_loc)
    for container in workload.containers:
        spec = _copy(container.spec, "image") if container is first else _copy(container.spec)
        if container.image is not None and container is not first:
            spec.put("image", container.image, container.image_loc)  # kustomize's image
        view.put(f"containers.{container.name}", spec, container.loc)
    for container in workload.init_containers:
        spec = _copy(container.spec)
        if container.image is not None:
            spec.put("image", container.image, container.image_loc)
        view.put(f"initContainers.{container.name}", spec, container.loc)
    body = get_map(doc, "spec", workload.kind)
    if workload.kind == "Pod":
        if body is not None:
            view.put("pod", _copy(body, "containers", "initContainers"), body.loc)
    elif body is not None:
        view.put("workload", _copy(body, "template", "jobTemplate"), body.loc)
        job = get_map(body, "jobTemplate", "spec")
        job_body = get_map(job, "spec", "jobTemplate") if job is not None else None
        if job_body is not None:
            view.put("job", _copy(job_body, "template"), job_body.loc)
        template = get_map(job_body or body, "template", "spec")
        if template is not None:
            meta = get_map(template, "metadata", "template")
            if meta is not None:
                view.put("template.metadata", meta, meta.loc)
            pod = get_map(template, "spec", "template")
            if pod is not None:
                view.put("pod", _copy(pod, "containers", "initContainers"), pod.loc)
    for service in services:
        service_spec = get_map(service.doc, "spec", "Service") or YMap(service.loc)
        view.put(f"services.{service.name}", service_spec, service.loc)
    for found in routes:
        route_spec = get_map(found.doc, "spec", found.kind) or YMap(found.doc.loc)
        view.put(f"routes.{found.kind}/{found.name}", route_spec, found.doc.loc)
    return view


def exposure(workload: Workload, kset: KubernetesSet) -> tuple[list[KubeService], list[Route]]:
    """The Services selecting ``workload`` and the routes pointing at those Services."""
    services = [s for s in kset.services if s.selects(workload)]
    names = {s.name for s in services}
    routes = [
        r
        for r in kset.routes
        if r.namespace == workload.namespace and any(b.service in names for b in r.backends)
    ]
    return services, routes


def _setting(value: str, loc: Loc | None) -> Setting | None:
    return Setting(value, loc) if loc is not None else None


def service_of(workload: Workload, kset: KubernetesSet) -> Service:
    first = workload.containers[0]
    services, routes = exposure(workload, kset)
    env = {e.name: Setting(e.value if e.source is None else None, e.loc) for e in first.env}
    secrets: list[Ref] = []
    for container in workload.all_containers:
        for var in container.env:
            if var.source and var.source.startswith("secretKeyRef"):
                secrets.append(Ref(var.source.split(" ", 1)[-1], var.loc, "secretKeyRef"))
        for ref in container.env_from:
            if ref.kind == "secretRef":
                secrets.append(Ref(ref.name, ref.loc, "secretRef"))
    for volume in workload.volumes:
        secrets.extend(Ref(name, volume.loc, "volume") for name in volume.secrets)
    hosts = dict(workload.host_namespaces)
    privileged = next((c.privileged for c in workload.all_containers if c.privileged), None)
    return Service(
        project=workload.namespace,
        name=workload.name,
        file=workload.file,
        loc=workload.loc,
        image=first.image,
        image_loc=first.image_loc,
        build=False,
        base_image=None,
        command=first.command,
        command_loc=first.command_loc,
        entrypoint="",
        restart=None,
        restart_loc=workload.loc,
        ports=tuple(
            Port(p.container_port, p.host_port, None, p.protocol.lower(), p.loc)
            for p in first.host_ports
        ),
        expose=(),
        mounts=container_mounts(workload, first),
        volumes_from=(),
        depends_on=(),
        environment=env,
        labels={k: Setting(v, workload.loc) for k, v in workload.labels.items()},
        env_files=(),
        secrets=tuple(secrets),
        network_mode=_setting("host", hosts.get("hostNetwork")),
        pid=_setting("host", hosts.get("hostPID")),
        ipc=_setting("host", hosts.get("hostIPC")),
        privileged=_setting("true", privileged),
        cap_add=tuple(Ref(c.name, c.loc) for c in first.capabilities),
        devices=(),
        security_opt=(),
        profiles=(),
        deploy_restart=None,
        spec=_runtime_view(workload, services, routes),
        more_images=tuple(
            (f"{'init:' if c.role != 'main' else ''}{c.name}", c.image)
            for c in workload.all_containers[1:]
        ),
    )
