"""Sidecar-bound: the service a helper, job or companion moves with, and why.

Pure. Rules run in order and the first that binds wins; every other rule that looked
and did not bind leaves a near miss for ``classify --explain``. A binding that rests on a
judgement (a name, a shared folder, a host setting) is ``likely``; the policy confirms
it (``parent:``) or rejects it (``classes.remove: [sidecar-bound]``) per module.
"""

from __future__ import annotations

import bisect
import itertools
import posixpath
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from stategate.compose.model import Mount, Service
from stategate.image import parse_image
from stategate.policy.schema import UpgradeClass
from stategate.policy.signals import (
    BACKUP_IMAGES,
    BACKUP_NAME,
    HELPER_IMAGES,
    HELPER_NAME,
    JOB_COMMAND,
    JOB_NAME,
    Confidence,
    NearMiss,
    Reason,
    hosts_named,
    is_data_image,
    is_database,
    mount_holds_data,
    why_not_data,
)
from stategate.yamlfile import Loc

C = UpgradeClass


@dataclass(frozen=True)
class Data:
    """One place a service keeps or reads data: a named volume or a host folder."""

    kind: str  # "volume" or "bind"
    path: str  # volume name, or the normalised host path

    def within(self, other: Data) -> bool:
        """The same data, or a folder inside ``other``'s folder."""
        if self.kind != other.kind:
            return False
        if self.path == other.path:
            return True
        return self.kind == "bind" and self.path.startswith(other.path.rstrip("/") + "/")

    def __str__(self) -> str:
        return self.path


@dataclass
class ProjectFacts:
    """What the sidecar rules need to know about one compose project."""

    project: str
    services: dict[str, Service]
    stateful: set[str]
    awaited: set[str] = field(default_factory=set)
    jobs: set[str] = field(default_factory=set)
    containers: dict[str, str] = field(default_factory=dict)  # container name -> module id
    own: dict[str, list[Data]] = field(init=False)  # service -> the data it writes
    helpers: set[str] = field(init=False)
    repository: dict[str, str] = field(init=False)  # service -> its image's repository
    _writers: _DataIndex = field(init=False)
    _readers: _DataIndex = field(init=False)  # read-only data mounts
    _order: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.own = {name: own_data(svc) for name, svc in self.services.items()}
        self.helpers = {name for name, svc in self.services.items() if is_helper(svc)}
        self.repository = {
            name: parse_image(svc.image).full_repository
            for name, svc in self.services.items()
            if svc.image
        }
        order = {name: at for at, name in enumerate(self.services)}
        self._order = order
        self._writers = _DataIndex(order, self.own.items())
        read = {
            name: [d for m in svc.mounts if m.read_only and (d := data_of(m)) is not None]
            for name, svc in self.services.items()
        }
        self._readers = _DataIndex(order, read.items())

    def id(self, name: str) -> str:
        return f"{self.project}/{name}"

    def writers(self, data: Data, *, inside: bool) -> list[str]:
        """Services writing ``data`` or a folder holding it; with ``inside``, also those
        writing a folder inside it. In declaration order."""
        return self._writers.find(data, inside=inside)

    def writer_set(self, data: Data, *, inside: bool) -> frozenset[str]:
        return self._writers.find_set(data, inside=inside)

    def order(self, name: str) -> int:
        return self._order[name]

    def readers(self, data: Data) -> list[str]:
        """Services mounting ``data`` (or a folder inside it) read-only; one that mounts a
        folder above it (the host's ``/``) reads far more than this."""
        return self._readers.find(data, inside=True, above=False)


class _DataIndex:
    """Who mounts which data: exact, the folders above it, and (``inside``) below it."""

    def __init__(self, order: dict[str, int], entries: Iterable[tuple[str, list[Data]]]) -> None:
        self._order = order
        self._by: dict[Data, list[str]] = {}
        for name, datas in entries:
            for data in datas:
                self._by.setdefault(data, []).append(name)
        self._binds = sorted(d.path for d in self._by if d.kind == "bind")
        self._found: dict[tuple[Data, bool, bool], list[str]] = {}
        self._sets: dict[tuple[Data, bool, bool], frozenset[str]] = {}

    def find(self, data: Data, *, inside: bool, above: bool = True) -> list[str]:
        key = (data, inside, above)
        if key not in self._found:  # services sharing one volume all ask the same
            self._found[key] = self._find(data, inside=inside, above=above)
        return self._found[key]

    def find_set(self, data: Data, *, inside: bool) -> frozenset[str]:
        key = (data, inside, True)
        if key not in self._sets:
            self._sets[key] = frozenset(self.find(data, inside=inside))
        return self._sets[key]

    def _find(self, data: Data, *, inside: bool, above: bool) -> list[str]:
        found = list(self._by.get(data, ()))
        if data.kind == "bind":
            path = data.path
            while above and (parent := posixpath.dirname(path)) != path and parent:
                found += self._by.get(Data("bind", parent), ())
                path = parent
            if inside:
                prefix = data.path.rstrip("/") + "/"
                at = bisect.bisect_left(self._binds, prefix)
                while at < len(self._binds) and self._binds[at].startswith(prefix):
                    found += self._by[Data("bind", self._binds[at])]
                    at += 1
        return sorted(set(found), key=self._order.__getitem__)


