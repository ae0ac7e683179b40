"""Command-line entry point: parsing and printing only.

Each command lives in ``stategate.commands.<name>`` and is registered in
``stategate.commands.COMMANDS``, so the set of commands is explicit and type-checked.
Every error reaches the user through :func:`main`'s handler as one line with a
distinct exit code (see ``stategate.errors.ExitCode``).
"""

from __future__ import annotations

import io
import os
import sys
from typing import TYPE_CHECKING

import click

from stategate import __version__, terminal
from stategate.commands import SUMMARIES, LazyGroup
from stategate.errors import ExitCode, StategateError

if TYPE_CHECKING:
    from typing_extensions import Buffer


def _verbose(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    # only stategate's own loggers go verbose: library debug logs (botocore,
    # urllib3) print request headers, which carry credentials. The group's option
    # sets the level for the run (so no earlier run leaks into it); a command's adds to it
    if value or ctx.parent is None:
        import logging  # here, not at the top: --help and --version never log

        logging.getLogger("stategate").setLevel(logging.DEBUG if value else logging.WARNING)


def _quiet(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value or ctx.parent is None:
        terminal.set_quiet(value)


def _global_options() -> list[click.Parameter]:
    """-v and -q, accepted before the command and after it (one implementation: the
    same two options are added to the group and to every command it loads)."""
    return [
        click.Option(
            ["-v", "--verbose"],
            is_flag=True,
            expose_value=False,
            callback=_verbose,
            help="Log what stategate does (secrets masked).",
        ),
        click.Option(
            ["-q", "--quiet"],
            is_flag=True,
            expose_value=False,
            callback=_quiet,
            help="No progress and no information on stderr; warnings and errors still show.",
        ),
    ]


def _with_global_options(command: click.Command) -> click.Command:
    if not getattr(command, "_stategate_globals", False):
        taken = {flag for p in command.params for flag in [*p.opts, *p.secondary_opts]}
        # a command's own -v or -q (none today) wins over the global one: never two meanings
        command.params.extend(o for o in _global_options() if not taken & set(o.opts))
        command._stategate_globals = True  # type: ignore[attr-defined]
        if isinstance(command, click.Group):
            for sub in command.commands.values():
                _with_global_options(sub)
    return command


class _Group(LazyGroup):
    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        return _with_global_options(command) if command is not None else None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # --help lists every command without importing one: the summaries are a table
        # (tests check each against its command's own help, so they cannot drift)
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = [
            (name, click.Command(name, help=SUMMARIES[name]).get_short_help_str(limit))
            for name in names
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@_with_global_options
@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="stategate")
def cli() -> None:
    """Gate upgrades of stateful, sidecar-bound, secret-bearing and public-edge services."""
    import logging

    logging.basicConfig(level=logging.WARNING, format="stategate: %(message)s", stream=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI, mapping every failure to one line and an exit code."""
    _tolerate_closed_readers()
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
    except BrokenPipeError:  # a reader left before stategate could tolerate it: as shells do
        _silence(1)
        sys.exit(141)
    except OSError as exc:  # a file or folder the user named is missing or unreadable
        where = f"{exc.filename}: " if exc.filename else ""
        click.echo(f"stategate: error: {where}{exc.strerror or exc}", err=True)
        sys.exit(int(ExitCode.INPUT_ERROR))
    except KeyboardInterrupt:
        click.echo("stategate: interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # a bug: say so plainly, keep the detail for -v
        import logging

        logging.getLogger("stategate").debug("internal error", exc_info=True)
        click.echo(
            f"stategate: internal error: {type(exc).__name__}: {exc} (run with -v for details)",
            err=True,
        )
        sys.exit(int(ExitCode.INTERNAL_ERROR))
    sys.exit(int(code) if isinstance(code, int) else 0)


class _ReaderGone(io.RawIOBase):
    """A file descriptor whose reader may leave early (``stategate check | head -1``).

    Once the reader is gone (EPIPE) the rest is discarded and the command carries on:
    the judgement was made, only its printing was cut, so the exit code stays the
    verdict's and never turns into a misleading "blocked" or a traceback.
    """

    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd = fd
        self.gone = False

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def isatty(self) -> bool:
        return os.isatty(self._fd)

    def write(self, data: Buffer, /) -> int:
        if not self.gone:
            try:
                return os.write(self._fd, data)
            except BrokenPipeError:
                self.gone = True
                _silence(self._fd)
        return memoryview(data).nbytes


def _silence(fd: int) -> None:
    """Point ``fd`` at /dev/null, so nothing (not even Python's exit flush) writes to a
    closed pipe again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def _tolerate_closed_readers() -> None:
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is None or stream is not getattr(sys, f"__{name}__"):
            continue  # not the process's own stream (a test runner's capture): leave it
        try:
            fd = stream.fileno()
        except (OSError, ValueError):
            continue
        stream.flush()
        wrapped = io.TextIOWrapper(
            io.BufferedWriter(_ReaderGone(fd)),
            encoding=stream.encoding,
            errors=stream.errors,
            line_buffering=stream.line_buffering,
            write_through=name == "stderr",
        )
        setattr(sys, name, wrapped)
