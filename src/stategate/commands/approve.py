"""``stategate approve``: sign an operator approval of a packet (parsing and printing only)."""

from __future__ import annotations

from pathlib import Path

import click

from stategate.attest.approval_store import approve_packet
from stategate.attest.canonical import format_time, utc_now
from stategate.attest.inputs import layout_for, read_packet, read_policy
from stategate.attest.keyring import find_role_key
from stategate.attest.keys import default_key_dir, load_signing_key
from stategate.attest.layout import RepoLayout
from stategate.attest.store import EvidenceStore
from stategate.attest.trust import KeyState, Role
from stategate.commands.options import repo_option
from stategate.errors import ExitCode, InputError


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
@click.option(
    "--policy",
    "policy_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Policy file in the repo (default: stategate.yaml, else the built-in default).",
)
def command(
    packet_file: Path,
    role: str,
    key_path: Path | None,
    expires: float | None,
    evidence_paths: tuple[Path, ...],
    base: str | None,
    repo: Path,
    policy_file: Path | None,
) -> int:
    """Approve the runtime apply of PACKET_FILE, bound to its exact image digests.

    Without --evidence, the approval binds the evidence `check --stage apply` relies on
    for this upgrade (base..HEAD), so it can be checked against exactly that evidence.
    """
    policy = read_policy(RepoLayout(repo), policy_file).policy
    layout = layout_for(repo, policy)
    store = EvidenceStore.open(layout)
    key = load_signing_key(key_path or find_role_key(default_key_dir(), Role(role)))
    packet = read_packet(layout, packet_file)
    key_ok = store.trust.check(key.keyid, Role(role), utc_now()).state is KeyState.VALID
    if not evidence_paths and key_ok:  # a refused key fails below, in approve_packet
        evidence_paths = _relied_evidence(repo, base)
        if not evidence_paths:
            click.echo(
                "warning: approving without evidence: an apply that relies on evidence will not "
                "count this approval (pass --evidence, or produce the evidence first)",
                err=True,
            )
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
    click.echo(f"  created {format_time(approval.created_at)}; commit the record and ledger")
    return int(ExitCode.OK)


def _relied_evidence(repo: Path, base: str | None) -> tuple[Path, ...]:
    from datetime import UTC, datetime

    from stategate.apply_inputs import evidence_facts
    from stategate.policy.apply_gate import ApplyFacts, evaluate_apply
    from stategate.policy.load import load_policy
    from stategate.pullrequest import load_pull_request
    from stategate.source import WorkTree

    try:
        pr, _ = load_pull_request(repo, base, None)
    except InputError as exc:  # no git history to compare: nothing to derive
        click.echo(f"warning: cannot derive the evidence to bind: {exc}", err=True)
        return ()
    policy = load_policy(WorkTree(repo)).policy
    verdict = evaluate_apply(pr, ApplyFacts(evidence_facts(repo, policy), datetime.now(UTC)))
    missing = [
        r for r in verdict.requirements if r.status != "met" and r.id != "apply/operator-approval"
    ]
    for req in missing:
        click.echo(f"warning: still missing {req.id} {req.module or ''}: {req.hint}", err=True)
    return tuple(repo / p for p in verdict.relied_evidence)
