"""``stategate policy schema|check|show``."""

from __future__ import annotations

import json
from pathlib import Path

import click
import yaml

from stategate.commands.options import repo_option
from stategate.policy.load import load_policy
from stategate.policy.schema import Policy
from stategate.source import WorkTree


@click.group("policy")
def command() -> None:
    """The policy file (stategate.yaml): its JSON Schema, validation, the policy in force."""


@command.command("schema")
def schema() -> int:
    """Print the JSON Schema of stategate.yaml."""
    doc = Policy.model_json_schema()
    doc["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    doc["$id"] = "https://stategate.dev/schema/policy-v1.json"
    click.echo(json.dumps(doc, indent=2))
    return 0


@command.command("check")
@repo_option
@click.option("--policy", "policy_file", help="Policy file (default: stategate.yaml).")
def check(repo: Path, policy_file: str | None) -> int:
    """Validate the policy; report every error, and any relaxation of an always-manual rule."""
    loaded = load_policy(WorkTree(repo), policy_file)
    where = loaded.file or "built-in default policy"
    if loaded.relaxations:
        for relaxation in loaded.relaxations:
            click.echo(f"stop: {relaxation}")
        click.echo(f"{where}: valid, but relaxes always-manual rules without a decision record")
        return 3
    click.echo(f"{where}: valid ({loaded.digest})")
    return 0


@command.command("show")
@repo_option
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml")
def show(repo: Path, fmt: str) -> int:
    """Print the policy in force (the file over the built-in default)."""
    loaded = load_policy(WorkTree(repo))
    data = loaded.policy.model_dump(mode="json")
    if fmt == "json":
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(yaml.safe_dump(data, sort_keys=False), nl=False)
    return 0
