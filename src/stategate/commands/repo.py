"""``stategate repo check``: each backup repository against the evidence records."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.table import Table

from stategate import terminal
from stategate.commands.options import repo_option
from stategate.errors import ExitCode
from stategate.evidence.records.predicates import BackupPredicate
from stategate.evidence.records.typed import list_records, pruned_backups
from stategate.operations.module import job_artifacts
from stategate.repository.check import RepoReport, check, recorded
from stategate.repository.repositories import from_policy
from stategate.workspace import open_workspace

SCHEMA = "stategate.repo-check/v1"


@click.group("repo")
def command() -> None:
    """Backup repositories: what they hold against what the evidence records."""


@command.command("check")
@click.option("--repository", "names", multiple=True, help="Check only this one (repeatable).")
@click.option(
    "--artifacts",
    type=click.Path(file_okay=False, path_type=Path),
    help="Artifacts folder (default: $STATEGATE_ARTIFACTS, then evidence.artifacts).",
)
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@repo_option
def check_command(names: tuple[str, ...], artifacts: Path | None, fmt: str, repo: Path) -> int:
    """List orphans (stored files no passing backup record names, such as the parts of
    a backup killed midway), incomplete uploads, and recorded parts that are missing.
    Exit 0 when every repository checked is clean, 1 otherwise."""
    ws = open_workspace(repo)
    repositories = from_policy(ws.policy.evidence, ws.repo, job_artifacts(ws, artifacts))
    chosen = [repositories.named(n) for n in names] or list(repositories.every)
    if repositories.legacy not in chosen and not names:
        chosen.append(repositories.legacy)  # backups recorded before any repository
    backups = []
    for record in list_records(ws.store, kind="backup"):
        pred = record.statement.predicate
        if isinstance(pred, BackupPredicate) and (expected := recorded(pred, record.rel)):
            backups.append(expected)
    pruned = pruned_backups(ws.store)
    reports = []
    for repository in chosen:
        backend = repository.backend
        legacy = repository is repositories.legacy
        reports.append(
            check(
                repository.name,
                backend.where,
                backend.listing(),
                backend.incomplete(),
                backups,
                legacy=legacy,
                pruned=pruned,
            )
        )
    _print(reports, fmt)
    return int(ExitCode.OK if all(r.clean for r in reports) else ExitCode.BLOCKED)


def _print(reports: list[RepoReport], fmt: str) -> None:
    if fmt == "json":
        doc = {"schema": SCHEMA, "repositories": [r.to_json() for r in reports]}
        click.echo(json.dumps(doc, indent=2))
        return
    console = terminal.console()
    for report in reports:
        state = "clean" if report.clean else "needs attention"
        console.print(
            f"[bold]{report.repository}[/bold] ({report.where}): {report.backups} backup(s) "
            f"whole, {report.pruned} pruned, {state}"
        )
        if report.orphans or report.missing or report.incomplete:
            table = Table(show_header=True, header_style="bold")
            for column in ("finding", "path", "detail"):
                table.add_column(column, overflow="fold")
            for orphan in report.orphans:
                table.add_row("orphan", orphan.path, f"{orphan.size} bytes: {orphan.reason}")
            for key in report.incomplete:
                table.add_row("incomplete upload", key, "a multipart upload never completed")
            for missing in report.missing:
                table.add_row("missing", missing.path, f"{missing.problem} ({missing.record})")
            console.print(table)
