"""The registry of CLI commands: one module per command, listed explicitly."""

from __future__ import annotations

import click

COMMANDS: tuple[click.Command, ...] = ()
