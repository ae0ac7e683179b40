"""``stategate backup MODULE``: back up a module's data and record the evidence."""

from __future__ import annotations

from pathlib import Path

import click

from stategate.commands.evidence_output import evidence_context, evidence_options, report
from stategate.operations.backup import run_backup


@click.command("backup")
@click.argument("module")
@evidence_options
def command(
    module: str, repo: Path, artifacts: Path | None, key_path: Path | None, fmt: str
) -> int:
    """Back up MODULE (artifact outside git, evidence record in the repo)."""
    ctx = evidence_context(repo, module, key_path=key_path, artifacts=artifacts, fmt=fmt)
    return report(run_backup(ctx), fmt)
