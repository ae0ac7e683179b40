"""Per-module changes between two classified platforms (pure).

Values of configuration are compared but never reported: a change lists the
fields that changed (``environment.DB_PASSWORD``), not what they hold.
"""

from __future__ import annotations

import enum
import hashlib
import json
from dataclasses import dataclass
from functools import partial
from typing import Any

from stategate.compose.model import Service
from stategate.image import parse_image, semver_delta
from stategate.policy.classify import Module
from stategate.redaction import credential_values, redact
from stategate.yamlfile import to_plain

_MAP_FIELDS = ("environment", "labels")
_IGNORED = frozenset({"image"})


class ChangeKind(enum.StrEnum):
    IMAGE_REPO = "image-repo"
    IMAGE_TAG = "image-tag"
    IMAGE_DIGEST = "image-digest"
    ADDED = "added"
    REMOVED = "removed"
    RENAMED = "renamed"
    CONFIG = "config"


@dataclass(frozen=True)
class ImageMove:
    """Another container of the same module whose image the PR sets or changes (a
    Kubernetes workload's sidecar or init container; compose services have none)."""

    container: str
    from_image: str | None
    to_image: str | None
    semver: str | None


@dataclass(frozen=True)
class ModuleChange:
    module: str
    service: str
    file: str
    line: int
    kind: ChangeKind
    from_image: str | None
    to_image: str | None
    semver: str | None
    fields: tuple[str, ...] = ()
    renamed_from: str | None = None
    other_images: tuple[ImageMove, ...] = ()  # judged for pinning and majors like to_image

    @property
    def targets(self) -> list[str]:
        """Every image the change makes run: the reported one and the other containers'."""
        found = [self.to_image] + [m.to_image for m in self.other_images]
        return [image for image in found if image is not None]


def runtime_digest(service: Service) -> str:
    """sha256 of a service as compose resolves it, credential values masked: what an
    approval binds besides the image digests."""
    plain: dict[str, Any] = to_plain(service.spec)
    masked = redact(plain, credential_values((), plain))
    canonical = json.dumps(masked, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def config_fields(before: Service, after: Service) -> tuple[str, ...]:
    """Names of the runtime-affecting fields that differ (values never returned)."""
    a: dict[str, Any] = to_plain(before.spec)
    b: dict[str, Any] = to_plain(after.spec)
    changed: list[str] = []
    for key in sorted(set(a) | set(b)):
        if key in _IGNORED or key == "extends" or _same(a.get(key), b.get(key)):
            continue
        changed.append(key)
        if key in _MAP_FIELDS:
            changed.extend(f"{key}.{name}" for name in _changed_keys(a.get(key), b.get(key)))
        elif key == "build":
            old_args = a[key].get("args") if isinstance(a.get(key), dict) else None
            new_args = b[key].get("args") if isinstance(b.get(key), dict) else None
            changed.extend(f"build.args.{name}" for name in _changed_keys(old_args, new_args))
    return tuple(changed)


def _changed_keys(old: Any, new: Any) -> list[str]:
    """Keys added, removed or re-valued between two maps (a pass-through ``KEY`` counts)."""
    old = old if isinstance(old, dict) else {}
    new = new if isinstance(new, dict) else {}
    return sorted(
        k for k in set(old) | set(new) if k not in old or k not in new or not _same(old[k], new[k])
    )


def _same(a: Any, b: Any) -> bool:
    """Equal values, a NaN (``cpus: nan``) equal to itself: an unchanged setting is never
    a change (and a service loaded once for both sides compares as unchanged)."""
    if a == b:
        return True
    canonical = partial(json.dumps, sort_keys=True, default=str)
    return bool(canonical(a) == canonical(b))


def image_change(before: str | None, after: str | None) -> tuple[ChangeKind | None, str | None]:
    if before == after:
        return None, None
    if before is None or after is None:
        return ChangeKind.CONFIG, None
    a, b = parse_image(before), parse_image(after)
    if a.full_repository != b.full_repository:
        return ChangeKind.IMAGE_REPO, semver_delta(a.tag, b.tag)
    if a.tag != b.tag:
        return ChangeKind.IMAGE_TAG, semver_delta(a.tag, b.tag)
    return ChangeKind.IMAGE_DIGEST, None


def diff_modules(base: dict[str, Module], head: dict[str, Module]) -> list[ModuleChange]:
    changes: list[ModuleChange] = []
    removed = {k: m for k, m in base.items() if k not in head}
    added = {k: m for k, m in head.items() if k not in base}
    for module_id in sorted(set(base) & set(head)):
        before, after = base[module_id].service, head[module_id].service
        if before is after:  # one service, loaded once for both sides: nothing differs
            continue
        from_image, to_image = before.effective_image, after.effective_image
        kind, semver = image_change(from_image, to_image)
        moves = _moves(before, after)
        if kind is None:  # the first image unchanged: report another container's change
            first = next((m for m in moves if m.from_image and m.to_image), None)
            if first is not None:
                kind, semver = image_change(first.from_image, first.to_image)
                from_image, to_image = first.from_image, first.to_image
                moves = [m for m in moves if m is not first]
        fields = config_fields(before, after)
        if kind is None and not fields:
            continue  # unchanged, or only moved to another file
        changes.append(
            ModuleChange(
                module=module_id,
                service=after.name,
                file=after.file,
                line=after.image_loc.line if kind else after.loc.line,
                kind=kind or ChangeKind.CONFIG,
                from_image=from_image,
                to_image=to_image,
                semver=semver,
                fields=fields,
                other_images=tuple(moves),
            )
        )
    # A service renamed within the same image is one change, not removed + added.
    for new_id, new in sorted(added.items()):
        twin = next(
            (
                old_id
                for old_id, old in removed.items()
                if old.service.project == new.service.project
                and old.service.effective_image == new.service.effective_image
                and new.service.effective_image is not None
            ),
            None,
        )
        svc = new.service
        if twin is not None:
            old = removed.pop(twin)
            changes.append(
                ModuleChange(
                    module=new_id,
                    service=svc.name,
                    file=svc.file,
                    line=svc.loc.line,
                    kind=ChangeKind.RENAMED,
                    from_image=old.service.effective_image,
                    to_image=svc.effective_image,
                    semver=None,
                    fields=config_fields(old.service, svc),
                    renamed_from=twin,
                    other_images=tuple(_moves(old.service, svc)),
                )
            )
            continue
        changes.append(
            ModuleChange(
                new_id,
                svc.name,
                svc.file,
                svc.loc.line,
                ChangeKind.ADDED,
                None,
                svc.effective_image,
                None,
                other_images=tuple(_moves(None, svc)),
            )
        )
    for old_id, old in sorted(removed.items()):
        svc = old.service
        changes.append(
            ModuleChange(
                old_id,
                svc.name,
                svc.file,
                svc.loc.line,
                ChangeKind.REMOVED,
                svc.effective_image,
                None,
                None,
            )
        )
    return sorted(changes, key=lambda c: c.module)


def _moves(before: Service | None, after: Service) -> list[ImageMove]:
    """The other containers whose image is new or changed, in the head's order."""
    old = dict(before.more_images) if before is not None else {}
    out: list[ImageMove] = []
    for container, image in after.more_images:
        previous = old.get(container)
        if image != previous:
            _, semver = image_change(previous, image)
            out.append(ImageMove(container, previous, image, semver))
    return out
