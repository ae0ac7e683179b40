"""``stategate approve``: sign an operator approval of a packet (parsing and printing only)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from stategate import terminal
from stategate.apply_inputs import runtime_configs, with_configs
from stategate.commands.options import repo_option, trust_option
from stategate.errors import ExitCode, StategateError
from stategate.evidence.approvals.packet import read_packet
from stategate.evidence.approvals.store import approve_packet
from stategate.evidence.layout import RepoLayout
from stategate.evidence.signing.canonical import format_time, utc_now
from stategate.evidence.store import EvidenceStore
from stategate.evidence.trust.keyring import find_role_key
from stategate.evidence.trust.keys import default_key_dir, load_signing_key
from stategate.evidence.trust.roots import (
    TrustBase,
    operator_trust_file,
    trust_at_revision,
    trust_revision,
)
from stategate.evidence.trust.trustfile import KeyState, Role
from stategate.git import Git
from stategate.policy.gate import PullRequest
from stategate.policy.schema import Policy
from stategate.pullrequest import Sides, load_pull_request


@click.command("approve")
@click.argument("packet_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--role",
    type=click.Choice([Role.OPERATOR.value]),
    required=True,
    help="Approvals are signed in the operator role.",
)
@click.option(
    "--key",
    "key_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Operator private key (default: the one operator-*.key in the key folder).",
)
@click.option(
    "--expires",
    type=float,
    default=None,
    metavar="HOURS",
    help="Validity in hours (default and maximum: the policy's approval_max_age_hours).",
)
@click.option(
    "--evidence",
    "evidence_paths",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="An evidence record the approval relies on (repeatable).",
)
@click.option(
    "--base",
    help="Base revision of the upgrade (default: merge base with the default branch); used to "
    "find the evidence the apply gate relies on when no --evidence is given.",
)
@repo_option
@trust_option
def command(
    packet_file: Path,
    role: str,
    key_path: Path | None,
    expires: float | None,
    evidence_paths: tuple[Path, ...],
    base: str | None,
    repo: Path,
    trust_file: Path | None,
) -> int:
    """Approve the runtime apply of PACKET_FILE, bound to its exact image digests.

    The approval binds the base revision's policy and is checked against the base's
    trust roots (or --trust): a key the base does not trust cannot approve. Without
    --evidence, it binds the evidence `check --stage apply` relies on for this upgrade
    (base..HEAD, read from git), so it is checked against exactly that evidence.
    """
    operator_file = operator_trust_file(repo, trust_file)
    pr, sides = load_pull_request(repo, base, None)
    git = Git(repo)
    trust = trust_at_revision(git, trust_revision(git, base), operator_file)
    layout = RepoLayout.from_policy(repo, trust.policy.policy)
    store = EvidenceStore(layout, trust.roots)
    key = load_signing_key(key_path or find_role_key(default_key_dir(), Role(role)))
    # the approval binds each module's resolved configuration at HEAD, not only its image
    packet = with_configs(read_packet(layout, packet_file), runtime_configs(sides.head.modules))
    key_ok = store.trust.check(key.keyid, Role(role), utc_now()).state is KeyState.VALID
    if not evidence_paths and key_ok:  # a refused key fails below, in approve_packet
        evidence_paths = _relied_evidence(repo, pr, sides, trust)
        if not evidence_paths:
            terminal.warn(
                "approving without evidence: an apply that relies on evidence will not "
                "count this approval",
                "pass --evidence, or produce the evidence first",
            )
    policy = pr.policy
    written = approve_packet(
        store, packet, key, policy=policy, evidence_paths=evidence_paths, hours=expires
    )
    approval = written.approval
    click.echo(f"approved packet {approval.packet.id}: {written.record.path}")
    for module in approval.modules:
        before = module.from_.digest if module.from_ else "(added)"
        click.echo(f"  {module.module}: {before} -> {module.to.digest}")
    for ref in approval.evidence:
        click.echo(f"  relies on {ref.path} (sha256 {ref.sha256[:12]}...)")
    click.echo(f"  signed by {written.record.signer.name} ({written.record.signer.keyid})")
    click.echo(f"  expires {approval.expires}")
    if written.capped:
        max_age = policy.freshness.approval_max_age_hours
        click.echo(f"  note: --expires capped to the policy's {max_age:g} h")
    _retain(repo, store, policy, [ref.path for ref in approval.evidence], approval.expires_at)
    click.echo(f"  created {format_time(approval.created_at)}; commit the record and ledger")
    return int(ExitCode.OK)


def _retain(
    repo: Path, store: EvidenceStore, policy: Policy, paths: list[str], until: datetime
) -> None:
    """Object Lock the backups the approval relies on until it expires, where their S3
    buckets have it. A repository out of reach here is a note, not a failure: the
    approval stands, and ``stategate prune`` retains them when it runs."""
    from stategate.evidence.records.typed import artifacts_root
    from stategate.operations.prune import retain_approved
    from stategate.repository.repositories import from_policy

    if not paths or not policy.evidence.repositories:
        return
    try:
        artifacts = artifacts_root(repo, policy.evidence.artifacts)
        repositories = from_policy(policy.evidence, repo, artifacts)
    except StategateError as exc:
        terminal.warn(f"backups not retained: {exc}", "stategate prune retains them when it runs")
        return
    locked, problems = retain_approved(store, repositories, paths, until)
    for line in locked:
        click.echo(f"  retained (Object Lock) {line}")
    for problem in problems:
        terminal.warn(f"not retained: {problem}", "stategate prune retains it when it runs")


def _relied_evidence(
    repo: Path, pr: PullRequest, sides: Sides, trust: TrustBase
) -> tuple[Path, ...]:
    """The evidence the apply gate relies on at HEAD (git objects), as work-tree paths."""
    from stategate.apply_inputs import evidence_at_revision, evidence_facts
    from stategate.policy.apply_gate import ApplyFacts, evaluate_apply

    now = datetime.now(UTC)
    with evidence_at_revision(repo, sides.head_rev, trust, pr.packets, now) as store:
        facts = ApplyFacts(evidence_facts(store), now)
        verdict = evaluate_apply(pr, facts)
    missing = [
        r
        for r in verdict.requirements
        if r.status != "met" and r.id not in ("apply/operator-approval", "apply/artifacts-verified")
    ]
    for req in missing:
        terminal.warn(f"still missing {req.id} {req.module or ''}".rstrip(), req.hint)
    return tuple(repo / p for p in verdict.relied_evidence)
