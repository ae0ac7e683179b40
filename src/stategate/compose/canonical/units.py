"""Durations and byte sizes printed the way compose prints them (Go's
``time.Duration.String()`` and ``UnitBytes`` as a decimal string)."""

from __future__ import annotations

import re
from decimal import Decimal

_DURATION_PART = re.compile(r"([0-9]*\.?[0-9]+)(ns|us|µs|μs|ms|s|m|h|d|w)")
_NANOS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 10**9,
    "m": 60 * 10**9,
    "h": 3600 * 10**9,
    "d": 24 * 3600 * 10**9,
    "w": 7 * 24 * 3600 * 10**9,
}
_RAM = re.compile(r"^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$")
_RAM_UNITS = {"k": 1, "m": 2, "g": 3, "t": 4, "p": 5}


def parse_duration(text: str) -> int | None:
    """Nanoseconds of a compose duration (``1m30s``, ``2d``, ``500ms``), None if not one."""
    text = text.strip()
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-")
    if body == "0":
        return 0
    pos, total = 0, Decimal(0)
    for match in _DURATION_PART.finditer(body):
        if match.start() != pos:
            return None
        total += Decimal(match.group(1)) * _NANOS[match.group(2)]
        pos = match.end()
    if pos != len(body) or not body:
        return None
    return sign * int(total)


def _fraction(value: int, digits: int) -> str:
    """``value`` divided by 10**digits, trailing zeros dropped (Go's fmtFrac/fmtInt)."""
    whole, frac = divmod(value, 10**digits)
    text = str(frac).rjust(digits, "0").rstrip("0")
    return f"{whole}.{text}" if text else str(whole)


def go_duration(nanos: int) -> str:
    """Go's ``time.Duration.String()``."""
    if nanos == 0:
        return "0s"
    sign = "-" if nanos < 0 else ""
    n = abs(nanos)
    if n < 1_000:
        return f"{sign}{n}ns"
    if n < 1_000_000:
        return f"{sign}{_fraction(n, 3)}µs"
    if n < 10**9:
        return f"{sign}{_fraction(n, 6)}ms"
    hours, rest = divmod(n, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    seconds = _fraction(rest, 9) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{seconds}"
    if minutes:
        return f"{sign}{minutes}m{seconds}"
    return sign + seconds


def duration_text(value: object) -> object:
    """A duration value as compose prints it; anything unparseable is left as written."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return value
    nanos = parse_duration(str(value))
    return value if nanos is None else go_duration(nanos)


def ram_bytes(value: object) -> object:
    """A byte size as compose prints it: the decimal number of bytes, as a string
    (docker/go-units ``RAMInBytes``: binary units, ``200M`` is 209715200)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if not isinstance(value, str):
        return value
    if re.fullmatch(r"[+-]?\d+", value):
        return str(int(value))
    match = _RAM.match(value)
    if not match:
        return value
    size = Decimal(match.group(1)) if match.group(1).count(".") <= 1 else None
    if size is None:
        return value
    unit = (match.group(2) or "").lower()
    return str(int(size * 1024 ** _RAM_UNITS.get(unit, 0)))
