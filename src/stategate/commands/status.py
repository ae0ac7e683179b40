"""``stategate status``: the platform at a glance (parsing and printing only).

Modules, their classes, and the age of each kind of evidence against the policy's
freshness limits. Evidence is read only through the verified path, with the trust
roots of the base revision (or ``--trust``): a record that does not verify is shown
as untrusted, never as evidence.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from stategate.commands.options import repo_option, trust_option
from stategate.errors import InputError


def _now(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InputError(f"--now: not an ISO 8601 time: {value!r}") from exc
    if moment.tzinfo is None:
        raise InputError(f"--now: give a time zone (e.g. {value}Z): {value!r}")
    return moment.astimezone(UTC)


@click.command("status")
@repo_option
@click.option("--base", help="Revision whose trust roots count (default: the default branch).")
@trust_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="table: a table on a terminal, plain lines when piped; json: stategate.status/v1.",
)
@click.option(
    "--html",
    "html_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Also write a static page (no script, no network) to DIR/index.html.",
)
@click.option("--now", "now_text", hidden=True, help="Judge ages at this time (ISO 8601).")
def command(
    repo: Path,
    base: str | None,
    trust_file: Path | None,
    fmt: str,
    html_dir: Path | None,
    now_text: str | None,
) -> int:
    """Show every module's classes and the age of its backup, restore drill, rehearsal,
    smoke run and DR drill against the policy's freshness limits.

    Stale, missing, failed and untrusted evidence is flagged. Records count only when
    they verify with the base's trust roots (or --trust).
    """
    from stategate.evidence.layout import RepoLayout
    from stategate.evidence.records.typed import scan_records
    from stategate.evidence.store import EvidenceStore
    from stategate.evidence.trust.roots import (
        operator_trust_file,
        trust_at_revision,
        trust_revision,
    )
    from stategate.git import Git
    from stategate.platform import DECISIONS_DIR, load_platform_from
    from stategate.report.status import build_status
    from stategate.source import WorkTree

    now = _now(now_text)
    if html_dir is not None and html_dir.exists() and not html_dir.is_dir():
        raise InputError("--html wants a folder; this is a file", file=str(html_dir))
    operator_file = operator_trust_file(repo, trust_file)
    git = Git(repo)
    rev = trust_revision(git, base)
    trust = trust_at_revision(git, rev, operator_file)
    # the work tree's services, classified by the trusted policy (and the decisions it
    # may cite) of the base, as check classifies a PR's head: an uncommitted policy edit
    # must not turn a stateful module's missing evidence into "none needed"
    platform = load_platform_from(
        WorkTree(repo),
        judged_by=trust.policy,
        decisions=[f for f in git.tree(rev).list_files() if f.startswith(DECISIONS_DIR)],
    )
    layout = RepoLayout.from_policy(repo, trust.policy.policy)
    store = EvidenceStore(layout, trust.roots, now=now)
    scan = scan_records(store)
    model = build_status(
        platform.modules,
        scan.records,
        scan.rejected,
        trust.policy.policy.freshness,
        now,
        trust.origin,
    )
    if html_dir is not None:
        from stategate.evidence.files import atomic_write
        from stategate.report.status_html import status_html

        page = html_dir / "index.html"
        atomic_write(page, status_html(model).encode("utf-8"))
        from stategate.terminal import info

        info(f"wrote {page}")
    if fmt == "json":
        from stategate.report.status_json import status_json

        click.echo(json.dumps(status_json(model), indent=2))
    elif sys.stdout.isatty():
        from stategate.report.status_table import status_table, untrusted_lines
        from stategate.terminal import console as terminal_console

        console = terminal_console()
        console.print(status_table(model))
        for line in untrusted_lines(model):
            console.print(line, markup=False, highlight=False)
    else:
        from stategate.report.status_table import status_lines

        click.echo("\n".join(status_lines(model)))
    return 0
