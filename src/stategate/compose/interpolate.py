"""Variable interpolation: ``$VAR``, ``${VAR}``, ``:-``, ``-``, ``:?``, ``?``, ``:+``, ``+``, ``$$``.

Unset variables are kept verbatim (``${TAG}``) and reported, rather than
replaced by an empty string as compose does, so an image ``postgres:${TAG}``
is still recognised as postgres when a repo ships without its ``.env``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stategate.compose.diagnostics import Diagnostics
from stategate.errors import InputError
from stategate.yamlfile import Loc, YMap, YSeq

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

MAX_VALUE_CHARS = 1024 * 1024  # one interpolated value
MAX_TOTAL_CHARS = 64 * 1024 * 1024  # everything interpolated while loading one platform
MAX_NESTING = 32  # ${A:-${B:-...}} levels


class InterpolationError(ValueError):
    """An expansion past the limits (an expansion bomb, absurd nesting); the caller
    reports it as an InputError naming the file and line."""


@dataclass
class Substitution:
    text: str
    unresolved: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    limit: int = MAX_VALUE_CHARS


@dataclass
class ExpansionBudget:
    """What may still be produced by interpolation (bounds exponential ``.env`` chains
    and values that reference a large variable many times)."""

    total: int = MAX_TOTAL_CHARS
    remaining: int = -1

    def __post_init__(self) -> None:
        if self.remaining < 0:
            self.remaining = self.total

    def spend(self, chars: int) -> None:
        self.remaining -= chars
        if self.remaining < 0:
            raise InterpolationError(
                f"variables expand to more than {self.total} characters in total "
                "(refusing a possible expansion bomb)"
            )


def substitute(text: str, env: Mapping[str, str], *, limit: int = MAX_VALUE_CHARS) -> Substitution:
    """Interpolate ``text``; raises :class:`InterpolationError` past ``limit`` characters
    or ``MAX_NESTING`` levels of nested defaults."""
    out = Substitution("", limit=limit)
    out.text = _subst(text, env, out, 0)
    return out


def _subst(text: str, env: Mapping[str, str], acc: Substitution, depth: int) -> str:
    if depth > MAX_NESTING:
        raise InterpolationError(f"variable defaults nested deeper than {MAX_NESTING} levels")
    parts: list[str] = []
    size = 0
    i = 0
    n = len(text)
    while i < n:
        if size > acc.limit:
            raise InterpolationError(
                f"a value expands to more than {acc.limit} characters "
                "(refusing a possible expansion bomb)"
            )
        ch = text[i]
        if ch != "$" or i + 1 >= n:
            parts.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "$":
            parts.append("$")
            i += 2
            continue
        if nxt == "{":
            end = _matching_brace(text, i + 1)
            if end < 0:
                parts.append(text[i:])
                acc.errors.append(f"unclosed '${{' in {text!r}")
                break
            expanded = _expand(text[i + 2 : end], text[i : end + 1], env, acc, depth)
            parts.append(expanded)
            size += len(expanded)
            i = end + 1
            continue
        match = _NAME.match(text, i + 1)
        if match:
            name = match.group(0)
            if name in env:
                parts.append(env[name])
                size += len(env[name])
            else:
                acc.unresolved.append(name)
                parts.append(text[i : match.end()])
            i = match.end()
            continue
        parts.append(ch)
        i += 1
    if size > acc.limit:
        raise InterpolationError(
            f"a value expands to more than {acc.limit} characters "
            "(refusing a possible expansion bomb)"
        )
    return "".join(parts)


def _matching_brace(text: str, start: int) -> int:
    depth = 0
    for j in range(start, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    return -1


def _expand(body: str, original: str, env: Mapping[str, str], acc: Substitution, depth: int) -> str:
    match = _NAME.match(body)
    if not match:
        acc.errors.append(f"invalid variable expression {original!r}")
        return original
    name = match.group(0)
    op_text = body[match.end() :]
    value = env.get(name)
    if not op_text:
        if value is None:
            acc.unresolved.append(name)
            return original
        return value
    for op in (":-", ":?", ":+", "-", "?", "+"):
        if op_text.startswith(op):
            arg = op_text[len(op) :]
            break
    else:
        acc.errors.append(f"invalid variable expression {original!r}")
        return original
    empty_counts_unset = op.startswith(":")
    is_set = value is not None and (value != "" or not empty_counts_unset)
    kind = op[-1]
    if kind == "-":
        return value if is_set and value is not None else _subst(arg, env, acc, depth + 1)
    if kind == "+":
        return _subst(arg, env, acc, depth + 1) if is_set else ""
    # "?": required
    if is_set and value is not None:
        return value
    message = _subst(arg, env, acc, depth + 1) or "required"
    acc.errors.append(f"required variable {name} is missing: {message}")
    return original


def interpolate_tree(
    node: Any,
    env: Mapping[str, str],
    diag: Diagnostics,
    loc: Loc,
    budget: ExpansionBudget | None = None,
) -> Any:
    """Interpolate every string value (not keys) in place-built copies of the tree.

    An expansion past the limits is an ``InputError`` naming the file and line.
    """
    budget = budget if budget is not None else ExpansionBudget()
    if isinstance(node, YMap):
        out = YMap(node.loc)
        for key, value in node.items():
            kloc = node.key_loc(key)
            out.put(
                key,
                interpolate_tree(value, env, diag, kloc, budget),
                kloc,
                node.directives.get(key),
            )
        return out
    if isinstance(node, YSeq):
        seq = YSeq(node.loc)
        for index, value in enumerate(node):
            iloc = node.item_loc(index)
            seq.push(interpolate_tree(value, env, diag, iloc, budget), iloc)
        return seq
    if isinstance(node, str) and "$" in node:
        try:
            result = substitute(node, env)  # at most MAX_VALUE_CHARS past the budget
            budget.spend(len(result.text))
        except InterpolationError as exc:
            raise InputError(str(exc), file=loc.file, line=loc.line) from None
        for name in dict.fromkeys(result.unresolved):
            diag.warn(loc, f"variable {name} is not set; kept as written")
        for error in result.errors:
            diag.warn(loc, error)
        return result.text
    return node
