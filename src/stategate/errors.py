"""Error types and the exit codes they map to.

Every failure the user can cause (bad YAML, a missing file, an invalid policy)
is an ``InputError`` carrying the file it concerns; the CLI prints it as one line
and exits with ``ExitCode.INPUT_ERROR``. Nothing else should reach the user as a
traceback.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """Documented process exit codes (README, "Exit codes")."""

    OK = 0  # pass, ready_for_operator, approved; or a command that succeeded
    BLOCKED = 1  # requirements missing, or evidence that failed (drill, smoke)
    INPUT_ERROR = 2  # usage error or bad input: file, YAML, policy, packet
    STOP = 3  # a stop condition: escalate to the operator
    INTERNAL_ERROR = 70  # a bug in stategate


class StategateError(Exception):
    """Base class of errors shown to the user as one line."""

    exit_code: ExitCode = ExitCode.INPUT_ERROR

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file if self.line is None else f"{self.file}:{self.line}"
            where += ": "
        return f"{where}{self.message}"


class InputError(StategateError):
    """The user's input (a file, an option) is invalid."""


class ExternalError(StategateError):
    """A tool or server stategate relies on failed (pg_dump, a server, git)."""

    exit_code = ExitCode.BLOCKED
