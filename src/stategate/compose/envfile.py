"""Parse ``.env`` files as compose does: a port of compose-go's ``dotenv`` parser
(``dotenv/parser.go``, v2.9.1, the version Docker Compose v2.40.3 is built with).

What compose reads, and so what is read here:

- ``KEY=VALUE`` or ``KEY: VALUE``, an optional ``export`` first; spaces around the
  separator are dropped; a name holds letters, digits (also first), ``_ . - [ ]``;
- an unquoted value runs to the end of the line, cut at the first `` #`` (space then
  hash) and stripped on the right;
- a single-quoted value is taken as written, over several lines if need be; ``\\'``
  is a quote, every other backslash stays;
- a double-quoted value too, then ``\\a \\b \\f \\n \\r \\t \\v \\\\ \\"`` and octal
  ``\\0NNN`` are read as escapes, ``\\$`` is a literal ``$``, and references are
  interpolated; whatever follows the closing quote starts the next statement;
- a line with only ``KEY`` takes the variable from the environment (stategate: the
  ``--env`` variables), else leaves it unset;
- ``#`` where a statement would start comments out the rest of the line;
- an unterminated quote, a name with another character or with a space inside, and
  an ``export`` with nothing after it are refused.

References (in unquoted and double-quoted values) see the environment first, then
the file's earlier variables, as compose's lookup does.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections import ChainMap
from collections.abc import Mapping

from stategate.compose.diagnostics import Diagnostics
from stategate.compose.interpolate import (
    ExpansionBudget,
    InterpolationError,
    refuse_missing_required,
    substitute,
    substitution_warnings,
)
from stategate.errors import InputError
from stategate.yamlfile import Loc

MAX_ENV_CHARS = 16 * 1024 * 1024  # every value of one .env file, expanded

# Go's unicode.IsSpace (Python's str.isspace also takes \x1c-\x1f)
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
_INLINE_SPACE = frozenset("\t\v\f\r \x85\xa0")  # the parser's isSpace: no line break
_EXPORT = re.compile(r"export[\t\n\f\r ]+")  # Go's \s: ASCII, without \v
_NAME_PUNCTUATION = frozenset("_.-[]")
_NAME_RUN = re.compile(r"[\w\t\v\f\r \x85\xa0.\-\[\]]*")
_BLANKS = re.compile(f"[{_GO_SPACE}]*")
_ESCAPE = re.compile(r'\\(?:[abcfnrtv$"\\]|0[0-9]{0,3})')
_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_SIMPLE_ESCAPES |= {"\\": "\\", '"': '"', "$": "$$"}  # "$$": a literal $ when interpolated
_QUOTED = {q: re.compile(rf"[^\\{q}]*(?:\\[\s\S][^\\{q}]*)*") for q in "'\""}
_ESCAPED_PAIR = re.compile(r"\\([\s\S])")


class _Lines:
    """Line numbers of offsets in a text."""

    def __init__(self, text: str) -> None:
        self._breaks = [m.start() for m in re.finditer("\n", text)]

    def at(self, offset: int) -> int:
        return bisect.bisect_left(self._breaks, offset) + 1


def parse_env(
    text: str,
    shown: str,
    diag: Diagnostics | None = None,
    lookup: Mapping[str, str] | None = None,
    host: frozenset[str] = frozenset(),
) -> dict[str, str]:
    """Return the variables of a .env file, as compose reads it.

    ``text`` is decoded already (``decode_text`` drops a UTF-8 BOM, as compose does).
    ``lookup`` stands for compose's process environment (stategate: ``--env``): a
    reference sees it before the file's earlier variables, and a bare ``KEY`` line
    takes its value from it. The result holds only the file's variables; the caller
    lets ``lookup`` override them.

    References are interpolated as in compose files: an unset variable is an empty
    string and a warning in ``diag``; a missing required one is refused unless the
    deploy host sets it (``host``). A line compose refuses, or a
    malformed reference, refuses the file, naming it and the line. Values that expand
    each other (``B=${A}${A}``, ``C=${B}${B}``, ...) are bounded per value and in
    total: past the limits the file is refused too.
    """
    env = lookup if lookup is not None else {}
    budget = ExpansionBudget(MAX_ENV_CHARS)
    lines = _Lines(text)
    result: dict[str, str] = {}
    scope = ChainMap(dict(env), result)  # compose's lookup: the environment first
    pos = _statement_start(text, 0)
    while pos < len(text):
        line = lines.at(pos)
        key, pos, inherited = _key(text, pos, shown, lines)
        if inherited:
            found = env.get(key, result.get(key))
            if found is not None:
                result[key] = found
        else:
            raw, pos, quote = _value(text, pos, shown, line)
            if quote == "'":
                result[key] = raw
            else:
                value = _expand_escapes(raw) if quote == '"' else raw
                result[key] = _interpolate(value, scope, budget, Loc(shown, line), diag, host)
        pos = _statement_start(text, pos)
    return result


def _statement_start(text: str, pos: int) -> int:
    """Skip blanks and comment lines (parser.go's getStatementStart)."""
    n = len(text)
    while True:
        pos = _BLANKS.match(text, pos).end()  # type: ignore[union-attr]  # matches ""
        if pos >= n or text[pos] != "#":
            return pos
        pos = text.find("\n", pos)
        if pos < 0:
            return n


def _key(text: str, pos: int, shown: str, lines: _Lines) -> tuple[str, int, bool]:
    """The name of the statement at ``pos``, where its value starts, and whether the
    statement is a bare name (parser.go's locateKeyName)."""
    n = len(text)
    export = _EXPORT.match(text, pos)
    if export:
        pos += len("export")
        while pos < n and text[pos] in _INLINE_SPACE:
            pos += 1
        if pos >= n:
            raise InputError("'export' names no variable", file=shown, line=lines.at(pos - 1))
    start = pos
    i = _name_end(text, start)
    if i >= n:  # no separator: the rest is the value of ""
        key, after, inherited = "", start, False
    elif text[i] in "=:\n":
        key, after, inherited = text[start:i], i + 1, text[i] == "\n"
    else:
        raise InputError(
            f"unexpected character {text[i]!r} in a variable name", file=shown, line=lines.at(i)
        )
    key = key.rstrip(_GO_SPACE)
    if " " in key:
        raise InputError("a variable name cannot contain a space", file=shown, line=lines.at(start))
    while after < n and text[after] in _INLINE_SPACE:
        after += 1
    return key, after, inherited


def _name_end(text: str, start: int) -> int:
    """Where the characters a name may hold (and inline spaces) end from ``start``."""
    i = start
    while True:
        run = _NAME_RUN.match(text, i)
        end = run.end() if run else i
        # \w is near Go's letters and numbers: check what it lets through, and past it
        if not text[i:end].isascii():
            for j in range(i, end):
                if not text[j].isascii() and not _name_char(text[j]):
                    return j
        if end < len(text) and _name_char(text[end]):
            i = end + 1
            continue
        return end


def _name_char(char: str) -> bool:
    return char in _INLINE_SPACE or char in _NAME_PUNCTUATION or _letter_or_number(char)


def _letter_or_number(char: str) -> bool:
    """Go's unicode.IsLetter or unicode.IsNumber."""
    return unicodedata.category(char)[0] in "LN"


def _value(text: str, pos: int, shown: str, line: int) -> tuple[str, int, str]:
    """The raw value at ``pos``, where the next statement may start, and its quote
    ("" when unquoted) (parser.go's extractVarValue)."""
    quote = text[pos : pos + 1]
    if quote not in ("'", '"'):
        end = text.find("\n", pos)
        end = len(text) if end < 0 else end
        value = text[pos:end]
        comment = value.find(" #")
        if comment >= 0:
            value = value[:comment]
        return value.rstrip(_GO_SPACE), end + 1, ""
    body = _QUOTED[quote].match(text, pos + 1)
    assert body is not None  # the pattern matches the empty string
    close = body.end()
    if text[close : close + 1] != quote:  # the end, or a backslash at the end
        raise InputError(f"unterminated quoted value (no closing {quote})", file=shown, line=line)
    # a backslash and the quote are the quote; a backslash and anything else stay
    raw = _ESCAPED_PAIR.sub(lambda m: m[1] if m[1] == quote else m[0], body.group(0))
    return raw, close + 1, quote


def _expand_escapes(value: str) -> str:
    """Shell escapes in a double-quoted value (parser.go's expandEscapes)."""

    def one(match: re.Match[str]) -> str:
        escape = match.group(0)
        simple = _SIMPLE_ESCAPES.get(escape[1])
        if simple is not None:
            return simple
        # \0NNN is octal NNN (Go wants exactly three octal digits, up to 377); when it
        # is not, compose keeps the escape with its "0" dropped (\08 is \8)
        digits = escape[2:]
        if len(digits) == 3 and all(d in "01234567" for d in digits) and int(digits, 8) < 256:
            return chr(int(digits, 8))
        return "\\" + digits

    return _ESCAPE.sub(one, value)


def _interpolate(
    value: str,
    env: Mapping[str, str],
    budget: ExpansionBudget,
    where: Loc,
    diag: Diagnostics | None,
    host: frozenset[str],
) -> str:
    try:
        expanded = substitute(value, env, refuse_missing_required=False)
        budget.spend(len(expanded.text))
    except InterpolationError as exc:
        raise InputError(str(exc), file=where.file, line=where.line) from None
    refuse_missing_required(expanded, host, where)  # as compose, unless the host sets it
    if diag is not None:
        for message in substitution_warnings(expanded, host):
            diag.warn(where, message)
    return expanded.text
