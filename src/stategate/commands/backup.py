"""``stategate backup MODULE``: back up a module's data and record the evidence."""

from __future__ import annotations

from pathlib import Path

import click

from stategate.commands.evidence_output import evidence_options, progress_factory, report
from stategate.evidence.signer import load_evidence_key
from stategate.operations.backup import run_backup
from stategate.operations.module import module_context


@click.command("backup")
@click.argument("module")
@evidence_options
def command(
    module: str, repo: Path, artifacts: Path | None, key_path: Path | None, fmt: str
) -> int:
    """Back up MODULE (artifact outside git, evidence record in the repo)."""
    ctx = module_context(
        repo,
        module,
        key=load_evidence_key(key_path),
        artifacts=artifacts,
        progress=progress_factory(fmt),
    )
    return report(run_backup(ctx), fmt)