def data_of(mount: Mount) -> Data | None:
    """The data a mount reaches, whether writable or not (None for config, sockets...)."""
    if not mount.source or why_not_data(mount) is not None:
        return None
    if mount.type == "bind":
        return Data("bind", posixpath.normpath(mount.source))
    return Data("volume", mount.source)


def own_data(svc: Service) -> list[Data]:
    """The data ``svc`` writes (its writable data mounts)."""
    return [d for m in svc.mounts if mount_holds_data(m) and (d := data_of(m)) is not None]


def is_job(svc: Service) -> tuple[bool, str, Loc]:
    restart = (svc.restart or "").strip('"').lower().split(":")[0]
    if svc.deploy_restart and (svc.deploy_restart.value or "").lower() == "none":
        return True, "deploy.restart_policy condition none", svc.deploy_restart.loc
    if restart in ("", "no") and JOB_COMMAND.search(f"{svc.entrypoint} {svc.command}"):
        return True, "one-shot command", svc.command_loc
    if restart in ("", "no", "on-failure") and JOB_NAME.search(svc.name):
        return True, f"one-shot job (restart: {restart or 'no'})", svc.restart_loc
    return False, "", svc.loc


def is_backup_agent(svc: Service) -> bool:
    image = (svc.effective_image or "").lower()
    repository = parse_image(image).repository if image else ""
    return bool(BACKUP_NAME.search(svc.name) or (repository and BACKUP_IMAGES.search(repository)))


def is_helper(svc: Service) -> bool:
    image = (svc.effective_image or "").lower()
    repository = parse_image(image).repository if image else ""
    return (
        bool(HELPER_NAME.search(svc.name))
        or is_backup_agent(svc)
        or bool(repository and HELPER_IMAGES.search(repository))
    )


def container_names(services: Iterable[Service]) -> dict[str, str]:
    """Container name -> module id: ``container_name:``, else compose's default names."""
    out: dict[str, str] = {}
    for svc in services:
        for name in (f"{svc.project}-{svc.name}-1", f"{svc.project}_{svc.name}_1"):
            out.setdefault(name, svc.id)
    for svc in services:
        declared = svc.spec.get("container_name")
        if isinstance(declared, str) and declared:
            out[declared] = svc.id
    return out


def container_lookups(
    services: Iterable[Service], containers: Mapping[str, str]
) -> dict[str, str | None]:
    """What :func:`bind` looks up in ``containers`` for ``services`` (``network_mode:
    container:``, ``volumes_from: container:``): all it reads beyond their project."""
    out: dict[str, str | None] = {}
    for svc in services:
        mode = (svc.network_mode.value or "").strip() if svc.network_mode else ""
        names = [mode.split(":", 1)[1]] if mode.startswith("container:") else []
        names += [
            ref.name.removeprefix("container:").split(":")[0]
            for ref in svc.volumes_from
            if ref.name.startswith("container:")
        ]
        for name in names:
            out[name] = containers.get(name)
    return out


def _same_image(a: Service, b: Service) -> bool:
    if not a.image or not b.image:
        return False
    return parse_image(a.image).full_repository == parse_image(b.image).full_repository


@dataclass
class Binding:
    parent: str | None = None  # module id
    reasons: list[Reason] = field(default_factory=list)
    near: list[NearMiss] = field(default_factory=list)

    def bind(self, parent: str, reason: str, loc: Loc, confidence: Confidence = "certain") -> bool:
        if self.parent is None:
            self.parent = parent
            self.reasons.append(Reason(C.SIDECAR_BOUND, reason, loc, confidence))
            return True
        self.miss("sidecar", f"{reason}: also true, but already bound to {self.parent}", loc)
        return False

    def miss(self, rule: str, why: str, loc: Loc) -> None:
        self.near.append(NearMiss(C.SIDECAR_BOUND, rule, why, loc))


