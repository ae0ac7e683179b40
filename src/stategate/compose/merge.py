"""Merge service definitions the way ``docker compose -f a -f b`` and ``extends`` do.

Rules (compose specification, "Merge and override"): mappings merge
recursively; environment, labels and the other map-like keys merge by key;
volumes merge by container path, secrets and configs by source, depends_on
and networks by name; ports, expose and the other sequences concatenate
(without duplicates); command, entrypoint and healthcheck.test are replaced;
``!reset`` removes a value and ``!override`` replaces it without merging.
Both sides must already be normalized (:func:`normalize_service`).
"""

from __future__ import annotations

from typing import Any

from stategate.yamlfile import OVERRIDE, RESET, YMap, YSeq

_REPLACE = frozenset({"command", "entrypoint", "image", "build", "env_file"})
_BY_KEY = {"volumes": "target", "secrets": "source", "configs": "source"}


def merge_service(base: YMap, override: YMap) -> YMap:
    out = YMap(override.loc)
    for key, value in base.items():
        out.put(key, value, base.key_loc(key))
    for key, value in override.items():
        kloc = override.key_loc(key)
        directive = override.directives.get(key)
        if directive == RESET:
            out.pop(key, None)
            out.key_locs.pop(key, None)
            continue
        if directive == OVERRIDE or key not in out or key in _REPLACE:
            out.put(key, value, kloc)
            continue
        out.put(key, _merge_value(key, out[key], value), kloc)
    return out


def _merge_value(key: str, old: Any, new: Any) -> Any:
    if key in _BY_KEY and isinstance(old, YSeq) and isinstance(new, YSeq):
        return _merge_seq_by(old, new, _BY_KEY[key])
    if isinstance(old, YMap) and isinstance(new, YMap):
        return _merge_map(old, new, key)
    if isinstance(old, YSeq) and isinstance(new, YSeq):
        return _concat_unique(old, new)
    return new


def _merge_map(old: YMap, new: YMap, parent: str) -> YMap:
    out = YMap(new.loc)
    for key, value in old.items():
        out.put(key, value, old.key_loc(key))
    for key, value in new.items():
        directive = new.directives.get(key)
        if directive == RESET:
            out.pop(key, None)
            continue
        replace = directive == OVERRIDE or (parent == "healthcheck" and key == "test")
        if key in out and not replace:
            value = _merge_value(key, out[key], value)
        out.put(key, value, new.key_loc(key))
    return out


def _identity(item: Any) -> Any:
    if isinstance(item, YMap):
        return tuple(sorted((k, _identity(v)) for k, v in item.items()))
    if isinstance(item, YSeq):
        return tuple(_identity(v) for v in item)
    return item


def _concat_unique(old: YSeq, new: YSeq) -> YSeq:
    out = YSeq(new.loc)
    seen: set[Any] = set()
    for seq in (old, new):
        for index, item in enumerate(seq):
            ident = _identity(item)
            if ident in seen:
                continue
            seen.add(ident)
            out.push(item, seq.item_loc(index))
    return out


def _merge_seq_by(old: YSeq, new: YSeq, field: str) -> YSeq:
    positions: dict[Any, int] = {}
    out = YSeq(new.loc)
    for seq in (old, new):
        for index, item in enumerate(seq):
            ident = item.get(field) if isinstance(item, YMap) else item
            if ident in positions:
                at = positions[ident]
                out[at] = item
                out.item_locs[at] = seq.item_loc(index)
            else:
                positions[ident] = len(out)
                out.push(item, seq.item_loc(index))
    return out


def merge_top(base: YMap, override: YMap) -> YMap:
    """Merge top-level sections other than services (volumes, networks, secrets...)."""
    out = YMap(base.loc)
    for key, value in base.items():
        out.put(key, value, base.key_loc(key))
    for key, value in override.items():
        if key in out and isinstance(out[key], YMap) and isinstance(value, YMap):
            out.put(key, _merge_map(out[key], value, key), override.key_loc(key))
        else:
            out.put(key, value, override.key_loc(key))
    return out
