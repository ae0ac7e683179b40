"""``stategate docs-lint``: runtime instructions in Markdown only inside operator-gated blocks.

The docs lint ``check`` runs on a PR's changed Markdown, for one file at a time
(a pre-commit hook passes the staged ones), judged by the policy in the work tree.
"""

from __future__ import annotations

from pathlib import Path

import click

from stategate.commands.options import repo_option
from stategate.diff.scan import Finding, lint_docs
from stategate.errors import ExitCode, InputError
from stategate.policy.load import load_policy
from stategate.source import WorkTree
from stategate.yamlfile import decode_text


@click.command("docs-lint")
@repo_option
@click.option("--policy", "policy_file", help="Policy file (default: stategate.yaml).")
@click.argument("files", nargs=-1, required=True)
def command(repo: Path, policy_file: str | None, files: tuple[str, ...]) -> int:
    """Lint Markdown FILES (repo-relative): runtime instructions outside operator-gated blocks.

    The patterns and the marker are the policy's docs.runtime_patterns and
    docs.gate_marker. Exit 1 when any file has a finding (file:line, never the text).
    """
    tree = WorkTree(repo)
    docs = load_policy(tree, policy_file).policy.docs
    findings: list[Finding] = []
    for rel in files:
        try:
            data = tree.read_bytes(rel)
        except FileNotFoundError:
            raise InputError("file not found", file=rel) from None
        text = decode_text(data, rel)
        findings.extend(lint_docs(rel, text, docs.runtime_patterns, docs.gate_marker))
    for finding in findings:
        click.echo(f"{finding.file}:{finding.line}: {finding.message}")
    if findings:
        click.echo(f"docs lint: {len(findings)} finding(s) in {len(files)} file(s)")
        return int(ExitCode.BLOCKED)
    return int(ExitCode.OK)