def bind(svc: Service, facts: ProjectFacts) -> Binding:
    """The parent ``svc`` moves with, if any (first rule that binds wins)."""
    out = Binding()
    for rule in (_network, _volumes_from, _job, _same_image_helper, _backup_agent, _shared_data):
        rule(svc, facts, out)
    return out


def _network(svc: Service, facts: ProjectFacts, out: Binding) -> None:
    if svc.network_mode is None:
        return
    mode = (svc.network_mode.value or "").strip()
    loc = svc.network_mode.loc
    if mode.startswith("service:"):
        service = mode.split(":", 1)[1]
        out.bind(facts.id(service), f"shares the network of {service} (network_mode)", loc)
    elif mode.startswith("container:"):
        name = mode.split(":", 1)[1]
        target = facts.containers.get(name)
        if target and target != svc.id:
            out.bind(target, f"shares the network of container {name} ({target})", loc)
        else:
            out.miss(
                "network_mode container:",
                f"container {name} is not a container_name of any service read here; "
                "set this module's parent in stategate.yaml",
                loc,
            )


def _volumes_from(svc: Service, facts: ProjectFacts, out: Binding) -> None:
    for ref in svc.volumes_from:
        name = ref.name
        if name.startswith("container:"):
            container = name.removeprefix("container:").split(":")[0]
            target = facts.containers.get(container)
            if target and target != svc.id:
                out.bind(target, f"volumes_from container {container} ({target})", ref.loc)
            else:
                out.miss("volumes_from", f"container {container} is not declared here", ref.loc)
            continue
        target = name.removeprefix("service:").split(":")[0]
        out.bind(facts.id(target), f"volumes_from {target}", ref.loc)


def _job_shape(svc: Service, facts: ProjectFacts) -> tuple[bool, str, Loc]:
    job, why, loc = is_job(svc)
    if svc.name in facts.awaited and not job:
        return True, "others wait for it to complete", svc.loc
    return job, why, loc


def _deps(svc: Service, facts: ProjectFacts) -> list[str]:
    return [d.name for d in svc.depends_on if d.name in facts.services]


def _job(svc: Service, facts: ProjectFacts, out: Binding) -> None:
    job, why, loc = _job_shape(svc, facts)
    deps = _deps(svc, facts)
    if job and deps:
        stores = [d for d in deps if d in facts.stateful]
        # a migration moves with the database, not with the cache beside it
        parent = next((d for d in stores if is_data_image(facts.services[d])), None)
        parent = parent or next(iter(stores), deps[0])
        out.bind(facts.id(parent), f"{why}; depends on {parent}", loc)
    elif job:
        out.miss("one-shot job", f"{why}, but it depends on no service", loc)
    elif deps and out.parent is None and not is_helper(svc):
        names = ", ".join(deps)
        out.miss(
            "depends_on",
            f"depends on {names}: that alone does not bind a long-running service",
            svc.at("depends_on"),
        )


def _same_image_helper(svc: Service, facts: ProjectFacts, out: Binding) -> None:
    if not svc.image or not is_helper(svc) or _job_shape(svc, facts)[0]:
        return
    for dep in _deps(svc, facts):
        other = facts.services[dep]
        if dep in facts.jobs or is_helper(other):
            continue
        if _same_image(svc, other):
            out.bind(facts.id(dep), f"helper of {dep} (same image, depends on it)", svc.image_loc)
            return
    if out.parent is None and svc.depends_on:
        out.miss(
            "helper",
            "a helper by its name or image, but no service it depends on runs its image",
            svc.image_loc,
        )


