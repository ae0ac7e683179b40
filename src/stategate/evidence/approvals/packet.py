"""Reading the packet for ``stategate approve``: what an approval binds from it.

The packet reader is a stand-in until the packet loader of the PR-gate work
lands: it reads only the fields an approval binds. Packet shape assumed
(``packets/<id>.yaml``)::

    id: pg-16-3                       # also accepted: packet_id
    modules:                          # a list ...
      - module: app/postgres          # also accepted: id
        from: postgres:16.2@sha256:<64 hex>   # absent or null: module added
        to: postgres:16.3@sha256:<64 hex>
    # ... or a mapping: modules: {app/postgres: {from: ..., to: ...}}

Other packet fields are ignored here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from stategate.errors import InputError
from stategate.evidence.approvals.approval import ImageBinding, ModuleApproval, image_digest
from stategate.evidence.files import read_bounded
from stategate.evidence.layout import RepoLayout
from stategate.evidence.signing.canonical import sha256_bytes
from stategate.yamlfile import MAX_FILE_BYTES, decode_text, loads


@dataclass(frozen=True)
class PacketFacts:
    """What an approval binds from a packet."""

    id: str
    path: str  # repo-relative
    sha256: str  # of the packet file's bytes
    modules: tuple[ModuleApproval, ...]


def read_packet(layout: RepoLayout, packet_path: str | os.PathLike[str]) -> PacketFacts:
    rel = layout.to_rel(packet_path)
    path = layout.inside(rel)
    data = read_bounded(path, MAX_FILE_BYTES, shown=rel, root=layout.root)
    raw = loads(decode_text(data, rel), rel)
    sha = sha256_bytes(data)
    if not isinstance(raw, dict):
        raise InputError("a packet must be a YAML mapping", file=rel)
    packet_id = raw.get("id", raw.get("packet_id"))
    if not isinstance(packet_id, str) or not packet_id:
        raise InputError("packet has no 'id'", file=rel)
    modules = tuple(_modules(raw.get("modules"), rel))
    if not modules:
        raise InputError("packet declares no modules", file=rel)
    return PacketFacts(packet_id, rel, sha, modules)


def _modules(raw: Any, rel: str) -> list[ModuleApproval]:
    items: list[tuple[str, Any]] = []
    if isinstance(raw, dict):
        items = [(str(k), v) for k, v in raw.items()]
    elif isinstance(raw, list):
        for index, item in enumerate(raw):
            if not isinstance(item, dict):
                raise InputError(f"modules[{index}] must be a mapping", file=rel)
            name = item.get("module", item.get("id"))
            if not isinstance(name, str):
                raise InputError(f"modules[{index}] has no 'module'", file=rel)
            items.append((name, item))
    else:
        raise InputError("packet 'modules' must be a list or a mapping", file=rel)
    result: list[ModuleApproval] = []
    for name, spec in items:
        if not isinstance(spec, dict):
            raise InputError(f"module {name} must be a mapping with 'from' and 'to'", file=rel)
        from_ref, to_ref = spec.get("from"), spec.get("to")
        if not isinstance(to_ref, str):
            raise InputError(f"module {name} has no 'to' image", file=rel)
        try:
            result.append(
                ModuleApproval.model_validate(
                    {
                        "module": name,
                        "from": None if from_ref is None else _binding(name, "from", from_ref, rel),
                        "to": _binding(name, "to", to_ref, rel),
                    }
                )
            )
        except ValidationError as exc:
            raise InputError(f"module {name}: {exc.errors()[0]['msg']}", file=rel) from exc
    return result


def _binding(module: str, side: str, ref: object, rel: str) -> ImageBinding:
    if not isinstance(ref, str):
        raise InputError(f"module {module}: '{side}' must be an image reference", file=rel)
    digest = image_digest(ref)
    if digest is None:
        raise InputError(
            f"module {module}: '{side}' image {ref} is not pinned by digest "
            "(an approval binds exact digests: name@sha256:...)",
            file=rel,
        )
    return ImageBinding(image=ref, digest=digest)
