"""The verdict as SARIF 2.1.0, in the subset GitHub code scanning accepts (pure).

Every result has a location: its own file, else the file of the module's change, else
the packet that declares the module, else the policy file in force. Every result has a
``partialFingerprints`` entry that survives re-runs and line shifts (see
:func:`fingerprint`), so a re-upload updates alerts instead of duplicating them.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from stategate import __version__
from stategate.policy.gate import Verdict
from stategate.policy.schema import ApplyRequirement, MergeRequirement, StopCondition
from stategate.policy.text import APPLY_TEXT, MERGE_TEXT, STOP_TEXT

SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
SRCROOT = "%SRCROOT%"
# Our own key, not ``primaryLocationLineHash``: GitHub's upload action computes that one
# from the file's text around the line and warns when a tool sends a different value.
FINGERPRINT_KEY = "stategateResult/v1"

_LEVEL = {"stop": "error", "missing": "warning", "finding": "warning"}

# Rule texts beyond the policy's own wording (policy.text), for rules that only check has.
_EXTRA_TEXT = {
    "merge/after": "the packets a packet names in `after` are merged before it",
    "repo/docs-operator-gated": "runtime instructions in docs sit inside an operator-gated "
    "block, or the docs describe the evidence instead",
    "docs-runtime-instruction": "runtime instructions in docs sit inside an operator-gated block",
}


@dataclass(frozen=True)
class _Result:
    rule: str
    level: str
    text: str
    module: str | None
    file: str
    line: int | None


def verdict_sarif(v: Verdict) -> dict[str, Any]:
    found = _results(v)
    rules = {r.rule: _rule(r.rule) for r in found}
    seen: Counter[str] = Counter()
    results = []
    for r in found:
        digest = fingerprint(r.rule, r.module, r.file, _stable_text(r))
        seen[digest] += 1
        region = {"region": {"startLine": r.line}} if r.line else {}
        results.append(
            {
                "ruleId": r.rule,
                "level": r.level,
                "message": {"text": r.text},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": _uri(r.file), "uriBaseId": SRCROOT},
                            **region,
                        }
                    }
                ],
                "partialFingerprints": {FINGERPRINT_KEY: f"{digest}:{seen[digest]}"},
            }
        )
    driver: dict[str, Any] = {
        "name": "stategate",
        "version": __version__,
        "rules": [rules[rule_id] for rule_id in sorted(rules)],
    }
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": driver},
                "originalUriBaseIds": {
                    SRCROOT: {"description": {"text": "The root of the checked repository."}}
                },
                "results": results,
            }
        ],
    }


def fingerprint(rule: str, module: str | None, file: str, text: str) -> str:
    """A result's identity: rule, module, file and message, never its line number, so an
    edit above it does not make it a new alert; the caller numbers repeats ``:1``, ``:2``
    as GitHub's own fingerprints do."""
    key = "\0".join((rule, module or "", file, text))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def _uri(path: str) -> str:
    """A repo-relative path as a relative URI reference: spaces, ``%``, ``#``, ``?`` and
    ``:`` (which would read as a scheme) percent-encoded, ``/`` kept."""
    return quote(path, safe="/")


def _stable_text(r: _Result) -> str:
    # A docs hint names its place as file:line; the line is not part of the identity.
    return r.text.replace(f"{r.file}:{r.line}", r.file) if r.line else r.text


def _results(v: Verdict) -> list[_Result]:
    changed = {c.module: (c.file, c.line) for c in v.changes}
    fallback = v.policy_file

    def where(module: str | None, file: str | None, line: int | None) -> tuple[str, int | None]:
        if file:
            return file, line
        if module and module in changed:
            return changed[module]
        if module and module in v.packet_files:
            return v.packet_files[module], None
        return fallback, None

    out: list[_Result] = []
    for s in v.stops:
        file, line = where(s.module, s.file, s.line)
        out.append(
            _Result(f"stop/{s.condition.value}", _LEVEL["stop"], s.message, s.module, file, line)
        )
    for r in v.missing:
        file, line = where(r.module, r.file, r.line)
        text = f"{r.module or 'PR'}: {r.hint}"
        out.append(_Result(r.id, _LEVEL["missing"], text, r.module, file, line))
    for f in v.findings:
        if f.rule == "secret-value":
            continue  # reported as a stop already
        out.append(_Result(f.rule, _LEVEL["finding"], f.message, None, f.file or fallback, f.line))
    return out


def _rule(rule_id: str) -> dict[str, Any]:
    rule: dict[str, Any] = {"id": rule_id, "shortDescription": {"text": rule_id}}
    found = _rule_text(rule_id)
    if found:
        text, help_text = found
        rule["fullDescription"] = {"text": text[0].upper() + text[1:] + "."}
        rule["help"] = {"text": help_text}
    return rule


def _rule_text(rule_id: str) -> tuple[str, str] | None:
    """(what the rule means, what to do about it), where the policy has the words."""
    prefix, _, name = rule_id.partition("/")
    try:
        if prefix == "stop":
            text = STOP_TEXT[StopCondition(name)]
            return text, f"A stop condition: {text}. The pull request goes to the operator."
        if prefix == "merge" and name != "after":
            text = MERGE_TEXT[MergeRequirement(name)]
            return text, f"Satisfied by {text}."
        if prefix == "apply":
            text = APPLY_TEXT[ApplyRequirement(name)]
            return text, f"Satisfied by {text}."
    except (ValueError, KeyError):
        return None
    extra = _EXTRA_TEXT.get(rule_id)
    return (extra, f"Satisfied when {extra}.") if extra else None
