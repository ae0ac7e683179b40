"""Publish one verdict: read the PR's state, plan, and send the writes (or only show them)."""

from __future__ import annotations

from dataclasses import dataclass

from stategate.forge.dialects import Dialect, Target, whoami
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
    if client is not None:
        me = whoami(client, author, ci_user)
        state = dialect.read_state(client, target, me)
    decided = plan(verdict, state, sha, target_url)
    writes = tuple(dialect.writes(decided, target))
    if not dry_run:
        if client is None:
            raise AssertionError("a real publish needs a client")
        for request in writes:
            client.send(request)
    return Outcome(decided, writes, client is not None, not dry_run)
