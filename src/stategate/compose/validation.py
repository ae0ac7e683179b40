"""Validate a compose file against the Compose Specification JSON schema, as compose
does (compose-go ``schema.Validate``, on each file after interpolation and the typed
casts), naming the line of the offending key.

The schema is vendored in ``schema/compose-spec.json`` (see ``schema/SOURCE.md``); the
validator is built once, on first use.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Iterator
from importlib import resources
from typing import Any

from jsonschema import Draft7Validator, ValidationError

from stategate.errors import InputError
from stategate.yamlfile import RESET, Loc, YMap, YSeq

_TYPE_NAMES = {"object": "mapping"}


@functools.cache
def _validator() -> Draft7Validator:
    text = resources.files("stategate.compose").joinpath("schema/compose-spec.json").read_text()
    return Draft7Validator(_without_unique_items(json.loads(text)))


def _without_unique_items(node: Any) -> Any:
    """The schema without ``uniqueItems``: compose accepts a repeated port, volume,
    capability or profile and keeps one of each (checked with the binary)."""
    if isinstance(node, dict):
        return {k: _without_unique_items(v) for k, v in node.items() if k != "uniqueItems"}
    if isinstance(node, list):
        return [_without_unique_items(v) for v in node]
    return node


def validate_document(doc: YMap, rel: str, known_valid: set[str] | None = None) -> None:
    """Refuse a compose file (interpolated, typed) that the compose schema rejects.

    ``known_valid`` holds the parts of files found valid before (their canonical JSON):
    a part seen before (an unchanged service on the other side of a pull request, a
    setting many services share) is not validated again; valid new ones are added."""
    plain = _plain(doc)
    if _valid_in_parts(plain, known_valid if known_valid is not None else set()):
        return
    errors = list(_validator().iter_errors(plain))
    if not errors:
        return
    error = _most_specific(errors)
    path = list(error.absolute_path)
    node, loc = _walk(doc, path, Loc(rel, 1))
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        extra = _extra_keys(error)
        if extra and isinstance(node, YMap):
            loc = node.key_loc(extra[0])
    where = ".".join(str(step) for step in path) or "(top level)"
    raise InputError(f"{where} {_describe(error)}", file=loc.file, line=loc.line)


# Keywords that check an object's keys one by one: under them a mapping is valid exactly
# when each of its keys (with its value) is. The compose schema checks a file's services
# and a service's settings this way, so a file is valid when its skeleton (every service
# emptied) and every setting of every service are; those parts repeat across services and
# across the two sides of a pull request, and each distinct part is validated once.
_PER_KEY = frozenset(
    {"type", "description", "title", "properties", "patternProperties", "additionalProperties"}
)
_SERVICE_REF = {"$ref": "#/definitions/service"}


@functools.cache
def _service_validator() -> Draft7Validator | None:
    """A validator of one service's settings, when the schema checks services and their
    settings key by key (None: whole files are validated)."""
    root = _validator()
    schema = root.schema
    if not isinstance(schema, dict) or not set(schema) <= _PER_KEY | {"$schema", "$id"} | {
        "definitions"
    }:
        return None
    services = schema.get("properties", {}).get("services")
    service = schema.get("definitions", {}).get("service")
    if (
        not isinstance(services, dict)
        or not set(services) <= _PER_KEY
        or "properties" in services
        or list(services.get("patternProperties", {}).values()) != [_SERVICE_REF]
        or any(re.search(p, "services") for p in schema.get("patternProperties", {}))
        or not isinstance(service, dict)
        or not set(service) <= _PER_KEY
        or service.get("type") != "object"
    ):
        return None
    return root.evolve(schema=service)


def _valid_in_parts(plain: Any, known_valid: set[str]) -> bool:
    """Whether the file is valid, checked in parts (its skeleton, then each setting of
    each service), a part found valid before skipped and one found valid now remembered.
    False when a part is not valid: the whole file is then validated, naming the error."""
    services = plain.get("services") if isinstance(plain, dict) else None
    service = _service_validator()
    if (
        service is None
        or not isinstance(services, dict)
        or not all(isinstance(spec, dict) for spec in services.values())
    ):
        return _valid_part(_validator(), "file", plain, known_valid)
    skeleton = {**plain, "services": {name: {} for name in services}}
    return _valid_part(_validator(), "file", skeleton, known_valid) and all(
        _valid_part(service, "service", {key: value}, known_valid)
        for spec in services.values()
        for key, value in spec.items()
    )


def _valid_part(validator: Draft7Validator, kind: str, part: Any, known_valid: set[str]) -> bool:
    text = _canonical(part)
    key = f"{kind}:{text}" if text is not None else None
    if key is not None and key in known_valid:
        return True
    if not validator.is_valid(part):
        return False
    if key is not None:
        known_valid.add(key)
    return True


def _canonical(plain: Any) -> str | None:
    """One text per JSON value (None for a value JSON cannot hold: never shared)."""
    try:
        return json.dumps(plain, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        return None


def _plain(node: Any) -> Any:
    """The document as compose validates it: ``!reset`` keys are gone."""
    if isinstance(node, YMap):
        return {
            key: _plain(value) for key, value in node.items() if node.directives.get(key) != RESET
        }
    if isinstance(node, YSeq):
        return [_plain(item) for item in node]
    return node


def _specificity(error: ValidationError) -> int:
    bonus = 1 if error.validator == "additionalProperties" else 0
    return len(error.absolute_path) + bonus


def _leaves(errors: Iterable[ValidationError]) -> Iterator[ValidationError]:
    for error in errors:
        if error.context:
            yield from _leaves(error.context)
        else:
            yield error


def _most_specific(errors: list[ValidationError]) -> ValidationError:
    """compose-go's getMostSpecificError: the deepest leaf of the error tree."""
    best: ValidationError | None = None
    for error in _leaves(errors):
        if best is None or _specificity(error) > _specificity(best):
            best = error
    assert best is not None
    return best


