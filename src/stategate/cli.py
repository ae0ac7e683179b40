"""Command-line entry point: parsing and printing only.

Each command lives in ``stategate.commands.<name>`` and is registered in
``stategate.commands.COMMANDS``, so the set of commands is explicit and type-checked.
Every error reaches the user through :func:`main`'s handler as one line with a
distinct exit code (see ``stategate.errors.ExitCode``).
"""

from __future__ import annotations

import logging
import sys

import click

from stategate import __version__
from stategate.commands import LazyGroup
from stategate.errors import ExitCode, StategateError


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="stategate")
@click.option("-v", "--verbose", is_flag=True, help="Log what stategate does (secrets masked).")
def cli(verbose: bool) -> None:
    """Gate upgrades of stateful, sidecar-bound, secret-bearing and public-edge services."""
    # only stategate's own loggers go verbose: library debug logs (botocore,
    # urllib3) print request headers, which carry credentials
    logging.basicConfig(level=logging.WARNING, format="stategate: %(message)s", stream=sys.stderr)
    logging.getLogger("stategate").setLevel(logging.DEBUG if verbose else logging.WARNING)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI, mapping every failure to one line and an exit code."""
    try:
        code = cli.main(args=argv, prog_name="stategate", standalone_mode=False)
    except StategateError as exc:
        click.echo(f"stategate: error: {exc}", err=True)
        sys.exit(int(exc.exit_code))
    except click.exceptions.Abort:
        click.echo("stategate: aborted", err=True)
        sys.exit(int(ExitCode.INPUT_ERROR))
    except click.ClickException as exc:
        exc.show()
        sys.exit(int(ExitCode.INPUT_ERROR))
    except OSError as exc:  # a file or folder the user named is missing or unreadable
        where = f"{exc.filename}: " if exc.filename else ""
        click.echo(f"stategate: error: {where}{exc.strerror or exc}", err=True)
        sys.exit(int(ExitCode.INPUT_ERROR))
    except KeyboardInterrupt:
        click.echo("stategate: interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # a bug: say so plainly, keep the detail for -v
        logging.getLogger("stategate").debug("internal error", exc_info=True)
        click.echo(
            f"stategate: internal error: {type(exc).__name__}: {exc} (run with -v for details)",
            err=True,
        )
        sys.exit(int(ExitCode.INTERNAL_ERROR))
    sys.exit(int(code) if isinstance(code, int) else 0)
