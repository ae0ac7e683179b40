"""``stategate evidence``: audit signed evidence (parsing and printing only)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from stategate import terminal
from stategate.commands.options import repo_option, trust_option
from stategate.errors import ExitCode
from stategate.evidence.audit import verify as verify_evidence
from stategate.evidence.layout import RepoLayout
from stategate.evidence.store import EvidenceStore
from stategate.evidence.trust.roots import operator_trust_file, trust_at_revision, trust_revision
from stategate.git import Git
from stategate.workspace import open_policy

ARTIFACTS_ENV = "STATEGATE_ARTIFACTS"


@click.group("evidence")
def command() -> None:
    """Work with the evidence records of a platform repo."""


@command.command("verify")
@repo_option
@click.option(
    "--artifacts",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="Backup artifacts folder; also check artifact sha256 (default: policy, "
    f"${ARTIFACTS_ENV}).",
)
@click.option(
    "--base",
    "base_ref",
    default=None,
    metavar="REF",
    help="Git ref whose ledger must be a prefix of the current one (e.g. origin/main).",
)
@trust_option
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def verify(
    repo: Path, artifacts: Path | None, base_ref: str | None, trust_file: Path | None, fmt: str
) -> int:
    """Verify every record, the ledger's chain and, where reachable, the artifacts.

    With --base (as in CI), signatures are judged with the trust roots of that revision,
    read from git (or --trust), never with the checkout's own trust file. Exits 1 on any
    finding.
    """
    operator_file = operator_trust_file(repo, trust_file)
    trust = None
    if base_ref is not None or operator_file is not None:
        git = Git(repo)
        rev = base_ref or trust_revision(git, None)
        trust = trust_at_revision(git, rev, operator_file)
        policy = trust.policy.policy
        layout = RepoLayout.from_policy(repo, policy)
    else:
        loaded, layout = open_policy(repo)
        policy = loaded.policy
    artifacts_dir = artifacts or _default_artifacts(repo, policy.evidence.artifacts)
    store = EvidenceStore.open(layout) if trust is None else EvidenceStore(layout, trust.roots)
    report = verify_evidence(store, artifacts=artifacts_dir, base_ref=base_ref)
    if fmt == "json":
        click.echo(json.dumps(report.to_json_obj(), indent=2, sort_keys=True))
    else:
        for finding in report.findings:
            click.echo(str(finding))
        artifacts_line = (
            f"{report.artifacts_checked} artifacts checked, "
            f"{report.artifacts_unreachable} unreachable"
            if artifacts_dir is not None
            else "artifacts not checked (no --artifacts)"
        )
        verdict = "ok" if report.ok else f"{len(report.findings)} finding(s)"
        for (record, why), names in _grouped(report.unreachable).items():
            click.echo(f"unreachable in {record}: {', '.join(names)}: {why}")
        click.echo(f"{verdict}: {report.records} ledgered records; {artifacts_line}")
        if trust is None:
            terminal.info(
                "note: trust roots from the checkout's own trust file; pass --base to judge "
                "a pull request with its base's"
            )
    return int(ExitCode.OK if report.ok else ExitCode.BLOCKED)


def _grouped(unreachable: list[tuple[str, str, str]]) -> dict[tuple[str, str], list[str]]:
    """Unreachable artifacts by record and reason: one line each, every name kept."""
    groups: dict[tuple[str, str], list[str]] = {}
    for record, name, why in unreachable:
        groups.setdefault((record, why), []).append(name)
    return groups


def _default_artifacts(repo: Path, configured: str | None) -> Path | None:
    chosen = configured or os.environ.get(ARTIFACTS_ENV)
    if not chosen:
        return None
    path = Path(chosen).expanduser()
    path = path if path.is_absolute() else repo / path
    return path if path.is_dir() else None
