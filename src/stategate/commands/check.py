"""``stategate check``: judge a pull request (base..head) at the merge stage."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from stategate.commands.options import repo_option
from stategate.errors import ExitCode
from stategate.policy.gate import PullRequest, Verdict, VerdictKind, evaluate_merge
from stategate.policy.load import load_policy
from stategate.pullrequest import load_pull_request
from stategate.report.verdict import verdict_json, verdict_markdown, verdict_sarif
from stategate.source import WorkTree

EXIT = {
    VerdictKind.PASS: ExitCode.OK,
    VerdictKind.READY: ExitCode.OK,
    VerdictKind.APPROVED: ExitCode.OK,
    VerdictKind.BLOCKED: ExitCode.BLOCKED,
    VerdictKind.STOP: ExitCode.STOP,
}


@click.command("check")
@repo_option
@click.option("--base", help="Base revision (default: merge base with the default branch).")
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
    output: Path | None,
) -> int:
    """Judge the pull request base..head: changes, requirements, stops, verdict, labels.

    At --stage apply the evidence folder and operator approvals are checked too;
    only `approved` authorises a runtime apply.
    """
    pr, _sides = load_pull_request(repo, base, head, list(files) or None)
    if stage == "apply":
        verdict = _apply_verdict(repo, pr)
    else:
        verdict = evaluate_merge(pr)
    if fmt == "text":
        text = None
        _print_text(verdict)
    elif fmt == "json":
        text = json.dumps(verdict_json(verdict), indent=2) + "\n"
    elif fmt == "markdown":
        text = verdict_markdown(verdict)
    else:
        text = json.dumps(verdict_sarif(verdict), indent=2) + "\n"
    if text is not None:
        if output:
            output.write_text(text, encoding="utf-8")
            click.echo(f"stategate: {verdict.verdict.value}; report written to {output}", err=True)
        else:
            click.echo(text, nl=False)
    return int(EXIT[verdict.verdict])


def _apply_verdict(repo: Path, pr: PullRequest) -> Verdict:
    # Evidence and approvals live in the work tree of the platform repo (CI checks out
    # the head); approvals bind the policy in force there, as `stategate approve` does.
    from stategate.apply_inputs import approval_checker, evidence_facts
    from stategate.policy.apply_gate import ApplyFacts, evaluate_apply

    now = datetime.now(UTC)
    policy = load_policy(WorkTree(repo)).policy
    facts = ApplyFacts(
        evidence_facts(repo, policy), now, approval_checker(repo, policy, pr.packets, now)
    )
    return evaluate_apply(pr, facts)


_STYLE = {
    VerdictKind.PASS: "bold green",
    VerdictKind.READY: "bold yellow",
    VerdictKind.APPROVED: "bold green",
    VerdictKind.BLOCKED: "bold red",
    VerdictKind.STOP: "bold white on red",
}


def _print_text(v: Verdict) -> None:
    console = Console()
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