def _shared_data(svc: Service, facts: ProjectFacts, out: Binding) -> None:
    """Helpers, jobs, backup agents and companions that work on another service's data.

    Candidates are tried writable mounts first and the services that are neither helpers
    nor jobs first, so a worker binds to the app rather than to a backup agent beside it.
    A long-running service can only bind to what it depends on or is named after, so only
    those are tried; the other sharers of a mount make one near miss (no quadratic walk
    when a thousand services share one volume).
    """
    job = _job_shape(svc, facts)[0]
    helper = svc.name in facts.helpers
    backup = is_backup_agent(svc)
    deps = _deps(svc, facts)
    named = set(deps) | _named_after(svc.name, facts)
    mine = facts.repository.get(svc.name)

    def could_bind(name: str) -> bool:
        """Whether a helper or backup agent could bind to ``name`` at all."""
        if backup and name in facts.stateful:
            return True
        return helper and (name not in facts.helpers or facts.repository.get(name) == mine)

    candidates: list[tuple[Mount, Data, Service]] = []
    skipped: list[tuple[Mount, Data, list[str], int]] = []
    for mount in svc.mounts:
        data = data_of(mount)
        if data is None:
            continue
        writers = facts.writers(data, inside=not mount.read_only)
        if helper or job or backup:
            pool = [n for n in writers if n != svc.name and n not in facts.jobs]
            tried = [n for n in pool if job or n in named or could_bind(n)]
            candidates.extend((mount, data, facts.services[name]) for name in tried)
            if len(tried) < len(pool):
                chosen = set(tried)
                left = [n for n in pool if n not in chosen]
                skipped.append((mount, data, left[:3], len(left)))
            continue
        among = facts.writer_set(data, inside=not mount.read_only)
        tried = sorted((n for n in named if n in among and n not in facts.jobs), key=facts.order)
        candidates.extend((mount, data, facts.services[name]) for name in tried)
        others = len(among) - len(tried) - (svc.name in among)
        others -= sum(1 for n in facts.jobs if n in among and n != svc.name)
        if others > 0:
            rest = (n for n in writers if n != svc.name and n not in facts.jobs and n not in tried)
            skipped.append((mount, data, list(itertools.islice(rest, 3)), others))
    candidates.sort(key=lambda c: (c[0].read_only, c[2].name in facts.helpers))
    for mount, data, other in candidates:
        how = _how(data, other, mount)
        if (helper or job) and _same_image(svc, other):
            what = "a job running" if job else "runs"
            reason = f"{what} {other.name}'s own image against its data ({how})"
            out.bind(facts.id(other.name), reason, mount.loc)
        elif backup and other.name in facts.stateful:
            out.bind(facts.id(other.name), f"backup agent of {other.name} ({how})", mount.loc)
        elif job:
            out.bind(facts.id(other.name), f"job writing {how}", mount.loc, "likely")
        elif helper and other.name not in facts.helpers:
            out.bind(facts.id(other.name), f"shares {how}", mount.loc, "likely")
        elif other.name in deps:
            problem = _not_its_sidecar(svc, other, mount, data, facts)
            if problem is not None:
                out.miss("shared data", f"{how}, but {problem}", mount.loc)
            elif mount.read_only:
                reason = f"runs what it finds in {other.name}'s data ({how})"
                out.bind(facts.id(other.name), reason, mount.loc)
            else:
                out.bind(facts.id(other.name), f"shares {how}", mount.loc, "likely")
        elif _companion(svc, other, facts):
            reason = f"companion of {other.name}: all its data lives in its volumes ({how})"
            out.bind(facts.id(other.name), reason, mount.loc, "likely")
        else:
            _unrelated(mount, data, [other.name], 1, facts, out)
        if out.parent is not None and not backup:
            return  # a backup agent goes on: every other store it reaches is named
    for mount, data, names, count in skipped:
        _unrelated(mount, data, names, count, facts, out)
    if out.parent is None and (helper or job):
        _feeds(svc, facts, out)


def _named_after(name: str, facts: ProjectFacts) -> set[str]:
    """Services whose name begins ``name`` before a separator (``app`` for ``app-push``)."""
    return {
        name[:at] for at, char in enumerate(name) if char in "-_." and name[:at] in facts.services
    }


def _unrelated(
    mount: Mount, data: Data, names: list[str], count: int, facts: ProjectFacts, out: Binding
) -> None:
    """One near miss for the ``count`` sharers of a mount (``names``: the first few) that
    nothing relates to it."""
    if count == 1:
        how = _how(data, facts.services[names[0]], mount)
        why = (
            f"{how}, but it is no job, helper, backup agent or companion of {names[0]} "
            "and does not depend on it"
        )
    else:
        what = "data volume" if data.kind == "volume" else "bind path"
        more = f" and {count - len(names)} more" if count > len(names) else ""
        why = (
            f"{what} {data} shared with {', '.join(names)}{more}, but it is no job, helper, "
            "backup agent or companion of any of them and depends on none"
        )
    out.miss("shared data", why, mount.loc)


