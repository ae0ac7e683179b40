"""The status page as one static HTML file: CSS and SVG inline, no script, no network.

Readable at phone width: the module table reflows into one card per module under
720 px, and the timeline scrolls inside its own box. A state is always written out
("stale", "missing", "failed", "untrusted"), never shown by colour alone. Every
string from the repo or a record is escaped.
"""

from __future__ import annotations

from html import escape

from stategate import __version__
from stategate.report.status import KIND_TITLES, Cell, ModuleStatus, State, StatusModel
from stategate.report.status_svg import (
    FAIL_COLOUR,
    UNTRUSTED_COLOUR,
    legend_items,
    timeline_svg,
)
from stategate.report.status_table import age_text, cell_summary, steps_summary

CSS = """
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:#18181b;background:#fafafa}
main{max-width:1280px;margin:0 auto;padding:16px}
h1{font-size:1.5rem;margin:.2rem 0}
h2{font-size:1.15rem;margin:1.6rem 0 .5rem}
p,li{overflow-wrap:anywhere}
.meta{color:#3f3f46;margin:0}
.summary{display:flex;flex-wrap:wrap;gap:8px;padding:0;list-style:none}
.summary li{border-radius:6px;padding:4px 10px;border:1px solid #d4d4d8;background:#fff}
.scroll{overflow-x:auto;max-width:100%}
table.status{border-collapse:collapse;width:100%;background:#fff}
.status th,.status td{border:1px solid #d4d4d8;padding:6px 8px;text-align:left;
vertical-align:top}
.status th{background:#f4f4f5;font-weight:600}
.status td{overflow-wrap:anywhere}
.mod{font-weight:600;overflow-wrap:normal}
.sub{display:block;color:#3f3f46;font-size:.85rem}
.state{font-weight:600}
.fresh{background:#dcfce7;color:#14532d}
.stale{background:#fef3c7;color:#713f12}
.failed,.missing{background:#fee2e2;color:#7f1d1d}
.untrusted{background:#f3e8ff;color:#581c87}
.none{color:#52525b}
.none .state{font-weight:400}
.engine{display:block;font-size:.85rem}
.why{display:block;font-size:.8rem}
.steps{font-size:.8rem}
.steps ol{margin:.2rem 0;padding-left:1.2rem}
.label{display:none}
.timeline{width:100%;height:auto;min-width:640px;display:block;background:#fff}
.legend{display:flex;flex-wrap:wrap;gap:6px 16px;padding:0;list-style:none;font-size:.9rem}
.sw{display:inline-block;width:12px;height:12px;border-radius:50%;margin-right:6px;
vertical-align:-1px}
.x{font-weight:700;margin-right:6px}
code{font-size:.85em;overflow-wrap:anywhere}
@media (max-width:720px){
 table.status,.status tbody,.status tr,.status td{display:block;width:100%}
 .status thead{position:absolute;left:-9999px}
 .status tr{margin:0 0 12px;border:1px solid #a1a1aa}
 .status td{border:0;border-top:1px solid #e4e4e7}
 .status .label{display:inline;font-weight:600}
 .status td.none{display:inline-block;width:auto;border:0;padding:2px 8px}
}
"""


def _cell(cell: Cell) -> str:
    label = escape(KIND_TITLES[cell.kind])
    # a fresh cell's limit is in its column's heading; a stale one says it again
    summary = cell_summary(cell, in_column=True)
    body = f'<span class="label">{label}: </span><span class="state">{escape(summary)}</span>'
    if cell.engine:
        body += f'<span class="engine">{escape(cell.engine)}</span>'
    if cell.finished is not None:
        body += f'<span class="sub">{cell.finished:%Y-%m-%d %H:%M}Z</span>'
    if cell.reason:
        body += f'<span class="why">{escape(_short(cell))}</span>'
    took = steps_summary(cell)
    if took:
        items = "".join(
            f"<li>{escape(s.name)}: {s.seconds:.2f} s"
            + ("" if s.result == "pass" else f" ({escape(s.result)})")
            + "</li>"
            for s in cell.steps
        )
        body += (
            f'<details class="steps"><summary>{escape(took)}</summary><ol>{items}</ol></details>'
        )
    title = f' title="{escape(cell.record)}"' if cell.record else ""
    return f'<td class="{cell.state.value}"{title}>{body}</td>'


