"""``stategate restore-drill MODULE``: restore a recorded backup into a sandbox and verify it."""

from __future__ import annotations

from pathlib import Path

import click

from stategate.commands.evidence_output import evidence_options, progress_factory, report
from stategate.evidence.signer import load_evidence_key
from stategate.operations.drill import run_restore_drill
from stategate.operations.module import module_context
from stategate.sandbox.engine import EngineName


@click.command("restore-drill")
@click.argument("module")
@click.option("--backup", "backup_id", help="Backup id to drill (default: the newest passing).")
@click.option(
    "--engine",
    type=click.Choice(["local", "docker"]),
    help="Sandbox engine (default: the policy's, else local).",
)
@evidence_options
def command(
    module: str,
    backup_id: str | None,
    engine: EngineName | None,
    repo: Path,
    artifacts: Path | None,
    key_path: Path | None,
    fmt: str,
) -> int:
    """Verify MODULE's backup, restore it into a sandbox, compare content, run smoke."""
    ctx = module_context(
        repo,
        module,
        key=load_evidence_key(key_path),
        artifacts=artifacts,
        progress=progress_factory(fmt),
    )
    return report(run_restore_drill(ctx, backup_id=backup_id, engine_name=engine), fmt)
