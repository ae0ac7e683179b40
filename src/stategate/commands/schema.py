"""``stategate schema NAME | --list``: the JSON Schemas of what stategate prints and signs."""

from __future__ import annotations

import click

from stategate.errors import ExitCode, InputError


@click.command("schema")
@click.argument("name", required=False)
@click.option("--list", "list_", is_flag=True, help="List every schema: name, document, producer.")
def command(name: str | None, list_: bool) -> int:
    """Print the JSON Schema (Draft 2020-12) of a versioned output.

    NAME is a schema's name (see --list) or the schema string / predicate type its
    documents carry, e.g. `stategate.verdict/v1` or `https://stategate.dev/backup/v1`.
    The policy file's schema is `stategate policy schema`.
    """
    from stategate.schemas import CATALOGUE, find, schema_text

    if list_ == (name is not None):
        raise InputError("give a schema NAME or --list (one of them)")
    if list_:
        width = max(len(e.name) for e in CATALOGUE)
        for entry in CATALOGUE:
            click.echo(f"{entry.name:<{width}}  {entry.document}  ({entry.what})")
        return int(ExitCode.OK)
    assert name is not None
    click.echo(schema_text(find(name)), nl=False)
    return int(ExitCode.OK)
