"""``stategate plan PACKET``: the operator's apply runbook (Markdown). Executes nothing."""

from __future__ import annotations

from pathlib import Path

import click

from stategate.apply_inputs import evidence_facts
from stategate.commands.options import emit, repo_option
from stategate.packet import load_packet
from stategate.platform import load_platform, repo_relative
from stategate.report.plan import render_plan


@click.command("plan")
@click.argument("packet", type=click.Path(dir_okay=False, path_type=Path))
@repo_option
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path))
def command(packet: Path, repo: Path, output: Path | None) -> int:
    """Render the apply runbook for PACKET: operator-gated steps, evidence, smoke, rollback."""
    platform = load_platform(repo)
    rel = repo_relative(repo.resolve(), packet if packet.is_absolute() else Path.cwd() / packet)
    loaded = load_packet(platform.source, rel)
    facts = evidence_facts(repo, platform.policy)
    text = render_plan(
        loaded, platform.inventory, platform.policy, facts, platform.policy.docs.gate_marker
    )
    emit(text, output)
    return 0
