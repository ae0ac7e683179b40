"""The Renovate configuration a classification implies (pure).

One package rule per image (a Renovate PR bumping an image changes every module that runs
it, so its labels are those of that batch, computed by :func:`labels_for` as the verdict
does), after one catch-all rule that holds every other dependency of the platform's
compose files for Dependency Dashboard approval. Gated modules (anything whose change our
gate would not ``pass``) are never automerged and wait for approval; a sidecar moves in one
group with its parent. The docker-compose manager is pointed at the platform's compose
files, which Renovate's default pattern misses (``compose/postgres.yml``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stategate.image import parse_image
from stategate.policy.classify import Inventory, Module
from stategate.policy.requirements import (
    apply_requirements,
    is_manual,
    labels_for,
    merge_requirements,
)
from stategate.policy.schema import Policy

SCHEMA_URL = "https://docs.renovatebot.com/renovate-schema.json"
MANAGER = "docker-compose"
GROUP_PREFIX = "stategate "
# Renovate's docker datasource names Docker Hub images these ways (depName drops library/)
_HUB_REGISTRIES = ("docker.io", "index.docker.io")
# JavaScript (and RE2) regex syntax characters: escaped so a path matches only itself
_REGEX_SPECIAL = re.compile(r"[\\^$.*+?()\[\]{}|/]")
# a path Renovate's globs (minimatch) read as itself: plain characters only. Anything
# else (glob syntax, a leading "!" negation or "#" comment, spaces) gets the anchored
# regex: an allow-list, so a character minimatch reads specially can never slip through
_PLAIN_PATH = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._/-]*")


@dataclass(frozen=True)
class ImageRule:
    """The modules that run one image, and what Renovate must do with its updates."""

    names: tuple[str, ...]  # every way Renovate may spell the package name
    written: str  # the image as the first module writes it, without tag and digest
    modules: tuple[Module, ...]
    files: tuple[str, ...]  # every file of the modules' projects: an override may set it
    gated: bool
    labels: tuple[str, ...]
    group: str | None


def gated(module: Module, policy: Policy, inventory: Inventory) -> bool:
    """True when a change of ``module`` would not simply ``pass`` our gate."""
    return bool(
        is_manual(module, policy)
        or merge_requirements(module, policy)
        or apply_requirements(module, policy, inventory)
    )


def repository_as_written(image: str) -> str:
    """``image`` without its tag and digest: what Renovate reports as the depName."""
    written = image.strip().partition("@")[0]
    slash, colon = written.rfind("/"), written.rfind(":")
    return written[:colon] if colon > slash else written


def package_names(image: str) -> tuple[str, ...]:
    """The names Renovate may report for ``image`` (tag and digest dropped): as written,
    and for a Docker Hub image also with and without ``library/`` and the hub's hosts."""
    ref = parse_image(image)
    written = repository_as_written(image)
    names = {written}
    if ref.registry is None:
        short = ref.repository.removeprefix("library/")
        for name in {short, ref.repository}:
            names.add(name)
            names.update(f"{host}/{name}" for host in _HUB_REGISTRIES)
    else:
        names.add(ref.full_repository)
    return tuple(sorted(n for n in names if n))


def file_pattern(path: str) -> str:
    """A Renovate regex pattern (``/.../``) matching exactly the repo-relative ``path``."""
    return "/^" + _REGEX_SPECIAL.sub(lambda m: "\\" + m.group(0), path) + "$/"


def file_name_match(path: str) -> str:
    """A ``matchFileNames`` entry for exactly ``path``: the path itself, read by Renovate as
    a glob, when it holds plain characters only; else the anchored regex."""
    return path if _PLAIN_PATH.fullmatch(path) else file_pattern(path)


def _roots(inventory: Inventory) -> dict[str, str]:
    """Each module's topmost parent (itself when it has none); a cycle stops at the start."""
    out: dict[str, str] = {}
    for module_id in inventory.modules:
        seen = {module_id}
        current = module_id
        while (parent := inventory.modules[current].parent) in inventory.modules:
            if parent in seen:
                break
            seen.add(parent)
            current = parent
        out[module_id] = current
    return out


