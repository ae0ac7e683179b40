"""The registry of CLI commands: one module per command, listed explicitly."""

from __future__ import annotations

import click

from stategate.commands import classify, config, doc, policy

COMMANDS: tuple[click.Command, ...] = (
    classify.command,
    config.command,
    doc.command,
    policy.command,
)
