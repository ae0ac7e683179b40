"""``stategate evidence``: audit signed evidence (parsing and printing only)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from stategate.attest.audit import verify as verify_evidence
from stategate.attest.inputs import layout_for, read_policy
from stategate.attest.layout import RepoLayout
from stategate.commands.options import repo_option
from stategate.errors import ExitCode

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
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def verify(repo: Path, artifacts: Path | None, base_ref: str | None, fmt: str) -> int:
    """Verify every record, the ledger's chain and, where reachable, the artifacts.

    Exits 1 on any finding.
    """
    policy = read_policy(RepoLayout(repo)).policy
    layout = layout_for(repo, policy)
    artifacts_dir = artifacts or _default_artifacts(repo, policy.evidence.artifacts)
    report = verify_evidence(layout, artifacts=artifacts_dir, base_ref=base_ref)
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
        click.echo(f"{verdict}: {report.records} ledgered records; {artifacts_line}")
    return int(ExitCode.OK if report.ok else ExitCode.BLOCKED)


def _default_artifacts(repo: Path, configured: str | None) -> Path | None:
    chosen = configured or os.environ.get(ARTIFACTS_ENV)
    if not chosen:
        return None
    path = Path(chosen).expanduser()
    path = path if path.is_absolute() else repo / path
    return path if path.is_dir() else None
