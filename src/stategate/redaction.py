"""Credential values out of a resolved compose model before it is printed (pure).

A credential is found by where it sits, then masked wherever it was interpolated
to: a value assigned to a credential-named variable (``.env``, ``--env``,
``environment``, build ``args``, any credential-named key), a basic-auth label,
the password of a URL, the argument of a credential flag (``--requirepass``,
``--password=``) and token-shaped strings. Every value found this way is then
replaced in every string of the model (command, healthcheck, labels, URLs), so a
password reaches the output neither where it was set nor where it was used.

A weak password that is also an ordinary word (``postgres``, a project's own name)
is masked where it sits but not searched inside other strings (see :func:`spreads`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from stategate.diff.scan import PRIVATE_KEY, TOKEN_SHAPES, credential_shaped
from stategate.policy.classify import CREDENTIAL_KEY, FLAG_VALUES

MASK = "***"
# a value this long is searched inside other strings even when it looks like a word
SPREAD_LENGTH = 12
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")

_REFERENCE = re.compile(r"^\$\{?[A-Za-z_][A-Za-z0-9_]*(?:[:?+-][^}]*)?\}?$")
# bounded repetitions and anchored starts keep every pattern linear on hostile strings
_URL_PASSWORD = re.compile(
    r"(?P<head>(?<![a-z0-9])[a-z][a-z0-9+.-]{0,31}://[^/\s:@]{0,256}:)(?P<pw>[^/\s@]{1,256})(?=@)",
    re.I,
)
_QUERY_SECRET = re.compile(
    r"(?P<head>[?&][A-Za-z0-9_.-]{0,64}(?:password|passwd|secret|token|api_?key|access_?key)"
    r"[A-Za-z0-9_.-]{0,64}=)(?P<value>[^&#\s]{1,1024})",
    re.I,
)
_FLAG = r"--?[\w-]{0,64}(?:requirepass|masterauth|password|passwd|secret|token|api-?key)"
_FLAG_VALUE = re.compile(
    rf"(?P<head>(?<![\w-]){_FLAG}(?:=|[ \t]{{1,64}}))(?P<value>[^\s\"']{{1,1024}})", re.I
)
_FLAG_ALONE = re.compile(rf"^{_FLAG}$", re.I)
_REDIS_CLI_AUTH = re.compile(
    r"(?P<head>\bredis-cli\b[^\n]{0,128}?[ \t]-a[ \t]{1,64})(?P<value>[^\s\"']{1,1024})"
)
_BASIC_AUTH_LABEL = re.compile(r"basic_?auth(?!.*file$)", re.I)  # not the users *file*
# MinIO's client takes the access key and the secret key as arguments
_MC_ALIAS = re.compile(
    r"(?P<head>\bmc[ \t]+(?:alias[ \t]+set|config[ \t]+host[ \t]+add)[ \t]+\S{1,512}[ \t]+"
    r"\S{1,512}[ \t]+)(?P<value>[^\s\"';]{1,1024})(?P<sep>[ \t]+)(?P<value2>[^\s\"';]{1,1024})"
)


def is_credential_name(name: str) -> bool:
    return bool(CREDENTIAL_KEY.search(name)) and not name.upper().endswith("_FILE")


def spreads(secret: str) -> bool:
    """Whether ``secret`` is masked inside other strings too, not only where it stands whole.

    A credential-looking value is. A weak one that is also an ordinary word (``postgres``,
    or the project's own name, common defaults) is masked where it sits (credential key,
    URL password, flag argument, a whole value) but not inside image names and paths,
    which it would mangle.
    """
    return credential_shaped(secret) or len(secret) >= SPREAD_LENGTH


def _is_value(value: str) -> bool:
    """A value worth hiding: not empty, not a yes/no flag, not an unresolved reference."""
    return bool(value) and value.lower() not in FLAG_VALUES and not _REFERENCE.match(value)


def credential_values(variables: Iterable[tuple[str, str]], model: Any) -> set[str]:
    """Every credential value: from credential-named interpolation variables and
    from credential-shaped places of ``model`` (plain dicts, lists and scalars)."""
    found = {value for name, value in variables if is_credential_name(name) and _is_value(value)}
    _collect(model, found)
    return found


def _collect(node: Any, found: set[str]) -> None:
    if isinstance(node, Mapping):
        for key, value in node.items():
            name = str(key)
            if isinstance(value, str):
                if is_credential_name(name) and _is_value(value):
                    found.add(value)
                elif _BASIC_AUTH_LABEL.search(name):
                    found.update(_basic_auth_secrets(value))
            _collect(value, found)
    elif isinstance(node, list):
        after_flag = redis_cli = False
        for item in node:
            if isinstance(item, str):
                name, sep, value = item.partition("=")
                sep = sep if _IDENTIFIER.match(name) else ""  # KEY=VALUE, not a script
                if sep and is_credential_name(name) and _is_value(value):
                    found.add(value)
                elif sep and _BASIC_AUTH_LABEL.search(name):
                    found.update(_basic_auth_secrets(value))
                if after_flag and _is_value(item):
                    found.add(item)
                redis_cli = redis_cli or item.rsplit("/", 1)[-1] == "redis-cli"
                after_flag = bool(_FLAG_ALONE.match(item)) or (redis_cli and item == "-a")
            else:
                after_flag = False
            _collect(item, found)
    elif isinstance(node, str):
        found.update(m.group("pw") for m in _URL_PASSWORD.finditer(node) if _is_value(m["pw"]))
        for pattern in (_QUERY_SECRET, _FLAG_VALUE, _REDIS_CLI_AUTH, _MC_ALIAS):
            found.update(m.group("value") for m in pattern.finditer(node) if _is_value(m["value"]))
        found.update(m.group("value2") for m in _MC_ALIAS.finditer(node) if _is_value(m["value2"]))


def _basic_auth_secrets(value: str) -> list[str]:
    """The hashes of ``user:hash,user2:hash2`` (the whole value when it has no user part)."""
    entries = [e.strip() for e in re.split(r"[,\s]+", value) if e.strip()]
    hashes = [e.partition(":")[2] or e for e in entries]
    return [h for h in hashes if _is_value(h)]


def redact(model: Any, secrets: Iterable[str]) -> Any:
    """A copy of ``model`` with every secret value masked in every string, mapping keys
    included (``labels: ["${DB_PASSWORD}"]`` makes the secret a label's name)."""
    ordered = sorted({s for s in secrets if s}, key=len, reverse=True)
    return _redact(model, ordered)


def _redact(node: Any, secrets: list[str]) -> Any:
    if isinstance(node, Mapping):
        return {
            redact_text(key, secrets) if isinstance(key, str) else key: _redact(value, secrets)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_redact(item, secrets) for item in node]
    if isinstance(node, str):
        return redact_text(node, secrets)
    return node


def redact_text(text: str, secrets: Iterable[str]) -> str:
    """``text`` with the given secrets, URL passwords, credential flags' values and
    token-shaped strings masked."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        if secret == text or spreads(secret):
            text = text.replace(secret, MASK)
    if PRIVATE_KEY.search(text):
        return MASK
    for shape in TOKEN_SHAPES:
        text = shape.sub(MASK, text)
    text = _URL_PASSWORD.sub(_masked_group("pw"), text)
    for pattern in (_QUERY_SECRET, _FLAG_VALUE, _REDIS_CLI_AUTH):
        text = pattern.sub(_masked_group("value"), text)
    return _MC_ALIAS.sub(_masked_mc, text)


def _masked_mc(match: re.Match[str]) -> str:
    keys = [MASK if _is_value(match[g]) else match[g] for g in ("value", "value2")]
    return match["head"] + keys[0] + match["sep"] + keys[1]


def _masked_group(group: str) -> Callable[[re.Match[str]], str]:
    """A substitution that masks ``group`` of a match unless it is a reference (``${X}``)."""

    def replace(match: re.Match[str]) -> str:
        value = match[group]
        return match["head"] + (MASK if _is_value(value) else value)

    return replace
