"""The registry of CLI commands: one module per command, listed explicitly."""

from __future__ import annotations

import click

from stategate.commands import (
    backup,
    classify,
    config,
    demo,
    doc,
    policy,
    restore_drill,
    smoke,
)

COMMANDS: tuple[click.Command, ...] = (
    backup.command,
    classify.command,
    config.command,
    demo.command,
    doc.command,
    policy.command,
    restore_drill.command,
    smoke.command,
)
