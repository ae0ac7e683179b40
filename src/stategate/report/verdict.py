"""The verdict as the ``stategate.verdict/v1`` JSON contract or a PR comment (SARIF: report.sarif)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from stategate.policy.gate import Verdict, VerdictKind

VERDICT_SCHEMA = "stategate.verdict/v1"

_ICON = {
    VerdictKind.PASS: "✅",
    VerdictKind.READY: "🟡",
    VerdictKind.APPROVED: "✅",
    VerdictKind.BLOCKED: "⛔",
    VerdictKind.STOP: "🛑",
}


def verdict_json(v: Verdict, revisions: tuple[str, str] | None = None) -> dict[str, Any]:
    """The contract; ``revisions`` (base, head) are the commits judged, when known."""
    return {
        "schema": VERDICT_SCHEMA,
        "verdict": v.verdict.value,
        "stage": v.stage,
        "revisions": (
            {"base": revisions[0], "head": revisions[1]}
            if revisions
            else {"base": None, "head": None}
        ),
        "changes": [
            {
                "module": c.module,
                "service": c.service,
                "file": c.file,
                "kind": c.kind.value,
                "from": c.from_image,
                "to": c.to_image,
                "semver": c.semver,
                "fields": list(c.fields),
                "renamed_from": c.renamed_from,
            }
            for c in v.changes
        ],
        "requirements": [
            {"id": r.id, "module": r.module, "class": r.cls, "status": r.status, "hint": r.hint}
            for r in v.requirements
        ],
        "stops": [
            {
                "condition": s.condition.value,
                "module": s.module,
                "message": s.message,
                "file": s.file,
                "line": s.line,
            }
            for s in v.stops
        ],
        "findings": [
            {"rule": f.rule, "file": f.file, "line": f.line, "message": f.message}
            for f in v.findings
        ],
        "labels": list(v.labels),
        "touched_paths": list(v.touched_paths),
        "packets": list(v.packets),
        "evidence": list(v.relied_evidence),
    }


# a value that can sit in a `code span` as is: no backtick, no line break or other control
# character, nothing HTML could start from, no table-cell separator
_PLAIN_CODE = re.compile(r"^[^`<>|&\x00-\x1f\x7f-\x9f\u2028\u2029]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CODE_ENTITIES = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    '"': "&quot;",
    "`": "&#96;",
    "|": "&#124;",
    "\\": "&#92;",
    "*": "&#42;",
    "_": "&#95;",
    "[": "&#91;",
    "]": "&#93;",
    "~": "&#126;",
}


def _code(value: object) -> str:
    """``value`` shown as code, never escaping it: a `code span` for ordinary values,
    else an HTML ``<code>`` whose every markdown- or HTML-active character is an entity
    (a backtick or a line break in the value cannot end the span or the line)."""
    text = str(value)
    if _PLAIN_CODE.match(text):
        return f"`{text}`"
    text = _CONTROL.sub(" ", text)
    return "<code>" + "".join(_CODE_ENTITIES.get(c, c) for c in text) + "</code>"


def _text(value: object, *, cell: bool = False) -> str:
    """``value`` as inline text on one line: no line break, no HTML (so no ``<!--`` that
    hides what follows), backticks only as balanced single-backtick code spans."""
    text = _CONTROL.sub(" ", str(value))
    runs = re.findall(r"`+", text)
    if len(runs) % 2 or any(len(run) > 1 for run in runs) or "\\`" in text or "<!" in text:
        text = _html(text).replace("\\", "\\\\").replace("`", "\\`")
    else:  # inside the code spans (odd parts) '<' is literal already; outside it is HTML
        parts = text.split("`")
        text = "`".join(part if i % 2 else _html(part) for i, part in enumerate(parts))
    if cell:
        text = text.replace("|", "&#124;")
    return text


def _html(text: str) -> str:
    return text.replace("<", "&lt;").replace(">", "&gt;")


def verdict_markdown(v: Verdict) -> str:
    return markdown_from_json(verdict_json(v))


def markdown_from_json(doc: Mapping[str, Any]) -> str:
    """The PR comment, rendered from the ``stategate.verdict/v1`` JSON alone, so a later
    ``stategate publish`` renders exactly what ``check --format markdown`` prints."""
    kind = VerdictKind(doc["verdict"])
    lines = [
        f"### stategate: {_ICON[kind]} `{kind.value}` ({_text(doc['stage'])} stage)",
        "",
    ]
    if kind is VerdictKind.READY:
        lines += [
            "Merge requirements are met. Merging records desired state only; a runtime apply "
            "still needs the apply-stage evidence and a signed operator approval.",
            "",
        ]
    if doc["stops"]:
        lines += ["**Stop conditions** (escalate to the operator):", ""]
        for s in doc["stops"]:
            file, line = s["file"], s["line"]
            where = (
                f" ({_code(f'{file}:{line}')})"
                if file and line
                else f" ({_code(file)})"
                if file
                else ""
            )
            lines.append(f"- {_code(s['condition'])}: {_text(s['message'])}{where}")
        lines.append("")
    if doc["changes"]:
        lines += ["| module | change | from | to | semver |", "|---|---|---|---|---|"]
        for c in doc["changes"]:
            change = c["kind"] + (f" ({', '.join(c['fields'])})" if c["fields"] else "")
            lines.append(
                f"| {_code(c['module'])} | {_text(change, cell=True)} | {_code(c['from'] or '-')} "
                f"| {_code(c['to'] or '-')} | {_text(c['semver'] or '-', cell=True)} |"
            )
        lines.append("")
    else:
        lines += ["Repo-only change: nothing that runs is changed.", ""]
    missing = [r for r in doc["requirements"] if r["status"] != "met"]
    if missing:
        lines += ["**Missing** (what would satisfy each):", ""]
        lines.extend(
            f"- [ ] {_code(r['id'])} {_text(r['module'] or '')}: {_text(r['hint'])}"
            for r in missing
        )
        lines.append("")
    met = [r for r in doc["requirements"] if r["status"] == "met"]
    if met:
        lines += ["<details><summary>Met requirements</summary>", ""]
        lines.extend(f"- [x] {_code(r['id'])} {_text(r['module'] or '')}" for r in met)
        lines += ["", "</details>", ""]
    if doc["findings"]:
        lines += ["**Findings:**", ""]
        for f in doc["findings"]:
            place = _code(f"{f['file']}:{f['line']}")
            lines.append(f"- {_code(f['rule'])} {place}: {_text(f['message'])}")
        lines.append("")
    lines.append("Labels: " + (", ".join(_code(label) for label in doc["labels"]) or "none"))
    return "\n".join(lines) + "\n"
