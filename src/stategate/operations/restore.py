"""Verifying a recorded backup and restoring it into a sandbox (shared by drill and smoke)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from stategate.errors import ExternalError, InputError
from stategate.evidence.records.artifact import PartInfo, StoredPart
from stategate.evidence.records.predicates import Artifact, BackupPredicate, SourceInfo
from stategate.evidence.records.steps import StepClock
from stategate.evidence.records.typed import StoredRecord
from stategate.operations.context import ModuleContext, host_port
from stategate.providers.base import (
    FINGERPRINT_PART,
    PARTS_PART,
    Provider,
    SmokeTarget,
    StoredBackup,
)
from stategate.providers.fingerprint import Fingerprint
from stategate.repository.repositories import ArtifactMismatch
from stategate.sandbox.engine import Engine


def backup_predicate(record: StoredRecord) -> BackupPredicate:
    pred = record.statement.predicate
    if not isinstance(pred, BackupPredicate):
        raise InputError("not a backup record", file=str(record.path))
    return pred


@contextmanager
def fetched_backup(
    ctx: ModuleContext,
    record: StoredRecord,
    source: Provider,
    engine_version: str | None = None,
    repository: str | None = None,
) -> Iterator[StoredBackup]:
    """Read the backup back from its repository (``repository``, else the first that
    holds it), checking every recorded part's size and sha256 (stored and, decrypted,
    as written), then load the fingerprint (its listing part, or what ``source``'s
    provider derives from the verified parts).

    The sandbox will run ``engine_version`` when given, else the version the backup
    was taken of."""
    pred = backup_predicate(record)
    repositories = ctx.stores()
    holder = repositories.holding(pred.copies, repository)
    parts = [_part(a) for a in pred.artifacts]
    total = sum((p.stored.size if p.stored else p.size) for p in parts)
    with (
        ctx.progress(f"read {pred.backup_id} from {holder.name}", total) as progress,
        repositories.fetched(holder, pred.location, parts, progress, PARTS_PART) as directory,
    ):
        if FINGERPRINT_PART in {p.name for p in parts}:
            fingerprint = Fingerprint.from_jsonl((directory / FINGERPRINT_PART).read_bytes())
        else:
            derived = source.derived_fingerprint(directory)
            if derived is None:
                raise ArtifactMismatch(f"backup {pred.backup_id} has no fingerprint artifact")
            fingerprint = derived
        recorded = pred.fingerprint
        if recorded is None or fingerprint.summary(recorded.scheme).digest != recorded.digest:
            raise ArtifactMismatch(f"backup {pred.backup_id} fingerprint differs from its record")
        version = engine_version or pred.source.server_version
        yield StoredBackup(
            directory, tuple(parts), fingerprint, version, holder.copy(), pred.source.settings
        )


def _part(artifact: Artifact) -> PartInfo:
    stored = None
    if artifact.stored_name is not None:
        if artifact.stored_size is None or artifact.stored_sha256 is None:
            raise ArtifactMismatch(
                f"{artifact.name}: the record names a stored form without its digest"
            )
        stored = StoredPart(artifact.stored_name, artifact.stored_size, artifact.stored_sha256)
    return PartInfo(artifact.name, artifact.size, artifact.sha256, stored)


@dataclass
class Sandbox:
    provider: Provider
    info: SourceInfo
    target: SmokeTarget


@contextmanager
def restored_sandbox(
    source: Provider,
    backup: StoredBackup,
    engine: Engine,
    recorded: SourceInfo,
    steps: StepClock | None = None,
) -> Iterator[Sandbox]:
    """Restore ``backup`` into a fresh sandbox; refuse one that is the source itself.
    ``steps``: where the restore's steps are timed."""
    clock = steps or StepClock()
    with source.restore(backup, engine, clock) as copy:
        with clock.step("sandbox-check"):
            sandbox = _checked(source, copy, recorded)
        yield sandbox


def _checked(source: Provider, copy: Provider, recorded: SourceInfo) -> Sandbox:
    """``copy`` described, once it is known not to be the source itself."""
    identity, address = copy.identity(), copy.address()
    same_identity = recorded.identity is not None and identity == recorded.identity
    here, there = host_port(address), host_port(source.address())
    if same_identity or address == source.address() or (here and here == there):
        raise ExternalError(
            f"refused: the sandbox at {address} resolves to the source {source.address()}"
        )
    info = SourceInfo(
        address=address,
        identity=identity,
        server_version=copy.server_version(),
        settings=copy.settings(),
    )
    target = copy.smoke_target("sandbox")
    if here and there:
        target.rewrites[f"{there[0]}:{there[1]}"] = f"{here[0]}:{here[1]}"
        src = source.address()
        if "://" not in src and src.count(":") == 1:
            target.rewrites[src] = f"{here[0]}:{here[1]}"
    return Sandbox(copy, info, target)
