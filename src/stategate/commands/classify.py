"""``stategate classify``: which upgrade classes apply to each module, and why."""

from __future__ import annotations

import json
from pathlib import Path

import click

from stategate import terminal
from stategate.commands.options import compose_options, parse_env_options
from stategate.errors import InputError
from stategate.platform import Platform, load_platform
from stategate.policy.schema import InventorySource
from stategate.report.inventory import (
    explain_json,
    explain_lines,
    inventory_json,
    inventory_table,
    warning_summary,
)


@click.command("classify")
@compose_options
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.option(
    "--explain",
    "explain",
    metavar="MODULE",
    default=None,
    help="Show every rule that counted or nearly counted for MODULE, with file:line and why.",
)
@click.option(
    "--source",
    "inventory",
    type=click.Choice([s.value for s in InventorySource]),
    default=None,
    help="Read only this inventory source (default: the policy's inventory.sources, else "
    "compose plus Kubernetes manifests when found). With kubernetes, -f names manifest "
    "files or folders.",
)
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
def command(
    repo: Path,
    files: tuple[Path, ...],
    profiles: tuple[str, ...],
    env: tuple[str, ...],
    fmt: str,
    explain: str | None,
    inventory: str | None,
    directory: Path | None,
) -> int:
    """Classify every module of the platform (classes, tier, reasons): compose services
    and Kubernetes workloads. DIRECTORY, when given, is the platform repo (as --repo)."""
    platform = load_platform(
        directory or repo,
        files,
        profiles=profiles,
        env=parse_env_options(env),
        inventory=InventorySource(inventory) if inventory else None,
    )
    if not platform.modules:
        raise InputError(_nothing_found(platform), file=str(directory or repo))
    if explain is not None:
        module = platform.module(explain)
        if fmt == "json":
            click.echo(json.dumps(explain_json(module), indent=2))
        else:
            click.echo("\n".join(explain_lines(module)))
    elif fmt == "json":
        click.echo(json.dumps(inventory_json(platform.inventory, platform.warnings), indent=2))
    else:
        terminal.console().print(inventory_table(platform.inventory))
        for line, todo in warning_summary(platform.warnings):
            terminal.warn(line, todo)
    for relaxation in platform.relaxations:
        click.echo(f"stategate: stop: {relaxation}", err=True)
    return 3 if platform.relaxations else 0


def _nothing_found(platform: Platform) -> str:
    if platform.compose.projects:
        files = ", ".join(f for p in platform.compose.projects for f in p.files)
        return f"the compose files ({files}) define no service (check --profile)"
    if platform.kubernetes is not None and not platform.compose.projects:
        found = "no compose files and no Kubernetes workloads found"
    else:
        found = "no compose files found"
    return (
        f"{found} (looked for compose.yaml, docker-compose.yml and compose/*.yml); name "
        "them with -f FILE, or list them under compose.files in stategate.yaml, or pass "
        "the platform repo as DIRECTORY"
    )
