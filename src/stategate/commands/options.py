"""Options shared by several commands."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from stategate import terminal

F = TypeVar("F", bound=Callable[..., Any])


def repo_option(func: F) -> F:
    return click.option(
        "--repo",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path("."),
        show_default=True,
        help="Platform repository.",
    )(func)


def trust_option(func: F) -> F:
    return click.option(
        "--trust",
        "trust_file",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Operator-held trust file outside the repo (default: $STATEGATE_TRUST_FILE, "
        "else the trust file of the base revision, read from git).",
    )(func)


def compose_options(func: F) -> F:
    func = click.option(
        "-f",
        "--file",
        "files",
        multiple=True,
        type=click.Path(dir_okay=False, path_type=Path),
        help="Compose file (repeatable; merged in order like docker compose -f).",
    )(func)
    func = click.option(
        "--env",
        "env",
        multiple=True,
        metavar="KEY=VALUE",
        help="Variable for interpolation, over the env file (repeatable).",
    )(func)
    func = click.option(
        "--profile",
        "profiles",
        multiple=True,
        help="Only services active with these profiles (default: every service).",
    )(func)
    return repo_option(func)


def parse_env_options(values: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--env")
        out[key] = value
    return out


def emit(text: str, output: Path | None) -> None:
    """Write a report to ``output``, or to standard output."""
    if output:
        output.write_text(text, encoding="utf-8")
        terminal.info(f"wrote {output}")
    else:
        click.echo(text, nl=False)
