"""The verdict as the ``stategate.verdict/v1`` JSON contract or a PR comment (SARIF: report.sarif)."""

from __future__ import annotations

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


def verdict_markdown(v: Verdict) -> str:
    return markdown_from_json(verdict_json(v))


def markdown_from_json(doc: Mapping[str, Any]) -> str:
    """The PR comment, rendered from the ``stategate.verdict/v1`` JSON alone, so a later
    ``stategate publish`` renders exactly what ``check --format markdown`` prints."""
    kind = VerdictKind(doc["verdict"])
    lines = [
        f"### stategate: {_ICON[kind]} `{kind.value}` ({doc['stage']} stage)",
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
            where = f" (`{file}:{line}`)" if file and line else f" (`{file}`)" if file else ""
            lines.append(f"- `{s['condition']}`: {s['message']}{where}")
        lines.append("")
    if doc["changes"]:
        lines += ["| module | change | from | to | semver |", "|---|---|---|---|---|"]
        for c in doc["changes"]:
            change = c["kind"] + (f" ({', '.join(c['fields'])})" if c["fields"] else "")
            lines.append(
                f"| `{c['module']}` | {change} | `{c['from'] or '-'}` | `{c['to'] or '-'}` "
                f"| {c['semver'] or '-'} |"
            )
        lines.append("")
    else:
        lines += ["Repo-only change: nothing that runs is changed.", ""]
    missing = [r for r in doc["requirements"] if r["status"] != "met"]
    if missing:
        lines += ["**Missing** (what would satisfy each):", ""]
        lines.extend(f"- [ ] `{r['id']}` {r['module'] or ''}: {r['hint']}" for r in missing)
        lines.append("")
    met = [r for r in doc["requirements"] if r["status"] == "met"]
    if met:
        lines += ["<details><summary>Met requirements</summary>", ""]
        lines.extend(f"- [x] `{r['id']}` {r['module'] or ''}" for r in met)
        lines += ["", "</details>", ""]
    if doc["findings"]:
        lines += ["**Findings:**", ""]
        lines.extend(
            f"- `{f['rule']}` `{f['file']}:{f['line']}`: {f['message']}" for f in doc["findings"]
        )
        lines.append("")
    lines.append("Labels: " + (", ".join(f"`{label}`" for label in doc["labels"]) or "none"))
    return "\n".join(lines) + "\n"
