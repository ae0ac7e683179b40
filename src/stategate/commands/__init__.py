"""The registry of CLI commands: one module per command, listed explicitly."""

from __future__ import annotations

import click

from stategate.commands.approve import approve
from stategate.commands.evidence import evidence
from stategate.commands.keys import keys

COMMANDS: tuple[click.Command, ...] = (keys, evidence, approve)
