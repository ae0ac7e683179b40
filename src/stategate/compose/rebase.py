"""Relative paths of a service taken from another file (``extends: {file: ...}``),
made relative to the directory that reads them, as compose rebases them."""

from __future__ import annotations

import posixpath

from stategate.yamlfile import YMap, YSeq


def rebase_path(path: str, from_dir: str, to_dir: str) -> str:
    """``path`` written in ``from_dir``, as seen from ``to_dir`` (host paths unchanged;
    one that leaves the repository keeps every ``..``, never clamped at its root)."""
    if not path or path.startswith(("/", "~")) or "://" in path or path.startswith("git@"):
        return path
    target = posixpath.normpath(posixpath.join(from_dir or ".", path)).split("/")
    base = [part for part in posixpath.normpath(to_dir or ".").split("/") if part != "."]
    target = [part for part in target if part != "."]
    common = 0
    while common < min(len(target), len(base)) and target[common] == base[common] != "..":
        common += 1
    parts = [".."] * (len(base) - common) + target[common:]
    return "/".join(parts) or "."


def rebase_service(spec: YMap, from_dir: str, to_dir: str) -> YMap:
    """A copy of a normalized service whose bind sources, build context and env files
    are relative to ``to_dir`` instead of ``from_dir``."""
    if from_dir == to_dir:
        return spec
    out = YMap(spec.loc)
    for key, value in spec.items():
        if key == "volumes" and isinstance(value, YSeq):
            value = _mounts(value, from_dir, to_dir)
        elif key == "build" and isinstance(value, YMap) and isinstance(value.get("context"), str):
            value = _with(value, "context", rebase_path(value["context"], from_dir, to_dir))
        elif key == "env_file" and isinstance(value, YSeq):
            value = _each(value, "path", from_dir, to_dir)
        out.put(key, value, spec.key_loc(key), spec.directives.get(key))
    return out


def _mounts(mounts: YSeq, from_dir: str, to_dir: str) -> YSeq:
    out = YSeq(mounts.loc)
    for index, item in enumerate(mounts):
        if (
            isinstance(item, YMap)
            and item.get("type") == "bind"
            and isinstance(item.get("source"), str)
        ):
            item = _with(item, "source", rebase_path(item["source"], from_dir, to_dir))
        out.push(item, mounts.item_loc(index))
    return out


def _each(entries: YSeq, key: str, from_dir: str, to_dir: str) -> YSeq:
    out = YSeq(entries.loc)
    for index, item in enumerate(entries):
        if isinstance(item, YMap) and isinstance(item.get(key), str):
            item = _with(item, key, rebase_path(item[key], from_dir, to_dir))
        out.push(item, entries.item_loc(index))
    return out


def _with(node: YMap, key: str, value: str) -> YMap:
    out = YMap(node.loc)
    for k, v in node.items():
        out.put(k, value if k == key else v, node.key_loc(k), node.directives.get(k))
    return out
