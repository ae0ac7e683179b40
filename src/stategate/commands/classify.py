"""``stategate classify``: which upgrade classes apply to each module, and why."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console

from stategate.commands.options import compose_options, parse_env_options
from stategate.platform import load_platform
from stategate.report.inventory import inventory_json, inventory_table, warning_summary


@click.command("classify")
@compose_options
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
def command(
    repo: Path, files: tuple[Path, ...], profiles: tuple[str, ...], env: tuple[str, ...], fmt: str
) -> int:
    """Classify every compose service of the platform (classes, tier, reasons)."""
    platform = load_platform(repo, files, profiles=profiles, env=parse_env_options(env))
    if fmt == "json":
        click.echo(json.dumps(inventory_json(platform.inventory, platform.warnings), indent=2))
    else:
        console = Console()
        console.print(inventory_table(platform.inventory))
        for line in warning_summary(platform.warnings):
            console.print(f"[yellow]warning[/]: {line}", highlight=False)
    for relaxation in platform.relaxations:
        click.echo(f"stategate: stop: {relaxation}", err=True)
    return 3 if platform.relaxations else 0
