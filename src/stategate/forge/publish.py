"""Publish one verdict: read the PR's state, plan, and send the writes (or only show them)."""

from __future__ import annotations

from dataclasses import dataclass

from stategate.forge.dialects import ISSUES_WRITE, Dialect, Target, pull_request, whoami
from stategate.forge.document import VerdictDocument
from stategate.forge.http import Client, Request
from stategate.forge.plan import ForgeState, Plan, plan


@dataclass(frozen=True)
class Outcome:
    plan: Plan
    writes: tuple[Request, ...]
    state_read: bool  # False: a dry run without a token assumed an empty PR
    sent: bool


def publish(
    verdict: VerdictDocument,
    dialect: Dialect,
    target: Target,
    sha: str,
    *,
    client: Client | None,
    dry_run: bool,
    target_url: str | None = None,
    author: str | None = None,
    ci_user: str | None = None,
) -> Outcome:
    state = ForgeState()
    skip = ""
    if client is not None:
        me = whoami(client, author, ci_user)
        pr = pull_request(client, target, ISSUES_WRITE[dialect.family])
        if not pr.open:
            skip = f"PR #{target.pr} is closed or merged: its comment and labels stay as they were"
        elif pr.head != sha:
            skip = (
                f"PR #{target.pr}'s head is now {pr.head[:12]}, not {sha[:12]}: a newer run "
                "owns its comment and labels"
            )
        if not skip:
            state = dialect.read_state(client, target, me)
    decided = plan(verdict, state, sha, target_url, skip=skip)
    writes = tuple(dialect.writes(decided, target))
    if not dry_run:
        if client is None:
            raise AssertionError("a real publish needs a client")
        for request in writes:
            client.send(request)
    return Outcome(decided, writes, client is not None, not dry_run)
