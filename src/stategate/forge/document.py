"""The verdict file that ``stategate check --format json -o FILE`` wrote, read and checked.

``publish`` judges nothing itself: it posts what ``check`` decided. A file that is not a
``stategate.verdict/v1`` document is refused with one line naming the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from stategate.errors import InputError
from stategate.report.verdict import VERDICT_SCHEMA

MAX_BYTES = 4 * 1024 * 1024  # a verdict is a few KB; refuse to slurp a stray huge file
MAX_LABELS = 64  # a verdict sets a handful; more is a broken or hostile file
OWNED_PREFIXES = ("merge/", "risk/", "class/")  # the labels stategate sets and removes

Kind = Literal["pass", "ready_for_operator", "approved", "blocked", "stop"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)


class _Revisions(_Model):
    base: str | None = None
    head: str | None = None


class _Change(_Model):
    module: str
    service: str
    file: str
    kind: str
    from_: str | None = Field(alias="from")
    to: str | None
    semver: str | None
    fields: list[str]


class _Requirement(_Model):
    id: str
    module: str | None
    cls: str | None = Field(alias="class")
    status: str
    hint: str


class _Stop(_Model):
    condition: str
    module: str | None
    message: str
    file: str | None
    line: int | None


class _Finding(_Model):
    rule: str
    file: str
    line: int
    message: str


class _Verdict(_Model):
    schema_: Literal["stategate.verdict/v1"] = Field(alias="schema")
    verdict: Kind
    stage: Literal["merge", "apply"]
    revisions: _Revisions = _Revisions()
    changes: list[_Change]
    requirements: list[_Requirement]
    stops: list[_Stop]
    findings: list[_Finding]
    labels: list[Annotated[str, StringConstraints(min_length=1, max_length=100)]]


@dataclass(frozen=True)
class StopItem:
    condition: str
    module: str | None


@dataclass(frozen=True)
class MissingItem:
    id: str
    module: str | None


@dataclass(frozen=True)
class VerdictDocument:
    """What publish needs from the verdict, typed; ``raw`` is the JSON the comment renders."""

    verdict: Kind
    stage: Literal["merge", "apply"]
    head: str | None
    labels: tuple[str, ...]
    stops: tuple[StopItem, ...]
    missing: tuple[MissingItem, ...]
    raw: dict[str, Any]


def ascii_lower(text: str) -> str:
    """Lower case for A-Z only: label names compare the way the forges compare them, and
    no Unicode folding makes "ri\\u017fk/x" (long s) or a Kelvin sign pass for ``risk/``."""
    return text.translate(_ASCII_LOWER)


_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


def owned(label: str) -> bool:
    return ascii_lower(label).startswith(OWNED_PREFIXES)


def _labels(labels: list[str], file: str) -> tuple[str, ...]:
    """The verdict's labels, deduplicated (ASCII case-insensitively, first spelling kept);
    only labels under stategate's own prefixes are accepted."""
    unique: dict[str, str] = {}
    for label in labels:
        if not label.isprintable():
            raise InputError(f"labels: {label!r} holds control characters", file=file)
        if not owned(label):
            raise InputError(
                f"labels: {label!r} is not under stategate's prefixes "
                f"({', '.join(OWNED_PREFIXES)}); publish sets no other label",
                file=file,
            )
        unique.setdefault(ascii_lower(label), label)
    if len(unique) > MAX_LABELS:
        raise InputError(
            f"labels: {len(unique)} labels, more than the {MAX_LABELS} a verdict may set",
            file=file,
        )
    return tuple(unique.values())


def parse_verdict(raw: object, file: str) -> VerdictDocument:
    if not isinstance(raw, dict) or raw.get("schema") != VERDICT_SCHEMA:
        raise InputError(
            f"not a {VERDICT_SCHEMA} document (write one with "
            "`stategate check --format json -o FILE`)",
            file=file,
        )
    try:
        model = _Verdict.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "(top)"
        raise InputError(
            f"not a valid {VERDICT_SCHEMA} document: {where}: {error['msg']}", file=file
        ) from None
    return VerdictDocument(
        verdict=model.verdict,
        stage=model.stage,
        head=model.revisions.head,
        labels=_labels(model.labels, file),
        stops=tuple(StopItem(s.condition, s.module) for s in model.stops),
        missing=tuple(MissingItem(r.id, r.module) for r in model.requirements if r.status != "met"),
        raw=raw,
    )


def read_verdict(path: Path) -> VerdictDocument:
    name = str(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise InputError("verdict file not found", file=name) from None
    except IsADirectoryError:
        raise InputError("is a directory, not a verdict file", file=name) from None
    if len(data) > MAX_BYTES:
        raise InputError(f"larger than {MAX_BYTES} bytes: not a verdict", file=name)
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        line = getattr(exc, "lineno", None)
        raise InputError(f"not JSON: {exc}", file=name, line=line) from None
    except RecursionError:
        raise InputError("JSON nested too deeply: not a verdict", file=name) from None
    try:
        return parse_verdict(raw, name)
    except RecursionError:
        raise InputError("JSON nested too deeply: not a verdict", file=name) from None
