"""``stategate prune``: delete old backups, never one the gate relies on."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import click

from stategate import terminal
from stategate.commands.evidence_output import key_option
from stategate.commands.options import repo_option, trust_option
from stategate.errors import ExitCode, InputError
from stategate.evidence.trust.roots import (
    TrustBase,
    operator_trust_file,
    trust_at_revision,
    trust_revision,
)
from stategate.evidence.trust.signer import load_evidence_key, require_evidence_signer
from stategate.git import Git
from stategate.operations.module import job_artifacts
from stategate.operations.prune import PruneOutcome, prune, unreachable
from stategate.operations.prune_facts import PruneFacts, gather
from stategate.repository.repositories import from_policy
from stategate.repository.retention import Decision, Rule, decide, parse_duration
from stategate.workspace import open_workspace

SCHEMA = "stategate.prune/v1"


@click.command("prune")
@click.option(
    "--keep-last", type=int, metavar="N", help="Keep the newest N backups of each module."
)
@click.option(
    "--keep-within",
    metavar="DURATION",
    help="Keep backups taken within this long (36h, 30d, 2w, 1y).",
)
@click.option(
    "--yes",
    is_flag=True,
    help="Delete. Without it prune is a dry run: it says what it would delete and why it keeps the rest.",
)
@click.option("--dry-run", is_flag=True, help="Say what would be deleted (the default).")
@click.option(
    "--artifacts",
    type=click.Path(file_okay=False, path_type=Path),
    help="Artifacts folder (default: $STATEGATE_ARTIFACTS, then evidence.artifacts).",
)
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@key_option
@repo_option
@trust_option
@click.option(
    "--base",
    metavar="REV",
    help="The revision whose trust roots and policy judge the evidence (default: the tip "
    "of the default branch).",
)
def command(
    keep_last: int | None,
    keep_within: str | None,
    yes: bool,
    dry_run: bool,
    artifacts: Path | None,
    fmt: str,
    key_path: Path | None,
    repo: Path,
    trust_file: Path | None,
    base: str | None,
) -> int:
    """Delete backups no retention rule keeps and nothing relies on: a live approval, an
    open packet's drill or rehearsal, the newest passing DR drill, the newest passing
    backup of a module. Each kept backup says why. A signed prune record names what was
    deleted (before it is), so `repo check` tells pruned from lost. Backups a live
    approval relies on get an Object Lock retention date in S3 buckets that have it."""
    if yes and dry_run:
        raise click.UsageError("--yes and --dry-run contradict each other")
    rule = Rule(keep_last, parse_duration(keep_within) if keep_within else None)
    now = datetime.now(UTC)
    trust = _trust(repo, trust_file, base)
    ws = open_workspace(repo, trust=trust.roots)
    repositories = from_policy(ws.policy.evidence, ws.repo, job_artifacts(ws, artifacts))
    facts = gather(ws, trust, now)
    reliances = [*facts.reliances, *unreachable(repositories, facts.backups)]
    decisions = decide(facts.backups, reliances, rule, now)
    outcome: PruneOutcome | None = None
    if yes and not facts.doubts:
        key = load_evidence_key(key_path)
        require_evidence_signer(ws.store, key)
        outcome = prune(ws, facts, decisions, repositories, key=key, rule=rule, now=now)
    _print(decisions, facts, outcome, yes, fmt)
    if facts.doubts or (outcome is not None and outcome.errors):
        return int(ExitCode.BLOCKED)
    return int(ExitCode.OK)


def _trust(repo: Path, trust_file: Path | None, base: str | None) -> TrustBase:
    """Prune deletes: the records it decides by are judged with the default branch's
    trust roots (from git objects) or an operator-held file, never the checkout's."""
    git = Git(repo)
    if not git.is_repo():
        raise InputError(
            "prune reads what relies on a backup from every branch and judges it with the "
            "default branch's trust roots: this is not a git repository",
            file=str(repo),
        )
    return trust_at_revision(git, trust_revision(git, base), operator_trust_file(repo, trust_file))


def _print(
    decisions: list[Decision],
    facts: PruneFacts,
    outcome: PruneOutcome | None,
    yes: bool,
    fmt: str,
) -> None:
    if fmt == "json":
        doc = {
            "schema": SCHEMA,
            "dry_run": not yes,
            "backups": [
                {
                    "module": d.backup.module,
                    "backup_id": d.backup.backup_id,
                    "record": d.backup.record,
                    "location": d.backup.location,
                    "repositories": list(d.backup.repositories),
                    "keep": d.keep,
                    "reasons": list(d.reasons),
                }
                for d in decisions
            ],
            "doubts": facts.doubts,
            "notes": facts.notes + (outcome.notes if outcome else []),
            "record": outcome.record.rel if outcome and outcome.record else None,
            "deleted": outcome.deleted if outcome else [],
            "already_gone": outcome.absent if outcome else [],
            "leftovers_removed": outcome.leftovers if outcome else [],
            "locked": outcome.locked if outcome else [],
            "errors": outcome.errors if outcome else [],
        }
        click.echo(json.dumps(doc, indent=2))
        return
    console = terminal.console()
    for d in decisions:
        where = ", ".join(d.backup.repositories) or "artifacts folder"
        verdict = "keep" if d.keep else ("deleted" if outcome else "would delete")
        console.print(f"{verdict}: {d.backup.module} {d.backup.backup_id} ({where})", markup=False)
        for reason in d.reasons:
            console.print(f"  - {reason}", markup=False)
    doomed = sum(1 for d in decisions if not d.keep)
    for doubt in facts.doubts:
        console.print(f"cannot read: {doubt}", markup=False)
    for note in facts.notes + (outcome.notes if outcome else []):
        console.print(f"note: {note}", markup=False)
    if facts.doubts:
        console.print(
            "nothing deleted: what relies on a backup is not known while evidence is unreadable"
        )
    elif outcome is None:
        console.print(f"dry run: {_would(doomed)}; run with --yes to delete")
    else:
        if outcome.record is not None:
            console.print(f"prune record: {outcome.record.rel}", markup=False)
        for line in outcome.deleted:
            console.print(f"deleted {line}", markup=False)
        for line in outcome.absent:
            console.print(f"already gone: {line}", markup=False)
        for line in outcome.leftovers:
            console.print(f"removed the rest of an earlier prune: {line}", markup=False)
        for line in outcome.locked:
            console.print(f"retained (Object Lock) {line}", markup=False)
        for line in outcome.errors:
            console.print(f"error: {line}", markup=False)


def _would(doomed: int) -> str:
    return f"{doomed} backup(s) would be deleted" if doomed else "nothing to delete"
