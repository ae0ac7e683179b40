"""The resolved compose model in the canonical shape ``docker compose config`` prints.

This is the printed model only: what stategate judges is the loaded
:class:`~stategate.compose.load.Project`, never this.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stategate.compose.canonical.escape import escape_dollars
from stategate.compose.canonical.resources import canonical_section, used_names
from stategate.compose.canonical.service import ServiceContext, canonical_service
from stategate.compose.load import Project
from stategate.source import Source
from stategate.yamlfile import decode_text, to_plain

_SECTIONS = ("networks", "volumes", "secrets", "configs")


def _reader(source: Source | None) -> Callable[[str], str | None] | None:
    if source is None:
        return None

    def read_text(rel: str) -> str | None:
        if not source.is_file(rel):
            return None
        return decode_text(source.read_bytes(rel), rel)

    return read_text


def canonical_project(project: Project, source: Source | None = None) -> dict[str, Any]:
    """The project as ``docker compose --profile '*' config --format json`` prints it,
    with host paths relative to the repository root. Env files are read through
    ``source``; without one they are not read and ``env_file`` is printed as written."""
    read_text = _reader(source)
    services: dict[str, Any] = {}
    for name in sorted(project.services):
        svc = project.services[name]
        ctx = ServiceContext(name, svc.directory, svc.loc, read_text, svc.variables)
        services[name] = canonical_service(to_plain(svc.spec), ctx)
    out: dict[str, Any] = {"name": project.name, "services": services}
    used = used_names(services)
    sections = {**{s: {} for s in _SECTIONS}, **project.sections}
    if any("default" in (svc.get("networks") or {}) for svc in services.values()):
        sections["networks"] = {"default": {}, **to_plain(sections["networks"])}
    for section in _SECTIONS:
        values = canonical_section(
            section, to_plain(sections[section]), used[section], project.name, project.directory
        )
        if values:
            out[section] = values
    for key, value in sorted(project.extensions.items()):
        out[key] = to_plain(value)
    return dict(escape_dollars(out))
