"""The typed fields compose casts a string into after interpolation (compose-go
``loader/interpolate.go`` ``interpolateTypeCastMapping``): ``read_only: "${RO}"``
with ``RO=true`` is the boolean true, and with ``RO=maybe`` (or unset) compose refuses
the file ("failed to cast to expected type").

A path is the keys from the document's top, ``[]`` for a list item; ``*`` in a
pattern matches any one step.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from stategate.compose.diagnostics import Diagnostics
from stategate.errors import InputError
from stategate.yamlfile import Loc

Cast = Callable[[str], bool | int | float]

_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(
    r"[+-]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)",
    re.IGNORECASE,
)
_TRUE = ("true", "y", "yes", "on")
_FALSE = ("false", "n", "no", "off")
_INT64 = 2**63


class CastError(ValueError):
    """Not a value of the field's type."""


def _to_int(text: str) -> int:
    """Go's ``strconv.Atoi``/``ParseInt(text, 10, 64)``."""
    if not _INT.fullmatch(text) or not -_INT64 <= int(text) < _INT64:
        raise CastError("not an integer")
    return int(text)


def _to_float(text: str) -> float:
    """Go's ``strconv.ParseFloat`` (decimal forms)."""
    if not _FLOAT.fullmatch(text):
        raise CastError("not a number")
    return float(text)


def _to_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise CastError("invalid boolean")


def _service(*parts: str) -> tuple[str, ...]:
    return ("services", "*", *parts)


CASTS: dict[tuple[str, ...], Cast] = {
    _service("cpu_count"): _to_int,
    _service("cpu_percent"): _to_float,
    _service("cpu_period"): _to_int,
    _service("cpu_quota"): _to_int,
    _service("cpu_rt_period"): _to_int,
    _service("cpu_rt_runtime"): _to_int,
    _service("cpus"): _to_float,
    _service("cpu_shares"): _to_int,
    _service("init"): _to_bool,
    _service("deploy", "replicas"): _to_int,
    _service("deploy", "update_config", "parallelism"): _to_int,
    _service("deploy", "update_config", "max_failure_ratio"): _to_float,
    _service("deploy", "rollback_config", "parallelism"): _to_int,
    _service("deploy", "rollback_config", "max_failure_ratio"): _to_float,
    _service("deploy", "restart_policy", "max_attempts"): _to_int,
    _service("deploy", "placement", "max_replicas_per_node"): _to_int,
    _service("healthcheck", "retries"): _to_int,
    _service("healthcheck", "disable"): _to_bool,
    _service("oom_kill_disable"): _to_bool,
    _service("oom_score_adj"): _to_int,
    _service("pids_limit"): _to_int,
    _service("ports", "[]", "target"): _to_int,
    _service("privileged"): _to_bool,
    _service("read_only"): _to_bool,
    _service("scale"): _to_int,
    _service("stdin_open"): _to_bool,
    _service("tty"): _to_bool,
    _service("ulimits", "*"): _to_int,
    _service("ulimits", "*", "hard"): _to_int,
    _service("ulimits", "*", "soft"): _to_int,
    _service("volumes", "[]", "read_only"): _to_bool,
    _service("volumes", "[]", "volume", "nocopy"): _to_bool,
    ("networks", "*", "external"): _to_bool,
    ("networks", "*", "internal"): _to_bool,
    ("networks", "*", "attachable"): _to_bool,
    ("networks", "*", "enable_ipv4"): _to_bool,
    ("networks", "*", "enable_ipv6"): _to_bool,
    ("volumes", "*", "external"): _to_bool,
    ("secrets", "*", "external"): _to_bool,
    ("configs", "*", "external"): _to_bool,
}


class _Node:
    """A trie of the patterns, one step per level: every string leaf of every compose
    document is looked up, so a lookup walks the path once instead of every pattern."""

    __slots__ = ("cast", "steps")

    def __init__(self) -> None:
        self.steps: dict[str, _Node] = {}
        self.cast: tuple[int, Cast] | None = None  # (pattern order, cast) ending here


_TRIE = _Node()
for _order, (_pattern, _cast) in enumerate(CASTS.items()):
    _at = _TRIE
    for _step in _pattern:
        _at = _at.steps.setdefault(_step, _Node())
    _at.cast = (_order, _cast)


def _match(node: _Node, path: tuple[str, ...], depth: int) -> tuple[int, Cast] | None:
    if depth == len(path):
        return node.cast
    best = None
    exact = node.steps.get(path[depth])
    if exact is not None:
        best = _match(exact, path, depth + 1)
    star = node.steps.get("*")
    if star is not None and star is not exact:
        hit = _match(star, path, depth + 1)
        if hit is not None and (best is None or hit[0] < best[0]):
            best = hit
    return best


def caster_for(path: tuple[str, ...]) -> Cast | None:
    """The cast of the first pattern (in ``CASTS`` order) matching ``path``, if any."""
    hit = _match(_TRIE, path, 0)
    return hit[1] if hit is not None else None


def cast_typed(text: str, path: tuple[str, ...], loc: Loc, diag: Diagnostics) -> object:
    """``text`` as the type compose expects at ``path`` (unchanged where none is); a
    value that is not of that type is refused, naming the field but not the value."""
    cast = caster_for(path)
    if cast is None:
        return text
    try:
        value = cast(text)
    except CastError as exc:
        raise InputError(
            f"{'.'.join(path)}: failed to cast to expected type: {exc}",
            file=loc.file,
            line=loc.line,
        ) from None
    if cast is _to_bool and text.lower() not in ("true", "false"):
        written = "true" if value else "false"
        diag.warn(loc, f"{'.'.join(path)}: {text!r} for a boolean is not YAML 1.2; write {written}")
    return value
