"""The sliver of the Actions expression language the CI tests need to run a step."""

from __future__ import annotations

import re
from typing import Any

EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*")


def evaluate(value: str, context: dict[str, Any]) -> str:
    """``${{ a.b || c.d }}`` inside a string: dotted lookups and ``||``, nothing more."""

    def lookup(path: str) -> str:
        if not DOTTED.fullmatch(path):  # anything richer would be silently mis-read here
            raise ValueError(f"expression not supported by the test runner: {path!r}")
        node: Any = context
        for part in path.split("."):
            node = node.get(part, "") if isinstance(node, dict) else ""
        return "" if node is None else str(node)

    def one(match: re.Match[str]) -> str:
        for alternative in match.group(1).split("||"):
            found = lookup(alternative.strip())
            if found:
                return found
        return ""

    return EXPRESSION.sub(one, value)
