"""Variable interpolation as compose does it (compose-go's ``template`` package).

``$VAR``, ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``, ``${VAR:?err}``,
``${VAR?err}``, ``${VAR:+replacement}``, ``${VAR+replacement}`` and ``$$``; defaults,
replacements and messages may nest further references (``${A:-${B:-x}}``), expanded
whether used or not, as Docker Compose v2.40.3 (compose-go v2.9.1) does.

As in compose, an unset variable becomes an empty string and is reported (a warning
naming the variable, at the file and line), and a malformed reference (``${TAG``,
``${}``, ``${ foo}``, ``${foo!}``) is an error. An image ``postgres:${TAG}`` with
``TAG`` unset is then ``postgres:``, which :func:`stategate.image.parse_image` still
reads as postgres (no tag).

A missing required variable (``${PW:?set it}``) is an error here as in compose. The
loader reads the repo, never the shell, and a required variable is how a compose file
asks the deploy host for a secret that is deliberately not committed: the policy names
such variables (``compose.host_variables``), and only those are accepted missing
(``host``), substituted with an empty string, as the repo does not know their value.

The rules follow compose-go's regular expression
``\\$(?i:(\\$)|([_a-z][_a-z0-9]*)|{(?:([_a-z][_a-z0-9]*(?::?[-+?](.*))?)}|()))``
and its brace matching, rewritten as a scanner so a long value costs linear time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stategate.compose.casts import cast_typed
from stategate.compose.diagnostics import Diagnostics
from stategate.errors import InputError
from stategate.yamlfile import Loc, YMap, YSeq

# compose-go matches names case-insensitively against [_a-z][_a-z0-9]*; Go's case
# folding adds the Kelvin sign (U+212A, folds to k) and the long s (U+017F, to s).
_NAME = re.compile("[_A-Za-z\u017f\u212a][_A-Za-z0-9\u017f\u212a]*")
_OPERATORS = (":-", ":+", ":?", "-", "+", "?")

MAX_VALUE_CHARS = 1024 * 1024  # one interpolated value
MAX_TOTAL_CHARS = 64 * 1024 * 1024  # everything interpolated while loading one platform
MAX_NESTING = 32  # ${A:-${B:-...}} levels

_ESCAPE_HINT = "write '$$' for a literal '$'"


class InterpolationError(ValueError):
    """A value compose would refuse, or one past the limits (an expansion bomb, absurd
    nesting); the caller reports it as an InputError naming the file and line."""


class InvalidTemplateError(InterpolationError):
    """A malformed reference: ``${TAG``, ``${}``, ``${ foo}``, ``${foo!}``
    (compose: "invalid interpolation format")."""


class MissingRequiredError(InterpolationError):
    """``${NAME:?message}`` or ``${NAME?message}`` with the variable missing.

    The message is shown as written, never expanded, so no variable's value is printed.
    """

    def __init__(self, variable: str, message: str) -> None:
        self.variable = variable
        self.message = message
        text = f"required variable {variable} is missing a value"
        super().__init__(f"{text}: {message}" if message else text)


@dataclass
class Substitution:
    text: str
    unresolved: list[str] = field(default_factory=list)  # unset names used, in order
    limit: int = MAX_VALUE_CHARS
    refuse_missing_required: bool = True
    # (name, message as written) of missing required variables, when not refused
    missing_required: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class ExpansionBudget:
    """What may still be produced by interpolation (bounds exponential ``.env`` chains
    and values that reference a large variable many times)."""

    total: int = MAX_TOTAL_CHARS
    remaining: int = -1
    # where and how much was spent, while a caller keeps a log (a cached document's
    # interpolation spends the same again each time it is used)
    log: list[tuple[Loc, int]] | None = None

    def __post_init__(self) -> None:
        if self.remaining < 0:
            self.remaining = self.total

    def spend(self, chars: int, loc: Loc | None = None) -> None:
        if self.log is not None and loc is not None:
            self.log.append((loc, chars))
        self.remaining -= chars
        if self.remaining < 0:
            raise InterpolationError(
                f"variables expand to more than {self.total} characters in total "
                "(refusing a possible expansion bomb)"
            )


def substitute(
    text: str,
    env: Mapping[str, str],
    *,
    limit: int = MAX_VALUE_CHARS,
    refuse_missing_required: bool = True,
) -> Substitution:
    """Interpolate ``text`` as compose does; unset variables become empty strings and
    are listed in ``unresolved``.

    Raises :class:`InvalidTemplateError` for a malformed reference,
    :class:`MissingRequiredError` for a missing required variable (unless
    ``refuse_missing_required`` is false: then it is empty and listed in
    ``missing_required``), and :class:`InterpolationError` past ``limit`` characters or
    ``MAX_NESTING`` levels of nested defaults.
    """
    out = Substitution("", limit=limit, refuse_missing_required=refuse_missing_required)
    out.text = _subst(text, env, out, 0)
    return out


def _subst(text: str, env: Mapping[str, str], acc: Substitution, depth: int) -> str:
    if depth > MAX_NESTING:
        raise InterpolationError(f"variable defaults nested deeper than {MAX_NESTING} levels")
    parts: list[str] = []
    size = 0  # characters produced by expansion
    i = 0
    n = len(text)
    while True:
        if size > acc.limit:
            raise InterpolationError(
                f"a value expands to more than {acc.limit} characters "
                "(refusing a possible expansion bomb)"
            )
        j = text.find("$", i)
        if j < 0 or j + 1 >= n:
            parts.append(text[i:])
            break
        parts.append(text[i:j])
        nxt = text[j + 1]
        if nxt == "$":  # $$: a literal $
            parts.append("$")
            i = j + 2
            continue
        if nxt == "{":
            expanded, i = _braced(text, j, env, acc, depth)
            parts.append(expanded)
            size += len(expanded)
            continue
        match = _NAME.match(text, j + 1)
        if match:  # $NAME
            value = _lookup(match.group(0), env, acc)
            parts.append(value)
            size += len(value)
            i = match.end()
            continue
        parts.append("$")  # "$" before anything else stays as it is
        i = j + 1
    return "".join(parts)


def _lookup(name: str, env: Mapping[str, str], acc: Substitution) -> str:
    value = env.get(name)
    if value is None:
        acc.unresolved.append(name)
        return ""
    return value


def _braced(
    text: str, start: int, env: Mapping[str, str], acc: Substitution, depth: int
) -> tuple[str, int]:
    """Expand the ``${...}`` at ``start``; return the expansion and where scanning resumes."""
    match = _NAME.match(text, start + 2)
    if not match:
        raise _invalid(text, start)
    name = match.group(0)
    at = match.end()
    op = next((o for o in _OPERATORS if text.startswith(o, at)), None)
    if op is None:
        if text.startswith("}", at):  # ${NAME}
            return _lookup(name, env, acc), at + 1
        raise _invalid(text, start)
    # compose-go's pattern takes everything up to the last "}" of the line, then cuts
    # at the brace that closes the "${" (or keeps it all when braces do not balance).
    line_end = text.find("\n", at)
    line_end = len(text) if line_end < 0 else line_end
    end = _closing_brace(text, start, line_end)
    if end < 0:
        end = text.rfind("}", at + len(op), line_end)
        if end < 0:
            raise _invalid(text, start)
    return _operate(name, op, text[at + len(op) : end], env, acc, depth), end + 1


def _closing_brace(text: str, start: int, stop: int) -> int:
    """compose-go's getFirstBraceClosingIndex: a "{" also skips the character after it."""
    depth = 0
    i = start
    while i < stop:
        ch = text[i]
        if ch == "}":
            depth -= 1
            if depth == 0:
                return i
        if ch == "{":
            depth += 1
            i += 1
        i += 1
    return -1


def _operate(
    name: str, op: str, arg: str, env: Mapping[str, str], acc: Substitution, depth: int
) -> str:
    """``${name<op>arg}``. ``arg`` is expanded whether it is used or not, as Docker
    Compose v2.40.3 (compose-go v2.9.1) does: a malformed or missing-required reference
    in a default that is not used is still an error (checked with the binary)."""
    value = env.get(name)
    strict = op.startswith(":")  # an empty value counts as missing
    present = value is not None and not (strict and value == "")
    kind = op[-1]
    expanded = _subst(arg, env, acc, depth + 1)
    if kind == "-":
        return value if present and value is not None else expanded
    if kind == "+":
        return expanded if present else ""
    if present and value is not None:  # "?": required
        return value
    if acc.refuse_missing_required:
        raise MissingRequiredError(name, arg if expanded else "")
    acc.missing_required.append((name, arg if expanded else ""))
    return ""


def _invalid(text: str, start: int) -> InvalidTemplateError:
    """What is wrong with the reference at ``start``, naming no value."""
    match = _NAME.match(text, start + 2)
    if match is None:
        if start + 2 >= len(text):
            what = "'${' is not closed"
        elif text[start + 2] == "}":
            what = "'${}' names no variable"
        else:
            what = "'${' must be followed by a variable name"
    else:
        name = match.group(0)
        at = match.end()
        op = next((o for o in _OPERATORS if text.startswith(o, at)), None)
        if op is not None:
            what = f"'${{{name}{op}' is not closed by '}}' on its line"
        elif at >= len(text):
            what = f"'${{{name}' is not closed"
        else:
            what = f"'${{{name}' must be followed by '}}' or one of {' '.join(_OPERATORS)}"
    return InvalidTemplateError(f"invalid interpolation format: {what}; {_ESCAPE_HINT}")


def interpolate_tree(
    node: Any,
    env: Mapping[str, str],
    diag: Diagnostics,
    loc: Loc,
    budget: ExpansionBudget | None = None,
    host: frozenset[str] = frozenset(),
    path: tuple[str, ...] = (),
) -> Any:
    """Interpolate every string value (not keys) in place-built copies of the tree.

    An unset variable is an empty string and a warning; a missing required one is an
    ``InputError`` unless the deploy host sets it (``host``: then it is empty, with no
    warning); so is a malformed reference or an expansion past the limits, naming the
    file and line. ``path`` is where ``node`` sits in a compose document (keys, ``[]``
    for a list item): a string where compose expects a boolean or a number is cast to
    it, as compose casts it (:func:`stategate.compose.casts.cast_typed`).
    """
    budget = budget if budget is not None else ExpansionBudget()
    if isinstance(node, YMap):
        out = YMap(node.loc)
        for key, value in node.items():
            kloc = node.key_loc(key)
            out.put(
                key,
                interpolate_tree(value, env, diag, kloc, budget, host, (*path, key)),
                kloc,
                node.directives.get(key),
            )
        return out
    if isinstance(node, YSeq):
        seq = YSeq(node.loc)
        for index, value in enumerate(node):
            iloc = node.item_loc(index)
            seq.push(interpolate_tree(value, env, diag, iloc, budget, host, (*path, "[]")), iloc)
        return seq
    if isinstance(node, str) and "$" in node:
        try:
            # at most MAX_VALUE_CHARS past the budget
            result = substitute(node, env, refuse_missing_required=False)
            budget.spend(len(result.text), loc)
        except InterpolationError as exc:
            raise InputError(str(exc), file=loc.file, line=loc.line) from None
        refuse_missing_required(result, host, loc)
        for message in substitution_warnings(result, host):
            diag.warn(loc, message)
        node = result.text
    if isinstance(node, str) and path:
        return cast_typed(node, path, loc, diag)
    return node


def refuse_missing_required(result: Substitution, host: frozenset[str], loc: Loc) -> None:
    """Compose's refusal of a missing required variable, unless the deploy host sets it."""
    for name, message in result.missing_required:
        if name not in host:
            why = f": {message}" if message else ""
            raise InputError(
                f"required variable {name} is missing a value{why} (set it in the env "
                "file or with --env; if the deploy host sets it, name it in the policy's "
                "compose.host_variables)",
                file=loc.file,
                line=loc.line,
            )


def substitution_warnings(result: Substitution, host: frozenset[str] = frozenset()) -> list[str]:
    """The warnings for unset variables (compose: 'The "X" variable is not set.
    Defaulting to a blank string.'), naming no value; none for a variable the deploy
    host sets (``host``)."""
    return [
        f"variable {name} is not set; substituted an empty string (set it in the env "
        "file, or list it in the policy's compose.host_variables)"
        for name in dict.fromkeys(result.unresolved)
        if name not in host
    ]
