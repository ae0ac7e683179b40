"""``stategate renovate``: the Renovate configuration the classification implies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from stategate.commands.options import compose_options, emit, parse_env_options
from stategate.errors import InputError

if TYPE_CHECKING:
    from stategate.platform import Platform


def compose_projects(platform: Platform) -> dict[str, list[str]]:
    """Each compose project's files (repo-relative, sorted): any of them may set a
    service's image (an override), so Renovate must read them all."""
    out: dict[str, set[str]] = {}
    for project in platform.compose.projects:
        out.setdefault(project.name, set()).update(project.files)
    for module in platform.modules.values():
        if module.service.project in out:
            out[module.service.project].add(module.service.file)
    return {name: sorted(files) for name, files in sorted(out.items())}


@click.command("renovate")
@compose_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "text"]),
    default="json",
    show_default=True,
    help="json: a renovate.json fragment to merge into yours (docs/renovate.md); "
    "text: a human summary.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to this file instead of standard output.",
)
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
def command(
    repo: Path,
    files: tuple[Path, ...],
    profiles: tuple[str, ...],
    env: tuple[str, ...],
    fmt: str,
    output: Path | None,
    directory: Path | None,
) -> int:
    """Print the Renovate configuration the classification implies: pinned digests,
    the platform's compose files for the docker-compose manager, and one package rule
    per image (gated modules held for approval and never automerged, a sidecar grouped
    with its parent, our labels). DIRECTORY, when given, is the platform repo."""
    # imported here: `stategate --help` loads every command module for its summary line
    from stategate.platform import load_platform
    from stategate.policy.schema import InventorySource
    from stategate.redaction import credential_values, redact_text
    from stategate.report.renovate import renovate_config, renovate_lines

    platform = load_platform(
        directory or repo,
        files,
        profiles=profiles,
        env=parse_env_options(env),
        inventory=InventorySource.COMPOSE,
    )
    for relaxation in platform.relaxations:
        click.echo(f"stategate: stop: {relaxation}", err=True)
    if platform.relaxations:
        return 3  # a policy that relaxes an always-manual class never shapes Renovate
    projects = compose_projects(platform)
    if not any(projects.values()):
        raise InputError(
            "no compose files found: nothing for Renovate to watch", file=str(directory or repo)
        )
    if fmt == "json":
        config = renovate_config(platform.inventory, platform.policy, projects)
        text = json.dumps(config, indent=2, sort_keys=False) + "\n"
    else:
        text = "\n".join(renovate_lines(platform.inventory, platform.policy, projects)) + "\n"
    # An image interpolated from a credential (a token in a registry path) never reaches
    # the output: masked, its rule matches nothing and the catch-all holds the image.
    secrets = credential_values(platform.compose.variables, None)
    host = set(platform.policy.compose.host_variables)
    secrets |= {value for name, value in platform.compose.variables if name in host and value}
    emit(redact_text(text, secrets), output)
    return 0
