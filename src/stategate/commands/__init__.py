"""The registry of CLI commands: one module per command, listed explicitly."""

from __future__ import annotations

import click

from stategate.commands import approve, check, classify, config, demo, doc, evidence, keys, policy

COMMANDS: tuple[click.Command, ...] = (
    check.command,
    classify.command,
    config.command,
    demo.command,
    doc.command,
    policy.command,
    keys.command,
    evidence.command,
    approve.command,
)
