"""What loading the same compose files twice can share: both sides of a pull request
are mostly the same files, read at two revisions.

A parsed file is keyed by its path and bytes; an interpolated document also by the
variables it was interpolated with (and the deploy host's names), with the warnings
interpolating it gave, replayed into every load that uses it; each part of a document
(its skeleton, each setting of a service) that passed the compose schema by its
canonical JSON. Nothing is shared that the key does not fully determine, so a load
with a cache judges exactly what one without it does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from stategate.compose.diagnostics import Warning
from stategate.compose.memo import ProjectMemo, Recording
from stategate.yamlfile import Loc, YMap

if TYPE_CHECKING:
    from stategate.compose.load import Project
    from stategate.compose.model import Service

EnvKey = frozenset[tuple[str, str]]
# a document interpolated: its path and bytes, the variables and the deploy host's names
InterpolationKey = tuple[str, bytes, EnvKey, frozenset[str]]


@dataclass
class Interpolated:
    document: YMap
    warnings: list[Warning]
    # the interpolation budget it spent, where: spent again (once) by every other load
    # that uses it
    spends: tuple[tuple[Loc, int], ...] = ()


@dataclass
class ComposeCache:
    parsed: dict[tuple[str, bytes], YMap] = field(default_factory=dict)
    interpolated: dict[InterpolationKey, Interpolated] = field(default_factory=dict)
    valid: set[str] = field(default_factory=set)  # canonical JSON of schema-valid parts
    # a top-level project's inputs (files, name, profiles, env file, --env, host
    # variables, repo name) -> how it was loaded (compose.memo)
    projects: dict[tuple[object, ...], ProjectMemo] = field(default_factory=dict)
    # id of a loaded project -> (the project, what typing its services read, the services)
    services: dict[int, tuple[Project, Recording, list[Service]]] = field(default_factory=dict)


def env_key(env: Mapping[str, str]) -> EnvKey:
    return frozenset(env.items())
