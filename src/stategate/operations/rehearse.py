"""``stategate rehearse``: an upgrade rehearsed on its target version with the backup the
drill verified, and the rollback path it found (never guessed).

Steps, each recorded with its result and duration:

1. ``verify-backup``: the backup the newest passing drill restored, every part hashed;
2. ``restore-on-target``: restored into a sandbox of the **target** version (the
   packet's to-image), its content fingerprint compared with the backup's, and the
   smoke contract run against it;
3. ``rollback-probe``: redis/valkey: the target writes an RDB and the **source**
   version tries to load it; postgres: a major change means the target's data files
   cannot be opened by the source, so the rollback is the pre-upgrade backup;
4. postgres major upgrades (local engine): the in-place path, ``pg_upgrade``, from a
   cluster of the source major initialised like production (``operations/in_place.py``):
   ``restore-on-source``, ``upgrade-check-defaults``, ``upgrade-check``,
   ``upgrade-in-place``, ``analyze``.
"""

from __future__ import annotations

import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from stategate import execute
from stategate.errors import InputError, StategateError
from stategate.evidence.records.artifact import open_backup
from stategate.evidence.records.predicates import (
    BackupPredicate,
    InPlaceUpgrade,
    RehearsalPredicate,
    RollbackFinding,
    Subject,
    statement,
)
from stategate.evidence.records.steps import StepClock
from stategate.evidence.records.typed import (
    StoredRecord,
    list_records,
    new_id,
    pruned_backups,
    read_record,
    write_record,
)
from stategate.image import parse_image, tag_version
from stategate.operations.context import ModuleContext, now
from stategate.operations.drill import DrillOutcome, judge
from stategate.operations.in_place import major_of, rehearse_in_place
from stategate.operations.restore import backup_predicate, fetched_backup, restored_sandbox
from stategate.packet import LoadedPacket, PacketModule
from stategate.providers.base import BackupHooks, Provider, StoredBackup
from stategate.providers.fingerprint import Fingerprint, compare
from stategate.providers.postgres import PostgresProvider
from stategate.providers.registry import provider_for
from stategate.sandbox.engine import Engine, EngineName, EngineUnavailable
from stategate.sandbox.select import engine_for
from stategate.smoke.checks import run_checks


def target_entry(packet: LoadedPacket, module_id: str) -> PacketModule:
    """The packet's entry for ``module_id``; refused when the packet does not change it."""
    for entry in packet.packet.modules:
        if entry.module == module_id:
            if not entry.to or not entry.from_ or entry.to == entry.from_:
                raise InputError(
                    f"packet {packet.packet.id} does not change the image of {module_id}",
                    file=packet.path,
                )
            return entry
    raise InputError(f"packet {packet.packet.id} does not name {module_id}", file=packet.path)


def target_version(image: str) -> str:
    """The version a target image names: ``16.6`` of ``postgres:16.6-alpine``."""
    version = tag_version(parse_image(image).tag)
    if version is None:
        raise InputError(f"target image {image} names no version to rehearse on")
    parts = [version.major, version.minor, version.patch]
    return ".".join(str(p) for p in parts if p is not None)


def drilled_backup(ctx: ModuleContext) -> StoredRecord:
    """The backup the newest passing, content-verified drill restored."""
    drills = [
        r for r in list_records(ctx.store, ctx.module_id, "restore-drill") if r.result == "pass"
    ]
    pruned = pruned_backups(ctx.store)  # a pruned backup's files are gone
    for drill in reversed(drills):
        pred = drill.module_predicate()
        backup_rel = getattr(pred, "backup_record", None)
        if isinstance(backup_rel, str) and backup_rel not in pruned:
            return read_record(ctx.store, backup_rel)
    raise InputError(
        f"no passing restore drill of {ctx.module_id} (of a backup not pruned): a rehearsal "
        "uses the backup a drill verified (run restore-drill first)"
    )


