"""``stategate config``: the resolved compose model as stategate sees it."""

from __future__ import annotations

import json
from pathlib import Path

import click
import yaml

from stategate.commands.options import compose_options
from stategate.compose.canonical import canonical_project
from stategate.execute import mask
from stategate.platform import load_platform
from stategate.policy.classify import CREDENTIAL_KEY


@click.command("config")
@compose_options
@click.option(
    "--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True
)
def command(repo: Path, files: tuple[Path, ...], profiles: tuple[str, ...], fmt: str) -> int:
    """Print the resolved compose model (interpolated, merged, extends and include applied)."""
    platform = load_platform(repo, files, profiles=profiles)
    projects = [canonical_project(p) for p in platform.compose.projects]
    data: object = projects[0] if len(projects) == 1 else {"projects": projects}
    if fmt == "json":
        text = json.dumps(data, indent=2) + "\n"
    else:
        text = yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
    # Credential values never reach output, wherever they were interpolated to.
    secrets = [
        setting.value
        for svc in platform.services
        for key, setting in svc.environment.items()
        if setting.value
        and "$" not in setting.value
        and CREDENTIAL_KEY.search(key)
        and not key.upper().endswith("_FILE")
    ]
    click.echo(mask(text, secrets), nl=False)
    for warning in platform.warnings:
        click.echo(f"stategate: warning: {warning}", err=True)
    return 0
