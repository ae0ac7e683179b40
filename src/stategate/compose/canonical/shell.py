"""Split a string command as compose does: github.com/mattn/go-shellwords ``Parse``
with its defaults (no environment, no backticks run)."""

from __future__ import annotations

_SPACE = " \t\r\n"
_STOP = ";&|<>"


class ShellSplitError(ValueError):
    """The line is not a complete command (an open quote, a trailing backslash, ...)."""


def shell_split(line: str) -> list[str]:
    """The words of ``line``; parsing stops at an unquoted ``; & | < >``, as in go-shellwords."""
    args: list[str] = []
    buf = ""
    escaped = double = single = back = dollar = False
    got = False
    for ch in line:
        if escaped:
            buf += {"t": "\t", "n": "\n"}.get(ch, ch)
            escaped, got = False, True
            continue
        if ch == "\\":
            if single:
                buf += ch
            else:
                escaped = True
            continue
        if ch in _SPACE:
            if single or double or back or dollar:
                buf += ch
            elif got:
                args.append(buf)
                buf, got = "", False
            continue
        if ch == "`" and not (single or double or dollar):
            back = not back
        elif ch == ")" and not (single or double or back):
            if not dollar:
                raise ShellSplitError("invalid command line string")
            buf += ch
            dollar, got = False, True
            continue
        elif ch == "(" and not (single or double or back):
            if dollar or not buf.endswith("$"):
                raise ShellSplitError("invalid command line string")
            dollar = True
            buf += ch
            continue
        elif ch == '"' and not (single or dollar):
            got = got or double
            double = not double
            continue
        elif ch == "'" and not (double or dollar):
            got = got or single
            single = not single
            continue
        elif ch in _STOP and not (single or double or back or dollar):
            if ch == ">" and buf[:1].isdigit():
                got = False  # a redirection such as 2> drops its descriptor
            break
        got = True
        buf += ch
    if got:
        args.append(buf)
    if escaped or single or double or back or dollar:
        raise ShellSplitError("invalid command line string")
    return args
