"""``$`` in the printed model: compose escapes every literal ``$`` as ``$$`` so that
the output loads again with the same values."""

from __future__ import annotations

from typing import Any


def escape_dollars(value: Any) -> Any:
    """A copy of ``value`` whose strings have each ``$`` doubled (mapping keys are kept)."""
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, dict):
        return {key: escape_dollars(item) for key, item in value.items()}
    if isinstance(value, list):
        return [escape_dollars(item) for item in value]
    return value
