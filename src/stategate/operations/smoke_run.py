"""``stategate smoke``: run a module's smoke contract on its source or a sandbox copy."""

from __future__ import annotations

from typing import Literal

from stategate import execute
from stategate.errors import InputError, StategateError
from stategate.evidence.records.predicates import (
    CheckOutcome,
    Result,
    SmokePredicate,
    content_subject,
    statement,
)
from stategate.evidence.records.typed import StoredRecord, find_backup, new_id, write_record
from stategate.operations.context import ModuleContext, now
from stategate.operations.restore import backup_predicate, fetched_backup, restored_sandbox
from stategate.providers.registry import provider_for
from stategate.sandbox.engine import EngineInfo, EngineName
from stategate.sandbox.select import engine_for
from stategate.smoke.checks import overall, run_checks


def run_smoke(
    ctx: ModuleContext,
    *,
    target: Literal["source", "sandbox"] = "source",
    backup_id: str | None = None,
    engine_name: EngineName | None = None,
) -> StoredRecord:
    if not ctx.smoke:
        raise InputError(f"module {ctx.module_id} declares no smoke checks in the policy")
    config = ctx.require_config()
    ctx.require_signer()
    source = provider_for(config, ctx.repo)
    started = now()
    info = ctx.source_info(source.address())
    checks: list[CheckOutcome] = []
    engine_info: EngineInfo | None = None
    used_backup: str | None = None
    result: Result = "pass"
    reason: str | None = None
    try:
        if target == "source":
            try:
                info.server_version = source.server_version()
            except StategateError:
                info.server_version = None  # the checks themselves say what is wrong
            checks = run_checks(ctx.smoke, source.smoke_target("source"), source.secrets())
        else:
            backup = find_backup(ctx.store, ctx.module_id, backup_id)
            used_backup = backup_predicate(backup).backup_id
            engine = engine_for(config.sandbox, override=engine_name, module_image=ctx.image)
            try:
                with (
                    fetched_backup(ctx, backup, source) as stored,
                    restored_sandbox(
                        source, stored, engine, backup_predicate(backup).source
                    ) as box,
                ):
                    info = info.model_copy(update={"server_version": box.info.server_version})
                    checks = run_checks(ctx.smoke, box.target, source.secrets())
            finally:
                engine_info = engine.info()
        result = overall(checks)
        if result != "pass":
            reason = "; ".join(
                f"{c.name}: {c.detail}" for c in checks if c.result in ("fail", "error")
            )
    except (StategateError, OSError) as exc:
        result, reason = "error", execute.mask(str(exc), source.secrets())
    run_id = new_id(started)
    predicate = SmokePredicate(
        **ctx.run_fields(run_id, started, result, reason),
        source=info,
        target=target,
        backup_id=used_backup,
        engine=engine_info,
        checks=checks,
    )
    payload = [c.model_dump(mode="json", exclude={"duration_s"}) for c in checks]
    subject = content_subject(f"{ctx.module_id}/smoke/{run_id}", payload)
    return write_record(ctx.store, statement([subject], predicate), ctx.key)
