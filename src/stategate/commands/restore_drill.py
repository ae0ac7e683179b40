"""``stategate restore-drill MODULE``: restore a recorded backup into a sandbox and verify it."""

from __future__ import annotations

from pathlib import Path

import click

from stategate.commands.evidence_output import (
    engine_option,
    evidence_context,
    evidence_options,
    report,
)
from stategate.operations.drill import run_restore_drill
from stategate.sandbox.engine import EngineName


@click.command("restore-drill")
@click.argument("module")
@click.option("--backup", "backup_id", help="Backup id to drill (default: the newest passing).")
@engine_option("Sandbox engine (default: the policy's, else local).")
@click.option(
    "--engine-version",
    metavar="VERSION",
    help="Run the sandbox on this version (default: the version the backup was taken of; "
    "the apply gate counts a drill only on the running major).",
)
@click.option(
    "--from-repository",
    "repository",
    metavar="NAME",
    help="Read the backup back from this repository (default: the first of "
    "evidence.backup_to that holds it).",
)
@evidence_options
def command(
    module: str,
    backup_id: str | None,
    engine: EngineName | None,
    engine_version: str | None,
    repository: str | None,
    repo: Path,
    artifacts: Path | None,
    key_path: Path | None,
    fmt: str,
) -> int:
    """Verify MODULE's backup, restore it into a sandbox, compare content, run smoke."""
    ctx = evidence_context(repo, module, key_path=key_path, artifacts=artifacts, fmt=fmt)
    drill = run_restore_drill(
        ctx,
        backup_id=backup_id,
        engine_name=engine,
        engine_version=engine_version,
        repository=repository,
    )
    return report(drill, fmt)