def _walk(doc: Any, path: list[Any], fallback: Loc) -> tuple[Any, Loc]:
    """The node at ``path`` (None if it is not there) and where the deepest existing
    step of it is written."""
    node, loc = doc, fallback
    for step in path:
        if isinstance(node, YMap) and isinstance(step, str) and step in node:
            loc, node = node.key_loc(step), node[step]
        elif isinstance(node, YSeq) and isinstance(step, int) and step < len(node):
            loc, node = node.item_loc(step), node[step]
        else:
            return None, loc
    return node, loc


def _extra_keys(error: ValidationError) -> list[str]:
    schema = error.schema if isinstance(error.schema, dict) else {}
    known = schema.get("properties", {})
    patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
    return [
        key
        for key in error.instance
        if key not in known and not any(p.search(key) for p in patterns)
    ]


def _describe(error: ValidationError) -> str:
    if error.validator == "type":
        wanted = error.validator_value
        names = sorted(
            _TYPE_NAMES.get(str(t), str(t))
            for t in (wanted if isinstance(wanted, list) else [wanted])
        )
        kind = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
        return f"must be a {kind}"
    if error.validator == "minimum":
        return f"must be greater than or equal to {error.validator_value}"
    if error.validator == "maximum":
        return f"must be less than or equal to {error.validator_value}"
    if error.validator == "additionalProperties":
        extra = ", ".join(repr(key) for key in _extra_keys(error))
        return f"additional properties {extra} not allowed"
    if error.validator == "enum":
        return "must be one of: " + ", ".join(str(v) for v in error.validator_value)
    if error.validator == "pattern":
        return f"must match {error.validator_value}"
    if error.validator == "required":
        return str(error.message)  # names the missing key only
    # other messages may quote the value (a credential, perhaps): name the rule instead
    return f"breaks the schema's {error.validator!r} rule"
