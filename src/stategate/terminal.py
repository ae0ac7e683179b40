"""The one place that decides how stategate writes to the terminal.

Every command builds its consoles here, so terminal manners hold everywhere:

- On a terminal: rich output, colour unless ``NO_COLOR`` is set (or ``TERM=dumb``).
- Piped or redirected: plain text, no colour, and no wrapping at 80 columns; a
  ``file:line`` or a key fingerprint is never split over two lines. An explicit
  ``COLUMNS`` is still honoured. ``FORCE_COLOR`` keeps colour in a pipe (rich's rule).
- Standard output carries results; standard error carries errors, warnings (each
  saying what to do), information and progress. ``--quiet`` silences information and
  progress, never warnings or errors: a warning that needs action must not vanish.

Kept light on purpose: ``stategate --help`` imports this module, not rich.
"""

from __future__ import annotations

import os
import sys
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

# wide enough that nothing stategate prints is ever wrapped, small enough that rich's
# layout (which allocates per column of the width) stays cheap
PIPE_WIDTH = 4096

_quiet = False


def set_quiet(quiet: bool) -> None:
    """``--quiet``: no information and no progress on standard error from here on."""
    global _quiet
    _quiet = quiet


def quiet() -> bool:
    return _quiet


def _is_tty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (ValueError, OSError):  # a closed or odd stream is not a terminal
        return False


def console(*, stderr: bool = False, highlight: bool = False) -> Console:
    """The console for standard output (results) or standard error (everything else)."""
    stream: IO[str] | None = sys.stderr if stderr else sys.stdout
    if stream is None:  # started with that descriptor closed (`>&-`): nobody reads it
        stream = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 (lives as long as the process)
    return stream_console(stream, terminal=_is_tty(stream), highlight=highlight)


def stream_console(stream: IO[str], *, terminal: bool = False, highlight: bool = False) -> Console:
    """A console writing to ``stream``; ``terminal`` says whether a person reads it live.

    Not a terminal (a pipe, a file): unwrapped unless the user set ``COLUMNS``, and
    plain unless ``FORCE_COLOR`` asks for colour.
    """
    from rich.console import Console

    # colour: rich's own rules (NO_COLOR, FORCE_COLOR, TERM=dumb, a TTY or not)
    if terminal:
        return Console(file=stream, highlight=highlight)
    width = _columns()
    return Console(
        file=stream,
        width=width or PIPE_WIDTH,
        highlight=highlight,
        soft_wrap=width is None,
        emoji=False,
    )


def report_console(stream: IO[str]) -> Console:
    """A console writing a report file (``-o``): plain text, never wrapped, never
    coloured, whatever the environment says."""
    from rich.console import Console

    return Console(
        file=stream,
        width=PIPE_WIDTH,
        color_system=None,
        force_terminal=False,
        highlight=False,
        soft_wrap=True,
        emoji=False,
    )


def _columns() -> int | None:
    value = os.environ.get("COLUMNS", "")
    return int(value) if value.isdigit() and int(value) > 0 else None


def progress_allowed() -> bool:
    """Progress bars only for a person watching stderr live, never in CI or with -q."""
    return not _quiet and not os.environ.get("CI") and _is_tty(sys.stderr)


def info(message: str) -> None:
    """Information on standard error (a path written, a note); silenced by ``--quiet``."""
    if not _quiet:
        _echo_err(f"stategate: {message}")


def warn(message: str, todo: str) -> None:
    """A warning on standard error, with what to do about it; kept under ``--quiet``."""
    _echo_err(f"stategate: warning: {message}; {todo}")


def _echo_err(line: str) -> None:
    import click

    click.echo(line, err=True)
