"""``stategate keys``: manage signing keys (parsing and printing only)."""

from __future__ import annotations

from pathlib import Path

import click

from stategate.commands.options import repo_option
from stategate.errors import ExitCode
from stategate.evidence.signing.canonical import format_time
from stategate.evidence.trust.keyring import init_key
from stategate.evidence.trust.keys import default_key_dir
from stategate.evidence.trust.trustfile import Role
from stategate.workspace import open_policy


@click.group("keys")
def command() -> None:
    """Manage the keys that sign evidence and approvals."""


@command.command("init")
@click.option(
    "--role",
    type=click.Choice([r.value for r in Role]),
    required=True,
    help="evidence: hosts and agents producing evidence; operator: approvals.",
)
@click.option("--name", required=True, help="Who or what holds the key, e.g. ci-host or alice.")
@repo_option
@click.option(
    "--key-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the private key goes (default: $STATEGATE_KEYS or ~/.config/stategate/keys).",
)
@click.option(
    "--expires", type=float, default=None, metavar="DAYS", help="Key expiry, in days from now."
)
def init(role: str, name: str, repo: Path, key_dir: Path | None, expires: float | None) -> int:
    """Create a key pair for ROLE and add its public key to the repo's trust file."""
    _, layout = open_policy(repo)
    made = init_key(layout, Role(role), name, key_dir or default_key_dir(), expires_days=expires)
    until = format_time(made.valid_before) if made.valid_before else "no expiry"
    click.echo(f"created {made.role.value} key {made.name}: {made.keyid}")
    click.echo(f"  private key: {made.private_path} (mode 600; keep it out of the repo)")
    click.echo(f"  public key:  {made.public_path}")
    click.echo(f"  trusted in:  {made.trust_file} as {made.role.value} ({until})")
    if not made.comments_kept:
        click.echo(f"  note: {made.trust_file} was re-rendered; its comments were not kept")
    click.echo(f"Commit {made.trust_file} so verification (CI) trusts the key.")
    return int(ExitCode.OK)
