"""The verdict as the ``stategate.verdict/v1`` JSON contract or a PR comment (SARIF: report.sarif)."""

from __future__ import annotations

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


def verdict_json(v: Verdict) -> dict[str, Any]:
    return {
        "schema": VERDICT_SCHEMA,
        "verdict": v.verdict.value,
        "stage": v.stage,
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
    lines = [
        f"### stategate: {_ICON[v.verdict]} `{v.verdict.value}` ({v.stage} stage)",
        "",
    ]
    if v.verdict is VerdictKind.READY:
        lines += [
            "Merge requirements are met. Merging records desired state only; a runtime apply "
            "still needs the apply-stage evidence and a signed operator approval.",
            "",
        ]
    if v.stops:
        lines += ["**Stop conditions** (escalate to the operator):", ""]
        for s in v.stops:
            where = (
                f" (`{s.file}:{s.line}`)"
                if s.file and s.line
                else f" (`{s.file}`)"
                if s.file
                else ""
            )
            lines.append(f"- `{s.condition.value}`: {s.message}{where}")
        lines.append("")
    if v.changes:
        lines += ["| module | change | from | to | semver |", "|---|---|---|---|---|"]
        for c in v.changes:
            kind = c.kind.value + (f" ({', '.join(c.fields)})" if c.fields else "")
            lines.append(
                f"| `{c.module}` | {kind} | `{c.from_image or '-'}` | `{c.to_image or '-'}` "
                f"| {c.semver or '-'} |"
            )
        lines.append("")
    else:
        lines += ["Repo-only change: nothing that runs is changed.", ""]
    missing = v.missing
    if missing:
        lines += ["**Missing** (what would satisfy each):", ""]
        lines.extend(f"- [ ] `{r.id}` {r.module or ''}: {r.hint}" for r in missing)
        lines.append("")
    met = [r for r in v.requirements if r.status == "met"]
    if met:
        lines += ["<details><summary>Met requirements</summary>", ""]
        lines.extend(f"- [x] `{r.id}` {r.module or ''}" for r in met)
        lines += ["", "</details>", ""]
    if v.findings:
        lines += ["**Findings:**", ""]
        lines.extend(f"- `{f.rule}` `{f.file}:{f.line}`: {f.message}" for f in v.findings)
        lines.append("")
    lines.append("Labels: " + (", ".join(f"`{label}`" for label in v.labels) or "none"))
    return "\n".join(lines) + "\n"
