"""``stategate dr-drill``: restore every stateful module together and record one DR attestation."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from stategate.commands.evidence_output import (
    engine_option,
    evidence_options,
    progress_factory,
    report_record,
)
from stategate.evidence.records.predicates import DrDrillPredicate, DrModule
from stategate.evidence.trust.signer import load_evidence_key
from stategate.operations.dr import run_dr_drill
from stategate.sandbox.engine import EngineName
from stategate.workspace import open_workspace

_COLOUR = {"pass": "green", "fail": "red", "error": "red", "skipped": "yellow"}


@click.command("dr-drill")
@click.option(
    "--window",
    "window_hours",
    type=float,
    default=None,
    metavar="HOURS",
    help="The restored backups must all be taken within this many hours of each other "
    "(default: the policy's freshness.dr_window_minutes, 30 minutes unless set).",
)
@engine_option(
    "Sandbox engine for every module (default: each module's policy setting, else local)."
)
@evidence_options
def command(
    window_hours: float | None,
    engine: EngineName | None,
    repo: Path,
    artifacts: Path | None,
    key_path: Path | None,
    fmt: str,
) -> int:
    """Restore the newest backups of every stateful module together, verify, smoke, record."""
    record = run_dr_drill(
        open_workspace(repo),
        key=load_evidence_key(key_path),
        window_hours=window_hours,
        artifacts=artifacts,
        engine_name=engine,
        progress=progress_factory(fmt),
    )
    pred = record.statement.predicate
    assert isinstance(pred, DrDrillPredicate)
    return report_record(record, pred, fmt, lambda console: _print_text(console, pred))


def _print_text(console: Console, pred: DrDrillPredicate) -> None:
    console.print(f"[bold]dr-drill[/]: [{_COLOUR[pred.result]}]{pred.result}[/]")
    if pred.window is not None:
        window = pred.window
        console.print(
            f"  backup window: {window.start:%Y-%m-%d %H:%M:%S} to {window.end:%Y-%m-%d %H:%M:%S}"
            f" UTC (at most {window.hours:g} h)",
            markup=False,
        )
    table = Table(show_header=True, header_style="bold")
    for column in ("module", "backup", "artifacts", "content", "smoke", "sandbox", "result"):
        table.add_column(column, overflow="fold")
    for module in pred.modules:
        table.add_row(
            module.module,
            module.backup_id or "-",
            _artifacts(module),
            _content(module),
            _smoke(module),
            _sandbox(module),
            f"[{_COLOUR[module.result]}]{module.result}[/]",
        )
    console.print(table)
    for check in pred.cross_smoke:
        detail = f" {check.detail}" if check.detail else ""
        console.print(
            f"  cross-smoke {check.module} {check.name}: {check.result}{detail}", markup=False
        )
    if pred.uncovered:
        console.print(
            "  not drilled (stateful, no evidence: entry in the policy): "
            + ", ".join(pred.uncovered),
            markup=False,
        )


def _artifacts(module: DrModule) -> str:
    if not module.artifacts:
        return "-"
    if module.engine is None:  # never drilled
        return f"{len(module.artifacts)} not checked"
    state = "verified" if module.artifacts_verified else "NOT verified"
    return f"{len(module.artifacts)} {state}"


def _content(module: DrModule) -> str:
    if module.fingerprint is None:
        return "-"
    fp = module.fingerprint
    return f"{'match' if fp.match else 'MISMATCH'} ({fp.observed.items}/{fp.expected.items})"


def _smoke(module: DrModule) -> str:
    if not module.smoke:
        return "-"
    passed = sum(1 for o in module.smoke if o.result == "pass")
    return f"{passed}/{len(module.smoke)} pass"


def _sandbox(module: DrModule) -> str:
    version = module.sandbox.server_version if module.sandbox else None
    engine = module.engine.name if module.engine else None
    if engine is None:
        return "-"
    return f"{engine}: {version or 'not up'}"
