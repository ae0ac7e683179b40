"""The registry of CLI commands: one module per command, listed explicitly."""

from __future__ import annotations

import click

from stategate.commands import (
    approve,
    backup,
    check,
    classify,
    config,
    demo,
    doc,
    dr_drill,
    evidence,
    keys,
    policy,
    restore_drill,
    smoke,
)

COMMANDS: tuple[click.Command, ...] = (
    check.command,
    classify.command,
    config.command,
    doc.command,
    policy.command,
    backup.command,
    restore_drill.command,
    smoke.command,
    dr_drill.command,
    keys.command,
    evidence.command,
    approve.command,
    demo.command,
)
