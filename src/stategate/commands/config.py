"""``stategate config``: the resolved compose model as stategate sees it."""

from __future__ import annotations

import json
from pathlib import Path

import click
import yaml

from stategate.commands.options import compose_options, parse_env_options
from stategate.compose.canonical import canonical_project
from stategate.platform import load_platform
from stategate.redaction import credential_values, redact, redact_text
from stategate.report.inventory import warning_todo


@click.command("config")
@compose_options
@click.option(
    "--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True
)
def command(
    repo: Path, files: tuple[Path, ...], profiles: tuple[str, ...], env: tuple[str, ...], fmt: str
) -> int:
    """Print the resolved compose model (interpolated, merged, extends and include applied)."""
    platform = load_platform(repo, files, profiles=profiles, env=parse_env_options(env))
    projects = [canonical_project(p, platform.source) for p in platform.compose.projects]
    data: object = projects[0] if len(projects) == 1 else {"projects": projects}
    # Credential values never reach output, wherever they were interpolated to.
    secrets = credential_values(platform.compose.variables, data)
    # what the deploy host's secret store sets is masked, whatever its name
    host = set(platform.loaded_policy.policy.compose.host_variables)
    secrets |= {value for name, value in platform.compose.variables if name in host and value}
    # the printed model escapes `$` as `$$`: mask a credential in that form too
    secrets |= {value.replace("$", "$$") for value in secrets}
    data = redact(data, secrets)
    if fmt == "json":
        text = json.dumps(data, indent=2) + "\n"
    else:
        text = yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
    click.echo(text, nl=False)
    for warning in platform.warnings:
        todo = warning_todo(warning)
        click.echo(redact_text(f"stategate: warning: {warning}; {todo}", secrets), err=True)
    return 0
