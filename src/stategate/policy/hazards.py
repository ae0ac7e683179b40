"""Known upgrade hazards of the images themselves, applied to every image bump.

The catalogue is data (``data/hazards.yaml``: title, summary, advice, upstream
sources); each entry names a rule here that decides whether a bump hits it. The
rules are pure: a change, the module on each side, and the entry in; findings with
file and line out. :func:`stategate.catalogues.hazard_catalogue` is the only reader of the data file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from stategate.compose.model import Service
from stategate.diff.changes import ModuleChange
from stategate.diff.scan import Finding
from stategate.image import ImageRef, parse_image, tag_version

POSTGRES_REPOS = frozenset({"library/postgres"})
REDIS_REPOS = frozenset({"library/redis", "bitnami/redis"})
VALKEY_REPOS = frozenset({"valkey/valkey", "bitnami/valkey"})
MINIO_REPOS = frozenset({"minio/minio"})
PGDATA_OLD = "/var/lib/postgresql/data"
MINIO_NO_GATEWAY = "2022-10-24T18-35-07Z"
MINIO_NO_FS = "2022-10-29T06-21-33Z"


class Hazard(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    rule: str
    title: str
    summary: str
    advice: str
    sources: list[str] = Field(min_length=1)


class Catalogue(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    hazards: list[Hazard]


@dataclass(frozen=True)
class Bump:
    """One module's image change, with the service on each side."""

    change: ModuleChange
    before: Service | None
    after: Service | None

    @property
    def old(self) -> ImageRef | None:
        return parse_image(self.change.from_image) if self.change.from_image else None

    @property
    def new(self) -> ImageRef | None:
        return parse_image(self.change.to_image) if self.change.to_image else None


# A rule: the bump and the hazard in, the findings' (file, line, detail) out.
Rule = Callable[[Bump], list[tuple[str, int, str]]]


def _major(ref: ImageRef | None) -> int | None:
    version = tag_version(ref.tag) if ref else None
    return version.major if version else None


def _at(bump: Bump) -> tuple[str, int]:
    return bump.change.file, bump.change.line


def _postgres_18_pgdata(bump: Bump) -> list[tuple[str, int, str]]:
    new, after = bump.new, bump.after
    old_major, new_major = _major(bump.old), _major(new)
    if new is None or after is None or new.repository not in POSTGRES_REPOS:
        return []
    if new_major is None or new_major < 18 or (old_major is not None and old_major >= 18):
        return []
    pgdata = after.environment.get("PGDATA")
    if pgdata is not None and pgdata.value:
        return []
    return [
        (
            mount.loc.file,
            mount.loc.line,
            f"{after.name} mounts its data at {PGDATA_OLD} with no PGDATA, and "
            f"{new.name}:{new.tag} keeps data in /var/lib/postgresql/{new_major}/docker",
        )
        for mount in after.mounts
        if mount.target.rstrip("/") == PGDATA_OLD
    ]


def _postgres_major(bump: Bump) -> list[tuple[str, int, str]]:
    new = bump.new
    old_major, new_major = _major(bump.old), _major(new)
    if new is None or new.repository not in POSTGRES_REPOS or old_major is None:
        return []
    if new_major is None or new_major == old_major:
        return []
    file, line = _at(bump)
    return [(file, line, f"postgres {old_major} -> {new_major}")]


def rdb_version(ref: ImageRef | None) -> int | None:
    """The RDB version a redis or valkey image writes (None: not known here)."""
    version = tag_version(ref.tag) if ref else None
    if ref is None or version is None:
        return None
    minor = version.minor or 0
    if ref.repository in VALKEY_REPOS:
        return 11 if (version.major, minor) >= (7, 2) and version.major <= 8 else None
    if ref.repository in REDIS_REPOS:
        if version.major == 6:
            return 9
        if (version.major, minor) == (7, 0):
            return 10
        if (version.major, minor) >= (7, 2) and version.major == 7:
            return 11
    return None


def _redis_rdb_version(bump: Bump) -> list[tuple[str, int, str]]:
    before, after = rdb_version(bump.old), rdb_version(bump.new)
    if before is None or after is None or after <= before:
        return []
    file, line = _at(bump)
    return [
        (
            file,
            line,
            f"{bump.new} writes RDB version {after}; {bump.old} reads up to {before}: "
            "a rollback needs the pre-upgrade backup",
        )
    ]


def _redis_to_valkey(bump: Bump) -> list[tuple[str, int, str]]:
    old, new = bump.old, bump.new
    if old is None or new is None:
        return []
    if old.repository in REDIS_REPOS and new.repository in VALKEY_REPOS:
        file, line = _at(bump)
        return [(file, line, f"{old.name}:{old.tag} -> {new.repository}:{new.tag}")]
    return []


def _release(ref: ImageRef | None) -> str | None:
    match = re.match(r"RELEASE\.(\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ)", ref.tag or "") if ref else None
    return match.group(1) if match else None


def _minio_legacy_fs(bump: Bump) -> list[tuple[str, int, str]]:
    new = bump.new
    if new is None or new.repository not in MINIO_REPOS:
        return []
    before, after = _release(bump.old), _release(new)
    if after is None or (before is not None and before >= MINIO_NO_FS):
        return []
    file, line = _at(bump)
    found: list[tuple[str, int, str]] = []
    command = bump.after.command if bump.after else ""
    if after >= MINIO_NO_GATEWAY and re.search(r"(^|\s)gateway(\s|$)", command):
        found.append((file, line, f"{new.tag} has no gateway mode, and the service runs one"))
    if after >= MINIO_NO_FS:
        shown = bump.old.tag if bump.old else "an earlier release"
        found.append((file, line, f"{shown} -> {new.tag} crosses the removal of FS mode"))
    return found


RULES: dict[str, Rule] = {
    "postgres-18-pgdata": _postgres_18_pgdata,
    "postgres-major": _postgres_major,
    "redis-rdb-version": _redis_rdb_version,
    "redis-to-valkey": _redis_to_valkey,
    "minio-legacy-fs": _minio_legacy_fs,
}


def find_hazards(bumps: Sequence[Bump], catalogue: Catalogue) -> list[Finding]:
    """Every hazard a bump hits, as findings (``hazard/<id>``) naming file and line."""
    found: list[Finding] = []
    for bump in bumps:
        if bump.change.from_image == bump.change.to_image:
            continue
        for hazard in catalogue.hazards:
            for file, line, detail in RULES[hazard.rule](bump):
                found.append(
                    Finding(
                        f"hazard/{hazard.id}",
                        file,
                        line,
                        f"{hazard.title}: {detail}. {hazard.advice} (see {hazard.sources[0]})",
                    )
                )
    return found
