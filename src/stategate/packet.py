"""Upgrade packets: a PR's declaration of an upgrade (``packets/<id>.yaml``)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stategate.errors import InputError
from stategate.providers.config import SmokeCheck
from stategate.source import Source
from stategate.yamlfile import YMap, decode_text, line_at, loads, to_plain

PACKETS_DIR = "packets/"
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Rollback(_Strict):
    to: str | None = Field(None, description="Image ref (with digest) to roll back to.")
    needs_restore: bool = Field(
        False, description="Rolling back needs a restore (the upgrade changes the data format)."
    )
    note: str | None = None


class PacketModule(_Strict):
    module: str = Field(..., description="Module id <project>/<service>.")
    from_: str | None = Field(None, alias="from", description="Image ref before (None: added).")
    to: str | None = Field(None, description="Image ref after (None: removed).")
    rollback: Rollback | None = None
    smoke: list[SmokeCheck] = Field(default_factory=list)
    migration_note: str | None = Field(None, description="Required on a stateful major upgrade.")
    rotation_plan: str | None = Field(None, description="When secret references change.")


class Packet(_Strict):
    id: str = Field(..., description="Packet id; the file is packets/<id>.yaml.")
    title: str | None = None
    repo_only: bool = Field(False, description="Declares a PR that changes nothing that runs.")
    modules: list[PacketModule] = Field(default_factory=list)
    allowed_paths: list[str] = Field(default_factory=list, description="Globs the PR may touch.")
    forbidden_paths: list[str] = Field(default_factory=list, description="Globs it must not.")
    after: list[str] = Field(default_factory=list, description="Packets merged before this one.")
    evidence: list[str] = Field(default_factory=list, description="Evidence record paths.")

    def module(self, module_id: str) -> PacketModule | None:
        return next((m for m in self.modules if m.module == module_id), None)


@dataclass(frozen=True)
class LoadedPacket:
    packet: Packet
    path: str
    sha256: str


def is_packet_path(path: str) -> bool:
    return path.startswith(PACKETS_DIR) and path.endswith((".yaml", ".yml"))


def load_packet(source: Source, path: str) -> LoadedPacket:
    try:
        data = source.read_bytes(path)
    except FileNotFoundError:
        raise InputError("packet file not found", file=path) from None
    doc = loads(decode_text(data, path), path)
    if not isinstance(doc, YMap):
        raise InputError("a packet must be a mapping", file=path, line=1)
    try:
        packet = Packet.model_validate(to_plain(doc))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top)"
        line = line_at(doc, [str(p) for p in first["loc"]])
        more = f" (+{len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
        raise InputError(
            f"invalid packet: {where}: {first['msg']}{more}", file=path, line=line
        ) from None
    if not _ID.match(packet.id):
        raise InputError(f"invalid packet id {packet.id!r}", file=path, line=doc.key_loc("id").line)
    return LoadedPacket(packet, path, hashlib.sha256(data).hexdigest())