def run_rehearsal(
    ctx: ModuleContext, packet: LoadedPacket, *, engine_name: EngineName | None = None
) -> StoredRecord:
    """Rehearse ``packet``'s upgrade of the module; record a signed ``rehearsal``."""
    config = ctx.require_config()
    ctx.require_signer()
    entry = target_entry(packet, ctx.module_id)
    assert entry.to is not None
    source = provider_for(config, ctx.repo)
    if source.name == "s3":
        # no S3 server of the module's own release runs here: the sandbox is SeaweedFS,
        # and what is rehearsed is the objects' round trip over the protocol
        target = parse_image(entry.to).tag or entry.to
    else:
        target = target_version(entry.to)
    if "valkey" in parse_image(entry.to).repository.lower():
        target = f"valkey {target}"  # another image repository: its own engine builds
    backup = drilled_backup(ctx)
    bpred = backup_predicate(backup)
    engine = engine_for(config.sandbox, override=engine_name, module_image=entry.to)
    started = now()
    steps = StepClock()
    outcome = DrillOutcome()
    rollback = RollbackFinding(kind="unknown", detail="the rehearsal did not get that far")
    in_place: InPlaceUpgrade | None = None
    try:
        with ExitStack() as held:  # the fetched backup, until the last step
            with steps.step("verify-backup") as detail:
                stored = held.enter_context(
                    fetched_backup(ctx, backup, source, engine_version=target)
                )
                outcome.verified = True
                detail.append(f"{len(stored.parts)} part(s) match backup {bpred.backup_id}")
            with ExitStack() as stack:
                with steps.step("restore-on-target") as detail:
                    inner = StepClock()
                    box = stack.enter_context(
                        restored_sandbox(source, stored, engine, bpred.source, inner)
                    )
                    detail.append(inner.restore_detail())
                    outcome.sandbox = box.info
                    observed = box.provider.fingerprint()
                    outcome.comparison = compare(
                        stored.fingerprint, observed, now_ms=int(time.time() * 1000)
                    )
                    outcome.smoke = run_checks(ctx.smoke, box.target, source.secrets())
                    judge(outcome)
                    detail.append(f"restored on {box.info.server_version}")
                    if outcome.result != "pass":
                        detail.failed = True
                        detail.append(outcome.reason or "")
                with steps.step("rollback-probe") as probe:
                    rollback = _rollback(
                        source, box.provider, engine, bpred, stored.fingerprint, entry.to
                    )
                    probe.append(rollback.detail)
            if _in_place_applies(source, engine, bpred.source.server_version, target):
                assert isinstance(source, PostgresProvider) and bpred.source.server_version
                in_place = rehearse_in_place(
                    ctx,
                    source,
                    stored,
                    source_version=bpred.source.server_version,
                    target_major=major_of(target),
                    production=bpred.source.settings,
                    step=steps.step,
                    outcome=outcome,
                )
    except EngineUnavailable as exc:
        outcome.failed("error", str(exc))
    except (StategateError, OSError) as exc:
        outcome.failed("error" if not outcome.verified else "fail", str(exc))
    reason = execute.mask(outcome.reason, source.secrets()) if outcome.reason else None
    predicate = RehearsalPredicate(
        **ctx.run_fields(new_id(started), started, outcome.result, reason),
        source=bpred.source,
        packet=packet.packet.id,
        target_image=entry.to,
        target_version=outcome.sandbox.server_version if outcome.sandbox else None,
        backup_id=bpred.backup_id,
        backup_record=backup.rel,
        backup_record_sha256=backup.sha256,
        engine=engine.info(),
        steps=steps.masked(source.secrets()),
        fingerprint=outcome.comparison,
        smoke=outcome.smoke,
        rollback=rollback,
        in_place=in_place,
    )
    subjects = [Subject(name=s.name, digest=dict(s.digest)) for s in backup.statement.subject]
    return write_record(ctx.store, statement(subjects, predicate), ctx.key)


def _in_place_applies(
    source: Provider, engine: Engine, source_version: str | None, target: str
) -> bool:
    """A PostgreSQL major upgrade, rehearsed by the local engine (the docker engine restores
    into the target only: its clusters are images, pg_upgrade needs both majors' binaries)."""
    if source.name != "postgres" or engine.name != "local" or not source_version:
        return False
    return major_of(target) > major_of(source_version)


