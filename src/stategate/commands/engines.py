"""``stategate engines``: the server and client builds installed here (printing only)."""

from __future__ import annotations

import json

import click
from rich.table import Table

from stategate import terminal
from stategate.engines import discover
from stategate.errors import ExitCode

SCHEMA = "stategate.engines/v1"


@click.command("engines")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
def command(fmt: str) -> int:
    """List the PostgreSQL, Redis, Valkey and SeaweedFS builds that drills and rehearsals
    can run on: engine, version, major, where each came from, and its path."""
    catalogue = discover()
    if fmt == "json":
        doc = {"schema": SCHEMA, "engines": [b.to_json() for b in catalogue.builds]}
        click.echo(json.dumps(doc, indent=2))
        return int(ExitCode.OK)
    table = Table(show_header=True, header_style="bold")
    for column in ("engine", "version", "major", "source", "path"):
        table.add_column(column, overflow="fold")
    for build in catalogue.builds:
        table.add_row(build.engine, build.version, build.major, build.source, str(build.path))
    terminal.console().print(table)
    if not catalogue.builds:
        terminal.warn("no engine builds found", "run scripts/setup.sh")
    return int(ExitCode.OK)
