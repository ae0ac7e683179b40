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
_BY_LENGTH: dict[int, list[tuple[tuple[str, ...], Cast]]] = {}
for _pattern, _cast in CASTS.items():
    _BY_LENGTH.setdefault(len(_pattern), []).append((_pattern, _cast))


def caster_for(path: tuple[str, ...]) -> Cast | None:
    for pattern, cast in _BY_LENGTH.get(len(path), ()):
        if all(want in ("*", step) for want, step in zip(pattern, path, strict=True)):
            return cast
    return None


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