def _major(version: str | None) -> str | None:
    return version.split(".")[0] if version else None


def _rollback(
    source: Provider,
    upgraded: Provider,
    engine: Engine,
    bpred: BackupPredicate,
    expected: Fingerprint,
    image: str,
) -> RollbackFinding:
    before = bpred.source.server_version
    after = upgraded.server_version()
    if source.name == "s3":
        keep = f"the way back is not rehearsed: keep backup {bpred.backup_id}"
        if engine.name != "local":
            detail = f"the backup's objects round-trip on {after}; {keep}"
        else:
            detail = (
                f"the sandbox S3 server is {after}, not {image}: the rehearsal proves the "
                "backup's objects round-trip over the S3 protocol (put, list, get, compare), "
                f"not how {image} reads the data {before or 'the source'} keeps on disk; {keep}"
            )
        return RollbackFinding(kind="unknown", detail=detail)
    if source.name == "redis":
        return _redis_rollback(upgraded, engine, before, after, bpred.backup_id, expected)
    if source.name == "postgres" and _major(before) != _major(after):
        return RollbackFinding(
            kind="restore-backup",
            detail=f"PostgreSQL {after} data files cannot be opened by {before}: rolling back "
            f"means restoring backup {bpred.backup_id}",
            backup_id=bpred.backup_id,
        )
    return RollbackFinding(
        kind="previous-image",
        detail=f"{before} -> {after} keeps the on-disk format: rollback = the previous image",
    )


def _shaped_like(back: Fingerprint, expected: Fingerprint) -> Fingerprint:
    """``back`` without the server-state groups (ACL users, settings, functions) that
    ``expected`` does not have: a backup recorded before they were kept, or by a user
    that could not read them, is compared on what it holds."""
    from stategate.providers.rdb import FUNCTIONS_GROUP
    from stategate.providers.redis_state import ACL_GROUP, CONFIG_GROUP

    kept = {i.group for i in expected.items}
    optional = {ACL_GROUP, CONFIG_GROUP, FUNCTIONS_GROUP}
    return Fingerprint(i for i in back.items if i.group in kept or i.group not in optional)


def _redis_rollback(
    upgraded: Provider,
    engine: Engine,
    before: str | None,
    after: str,
    backup_id: str,
    expected: Fingerprint,
) -> RollbackFinding:
    """The target writes an RDB; the source version must load it (with the same ACL users
    and persistence, as production would keep them) and read the same data."""
    with tempfile.TemporaryDirectory(prefix="stategate-rollback-") as tmp:
        written = Path(tmp) / "target-rdb"
        with open_backup(written) as writer:
            upgraded.backup(writer, BackupHooks())
        stored = StoredBackup(written, (), expected, before, settings=upgraded.settings())
        try:
            with upgraded.restore(stored, engine) as previous:
                ran = previous.server_version()
                back = _shaped_like(previous.fingerprint(), expected)
        except (StategateError, OSError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return RollbackFinding(
                kind="restore-backup",
                detail=f"Redis {before} cannot load the RDB that {after} writes ({first}): "
                f"rolling back means restoring backup {backup_id}",
                backup_id=backup_id,
            )
    if before is not None and ran != before:
        # a pinned build or the docker engine (the module's own image) ran it: the
        # previous version's reading of the target's RDB is not what was shown
        return RollbackFinding(
            kind="unknown",
            detail=f"the rollback probe ran on {ran}, not on {before}: whether {before} "
            f"loads what {after} writes is not shown; keep backup {backup_id}",
        )
    comparison = compare(expected, back, now_ms=int(time.time() * 1000))
    if not comparison.match:
        return RollbackFinding(
            kind="restore-backup",
            detail=f"Redis {before} loads what {after} writes but reads different content: "
            f"rolling back means restoring backup {backup_id}",
            backup_id=backup_id,
        )
    return RollbackFinding(
        kind="previous-image",
        detail=f"Redis {before} loads what {after} writes, same content: rollback = the "
        "previous image",
    )
