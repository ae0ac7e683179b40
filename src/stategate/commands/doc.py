"""``stategate doc``: the W8.3 gate document, rendered from the policy in force."""

from __future__ import annotations

from pathlib import Path

import click

from stategate.catalogues import hazard_catalogue
from stategate.commands.options import emit, repo_option
from stategate.example import example_root
from stategate.platform import load_platform
from stategate.report.gatedoc import EXAMPLE_SERVICES, render_gate_doc


@click.command("doc")
@repo_option
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the document to this file instead of standard output.",
)
def command(repo: Path, output: Path | None) -> int:
    """Render the gate document (Markdown) from the policy in force."""
    platform = load_platform(repo)
    names = {m.service.name for m in platform.modules.values()}
    # Worked examples come from this platform when it has the four reference modules,
    # else from the bundled example platform.
    examples = platform.inventory
    if not set(EXAMPLE_SERVICES) <= names:
        examples = load_platform(example_root()).inventory
    source = platform.loaded_policy.file or "built-in default"
    text = render_gate_doc(
        platform.policy,
        source,
        platform.policy_digest,
        examples,
        hazard_catalogue(),
        sources=[s.value for s in platform.sources],
    )
    emit(text, output)
    return 0
