"""``stategate smoke MODULE``: run the module's smoke contract and record the results."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import click

from stategate.commands.evidence_output import (
    engine_option,
    evidence_context,
    evidence_options,
    report,
)
from stategate.operations.smoke_run import run_smoke
from stategate.sandbox.engine import EngineName


@click.command("smoke")
@click.argument("module")
@click.option(
    "--target",
    type=click.Choice(["source", "sandbox"]),
    default="source",
    show_default=True,
    help="Run against the module itself or a restored sandbox copy.",
)
@click.option("--backup", "backup_id", help="sandbox: backup to restore (default: newest).")
@engine_option("sandbox: engine.")
@evidence_options
def command(
    module: str,
    target: Literal["source", "sandbox"],
    backup_id: str | None,
    engine: EngineName | None,
    repo: Path,
    artifacts: Path | None,
    key_path: Path | None,
    fmt: str,
) -> int:
    """Run MODULE's smoke checks (each with its timeout) against source or sandbox."""
    ctx = evidence_context(repo, module, key_path=key_path, artifacts=artifacts, fmt=fmt)
    record = run_smoke(ctx, target=target, backup_id=backup_id, engine_name=engine)
    return report(record, fmt)
