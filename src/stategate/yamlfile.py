"""Safe YAML loading that keeps file and line for every mapping key and list item.

Compose files are read with the YAML 1.2 core schema (as compose itself does:
``yes`` and ``22:22`` stay strings), only plain data tags plus compose's
``!reset`` and ``!override`` are accepted, alias expansion is bounded (a YAML
bomb is an error, not an out-of-memory), duplicate keys are rejected, merge
keys (``<<``) are applied, and every problem is an :class:`InputError` naming
the file and line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import BaseResolver
from yaml.scanner import Scanner

from stategate.errors import InputError
from stategate.regularfile import read_regular

MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_EXPANDED_NODES = 500_000
MAX_EVENTS = 200_000  # parse events (about two per node) of one document as written
_EVENTS_PER_CHAR = 4  # more than any YAML text yields (see _check_size)
MAX_DEPTH = 64

RESET = "reset"
OVERRIDE = "override"

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"
_DIRECTIVE_TAGS = {"!reset": RESET, "!override": OVERRIDE}


@dataclass(frozen=True, order=True)
class Loc:
    """Where a fact comes from: a file (as shown to the user) and a 1-based line."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


class YMap(dict[str, Any]):
    """A mapping that remembers where it and each of its keys were written."""

    # slots: a large platform builds hundreds of thousands of these
    __slots__ = ("directives", "key_locs", "loc", "nonstring_keys")

    def __init__(self, loc: Loc) -> None:
        self.loc = loc
        self.key_locs: dict[str, Loc] = {}
        self.directives: dict[str, str] = {}
        # keys written as something else than a string (123:, true:, null:), which the
        # reader turns into strings; compose refuses them
        self.nonstring_keys: set[str] = set()

    def key_loc(self, key: str) -> Loc:
        return self.key_locs.get(key, self.loc)

    def put(self, key: str, value: Any, loc: Loc, directive: str | None = None) -> None:
        self[key] = value
        self.key_locs[key] = loc
        if directive:
            self.directives[key] = directive
        elif self.directives:
            self.directives.pop(key, None)


class YSeq(list[Any]):
    """A list that remembers where it and each of its items were written."""

    __slots__ = ("item_locs", "loc")

    def __init__(self, loc: Loc) -> None:
        self.loc = loc
        self.item_locs: list[Loc] = []

    def push(self, value: Any, loc: Loc) -> None:
        self.append(value)
        self.item_locs.append(loc)

    def item_loc(self, index: int) -> Loc:
        return self.item_locs[index] if index < len(self.item_locs) else self.loc


class _Resolver12(BaseResolver):
    """YAML 1.2 core schema: what compose (go-yaml v3) resolves plain scalars to."""


_Resolver12.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Resolver12.add_implicit_resolver(
    _INT, re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789")
)
_Resolver12.add_implicit_resolver(
    _FLOAT,
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)
_Resolver12.add_implicit_resolver(
    _NULL, re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]
)
_Resolver12.add_implicit_resolver(_MERGE, re.compile(r"^(?:<<)$"), ["<"])


class _PyLoader(Reader, Scanner, Parser, Composer, _Resolver12):
    def __init__(self, stream: str) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)
        _Resolver12.__init__(self)


try:  # libyaml's parser and composer (same nodes and marks), about 20x faster
    from yaml.cyaml import CParser  # type: ignore[attr-defined]

    class _CLoader(CParser, _Resolver12):
        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            _Resolver12.__init__(self)

    _Loader: type = _CLoader
except ImportError:  # PyYAML built without libyaml
    _Loader = _PyLoader


def read_text(
    path: Path, shown: str, *, max_bytes: int = MAX_FILE_BYTES, root: Path | None = None
) -> str:
    """Read a UTF-8 text file (regular files only, with a size limit, inside ``root``
    when given); errors name ``shown``."""
    try:
        data = read_regular(path, max_bytes, shown=shown, root=root)
    except FileNotFoundError:
        raise InputError("file not found", file=shown) from None
    return decode_text(data, shown, max_bytes=max_bytes)


def decode_text(data: bytes, shown: str, *, max_bytes: int = MAX_FILE_BYTES) -> str:
    if len(data) > max_bytes:
        raise InputError(f"file is {len(data)} bytes, over the {max_bytes}-byte limit", file=shown)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"not valid UTF-8 (byte {exc.start})", file=shown) from None


def load_file(path: Path, shown: str, *, root: Path | None = None) -> Any:
    """Load one YAML document from ``path``; ``shown`` is the name used in messages."""
    return loads(read_text(path, shown, root=root), shown)


