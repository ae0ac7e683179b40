"""The base image of a service that is built, not pulled: the Dockerfile's last ``FROM``.

A release that only bumps a build argument (``ELASTIC_VERSION`` in ``.env``)
upgrades the image as surely as an ``image:`` change; reading ``FROM`` with
the build arguments substituted lets the diff see it.
"""

from __future__ import annotations

import re

from stategate.compose.interpolate import (
    InterpolationError,
    InvalidTemplateError,
    MissingRequiredError,
    substitute,
)
from stategate.compose.normalize import as_map, scalar_text
from stategate.errors import InputError
from stategate.source import Source, join
from stategate.yamlfile import Loc, YMap

_FROM = re.compile(r"^\s*FROM\s+(?:--platform=\S+\s+)?(?P<image>\S+)(?:\s+AS\s+\S+)?\s*$", re.I)
_ARG = re.compile(r"^\s*ARG\s+(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:=(?P<value>\S*))?\s*$", re.I)


def base_image(source: Source, project_dir: str, build: object, loc: Loc) -> str | None:
    """The final stage's FROM ref, with ARGs resolved; None when it cannot be known."""
    if isinstance(build, YMap):
        context = scalar_text(build.get("context")) or "."
        dockerfile = scalar_text(build.get("dockerfile")) or "Dockerfile"
        args = as_map(build.get("args"), loc, "build.args")
        values = {k: v for k, v in args.items() if isinstance(v, str)}
    else:
        context, dockerfile, values = scalar_text(build) or ".", "Dockerfile", {}
    if "://" in context or context.startswith("git@") or "$" in context:
        return None
    try:
        path = join(join(project_dir, context), dockerfile)
    except InputError:
        return None
    if not source.is_file(path):
        return None
    text = source.read_bytes(path).decode("utf-8", "replace")
    defaults: dict[str, str] = {}
    stages: dict[str, str] = {}
    last: str | None = None
    for line in _logical_lines(text):
        if match := _ARG.match(line):
            name, value = match.group("name"), match.group("value")
            if name not in defaults and value is not None:
                defaults[name] = value.strip("'\"")
        elif match := _FROM.match(line):
            env = {**defaults, **values}
            try:
                ref = substitute(match.group("image"), env).text
            except (InvalidTemplateError, MissingRequiredError):
                return None  # the builder's own rules (or a build that fails): not known
            except InterpolationError as exc:
                raise InputError(str(exc), file=path) from None
            last = stages.get(ref.lower(), ref)
            alias = re.search(r"\s+AS\s+(\S+)\s*$", line, re.I)
            if alias:
                stages[alias.group(1).lower()] = last
    return last


def _logical_lines(text: str) -> list[str]:
    lines: list[str] = []
    current = ""
    for raw in text.splitlines():
        if raw.strip().startswith("#"):
            continue
        if raw.endswith("\\"):
            current += raw[:-1] + " "
            continue
        lines.append(current + raw)
        current = ""
    if current:
        lines.append(current)
    return lines
