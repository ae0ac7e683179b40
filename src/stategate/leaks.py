"""Where known secret values leaked to: outputs, reports, evidence and the ledger.

A leak check that reads files as text misses a secret inside a signed statement:
a DSSE envelope carries its payload base64-encoded, where the secret's own
base64 form need not appear (it depends on the byte offset). So every JSON
string that decodes as base64 is decoded and searched too, recursively (a
payload is JSON again), and each secret is searched in the forms it travels in:
plain, base64, URL-encoded and JSON-escaped. A leak names where and in which form,
never the value.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# long enough to hold a statement: short base64-looking words are not payloads
_BASE64 = re.compile(r"^[A-Za-z0-9+/_-]{16,}={0,2}$")
MAX_DEPTH = 8


@dataclass(frozen=True)
class Leak:
    where: str  # a file path, or the label of an output
    form: str  # plain, base64@N, url-encoded, ...; "payload:" when inside a decoded one
    secret: int  # index into the secrets searched for, never the value

    def __str__(self) -> str:
        return f"secret #{self.secret + 1} in {self.where} ({self.form})"


def encodings(secret: str) -> dict[str, bytes]:
    """The forms a secret may travel in, as bytes to search for."""
    raw = secret.encode("utf-8")
    forms = {
        "plain": raw,
        "url-encoded": urllib.parse.quote(secret, safe="").encode("ascii"),
        "json-escaped": json.dumps(secret)[1:-1].encode("ascii"),
    }
    for offset in range(3):
        forms[f"base64@{offset}"] = _base64_core(raw, offset, base64.b64encode)
        forms[f"base64url@{offset}"] = _base64_core(raw, offset, base64.urlsafe_b64encode)
    return forms


def _base64_core(raw: bytes, offset: int, encode: Callable[[bytes], bytes]) -> bytes:
    """The base64 characters that depend on ``raw`` alone when it starts ``offset`` bytes
    into a longer encoded string: found inside any base64 text that holds it."""
    encoded = encode(b"\0" * offset + raw)
    start = -(-8 * offset // 6)  # the first character with no bit of the prefix
    end = 8 * (offset + len(raw)) // 6  # the last character with no bit of what follows
    return encoded[start:end]


def find_in_bytes(where: str, data: bytes, secrets: Sequence[str]) -> list[Leak]:
    """Leaks of ``secrets`` in ``data``, including inside base64 strings of JSON in it."""
    leaks: list[Leak] = []
    _search(where, data, secrets, "", leaks, 0)
    return leaks


def _search(
    where: str, data: bytes, secrets: Sequence[str], prefix: str, leaks: list[Leak], depth: int
) -> None:
    for index, secret in enumerate(secrets):
        if not secret:
            continue
        for form, needle in encodings(secret).items():
            if len(needle) >= 4 and needle in data:
                leaks.append(Leak(where, prefix + form, index))
                break
    if depth >= MAX_DEPTH:
        return
    for blob in _decoded_strings(data):
        _search(where, blob, secrets, "payload:", leaks, depth + 1)


def _decoded_strings(data: bytes) -> Iterator[bytes]:
    """Every base64 string value of the JSON documents in ``data`` (one, or one per line)."""
    text = data.decode("utf-8", "replace")
    docs: list[Any] = []
    try:
        docs.append(json.loads(text))
    except ValueError:
        for line in text.splitlines():
            try:
                docs.append(json.loads(line))
            except ValueError:
                continue
    for doc in docs:
        for value in _strings(doc):
            decoded = _b64decode(value)
            if decoded is not None:
                yield decoded


def _strings(node: Any) -> Iterator[str]:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.values())
            stack.extend(item.keys())
        elif isinstance(item, list):
            stack.extend(item)


def _b64decode(value: str) -> bytes | None:
    if not _BASE64.match(value):
        return None
    padded = value + "=" * (-len(value) % 4)
    try:
        if "-" in value or "_" in value:
            return base64.urlsafe_b64decode(padded)
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        return None


def find_in_files(paths: Iterable[Path], secrets: Sequence[str]) -> list[Leak]:
    leaks: list[Leak] = []
    for path in paths:
        leaks += find_in_bytes(str(path), path.read_bytes(), secrets)
    return leaks


def files_under(root: Path, *, skip: Sequence[str] = (".git",)) -> list[Path]:
    """Regular files under ``root`` (not following symlinks), minus ``skip`` folders."""
    out: list[Path] = []
    for path in sorted(root.rglob("*")):
        if any(part in skip for part in path.relative_to(root).parts):
            continue
        if path.is_file() and not path.is_symlink():
            out.append(path)
    return out