def _check_size(text: str, shown: str) -> None:
    """Refuse a document of more than ``MAX_EVENTS`` parse events before building any of
    it: composing a 4 MB list of one-character items would take over 500 MB. Counting
    streams (constant memory) and stops at the limit; syntax errors are left to ``loads``.
    In a stream of several documents the limit is per document.

    A text too short to hold that many events is not counted (the common case: a
    second pass through the parser costs a fifth of the parse). The densest texts
    yield one event per character (``[[[...]]]``, ``{a,a,...}``, ``?`` lines); the
    bound below allows four."""
    if len(text) * _EVENTS_PER_CHAR < MAX_EVENTS:
        return
    parser = _Loader(text)
    count = 0
    try:
        while parser.check_event():
            if isinstance(parser.get_event(), yaml.DocumentStartEvent):
                count = 0
            count += 1
            if count > MAX_EVENTS:
                raise InputError(
                    f"more than {MAX_EVENTS} YAML nodes; refused", file=shown, line=None
                )
    except yaml.YAMLError:
        pass
    finally:
        parser.dispose()


def loads(text: str, shown: str) -> Any:
    """Parse one YAML document into YMap/YSeq/scalars; an empty document is ``None``."""
    _check_size(text, shown)
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise InputError(f"invalid YAML: {problem}", file=shown, line=line) from None
    except yaml.YAMLError as exc:
        raise InputError(f"invalid YAML: {exc}", file=shown) from None
    finally:
        loader.dispose()
    if node is None:
        return None
    return _Builder(shown).build(node)


def loads_all(text: str, shown: str) -> list[Any]:
    """Parse a stream of YAML documents (``---`` separated, as Kubernetes manifests and
    ``helm template`` output are); empty documents are ``None``. One alias budget covers
    the whole stream, so many small bombs cannot add up."""
    _check_size(text, shown)
    loader = _Loader(text)
    builder = _Builder(shown)
    out: list[Any] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            out.append(None if node is None else builder.build(node))
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise InputError(f"invalid YAML: {problem}", file=shown, line=line) from None
    except yaml.YAMLError as exc:
        raise InputError(f"invalid YAML: {exc}", file=shown) from None
    finally:
        loader.dispose()
    return out