def _not_its_sidecar(
    svc: Service, other: Service, mount: Mount, data: Data, facts: ProjectFacts
) -> str | None:
    """Why a long-running service that depends on ``other`` and mounts its data does not
    move with it (None: it does)."""
    if other.name in facts.helpers:
        return f"{other.name} is a helper: a service does not move with its own helper"
    pool = [
        w
        for w in facts.writers(data, inside=True)
        if w not in (svc.name, other.name) and w not in facts.helpers and w not in facts.jobs
    ]
    if pool:
        return f"the data is a pool that {', '.join([other.name, *pool])} write"
    fronted = [
        d.name
        for d in svc.depends_on
        if d.name in facts.stateful
        and d.name not in facts.helpers
        and d.name not in facts.jobs
        and not is_data_image(facts.services[d.name])
    ]
    if len(fronted) >= 2:
        return f"it is a front for {', '.join(fronted)}"
    if mount.read_only:
        runs = f"{svc.entrypoint} {svc.command}"
        target = mount.target.rstrip("/") + "/"
        if target not in runs:
            return f"it only reads that data and runs nothing from {mount.target}"
    return None


def _feeds(svc: Service, facts: ProjectFacts, out: Binding) -> None:
    """A helper or job whose data no other service shares (else ``_shared_data`` bound
    it) and exactly one other service reads (git-sync filling a web root)."""
    for mount in svc.mounts:
        data = data_of(mount)
        if data is None or mount.read_only:
            continue
        readers = [
            r
            for r in facts.readers(data)
            if r != svc.name and r not in facts.helpers and r not in facts.jobs
        ]
        if len(readers) == 1:
            reason = f"feeds {readers[0]}'s data ({data} is read-only there)"
            out.bind(facts.id(readers[0]), reason, mount.loc, "likely")
            return
        if readers:
            why = f"writes {data} that {', '.join(readers)} read: not bound to one"
            out.miss("feeds data", why, mount.loc)


def _how(data: Data, other: Service, mount: Mount) -> str:
    what = "data volume" if data.kind == "volume" else "bind path"
    mode = " read-only" if mount.read_only else ""
    theirs = [d for m in other.mounts if (d := data_of(m)) is not None and data.within(d)]
    if theirs and theirs[0].path != data.path:
        return f"{what} {data} inside {other.name}'s {theirs[0]}{mode}"
    return f"{what} {data} with {other.name}{mode}"


def _companion(svc: Service, other: Service, facts: ProjectFacts) -> bool:
    """``svc`` is named after ``other`` (``app-push`` beside ``app``), keeps all its data in
    ``other``'s volumes and ``other`` has more: a daemon that exists for ``other`` (only
    when no third service shares those volumes)."""
    if not re.match(rf"{re.escape(other.name)}[-_.]", svc.name):
        return False
    mine, theirs = facts.own[svc.name], facts.own[other.name]
    if not mine or not all(any(d.within(t) for t in theirs) for d in mine):
        return False
    if all(any(t.within(d) for d in mine) for t in theirs):
        return False  # the same volumes both ways: peers, not a companion
    for third in facts.services.values():
        if third.name in (svc.name, other.name):
            continue
        if any(d.within(t) or t.within(d) for d in mine for t in facts.own[third.name]):
            return False
    return True


def _backup_agent(svc: Service, facts: ProjectFacts, out: Binding) -> None:
    """A backup agent serves the data store it depends on, or the one database it reaches
    by host name."""
    if not is_backup_agent(svc):
        return
    deps = [d for d in _deps(svc, facts) if d in facts.stateful]
    if deps and any(data_of(m) is not None for m in svc.mounts):
        out.bind(
            facts.id(deps[0]), f"backup agent of {deps[0]} (depends on it)", svc.at("depends_on")
        )
        return
    found: dict[str, Loc] = {}
    for host, loc in hosts_named(svc):
        target = facts.services.get(host) or facts.services.get(host.split(".")[0])
        if target is not None and target.name != svc.name and is_database(target):
            found.setdefault(target.name, loc)
    if len(found) == 1:
        ((name, loc),) = found.items()
        reason = f"backup agent reaching database {name} by host name"
        out.bind(facts.id(name), reason, loc, "likely")
    elif len(found) > 1:
        names = ", ".join(sorted(found))
        out.miss(
            "backup agent",
            f"reaches {len(found)} databases ({names}): not bound to one",
            next(iter(found.values())),
        )
