"""``stategate restore-drill``: prove a recorded backup restores and reads back the same."""

from __future__ import annotations

from stategate import execute
from stategate.errors import StategateError
from stategate.evidence.record import (
    CheckOutcome,
    DrillPredicate,
    Result,
    SourceInfo,
    Subject,
    statement,
)
from stategate.evidence.store import StoredRecord, find_backup, new_id, write_record
from stategate.operations.context import ModuleContext, now, tool
from stategate.operations.restore import (
    ArtifactMismatch,
    backup_predicate,
    restored_sandbox,
    verify_backup,
)
from stategate.providers.fingerprint import Comparison, compare
from stategate.providers.registry import provider_for
from stategate.sandbox.engine import EngineName
from stategate.sandbox.select import engine_for
from stategate.smoke.checks import overall, run_checks


def run_restore_drill(
    ctx: ModuleContext, *, backup_id: str | None = None, engine_name: EngineName | None = None
) -> StoredRecord:
    """Verify, restore into a sandbox, compare fingerprints, smoke, tear down, record."""
    config = ctx.require_config()
    backup = find_backup(ctx.evidence_dir, ctx.module_id, backup_id)
    bpred = backup_predicate(backup)
    source = provider_for(config, ctx.repo)
    engine = engine_for(config.sandbox, override=engine_name, module_image=ctx.image)
    started = now()
    verified = False
    sandbox: SourceInfo | None = None
    comparison: Comparison | None = None
    smoke: list[CheckOutcome] = []
    result: Result = "pass"
    reason: str | None = None
    try:
        stored = verify_backup(ctx, backup)
        verified = True
        with restored_sandbox(source, stored, engine, bpred.source) as box:
            sandbox = box.info
            with ctx.progress(f"fingerprint sandbox of {ctx.module_id}", None):
                comparison = compare(stored.fingerprint, box.provider.fingerprint())
            smoke = run_checks(ctx.smoke, box.target, source.secrets())
        if not comparison.match:
            result = "fail"
            reason = "restored content differs from the backup's fingerprint: " + "; ".join(
                comparison.examples[:3]
            )
        elif overall(smoke) != "pass":
            result = "fail"
            reason = "smoke contract failed on the sandbox: " + "; ".join(
                f"{o.name}: {o.detail}" for o in smoke if o.result in ("fail", "error")
            )
    except ArtifactMismatch as exc:
        result, reason = "fail", str(exc)
    except (StategateError, OSError) as exc:
        # a restore that errors (corrupt dump, no engine) is not a pass either
        result, reason = ("error" if not verified else "fail"), str(exc)
        if engine.name == "docker" and not engine.info().available:
            result = "error"
    reason = execute.mask(reason, source.secrets()) if reason else None
    drill_id = new_id(started)
    predicate = DrillPredicate(
        module=ctx.module_id,
        provider=config.provider,
        id=drill_id,
        result=result,
        reason=reason,
        started=started,
        finished=now(),
        tool=tool(),
        policy_digest=ctx.policy_digest,
        source=bpred.source.model_copy(update={"image": bpred.source.image}),
        backup_id=bpred.backup_id,
        backup_record=_rel(ctx, backup),
        artifacts_verified=verified,
        engine=engine.info(),
        sandbox=sandbox,
        fingerprint=comparison,
        smoke=smoke,
    )
    subjects = [Subject(name=s.name, digest=dict(s.digest)) for s in backup.statement.subject]
    stmt = statement(subjects, predicate)
    return StoredRecord(write_record(ctx.evidence_dir, stmt), stmt)


def _rel(ctx: ModuleContext, record: StoredRecord) -> str:
    try:
        return record.path.resolve().relative_to(ctx.repo.resolve()).as_posix()
    except ValueError:
        return str(record.path)