class _Builder:
    """Builds the tree, re-building an alias's target at every reference, so the node
    count it keeps is the expanded size: a YAML bomb stops at MAX_EXPANDED_NODES, an
    alias cycle or absurd nesting is an error instead of a crash."""

    def __init__(self, shown: str) -> None:
        self.shown = shown
        self.count = 0
        self.active: list[int] = []  # ids of the collections being built (for cycles)

    def _enter(self, node: SequenceNode | MappingNode) -> None:
        line = node.start_mark.line + 1
        if id(node) in self.active:
            raise InputError("recursive YAML alias", file=self.shown, line=line)
        if len(self.active) >= MAX_DEPTH:
            raise InputError(f"nested deeper than {MAX_DEPTH} levels", file=self.shown, line=line)
        self.count += 1 + len(node.value)
        if self.count > MAX_EXPANDED_NODES:
            raise InputError(
                f"YAML aliases expand to more than {MAX_EXPANDED_NODES} nodes "
                "(refusing a possible YAML bomb)",
                file=self.shown,
                line=line,
            )
        self.active.append(id(node))

    def loc(self, node: Node) -> Loc:
        return Loc(self.shown, node.start_mark.line + 1)

    def build(self, node: Node) -> Any:
        tag = node.tag
        directive = _DIRECTIVE_TAGS.get(tag)
        if directive is not None:
            # !reset / !override only make sense as a value in a mapping;
            # build() is reached for them only at the document root or in a list.
            raise InputError(
                f"{tag} is only allowed on a mapping value",
                file=self.shown,
                line=node.start_mark.line + 1,
            )
        return self._build_plain(node)

    def _build_value(self, node: Node) -> tuple[Any, str | None]:
        directive = _DIRECTIVE_TAGS.get(node.tag)
        if directive is None:
            return self._build_plain(node), None
        if isinstance(node, ScalarNode):
            value: Any = self._scalar(node, implicit=True)
        elif isinstance(node, SequenceNode):
            value = self._seq(node)
        else:
            assert isinstance(node, MappingNode)
            value = self._map(node)
        return value, directive

    def _build_plain(self, node: Node) -> Any:
        if isinstance(node, ScalarNode):
            return self._scalar(node)
        if isinstance(node, SequenceNode):
            if node.tag != _SEQ:
                self._bad_tag(node)
            return self._seq(node)
        assert isinstance(node, MappingNode)
        if node.tag != _MAP:
            self._bad_tag(node)
        return self._map(node)

    def _bad_tag(self, node: Node) -> None:
        raise InputError(
            f"unsupported YAML tag {node.tag!r} (only plain data, !reset and !override)",
            file=self.shown,
            line=node.start_mark.line + 1,
        )

    def _scalar(self, node: ScalarNode, *, implicit: bool = False) -> Any:
        tag = node.tag
        text: str = node.value
        if implicit:
            tag = _Resolver12().resolve(ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
        if tag == _STR:
            return text
        if tag == _NULL:
            return None
        if tag == _BOOL:
            return text.lower() == "true"
        if tag == _INT:
            line = node.start_mark.line + 1
            try:
                # a 64-bit integer has at most 22 octal digits (plus sign and prefix)
                value = None if len(text) > 25 else _to_int(text)
            except ValueError:
                raise InputError(f"invalid integer {text!r}", file=self.shown, line=line) from None
            if value is None or not -(2**63) <= value < 2**64:
                raise InputError(
                    f"integer {_clip(text)} is out of range (more than 64 bits)",
                    file=self.shown,
                    line=line,
                )
            return value
        if tag == _FLOAT:
            try:
                return float(
                    text.replace(".inf", "inf").replace(".Inf", "inf").replace(".INF", "inf")
                )
            except ValueError:
                return text
        if tag == _MERGE:
            return text
        self._bad_tag(node)
        return None  # unreachable

    def _seq(self, node: SequenceNode) -> YSeq:
        self._enter(node)
        out = YSeq(self.loc(node))
        for child in node.value:
            out.push(self.build(child), self.loc(child))
        self.active.pop()
        return out

    def _map(self, node: MappingNode) -> YMap:
        self._enter(node)
        out = YMap(self.loc(node))
        merged: list[YMap] = []
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode) and key_node.tag == _MERGE:
                merged.extend(self._merge_sources(value_node))
                continue
            if not isinstance(key_node, ScalarNode):
                raise InputError(
                    "mapping keys must be scalars",
                    file=self.shown,
                    line=key_node.start_mark.line + 1,
                )
            scalar = self._scalar(key_node)
            key = (
                ""
                if scalar is None
                else str(scalar).lower()
                if isinstance(scalar, bool)
                else str(scalar)
            )
            if not isinstance(scalar, str):
                out.nonstring_keys.add(key)
            if key in out:
                raise InputError(
                    f"duplicate key {key!r}", file=self.shown, line=key_node.start_mark.line + 1
                )
            value, directive = self._build_value(value_node)
            out.put(key, value, self.loc(key_node), directive)
        # Merge keys: explicit keys win; among merged maps the first one wins.
        for source in merged:
            for key, value in source.items():
                if key not in out:
                    out.put(key, value, source.key_loc(key), source.directives.get(key))
        self.active.pop()
        return out

    def _merge_sources(self, node: Node) -> list[YMap]:
        if isinstance(node, MappingNode):
            return [self._map(node)]
        if isinstance(node, SequenceNode):
            result: list[YMap] = []
            for child in node.value:
                if not isinstance(child, MappingNode):
                    break
                result.append(self._map(child))
            else:
                return result
        raise InputError(
            "merge key '<<' needs a mapping or a list of mappings",
            file=self.shown,
            line=node.start_mark.line + 1,
        )


def _to_int(text: str) -> int:
    if text.startswith("0o"):
        return int(text[2:], 8)
    return int(text, 0) if text.startswith("0x") else int(text)


def _clip(text: str) -> str:
    return text if len(text) <= 24 else f"{text[:20]}... ({len(text)} characters)"


def to_plain(value: Any) -> Any:
    """YMap/YSeq trees to plain dicts and lists (locations dropped)."""
    if isinstance(value, YMap):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, YSeq):
        return [to_plain(v) for v in value]
    return value


def line_at(doc: YMap, path: list[str]) -> int:
    """The line of the deepest part of ``path`` the document has (e.g. a validation
    error's location); parts the file lacks, such as union tags, are skipped."""
    node: Any = doc
    line = doc.loc.line
    for key in path:
        if isinstance(node, YMap) and key in node:
            line = node.key_loc(key).line
            node = node[key]
        elif isinstance(node, YSeq) and key.isdigit() and int(key) < len(node):
            line = node.item_loc(int(key)).line
            node = node[int(key)]
    return line
