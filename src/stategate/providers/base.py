"""The provider contract: the same small set of functions for every kind of state.

A provider is bound to one server (the source, or a sandbox copy). The
registry (``stategate.providers.registry``) maps the literal provider name of
a policy entry to the function that builds one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from stategate.evidence.records.artifact import BackupWriter, PartInfo
from stategate.evidence.records.predicates import StoredCopy
from stategate.evidence.records.steps import StepClock
from stategate.providers.access import PostgresAccess, RedisAccess, S3Access, VolumeAccess
from stategate.providers.fingerprint import Fingerprint
from stategate.sandbox.engine import Engine

ProviderName = Literal["postgres", "redis", "s3", "volume"]

FINGERPRINT_PART = "fingerprint.jsonl"
# the parts the fingerprint covers (one per object), as stored: read back with the rest
PARTS_PART = "parts.jsonl"


@dataclass(frozen=True)
class BackupHooks:
    """Points where tests (and only tests) inject faults or concurrent writes."""

    after_fingerprint: Callable[[], None] | None = None
    # once the content the dump will hold is fixed, before the fingerprint is read
    # (where a provider can tell: a postgres snapshot, a redis fork)
    after_snapshot: Callable[[], None] | None = None

    def fingerprinted(self) -> None:
        if self.after_fingerprint is not None:
            self.after_fingerprint()

    def snapshot_taken(self) -> None:
        if self.after_snapshot is not None:
            self.after_snapshot()


@dataclass(frozen=True)
class BackupOutput:
    """What a provider's backup produced, besides the parts it wrote."""

    fingerprint: Fingerprint
    consistent: bool  # fingerprint and data taken from one snapshot
    note: str = ""
    # what a restore will lack, or what the tools warned about, said in the record
    findings: tuple[str, ...] = ()
    # parts under this prefix are listed (with sha256) in the fingerprint
    # itself, so the record lists only the fingerprint for them (s3 objects)
    covered_prefix: str | None = None
    # False: no listing part is written, the provider derives the listing again
    # from the data parts when a drill needs it (see Provider.derived_fingerprint)
    listing_stored: bool = True


@dataclass(frozen=True)
class Origin:
    """Which server a backup came from, as the server itself says."""

    role: Literal["primary", "replica"] | None = None  # None: the notion does not apply
    ids: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredBackup:
    """A backup whose parts were verified against its evidence record."""

    directory: Path
    parts: tuple[PartInfo, ...]
    fingerprint: Fingerprint
    # the server version the backup was taken of (or the drill's --engine-version):
    # the sandbox runs this major, never whatever the host has
    version: str | None = None
    read_from: StoredCopy | None = None  # the repository it was read back from
    # the server settings the backup recorded (a restore follows them: redis appendonly)
    settings: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SmokeTarget:
    """How smoke checks reach one instance (source or sandbox)."""

    name: Literal["source", "sandbox"]
    postgres: PostgresAccess | None = None
    redis: RedisAccess | None = None
    s3: S3Access | None = None
    volume: VolumeAccess | None = None
    # source address -> address of this instance, so tcp/http checks written
    # against the source can be pointed at a sandbox copy
    rewrites: dict[str, str] = field(default_factory=dict)


class Provider(Protocol):
    """One server of one kind of state, reachable for evidence."""

    @property
    def name(self) -> ProviderName: ...

    @property
    def restore_warnings(self) -> tuple[str, ...]:
        """A sandbox's: what the restore's tools warned about (empty on a source)."""
        ...

    def address(self) -> str:
        """Where it is, without credentials (for records and messages)."""
        ...

    def secrets(self) -> tuple[str, ...]:
        """Credential values in use, to mask in every output."""
        ...

    def identity(self) -> str:
        """A server identity that differs between the source and any sandbox."""
        ...

    def server_version(self) -> str: ...

    def origin(self) -> Origin:
        """The server's own identifiers and whether it is a primary or a replica."""
        ...

    def settings(self) -> dict[str, str]:
        """Server settings a restore must match (empty: none that matter)."""
        ...

    def client_version(self) -> str | None:
        """The external client build a backup uses against this server (None: stategate's
        own protocol code)."""
        ...

    def fingerprint(self) -> Fingerprint: ...

    def backup(self, out: BackupWriter, hooks: BackupHooks) -> BackupOutput:
        """Write the backup's parts into ``out`` and fingerprint the same content."""
        ...

    def derived_fingerprint(self, directory: Path) -> Fingerprint | None:
        """A verified backup's fingerprint recomputed from its data parts, for a provider
        whose backups store no listing (None: the listing part holds it)."""
        ...

    def restore(
        self, backup: StoredBackup, engine: Engine, steps: StepClock | None = None
    ) -> AbstractContextManager[Provider]:
        """Start a throwaway server holding ``backup``; yield a provider bound to it.
        ``steps``: where the restore's own steps (sandbox start, load) are timed."""
        ...

    def smoke_target(self, name: Literal["source", "sandbox"]) -> SmokeTarget: ...
