"""``stategate plan PACKET``: the operator's apply runbook (Markdown). Executes nothing."""

from __future__ import annotations

from pathlib import Path

import click

from stategate.apply_inputs import evidence_facts
from stategate.catalogues import hazard_catalogue
from stategate.commands.options import emit, repo_option, trust_option
from stategate.diff.changes import ChangeKind, ModuleChange, image_change
from stategate.diff.scan import Finding
from stategate.evidence.layout import RepoLayout
from stategate.evidence.records.predicates import RehearsalPredicate
from stategate.evidence.records.typed import list_records
from stategate.evidence.store import EvidenceStore
from stategate.evidence.trust.roots import operator_trust_file, trust_at_revision, trust_revision
from stategate.git import Git
from stategate.packet import LoadedPacket, load_packet
from stategate.platform import Platform, load_platform, repo_relative
from stategate.policy.hazards import Bump, find_hazards
from stategate.report.plan import render_plan


def _hazards(platform: Platform, loaded: LoadedPacket) -> dict[str, list[Finding]]:
    """Per module, the catalogue's known hazards of the packet's image change, judged on
    the service as this checkout (the pull request's head) defines it."""
    found: dict[str, list[Finding]] = {}
    for entry in loaded.packet.modules:
        module = platform.modules.get(entry.module)
        if module is None or not entry.to:
            continue
        kind, semver = image_change(entry.from_, entry.to)
        service = module.service
        change = ModuleChange(
            module=entry.module,
            service=service.name,
            file=service.file,
            line=service.image_loc.line,
            kind=kind or ChangeKind.CONFIG,
            from_image=entry.from_,
            to_image=entry.to,
            semver=semver,
        )
        hits = find_hazards([Bump(change, None, service)], hazard_catalogue())
        if hits:
            found[entry.module] = hits
    return found


def _rehearsals(
    store: EvidenceStore, loaded: LoadedPacket
) -> dict[str, tuple[str, RehearsalPredicate]]:
    """Per module of the packet, its newest rehearsal of this packet that verifies."""
    found: dict[str, tuple[str, RehearsalPredicate]] = {}
    for entry in loaded.packet.modules:
        for record in list_records(store, entry.module, "rehearsal"):
            pred = record.statement.predicate
            if isinstance(pred, RehearsalPredicate) and pred.packet == loaded.packet.id:
                found[entry.module] = (record.rel, pred)  # oldest first: the last one wins
    return found


@click.command("plan")
@click.argument("packet", type=click.Path(dir_okay=False, path_type=Path))
@repo_option
@click.option("--base", help="Revision whose trust roots count (default: the default branch).")
@trust_option
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path))
def command(
    packet: Path, repo: Path, base: str | None, trust_file: Path | None, output: Path | None
) -> int:
    """Render the apply runbook for PACKET: operator-gated steps, evidence, smoke, rollback.

    Evidence is listed only when it verifies with the base's trust roots (or --trust).
    """
    operator_file = operator_trust_file(repo, trust_file)
    platform = load_platform(repo)
    rel = repo_relative(repo.resolve(), packet if packet.is_absolute() else Path.cwd() / packet)
    loaded = load_packet(platform.source, rel)
    git = Git(repo)
    trust = trust_at_revision(git, trust_revision(git, base), operator_file)
    layout = RepoLayout.from_policy(repo, trust.policy.policy)
    store = EvidenceStore(layout, trust.roots)
    facts = evidence_facts(store)
    text = render_plan(
        loaded,
        platform.inventory,
        platform.policy,
        facts,
        platform.policy.docs.gate_marker,
        _rehearsals(store, loaded),
        _hazards(platform, loaded),
    )
    emit(text, output)
    return 0
