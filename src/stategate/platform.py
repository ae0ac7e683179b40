"""A platform repo, loaded: policy in force, compose projects, classified modules.

This is the I/O edge that the commands call; everything it returns is plain
typed data for the pure policy and report code.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from stategate.compose.cache import ComposeCache
from stategate.compose.diagnostics import Warning
from stategate.compose.load import ComposeSet, Project, load_compose
from stategate.compose.memo import Recording, RecordingSource, same_answers
from stategate.compose.model import Service, services_of
from stategate.errors import InputError
from stategate.kubernetes.classify import classify_kubernetes
from stategate.kubernetes.load import KubernetesSet, load_kubernetes
from stategate.policy.classify import ClassifyCache, Inventory, Module, classify
from stategate.policy.load import LoadedPolicy, Relaxation, load_policy
from stategate.policy.schema import InventorySource, Policy
from stategate.source import Source, WorkTree

DECISIONS_DIR = "decisions/"


@dataclass
class Platform:
    source: Source
    loaded_policy: LoadedPolicy
    compose: ComposeSet
    services: list[Service]
    inventory: Inventory
    kubernetes: KubernetesSet | None = None

    @property
    def sources(self) -> list[InventorySource]:
        """The inventory sources in force (compose unless turned off; kubernetes when on
        and manifests were read)."""
        out = [InventorySource.COMPOSE] if self.compose.projects or not self.kubernetes else []
        if self.kubernetes is not None and self.kubernetes.files:
            out.append(InventorySource.KUBERNETES)
        return out

    @property
    def policy(self) -> Policy:
        return self.loaded_policy.policy

    @property
    def policy_digest(self) -> str:
        return self.loaded_policy.digest

    @property
    def modules(self) -> dict[str, Module]:
        return self.inventory.modules

    @property
    def warnings(self) -> list[Warning]:
        return self.compose.warnings + (self.kubernetes.warnings if self.kubernetes else [])

    @property
    def relaxations(self) -> list[Relaxation]:
        return self.loaded_policy.relaxations

    def module(self, module_id: str) -> Module:
        """A module by id (``project/service``) or, when unambiguous, by service name."""
        if module_id in self.modules:
            return self.modules[module_id]
        matches = [m for m in self.modules.values() if m.service.name == module_id]
        if len(matches) == 1:
            return matches[0]
        known = ", ".join(self.modules) or "none"
        raise InputError(f"unknown module {module_id!r} (modules: {known})")


def load_platform_from(
    source: Source,
    files: Sequence[str] | None = None,
    *,
    profiles: Sequence[str] = (),
    policy_file: str | None = None,
    env: Mapping[str, str] | None = None,
    judged_by: LoadedPolicy | None = None,
    decisions: Sequence[str] | None = None,
    inventory: InventorySource | None = None,
    cache: ComposeCache | None = None,
    classified: ClassifyCache | None = None,
) -> Platform:
    """Load ``source``'s compose files and Kubernetes manifests and classify its modules.

    ``judged_by`` (with the ``decisions`` it may cite) replaces the policy found in
    ``source``: a pull request's head is classified by the policy in force on the base,
    never by the policy the PR brings. ``inventory`` (``--source``) reads one source
    only; with it set to kubernetes, ``files`` name manifest files or folders.
    ``cache`` and ``classified`` share compose documents and the projects classified
    with another load (the other side of a pull request).
    """
    loaded = judged_by if judged_by is not None else load_policy(source, policy_file)
    settings = loaded.policy.compose
    wanted = [inventory] if inventory else list(loaded.policy.inventory.sources)
    compose_files = None if inventory is InventorySource.KUBERNETES else files
    chosen = list(compose_files) if compose_files is not None else (list(settings.files) or None)
    if not wanted or InventorySource.COMPOSE in wanted:
        compose = load_compose(
            source,
            chosen,
            env_file=settings.env_file,
            profiles=list(profiles) or settings.profiles,
            extra_env=env,
            host_variables=settings.host_variables,
            cache=cache,
        )
    else:
        compose = ComposeSet([], [])
    services = [svc for project in compose.projects for svc in _typed(project, source, cache)]
    if decisions is None:
        decisions = [f for f in source.list_files() if f.startswith(DECISIONS_DIR)]
    inventory_ = classify(services, loaded.policy, list(decisions), classified)
    kubernetes: KubernetesSet | None = None
    # auto (no source named): manifests are looked for unless compose files were named
    if InventorySource.KUBERNETES in wanted or (not wanted and files is None):
        paths = list(files or ()) if inventory is InventorySource.KUBERNETES else []
        kubernetes = load_kubernetes(source, paths or loaded.policy.inventory.kubernetes.paths)
        modules = classify_kubernetes(kubernetes, loaded.policy, list(decisions))
        for module_id, module in modules.items():
            if module_id in inventory_.modules:
                raise InputError(
                    f"module {module_id} is both a compose service "
                    f"({inventory_.modules[module_id].service.file}) and a Kubernetes workload",
                    file=module.service.file,
                    line=module.service.loc.line,
                )
        inventory_ = Inventory(dict(sorted({**inventory_.modules, **modules}.items())))
        services += [m.service for m in modules.values()]
    return Platform(source, loaded, compose, services, inventory_, kubernetes)


def _typed(project: Project, source: Source, cache: ComposeCache | None) -> list[Service]:
    """:func:`services_of`; a project the other side reused (the same object) keeps its
    typed services when its Dockerfiles read the same here."""
    if cache is None:
        return services_of(project, source)
    known = cache.services.get(id(project))
    if known is not None and known[0] is project and same_answers(known[1].reads(), source):
        return list(known[2])
    recorder = RecordingSource(source)
    recording = Recording()
    recorder.open.append(recording)
    typed = services_of(project, recorder)
    cache.services[id(project)] = (project, recording, typed)
    return list(typed)


def load_platform(
    repo: Path,
    files: Sequence[Path] | None = None,
    *,
    profiles: Sequence[str] = (),
    policy_file: str | None = None,
    env: Mapping[str, str] | None = None,
    inventory: InventorySource | None = None,
) -> Platform:
    """Load the work tree at ``repo``; ``files`` are ``-f`` paths (relative to the cwd)."""
    source = WorkTree(repo)
    rel_files = [repo_relative(source.root, f) for f in files] if files else None
    return load_platform_from(
        source, rel_files, profiles=profiles, policy_file=policy_file, env=env, inventory=inventory
    )


def repo_relative(root: Path, path: Path) -> str:
    """``path`` (absolute or cwd-relative) relative to the repo; the final component is
    not resolved, so a symlink is judged (and refused, when it leads out) by the reader."""
    absolute = path if path.is_absolute() else Path.cwd() / path
    parent = os.path.realpath(absolute.parent)
    rel = Path(os.path.relpath(os.path.join(parent, absolute.name), os.path.realpath(root)))
    if rel.is_absolute() or rel.parts[:1] == ("..",):
        raise InputError("file is outside the repository", file=str(path))
    return rel.as_posix()
