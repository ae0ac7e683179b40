"""Canonical JSON and sha256 helpers.

Everything stategate signs or chains is serialised one way only: keys sorted,
no insignificant whitespace, UTF-8, no NaN or infinities. The same object
therefore always yields the same bytes, so signatures and digests can be
recomputed byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

SHA256_HEX_LEN = 64
MAX_JSON_DEPTH = 64


def canonical_json(value: object) -> bytes:
    """Serialise ``value`` to canonical JSON bytes."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The sha256 of a file, read in large blocks (as fast as ``sha256sum``)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def is_sha256_hex(value: object) -> bool:
    return (
        isinstance(value, str)
        and len(value) == SHA256_HEX_LEN
        and all(c in "0123456789abcdef" for c in value)
    )


def _no_duplicates(pairs: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _no_constant(name: str) -> None:
    raise ValueError(f"non-finite number {name}")


def parse_json(data: bytes | str) -> Any:
    """Parse JSON strictly (``ValueError``): duplicate keys, NaN/Infinity, nesting deeper
    than ``MAX_JSON_DEPTH`` and strings that are not valid Unicode (a lone surrogate
    such as ``"\\udc80"`` cannot be encoded, hashed or used as a path) are errors."""
    try:
        value = json.loads(data, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    _check_parsed(value)
    return value


def _check_parsed(value: Any) -> None:
    """Refuse deep nesting and lone surrogates; iterative, so no recursion limit applies."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
            if isinstance(item, dict):
                for key, child in item.items():
                    _check_text(key)
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("JSON string holds a lone surrogate (not valid Unicode)") from None


def format_time(moment: datetime) -> str:
    """RFC 3339 UTC with second precision, e.g. ``2026-05-27T10:00:00Z``."""
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    """Parse an RFC 3339 timestamp; a naive one is read as UTC (``ValueError`` if invalid)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)
