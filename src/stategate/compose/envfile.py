"""Parse ``.env`` files the way compose does (KEY=VALUE, quotes, comments, ``export``)."""

from __future__ import annotations

import re

from stategate.compose.diagnostics import Diagnostics
from stategate.errors import InputError
from stategate.yamlfile import Loc

MAX_ENV_CHARS = 16 * 1024 * 1024  # every value of one .env file, expanded

_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*(?:=\s*(.*))?$")


def parse_env(text: str, shown: str, diag: Diagnostics | None = None) -> dict[str, str]:
    """Return the variables of a .env file; later definitions may use earlier ones.

    References are interpolated as in compose files: an unset variable (required or
    not) is an empty string and a warning in ``diag``; a malformed reference refuses
    the file, naming it and the line. Values that expand each other
    (``B=${A}${A}``, ``C=${B}${B}``, ...) are bounded per value and in total: past
    the limits the file is refused too.
    """
    from stategate.compose.interpolate import (
        ExpansionBudget,
        InterpolationError,
        substitute,
        substitution_warnings,
    )

    budget = ExpansionBudget(MAX_ENV_CHARS)
    result: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if not match:
            raise InputError("not a KEY=VALUE line", file=shown, line=number)
        key, value = match.group(1), match.group(2)
        if value is None:
            continue  # bare KEY: taken from the process environment by compose; not here
        value = value.strip()
        if value[:1] == "'":
            end = value.find("'", 1)
            result[key] = value[1:end] if end > 0 else value[1:]
            continue
        if value[:1] == '"':
            end = _closing_quote(value)
            inner = value[1:end] if end > 0 else value[1:]
            value = inner.replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")
        else:
            hash_at = value.find(" #")
            if hash_at >= 0:
                value = value[:hash_at].rstrip()
        try:
            expanded = substitute(value, result)  # compose refuses a missing required one
            budget.spend(len(expanded.text))
        except InterpolationError as exc:
            raise InputError(str(exc), file=shown, line=number) from None
        result[key] = expanded.text
        if diag is not None:
            for message in substitution_warnings(expanded):
                diag.warn(Loc(shown, number), message)
    return result


def _closing_quote(value: str) -> int:
    i = 1
    while i < len(value):
        if value[i] == "\\":
            i += 2
            continue
        if value[i] == '"':
            return i
        i += 1
    return -1
