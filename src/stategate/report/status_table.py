"""The status page for a terminal: a rich table on a TTY, plain lines when piped.

Every string from the repo goes into a :class:`rich.text.Text`, never through rich's
markup parser, so a module named ``[red]x`` prints as written.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from stategate.report.status import KIND_TITLES, Cell, ModuleStatus, State, StatusModel

STYLES: dict[State, str] = {
    State.FRESH: "green",
    State.STALE: "bold yellow",
    State.FAILED: "bold red",
    State.UNTRUSTED: "bold magenta",
    State.MISSING: "bold red",
    State.NONE: "dim",
}


def age_text(hours: float) -> str:
    """``3.5 h`` under two days, else ``12 d``."""
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.0f} d"


def cell_summary(cell: Cell, *, in_column: bool = False) -> str:
    """One line: ``fresh, 3.5 h (limit 24.0 h)``; ``missing``; ``none``. ``in_column``:
    under a heading that gives the limit, a fresh cell leaves it out."""
    if cell.state is State.UNTRUSTED:
        return "untrusted: " + ("does not verify" if cell.result is None else "in the future")
    if cell.age_hours is None:
        return cell.state.value
    age = f"{age_text(cell.age_hours)} (limit {age_text(cell.limit_hours)})"
    if cell.state is State.FAILED:
        return f"failed ({cell.result}), {age}"
    if cell.state is State.FRESH and in_column:
        return f"fresh, {age_text(cell.age_hours)}"
    return f"{cell.state.value}, {age}"


def steps_summary(cell: Cell) -> str | None:
    """``took 26.7 s, most in restore-db app (21.4 s)``; None without steps."""
    took = cell.took
    if took is None:
        return None
    slowest = max(cell.steps, key=lambda s: s.seconds)
    return f"took {took:.1f} s, most in {slowest.name} ({slowest.seconds:.1f} s)"


def steps_text(cell: Cell) -> str:
    """Every step: ``verify-artifacts 0.08 s, sandbox-start 2.20 s, ...``."""
    return ", ".join(
        f"{s.name} {s.seconds:.2f} s" + ("" if s.result == "pass" else f" ({s.result})")
        for s in cell.steps
    )


def module_summary(module: ModuleStatus) -> str:
    related = f"; parent {module.parent}" if module.parent else ""
    reference = "; backup reference" if module.backup_reference else ""
    return f"{', '.join(module.classes)}; {module.tier}{related}{reference}"


def status_table(model: StatusModel) -> Table:
    table = Table(title="stategate status", show_lines=True)
    table.add_column("module", overflow="fold")
    table.add_column("classes / tier / parent", overflow="fold")
    for kind, title in KIND_TITLES.items():
        limit = age_text(model.limits[kind])
        table.add_column(f"{title} (≤ {limit})", overflow="fold")
    for module in model.modules:
        cells: list[Text] = []
        for cell in module.cells:
            text = Text(cell_summary(cell, in_column=True), style=STYLES[cell.state])
            if cell.engine:
                text.append(f"\n{cell.engine}", style="dim")
            took = steps_summary(cell)
            if took:
                text.append(f"\n{took}", style="dim")
            cells.append(text)
        about = [*module.classes, f"tier {module.tier}"]
        about += [f"parent {module.parent}"] if module.parent else []
        about += ["backup reference"] if module.backup_reference else []
        table.add_row(Text(module.id, style="bold"), Text("\n".join(about)), *cells)
    return table


def untrusted_lines(model: StatusModel) -> list[str]:
    """The record files that do not verify (empty when there are none)."""
    if not model.untrusted:
        return []
    head = f"{len(model.untrusted)} record file(s) do not verify and count for nothing:"
    return [head, *(f"  {r.rel}: {r.reason}" for r in model.untrusted)]


def status_lines(model: StatusModel) -> list[str]:
    """Plain text (piped output, logs): a block per module, a line per kind."""
    lines = [
        f"stategate status at {model.now:%Y-%m-%d %H:%M}Z: {len(model.modules)} module(s), "
        f"{model.attention} item(s) need attention"
    ]
    for module in model.modules:
        lines.append("")
        lines.append(f"{module.id}  ({module_summary(module)})")
        for cell in module.cells:
            extra = "  ".join(x for x in (cell.engine, cell.record) if x)
            flag = "!" if cell.state.attention else " "
            lines.append(
                f" {flag} {KIND_TITLES[cell.kind]:<14} {cell_summary(cell)}"
                + (f"  {extra}" if extra else "")
            )
            if cell.reason:
                lines.append(f"     {'':<14} {cell.reason}")
            if cell.steps:
                lines.append(f"     {'':<14} steps: {steps_text(cell)}")
    if model.untrusted:
        lines.append("")
        lines.extend(untrusted_lines(model))
    return lines
