"""Reading small hand-edited YAML files (trust roots, packets) defensively.

``yaml.SafeLoader`` already refuses ``!!python`` tags; this loader also refuses
anchors and aliases (the "billion laughs" expansion) and files over a size cap,
and turns every parse error into one line naming the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from stategate.attest.files import read_bounded
from stategate.errors import InputError

MAX_YAML_BYTES = 1024 * 1024


class _NoAliasLoader(yaml.SafeLoader):
    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None, None, "anchors and aliases are not allowed", event.start_mark
            )
        return super().compose_node(parent, index)


def load_yaml(path: Path, *, shown: str, limit: int = MAX_YAML_BYTES) -> Any:
    """Parse one YAML document from ``path``; ``shown`` is how the file is named in errors."""
    data = read_bounded(path, limit, shown=shown)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError("not UTF-8 text", file=shown) from exc
    try:
        return yaml.load(text, Loader=_NoAliasLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise InputError(f"invalid YAML: {exc.problem}", file=shown, line=line) from exc
    except yaml.YAMLError as exc:
        raise InputError(f"invalid YAML: {exc}", file=shown) from exc