def _short(cell: Cell) -> str:
    """A cell's reason; for a record that does not verify, only its finding codes (the
    full reasons are listed under "Records that do not verify")."""
    reason = cell.reason or ""
    if cell.state is not State.UNTRUSTED or cell.result is not None:
        return reason
    codes = [part.split(":", 1)[0].strip() for part in reason.split("; ")]
    return ", ".join(c for c in codes if c) + " (see below)"


def _module_name(module_id: str) -> str:
    """Escaped, with a break opportunity after each ``/``: never split inside a name."""
    return "/<wbr>".join(escape(part) for part in module_id.split("/"))


def _row(module: ModuleStatus) -> str:
    parent = f'<span class="sub">sidecar of {escape(module.parent)}</span>' if module.parent else ""
    reference = '<span class="sub">backup reference</span>' if module.backup_reference else ""
    classes = escape(", ".join(module.classes))
    return (
        f'<tr id="m-{escape(module.id.replace("/", "-"))}">'
        f'<td class="mod">{_module_name(module.id)}{parent}{reference}</td>'
        f'<td><span class="label">classes: </span>{classes}<span class="sub">tier: {escape(module.tier)}'
        f"</span></td>{''.join(_cell(c) for c in module.cells)}</tr>"
    )


def _attention(model: StatusModel) -> str:
    items = [
        f"<li><strong>{escape(m.id)}</strong>: {escape(KIND_TITLES[c.kind])} "
        f"{escape(cell_summary(c))}</li>"
        for m in model.modules
        for c in m.attention
    ]
    if not items:
        return "<p>Every module's needed evidence is fresh.</p>"
    return f"<ul>{''.join(items)}</ul>"


def status_html(model: StatusModel) -> str:
    counts = {s: 0 for s in State}
    for module in model.modules:
        for cell in module.cells:
            counts[cell.state] += 1
    summary = "".join(
        f'<li class="{s.value}">{counts[s]} {escape(s.value)}</li>' for s in State if counts[s]
    )
    heads = "".join(
        f'<th scope="col">{escape(t)} <span class="sub">limit {age_text(model.limits[k])}'
        "</span></th>"
        for k, t in KIND_TITLES.items()
    )
    legend = "".join(
        f'<li><span class="sw" style="background:{c}"></span>{escape(w)}</li>'
        for c, w in legend_items()
    )
    legend += (
        f'<li><span class="x" style="color:{FAIL_COLOUR}" aria-hidden="true">✕</span>'
        "cross: failed or could not run</li>"
        f'<li><span class="sw" style="border:2px solid {UNTRUSTED_COLOUR};border-radius:0">'
        "</span>hollow square: does not verify (untrusted)</li>"
        "<li>filled circle: passed; shaded: the backup freshness window</li>"
    )
    untrusted = ""
    if model.untrusted:
        rows = "".join(
            f"<li><code>{escape(r.rel)}</code>: {escape(r.reason)}</li>" for r in model.untrusted
        )
        untrusted = (
            "<h2>Records that do not verify</h2><p>These files count for nothing: their "
            f"signature, key or ledger entry does not check out.</p><ul>{rows}</ul>"
        )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>stategate status</title>"
        f"<style>{CSS}</style></head><body><main>"
        "<h1>stategate status</h1>"
        f'<p class="meta">Generated {model.now:%Y-%m-%d %H:%M}Z by stategate '
        f"{escape(__version__)}; trust roots: {escape(model.trust_origin or '-')}. "
        f"{len(model.modules)} module(s), {model.attention} item(s) need attention.</p>"
        f'<ul class="summary">{summary}</ul>'
        f"<h2>Needs attention</h2>{_attention(model)}"
        "<h2>Evidence timeline</h2>"
        f'<div class="scroll">{timeline_svg(model)}</div>'
        f'<ul class="legend">{legend}</ul>'
        '<h2>Modules</h2><div class="scroll"><table class="status">'
        '<thead><tr><th scope="col">module</th><th scope="col">classes</th>'
        f"{heads}</tr></thead><tbody>{''.join(_row(m) for m in model.modules)}</tbody>"
        "</table></div>"
        f"{untrusted}"
        "</main></body></html>\n"
    )
