"""Secret values in a diff, and runtime instructions in docs (pure).

A finding names the file, the line and the key, never the value.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from stategate.git import AddedLine
from stategate.policy.classify import CREDENTIAL_KEY

PRIVATE_KEY = re.compile(r"-----BEGIN ([A-Z ]+ )?PRIVATE KEY-----")
TOKEN_SHAPES = (
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{40,}\b"),
    re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}\b"),
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b"),
    re.compile(r"\bsk-[A-Za-z0-9]{20,}\b"),
    # a JWT starts a token: not inside a run ("eyJa-eyJa-..." would be quadratic)
    re.compile(
        r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\b"
    ),
)
ASSIGNMENT = re.compile(
    r"""^\s*(?:-\s*)?(?:export\s+)?["']?(?P<key>[A-Za-z_][A-Za-z0-9_.-]*)["']?\s*(?P<op>[:=])\s*"""
    r"""(?P<value>.*?)\s*(?:\s#.*)?$"""
)
# ``KEY=value`` or ``key: value`` anywhere in a line ("run `PGPASSWORD=... psql`"),
# but not the default of ``${KEY:-default}``, which is judged as a reference
INLINE_ASSIGNMENT = re.compile(
    r"""(?<![A-Za-z0-9_.${-])(?P<key>[A-Za-z_][A-Za-z0-9_.-]{0,127})["']?[ \t]{0,8}[:=][ \t]{0,8}"""
    r"""(?P<value>"[^"]{0,1024}"|'[^']{0,1024}'|`[^`]{0,1024}`|[^\s"'`,;()<>\[\]{}]{1,1024})"""
)
# a credential named in prose and given right after ("connect with password X to ...")
PROSE_CREDENTIAL = re.compile(
    r"\b(?P<key>pass(?:word|phrase|wd)?|secret|token|api[ _-]?key|access[ _-]?key"
    r"|credentials?)\b(?:[ \t]{0,8}[:=][ \t]{0,8}|[ \t]{1,8}(?:(?:is|was|of|to|set[ \t]+to|reads"
    r"|equals|with)[ \t]{1,8}){0,4})[`'\"]?(?P<value>[^\s`'\",;()<>]{1,1024})",
    re.IGNORECASE,
)
URL_PASSWORD = re.compile(
    r"(?<![a-z0-9])[a-z][a-z0-9+.-]{0,31}://[^/\s:@]{0,256}:(?P<pw>[^/\s@]{1,256})@",
    re.IGNORECASE,
)
PLACEHOLDERS = re.compile(
    r"^(changeme|change-me|password|secret|example|xxx+|\*+|<[^>]*>|null|none|true|false"
    r"|redacted|todo|placeholder|dummy)$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Finding:
    rule: str
    file: str
    line: int
    message: str


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _is_reference(value: str) -> bool:
    return (
        not value
        or "$" in value
        or value.startswith(("/", "./", "../", "~", "{{", "vault:", "op://", "secret:"))
        or PLACEHOLDERS.match(value) is not None
    )


def credential_shaped(value: str) -> bool:
    """A value that looks like a real credential rather than a reference or placeholder."""
    if _is_reference(value) or len(value) < 8 or " " in value:
        return False
    classes = sum(
        bool(re.search(pattern, value))
        for pattern in (r"[a-z]", r"[A-Z]", r"[0-9]", r"[^A-Za-z0-9]")
    )
    return _entropy(value) >= 3.0 and classes >= 2


def scan_secrets(lines: Iterable[AddedLine]) -> list[Finding]:
    findings: list[Finding] = []
    for added in lines:
        text = added.text
        if PRIVATE_KEY.search(text):
            findings.append(Finding("secret-value", added.path, added.line, "a private key block"))
            continue
        if any(shape.search(text) for shape in TOKEN_SHAPES):
            findings.append(
                Finding("secret-value", added.path, added.line, "a token-shaped value (not shown)")
            )
            continue
        url = URL_PASSWORD.search(text)
        if url and not _is_reference(url.group("pw")):
            findings.append(
                Finding("secret-value", added.path, added.line, "a URL with an inline password")
            )
            continue
        found = _assigned_credential(text)
        if found:
            findings.append(
                Finding(
                    "secret-value",
                    added.path,
                    added.line,
                    f"a credential-shaped value assigned to {found} (value not shown)",
                )
            )
    return findings


def _assigned_credential(text: str) -> str | None:
    """The name a credential-shaped value is given to in ``text``, wherever in the line."""
    candidates: list[tuple[str, str]] = []
    match = ASSIGNMENT.match(text)
    if match:
        candidates.append((match.group("key"), match.group("value")))
    candidates += [(m.group("key"), m.group("value")) for m in INLINE_ASSIGNMENT.finditer(text)]
    for key, raw in candidates:
        value = raw.strip().strip("'\"`")
        if value.startswith(("&", "*")):  # a YAML anchor or alias, not the value
            continue
        named = CREDENTIAL_KEY.search(key) and not key.upper().endswith("_FILE")
        if named and credential_shaped(value):
            return key
    for m in PROSE_CREDENTIAL.finditer(text):
        value = m.group("value").rstrip(".:!?")
        # prose is full of hyphenated words: a credential there also has a digit or mixed case
        if credential_shaped(value) and _mixed(value):
            return m.group("key")
    return None


def _mixed(value: str) -> bool:
    return any(c.isdigit() for c in value) or (
        any(c.islower() for c in value) and any(c.isupper() for c in value)
    )


def lint_docs(path: str, text: str, patterns: Sequence[str], marker: str) -> list[Finding]:
    """Runtime instructions outside operator-gated regions of a Markdown document.

    Gated regions: a fenced block whose info string contains the marker
    (```` ```sh operator-gated ````), or the lines between ``<!-- operator-gated -->``
    and ``<!-- /operator-gated -->``.
    """
    compiled = [re.compile(p, re.IGNORECASE) for p in patterns]
    findings: list[Finding] = []
    fence: str | None = None
    fence_gated = False
    comment_gated = False
    held: list[tuple[int, str]] = []  # lines inside a comment region not closed yet
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped == f"<!-- {marker} -->":
            comment_gated = True
            continue
        if stripped == f"<!-- /{marker} -->":
            comment_gated, held = False, []
            continue
        if len(line) > MAX_DOC_LINE:  # fail closed: a line too long to lint is a finding
            findings.append(
                Finding(
                    "docs-runtime-instruction",
                    path,
                    number,
                    f"line of {len(line)} characters, too long to check for runtime instructions",
                )
            )
            continue
        if comment_gated:
            held.append((number, line))
            continue
        fence_match = re.match(r"^(`{3,}|~{3,})(.*)$", stripped)
        if fence_match:
            if fence is None:
                fence = fence_match.group(1)
                fence_gated = marker in fence_match.group(2)
                continue
            if stripped.startswith(fence):
                fence, fence_gated = None, False
                continue
        if fence_gated:
            continue
        _lint_line(compiled, path, number, line, marker, findings)
    # a region opened and never closed gates nothing: its lines are linted like any other
    for number, line in held:
        _lint_line(compiled, path, number, line, marker, findings)
    return sorted(findings, key=lambda f: f.line)


MAX_DOC_LINE = 20_000  # characters of one Markdown line the lint reads


def _lint_line(
    compiled: Sequence[re.Pattern[str]],
    path: str,
    number: int,
    line: str,
    marker: str,
    findings: list[Finding],
) -> None:
    for pattern in compiled:
        if pattern.search(line):
            findings.append(
                Finding(
                    "docs-runtime-instruction",
                    path,
                    number,
                    f"runtime instruction outside an operator-gated block ({marker})",
                )
            )
            return
