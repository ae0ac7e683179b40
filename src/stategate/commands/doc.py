"""``stategate doc``: the W8.3 gate document, rendered from the policy in force."""

from __future__ import annotations

from pathlib import Path

import click

from stategate.catalogues import hazard_catalogue
from stategate.commands.options import emit, repo_option
from stategate.errors import ExitCode, InputError
from stategate.example import example_root
from stategate.platform import load_platform
from stategate.regularfile import read_regular
from stategate.report.gatedoc import EXAMPLE_SERVICES, render_gate_doc
from stategate.yamlfile import MAX_FILE_BYTES, decode_text


@click.command("doc")
@repo_option
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the document to this file instead of standard output.",
)
@click.option(
    "--check",
    is_flag=True,
    help="Write nothing: exit 1 when the -o file differs from a fresh rendering (stale).",
)
def command(repo: Path, output: Path | None, check: bool) -> int:
    """Render the gate document (Markdown) from the policy in force.

    With --check (for CI and pre-commit) the committed document is compared instead, so
    it can never drift from the policy that is enforced.
    """
    if check and output is None:
        raise click.UsageError("--check needs -o FILE: the committed document to compare")
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
    if check and output is not None:  # --check without -o was refused above
        return _compare(text, output)
    emit(text, output)
    return 0


def _compare(text: str, committed: Path) -> int:
    shown = str(committed)
    try:
        data = read_regular(committed, MAX_FILE_BYTES, shown=shown)
    except FileNotFoundError:
        raise InputError(f"missing; render it with: stategate doc -o {shown}", file=shown) from None
    if decode_text(data, shown) != text:
        click.echo(
            f"{shown}: stale: it differs from the policy in force; "
            f"render it again with: stategate doc -o {shown}"
        )
        return int(ExitCode.BLOCKED)
    click.echo(f"{shown}: up to date")
    return int(ExitCode.OK)
