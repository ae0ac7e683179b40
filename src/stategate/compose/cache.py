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

from stategate.compose.diagnostics import Warning
from stategate.yamlfile import YMap

EnvKey = frozenset[tuple[str, str]]


@dataclass
class Interpolated:
    document: YMap
    warnings: list[Warning]


@dataclass
class ComposeCache:
    parsed: dict[tuple[str, bytes], YMap] = field(default_factory=dict)
    interpolated: dict[tuple[str, bytes, EnvKey, frozenset[str]], Interpolated] = field(
        default_factory=dict
    )
    valid: set[str] = field(default_factory=set)  # canonical JSON of schema-valid parts


def env_key(env: Mapping[str, str]) -> EnvKey:
    return frozenset(env.items())
