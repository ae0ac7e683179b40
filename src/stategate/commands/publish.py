"""``stategate publish``: post a verdict ``check`` wrote to the forge's pull request."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import click

from stategate.errors import InputError

_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_SHA = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")


@click.command("publish")
@click.option(
    "--forge",
    type=click.Choice(["forgejo", "gitea", "github"]),
    required=True,
    help="The forge's API dialect (Forgejo speaks Gitea's).",
)
@click.option("--repo", "repo", required=True, help="The repository on the forge, OWNER/NAME.")
@click.option("--pr", type=click.IntRange(min=1), required=True, help="Pull request number.")
@click.option(
    "--verdict",
    "verdict_file",
    type=click.Path(path_type=Path),
    required=True,
    help="The stategate.verdict/v1 JSON `stategate check --format json -o FILE` wrote.",
)
@click.option(
    "--api-url",
    default=None,
    help="API base URL (default: $GITHUB_API_URL, else the CI's server URL + /api/v1, "
    "or /api/v3 for GitHub Enterprise).",
)
@click.option("--sha", default=None, help="Commit for the status (default: the verdict's head).")
@click.option(
    "--author",
    default=None,
    help="Login whose comments are stategate's (default: the token's user, from GET /user; "
    "github-actions[bot] for GitHub Actions' own GITHUB_TOKEN).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print the requests instead of sending them; reads the PR's state only if a token is set.",
)
def command(
    forge: str,
    repo: str,
    pr: int,
    verdict_file: Path,
    api_url: str | None,
    sha: str | None,
    author: str | None,
    dry_run: bool,
) -> int:
    """Post the verdict to the pull request: one comment (updated in place), the verdict's
    labels (stale merge/, risk/ and class/ labels removed, others untouched) and a commit
    status named `stategate`. An apply-stage verdict has its own comment and status
    (`stategate/apply`) and sets no label. When the PR's head has moved past the verdict's
    commit, or the PR is closed, only the commit status is set.

    The token comes from $STATEGATE_FORGE_TOKEN, else GITHUB_TOKEN (github), GITEA_TOKEN
    then GITHUB_TOKEN (gitea), FORGEJO_TOKEN, GITEA_TOKEN then GITHUB_TOKEN (forgejo).
    """
    from stategate.execute import mask
    from stategate.forge import settings
    from stategate.forge.dialects import DIALECTS, Target
    from stategate.forge.document import read_verdict
    from stategate.forge.http import Client, printable
    from stategate.forge.publish import publish

    if not _REPO.match(repo):
        raise InputError(f"--repo: expected OWNER/NAME, got {repo!r}")
    verdict = read_verdict(verdict_file)
    commit = (sha or verdict.head or "").lower()
    if not commit:
        raise InputError(
            "the verdict names no head commit (written by an older stategate); pass --sha",
            file=str(verdict_file),
        )
    if not _SHA.match(commit):
        raise InputError(f"--sha: not a full commit SHA: {commit!r}")
    env = os.environ
    target_url = settings.run_url(env)
    if target_url and not re.match(r"^https?://", target_url):
        raise InputError(f"STATEGATE_TARGET_URL: not an http(s) URL: {target_url!r}")
    base = settings.api_url(forge, api_url, env)
    token = settings.token(forge, env)
    if token is None and not dry_run:
        names = ", ".join(settings.TOKEN_VARIABLES[forge])
        raise InputError(f"no forge token: set one of {names}")
    owner, name = repo.split("/")
    dialect = DIALECTS[forge]
    target = Target(owner, name, pr)
    client = (
        Client(base, token.value, dialect.headers, dialect.auth_scheme, repo, pr)
        if token is not None
        else None
    )
    outcome = publish(
        verdict,
        dialect,
        target,
        commit,
        client=client,
        dry_run=dry_run,
        target_url=target_url,
        author=author,
        ci_user=settings.ci_user(forge, env, token),
    )
    secrets = [token.value] if token else []

    def say(text: str) -> None:
        # label names the forge listed reach the terminal: no control characters in them
        click.echo("\n".join(printable(line) for line in mask(text, secrets).split("\n")))

    if dry_run:
        if outcome.plan.skipped:
            click.echo(
                f"stategate: {outcome.plan.skipped}; only the commit status is set", err=True
            )
        say(
            f"dry run against {base}: nothing is sent; "
            + (
                f"the PR's state was read with ${token.variable}"
                if token
                else "no token set: assuming no earlier comment and no labels"
            )
        )
        for request in outcome.writes:
            say(f"{request.method} {request.path}")
            if request.body is not None:
                say(json.dumps(request.body, indent=2, ensure_ascii=False))
        return 0
    p = outcome.plan
    say(f"stategate: published {verdict.verdict} ({verdict.stage} stage) to {repo}#{pr}")
    if p.skipped:
        click.echo(f"stategate: {p.skipped}; only the commit status is set", err=True)
        say(f"comment and labels: skipped ({p.skipped})")
        say(f"status: {p.status.state} on {commit[:12]} ({p.status.context})")
        return 0
    if p.update_comment is None:
        comment = "created"
    else:
        comment = f"{'unchanged' if p.comment_unchanged else 'updated'} (#{p.update_comment})"
    if p.delete_comments:
        comment += f"; deleted {len(p.delete_comments)} older duplicate(s)"
    say(f"comment: {comment}")
    say(
        "labels: "
        + "; ".join(
            part
            for part in (
                "added " + ", ".join(p.add_labels) if p.add_labels else "",
                "removed " + ", ".join(label.name for label in p.remove_labels)
                if p.remove_labels
                else "",
                "created in the repository " + ", ".join(n.name for n in p.create_labels)
                if p.create_labels
                else "",
            )
            if part
        )
        if (p.add_labels or p.remove_labels)
        else "labels: unchanged"
        if verdict.stage == "merge"
        else "labels: untouched (the apply stage sets none)"
    )
    say(f"status: {p.status.state} on {commit[:12]} ({p.status.context})")
    return 0
