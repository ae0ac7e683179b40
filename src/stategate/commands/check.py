"""``stategate check``: judge a pull request (base..head) at the merge stage."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.table import Table

if TYPE_CHECKING:
    from rich.console import Console

from stategate import terminal
from stategate.commands.options import repo_option, trust_option
from stategate.errors import ExitCode
from stategate.evidence.trust.roots import operator_trust_file, trust_at_revision, trust_revision
from stategate.git import Git
from stategate.policy.gate import PullRequest, Verdict, VerdictKind, evaluate_merge
from stategate.pullrequest import Sides, load_pull_request
from stategate.report.sarif import verdict_sarif
from stategate.report.verdict import verdict_json, verdict_markdown

EXIT = {
    VerdictKind.PASS: ExitCode.OK,
    VerdictKind.READY: ExitCode.OK,
    VerdictKind.APPROVED: ExitCode.OK,
    VerdictKind.BLOCKED: ExitCode.BLOCKED,
    VerdictKind.STOP: ExitCode.STOP,
}


@click.command("check")
@repo_option
@click.option(
    "--base",
    help="Base branch or revision: the PR is judged from its merge base with --head, "
    "its trust roots from --base itself (default: the default branch).",
)
@click.option("--head", help="Head revision (default: HEAD).")
@click.option(
    "-f",
    "--file",
    "files",
    multiple=True,
    help="Compose file, repo-relative, on both sides (repeatable; default: policy or discovery).",
)
@click.option(
    "--stage",
    type=click.Choice(["merge", "apply"]),
    default="merge",
    show_default=True,
    help="merge: may this PR merge? apply: is a runtime apply of it authorised?",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown", "sarif"]),
    default="text",
    show_default=True,
)
@trust_option
@click.option(
    "--artifacts",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Apply stage: backup artifacts folder whose files are hashed against the records "
    "the verdict relies on (default: $STATEGATE_ARTIFACTS, then the policy).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the report to a file (the summary still goes to the terminal).",
)
def command(
    repo: Path,
    base: str | None,
    head: str | None,
    files: tuple[str, ...],
    stage: str,
    fmt: str,
    trust_file: Path | None,
    artifacts: Path | None,
    output: Path | None,
) -> int:
    """Judge the pull request base..head: changes, requirements, stops, verdict, labels.

    At --stage apply the evidence, the artifacts it relies on and the operator approvals
    are checked too, read from the head revision and judged with the base's trust roots
    (or --trust); only `approved` authorises a runtime apply.
    """
    operator_file = operator_trust_file(repo, trust_file)
    pr, sides = load_pull_request(repo, base, head, list(files) or None)
    if stage == "apply":
        verdict = _apply_verdict(repo, pr, sides, base, operator_file, artifacts)
    else:
        verdict = evaluate_merge(pr)
    if sides.head_rev == Git(repo).rev_parse("HEAD"):  # the checkout is what is judged
        _warn_uncommitted(repo)
    if fmt == "text":
        if output is None:
            text = None
            _print_text(verdict, terminal.console())
        else:  # the same text, without colours, into the report file
            buffer = io.StringIO()
            _print_text(verdict, terminal.report_console(buffer))
            text = buffer.getvalue()
    elif fmt == "json":
        text = json.dumps(verdict_json(verdict, (sides.base_rev, sides.head_rev)), indent=2) + "\n"
    elif fmt == "markdown":
        text = verdict_markdown(verdict)
    else:
        text = json.dumps(verdict_sarif(verdict), indent=2) + "\n"
    if text is not None:
        if output:
            output.write_text(text, encoding="utf-8")
            terminal.info(f"{verdict.verdict.value}; report written to {output}")
        else:
            click.echo(text, nl=False)
    return int(EXIT[verdict.verdict])


def _warn_uncommitted(repo: Path) -> None:
    from stategate import worktree_drift

    paths = worktree_drift.uncommitted(Git(repo))
    if paths:
        terminal.warn(
            f"uncommitted changes not judged: {worktree_drift.summary(paths)}",
            "check judges commits (HEAD); commit them, or stash them, and run check again",
        )


def _apply_verdict(
    repo: Path,
    pr: PullRequest,
    sides: Sides,
    base: str | None,
    operator_file: Path | None,
    artifacts: Path | None,
) -> Verdict:
    # One revision, one truth: evidence, approvals and packets from the head's git objects;
    # trust from the base (or the operator's file), never from the PR or the work tree.
    from stategate.apply_inputs import apply_facts, evidence_at_revision, runtime_configs
    from stategate.evidence.records.typed import artifacts_root
    from stategate.policy.apply_gate import evaluate_apply

    now = datetime.now(UTC)
    git = Git(repo)
    trust = trust_at_revision(git, trust_revision(git, base), operator_file)
    settings = trust.policy.policy
    root = artifacts_root(repo, settings.evidence.artifacts, artifacts)
    with evidence_at_revision(repo, sides.head_rev, trust, pr.packets, now) as store:
        facts = apply_facts(
            store,
            pr.packets,
            policy_digest=sides.base.policy_digest,
            approval_max_age_hours=settings.freshness.approval_max_age_hours,
            artifacts=root,
            now=now,
            configs=runtime_configs(sides.head.modules),
        )
        return evaluate_apply(pr, facts)


_STYLE = {
    VerdictKind.PASS: "bold green",
    VerdictKind.READY: "bold yellow",
    VerdictKind.APPROVED: "bold green",
    VerdictKind.BLOCKED: "bold red",
    VerdictKind.STOP: "bold white on red",
}


def _print_text(v: Verdict, console: Console) -> None:
    console.print(f"verdict: [{_STYLE[v.verdict]}]{v.verdict.value}[/] ({v.stage} stage)")
    if v.changes:
        table = Table(show_header=True, header_style="bold")
        table.add_column("module", no_wrap=True)
        for column in ("change", "from", "to", "semver"):
            table.add_column(column, overflow="fold")
        for c in v.changes:
            kind = c.kind.value + (f" ({', '.join(c.fields)})" if c.fields else "")
            table.add_row(c.module, kind, _short(c.from_image), _short(c.to_image), c.semver or "-")
        console.print(table)
    else:
        console.print("repo-only: nothing that runs is changed")
    for s in v.stops:
        where = f" [{s.file}:{s.line}]" if s.file and s.line else f" [{s.file}]" if s.file else ""
        console.print(f"[red]stop[/] {s.condition.value}: {s.message}{where}", highlight=False)
    for r in v.missing:
        console.print(f"[yellow]missing[/] {r.id} {r.module or ''}: {r.hint}", highlight=False)
    for f in v.findings:
        console.print(f"finding {f.rule} {f.file}:{f.line}: {f.message}", highlight=False)
    if v.relied_evidence:
        console.print("evidence relied on: " + ", ".join(v.relied_evidence), highlight=False)
    console.print("labels: " + (", ".join(v.labels) or "none"), highlight=False)


def _short(ref: str | None) -> str:
    """An image ref with its digest shortened for the terminal (JSON keeps it whole)."""
    if not ref:
        return "-"
    name, sep, digest = ref.partition("@sha256:")
    return f"{name}@{digest[:12]}…" if sep else ref
