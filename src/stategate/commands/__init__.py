"""The registry of CLI commands: one module per command, listed explicitly."""

from __future__ import annotations

import click

from stategate.commands import classify, config, demo, doc, policy

COMMANDS: tuple[click.Command, ...] = (
    classify.command,
    config.command,
    demo.command,
    doc.command,
    policy.command,
)
