"""The evidence timeline as inline SVG: one row per module, a mark per record.

Colour says the kind (backup, restore drill, ...), shape says the result: a filled
circle passed, a cross failed (or could not run), a hollow square does not verify.
Every mark carries a ``<title>`` (kind, result, time, record) and the chart an
``aria-label``; a legend spells the encoding out in words. Every string is escaped.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from html import escape

from stategate.report.status import KIND_TITLES, KINDS, Mark, StatusModel

KIND_COLOURS: dict[str, str] = {
    "backup": "#1d4ed8",
    "restore-drill": "#0f766e",
    "rehearsal": "#6d28d9",
    "smoke": "#a16207",
    "dr-drill": "#be185d",
}
FAIL_COLOUR = "#b91c1c"
UNTRUSTED_COLOUR = "#52525b"
WIDTH = 960
LABEL = 230  # the module names' column
RIGHT = 20
ROW = 26
TOP = 16
AXIS = 34
LABEL_CHARS = 30


def _x(when: datetime, start: datetime, end: datetime) -> float:
    span = max((end - start).total_seconds(), 1.0)
    frac = (when - start).total_seconds() / span
    return LABEL + frac * (WIDTH - LABEL - RIGHT)


def _span(model: StatusModel) -> tuple[datetime, datetime]:
    """From the oldest record (at least ten minutes back, so marks spread out) to now."""
    end = model.now
    oldest = min((m.when for mod in model.modules for m in mod.marks), default=end)
    start = min(oldest, end - timedelta(minutes=10))
    pad = (end - start) * 0.04
    return start - pad, end


def _tick_label(when: datetime, span: timedelta) -> str:
    return f"{when:%H:%M}" if span <= timedelta(days=2) else f"{when:%Y-%m-%d}"


def _mark(mark: Mark, x: float, y: float) -> str:
    note = "" if mark.counts else " (of a replica: counts for no apply gate)"
    title = escape(
        f"{KIND_TITLES.get(mark.kind, mark.kind)}: {mark.result}{note}, "
        f"{mark.when:%Y-%m-%d %H:%M}Z, {mark.record}"
    )
    colour = KIND_COLOURS.get(mark.kind, UNTRUSTED_COLOUR)
    if mark.result == "pass":
        shape = f'<circle cx="{x:.1f}" cy="{y:.1f}" r="6" fill="{colour}"/>'
    elif mark.result == "untrusted":
        shape = (
            f'<rect x="{x - 5:.1f}" y="{y - 5:.1f}" width="10" height="10" fill="#fff" '
            f'stroke="{UNTRUSTED_COLOUR}" stroke-width="2"/>'
        )
    else:
        shape = (
            f'<path d="M{x - 5:.1f} {y - 5:.1f}L{x + 5:.1f} {y + 5:.1f}M{x + 5:.1f} {y - 5:.1f}'
            f'L{x - 5:.1f} {y + 5:.1f}" stroke="{FAIL_COLOUR}" stroke-width="3"/>'
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="8" fill="none" stroke="{colour}" '
            'stroke-width="1.5"/>'
        )
    return f'<g class="mark"><title>{title}</title>{shape}</g>'


def timeline_svg(model: StatusModel) -> str:
    start, end = _span(model)
    rows = max(len(model.modules), 1)
    height = TOP + rows * ROW + AXIS
    count = sum(len(m.marks) for m in model.modules)
    parts = [
        f'<svg viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" role="img" class="timeline" '
        f'aria-label="{escape(f"timeline of {count} evidence record(s) of {len(model.modules)} module(s), {start:%Y-%m-%d} to {end:%Y-%m-%d}")}" '
        'font-family="system-ui, sans-serif" font-size="13">'
    ]
    axis_y = TOP + rows * ROW
    # the backup freshness window, shaded: marks inside it are recent enough for an apply
    window = _x(max(start, end - timedelta(hours=model.limits["backup"])), start, end)
    parts.append(
        f'<rect x="{window:.1f}" y="{TOP - 6}" width="{WIDTH - RIGHT - window:.1f}" '
        f'height="{rows * ROW + 6}" fill="#ecfdf5"/>'
    )
    for i in range(5):
        when = start + (end - start) * (i / 4)
        x = _x(when, start, end)
        parts.append(
            f'<line x1="{x:.1f}" y1="{TOP - 6}" x2="{x:.1f}" y2="{axis_y}" stroke="#d4d4d8"/>'
        )
        anchor = "end" if i == 4 else ("start" if i == 0 else "middle")
        parts.append(
            f'<text x="{x:.1f}" y="{axis_y + 18}" text-anchor="{anchor}" fill="#3f3f46">'
            f"{escape(_tick_label(when, end - start))}</text>"
        )
    for row, module in enumerate(model.modules):
        y = TOP + row * ROW + ROW / 2
        name = module.id if len(module.id) <= LABEL_CHARS else module.id[: LABEL_CHARS - 1] + "…"
        parts.append(
            f'<text x="{LABEL - 10}" y="{y + 4:.1f}" text-anchor="end" fill="#18181b">'
            f"<title>{escape(module.id)}</title>{escape(name)}</text>"
        )
        parts.append(
            f'<line x1="{LABEL}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#e4e4e7"/>'
        )
        parts.extend(_mark(m, _x(m.when, start, end), y) for m in module.marks)
    if not model.modules:
        parts.append(f'<text x="{LABEL}" y="{TOP + 16}" fill="#3f3f46">no modules</text>')
    parts.append(
        f'<line x1="{LABEL}" y1="{axis_y}" x2="{WIDTH - RIGHT}" y2="{axis_y}" stroke="#71717a"/>'
    )
    parts.append("</svg>")
    return "".join(parts)


def legend_items() -> list[tuple[str, str]]:
    """(colour, words) for the legend under the chart."""
    return [(KIND_COLOURS[k], KIND_TITLES[k]) for k in KINDS]