def image_rules(
    inventory: Inventory, policy: Policy, projects: Mapping[str, Sequence[str]]
) -> list[ImageRule]:
    """One rule per image run by a module of the compose ``projects`` (name -> files),
    sorted by module."""
    by_image: dict[tuple[str, ...], list[Module]] = {}
    for module in inventory.modules.values():
        if not module.image or module.service.build or module.service.project not in projects:
            continue  # Renovate leaves a service with build: alone; manifests are not ours
        by_image.setdefault(package_names(module.image), []).append(module)
    # Modules linked by a parent or by sharing an image update together: one group each.
    roots = _roots(inventory)
    union: dict[str, str] = {}

    def find(key: str) -> str:
        while union.setdefault(key, key) != key:
            key = union[key]
        return key

    for names, modules in by_image.items():
        for module in modules:
            for other in (roots[module.id], "image:" + names[0]):
                a, b = find(module.id), find(other)
                if a != b:
                    union[max(a, b)] = min(a, b)
    members: dict[str, list[tuple[str, ...]]] = {}
    for names, modules in by_image.items():
        members.setdefault(find(modules[0].id), []).append(names)
    rules: list[ImageRule] = []
    for images in members.values():
        batch = sorted({m.id: m for n in images for m in by_image[n]}.values(), key=lambda m: m.id)
        is_gated = any(gated(m, policy, inventory) for m in batch)
        labels = set(labels_for(batch, policy))
        if is_gated:
            labels.discard("merge/auto")  # a Renovate PR brings no packet: never auto
        group = None
        if len(images) > 1:
            top = sorted({roots[m.id] for m in batch})
            group = GROUP_PREFIX + ", ".join(top)
        for names in images:
            modules = sorted(by_image[names], key=lambda m: m.id)
            rules.append(
                ImageRule(
                    names=names,
                    written=repository_as_written(modules[0].image or ""),
                    modules=tuple(modules),
                    files=tuple(sorted({f for m in modules for f in projects[m.service.project]})),
                    gated=is_gated,
                    labels=tuple(sorted(labels)),
                    group=group,
                )
            )
    return sorted(rules, key=lambda r: ([m.id for m in r.modules], r.names))


def _description(rule: ImageRule) -> str:
    parts = []
    for module in rule.modules:
        classes = ", ".join(c.value for c in module.classes)
        parent = f", parent {module.parent}" if module.parent else ""
        parts.append(f"{module.id} ({classes}; {module.tier}{parent})")
    return "stategate: " + "; ".join(parts)


def _all_files(projects: Mapping[str, Sequence[str]]) -> list[str]:
    return sorted({f for files in projects.values() for f in files})


def renovate_config(
    inventory: Inventory, policy: Policy, projects: Mapping[str, Sequence[str]]
) -> dict[str, Any]:
    """The ``renovate.json`` fragment for the compose ``projects`` (name -> repo-relative
    files): deterministic (sorted), JSON-ready."""
    files = _all_files(projects)
    rules: list[dict[str, Any]] = []
    if files:
        # Fail closed: an image of the platform that no later rule names (Renovate spelling
        # it in a way we did not foresee) waits for approval and is never automerged.
        rules.append(
            {
                "description": "stategate: every image of the platform's compose files is "
                "held for approval unless a rule below says otherwise",
                "matchManagers": [MANAGER],
                "matchFileNames": [file_name_match(f) for f in files],
                "automerge": False,
                "dependencyDashboardApproval": True,
            }
        )
    for rule in image_rules(inventory, policy, projects):
        entry: dict[str, Any] = {
            "description": _description(rule),
            "matchManagers": [MANAGER],
            "matchFileNames": [file_name_match(f) for f in rule.files],
            "matchPackageNames": list(rule.names),
        }
        if rule.group:
            entry["groupName"] = rule.group
        if rule.gated:
            entry["automerge"] = False
        entry["dependencyDashboardApproval"] = rule.gated
        entry["addLabels"] = list(rule.labels)  # mergeable: the repo's own labels stay
        rules.append(entry)
    config: dict[str, Any] = {"$schema": SCHEMA_URL, "pinDigests": True}
    if files:
        config[MANAGER] = {"managerFilePatterns": [file_pattern(f) for f in files]}
    config["packageRules"] = rules
    return config


def renovate_lines(
    inventory: Inventory, policy: Policy, projects: Mapping[str, Sequence[str]]
) -> list[str]:
    """A human summary of the same configuration."""
    files = _all_files(projects)
    lines = [f"compose files ({len(files)}): {', '.join(files) or 'none'}", "pinDigests: true"]
    for rule in image_rules(inventory, policy, projects):
        mode = (
            "held for Dependency Dashboard approval, never automerged"
            if rule.gated
            else "PRs open without approval (automerge off, as Renovate's default)"
        )
        modules = ", ".join(m.id for m in rule.modules)
        lines.append(f"{rule.written}: {modules}: {mode}")
        if rule.group:
            lines.append(f"  group: {rule.group}")
        lines.append(f"  labels: {', '.join(rule.labels) or 'none'}")
    return lines
