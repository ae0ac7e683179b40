"""``stategate rehearse MODULE --packet PACKET``: the upgrade on its target version."""

from __future__ import annotations

from pathlib import Path

import click

from stategate.commands.evidence_output import (
    engine_option,
    evidence_context,
    evidence_options,
    report,
)
from stategate.operations.rehearse import run_rehearsal
from stategate.packet import load_packet
from stategate.platform import repo_relative
from stategate.sandbox.engine import EngineName
from stategate.source import WorkTree


@click.command("rehearse")
@click.argument("module")
@click.option(
    "--packet",
    "packet_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The packet whose upgrade of MODULE is rehearsed (its to-image is the target).",
)
@engine_option("Sandbox engine (default: the policy's, else local).")
@evidence_options
def command(
    module: str,
    packet_path: Path,
    engine: EngineName | None,
    repo: Path,
    artifacts: Path | None,
    key_path: Path | None,
    fmt: str,
) -> int:
    """Rehearse PACKET's upgrade of MODULE with the backup its drill verified: restore on
    the target version, compare content, run smoke, and find the rollback path."""
    ctx = evidence_context(repo, module, key_path=key_path, artifacts=artifacts, fmt=fmt)
    absolute = packet_path if packet_path.is_absolute() else Path.cwd() / packet_path
    packet = load_packet(WorkTree(repo), repo_relative(repo.resolve(), absolute))
    return report(run_rehearsal(ctx, packet, engine_name=engine), fmt)
