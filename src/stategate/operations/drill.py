"""``stategate restore-drill``: prove a recorded backup restores and reads back the same.

:func:`drilled` is the drill itself for one module (verify the artifacts,
restore into a sandbox, compare fingerprints, run the smoke contract) and keeps
the sandbox up while its block runs, so the DR drill can hold every module's
sandbox up together and run cross-module checks against them.

Each step is timed (``steps`` in the record, shown by the CLI and the status page),
so an operator sees where a drill's time goes. A PostgreSQL sandbox of the local
engine is a throwaway cluster tuned for the load (``sandbox.servers.restore_settings``)
restored with one pg_restore job per core, and fingerprinted one connection per core.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import partial
from types import TracebackType

from stategate import execute
from stategate.errors import StategateError
from stategate.evidence.records.predicates import (
    CheckOutcome,
    DrillPredicate,
    Result,
    SourceInfo,
    StoredCopy,
    Subject,
    statement,
)
from stategate.evidence.records.steps import StepClock
from stategate.evidence.records.typed import StoredRecord, find_backup, new_id, write_record
from stategate.operations.context import ModuleContext, now
from stategate.operations.restore import (
    Sandbox,
    backup_predicate,
    fetched_backup,
    restored_sandbox,
)
from stategate.providers.base import Provider
from stategate.providers.fingerprint import Comparison, compare
from stategate.providers.registry import provider_for
from stategate.repository.repositories import ArtifactMismatch
from stategate.sandbox.engine import Engine, EngineName, EngineUnavailable
from stategate.sandbox.select import engine_for
from stategate.smoke.checks import overall, run_checks


@dataclass
class DrillOutcome:
    """What drilling one backup showed; ``result`` is ``pass`` only if everything held."""

    result: Result = "pass"
    reason: str | None = None
    verified: bool = False  # every artifact's size and sha256 matched the record
    sandbox: SourceInfo | None = None
    comparison: Comparison | None = None
    smoke: list[CheckOutcome] = field(default_factory=list)
    read_from: StoredCopy | None = None  # the repository the backup was read back from
    warnings: list[str] = field(default_factory=list)  # the restore's tools', masked
    clock: StepClock = field(default_factory=StepClock)  # each step's duration
    teardown_from: float | None = None  # when tearing the sandbox down started

    def failed(self, result: Result, reason: str) -> None:
        if self.result == "pass" or (self.result == "fail" and result == "error"):
            self.result = result
        self.reason = reason if self.reason is None else f"{self.reason}; {reason}"


@dataclass
class Drilled:
    """A drilled module: its outcome, and its sandbox while it is still up (None if it never came up)."""

    outcome: DrillOutcome
    box: Sandbox | None
    source: Provider


@contextmanager
def drilled(
    ctx: ModuleContext,
    backup: StoredRecord,
    engine: Engine,
    engine_version: str | None = None,
    repository: str | None = None,
) -> Iterator[Drilled]:
    """Verify ``backup``, restore it into a sandbox, compare content, run the smoke contract.

    Yields with the sandbox still up; tears it down when the block ends. A
    failure is recorded in the outcome, never raised, except a failing teardown.
    """
    source = provider_for(ctx.require_config(), ctx.repo)
    bpred = backup_predicate(backup)
    outcome = DrillOutcome()
    clock = outcome.clock
    box: Sandbox | None = None
    with ExitStack() as stack:
        # the last thing unwound; the first one pushed after the sandbox is up starts it
        stack.push(partial(_end_teardown, outcome))
        try:
            with clock.step("verify-artifacts"):
                stored = stack.enter_context(
                    fetched_backup(ctx, backup, source, engine_version, repository)
                )
            outcome.verified = True
            outcome.read_from = stored.read_from
            with ctx.progress(f"restore {ctx.module_id} into a sandbox", None):
                box = stack.enter_context(
                    restored_sandbox(source, stored, engine, bpred.source, clock)
                )
            outcome.sandbox = box.info
            outcome.warnings = [
                execute.mask(w, source.secrets()) for w in box.provider.restore_warnings
            ]
            with (
                ctx.progress(f"fingerprint sandbox of {ctx.module_id}", None),
                clock.step("fingerprint"),
            ):
                observed = box.provider.fingerprint()
                read_by = int(time.time() * 1000)  # keys with a TTL may have expired by then
            with clock.step("compare"):
                outcome.comparison = compare(stored.fingerprint, observed, now_ms=read_by)
            with clock.step("smoke"):
                outcome.smoke = run_checks(ctx.smoke, box.target, source.secrets())
            judge(outcome)
        except ArtifactMismatch as exc:
            outcome.failed("fail", str(exc))
        except EngineUnavailable as exc:  # no build of the running version: nothing proven
            outcome.failed("error", str(exc))
        except (StategateError, OSError) as exc:
            # a restore that errors (corrupt dump, no engine) is not a pass either
            outcome.failed("error" if not outcome.verified else "fail", str(exc))
            if engine.name == "docker" and not engine.info().available:
                outcome.result = "error"
        if outcome.reason:
            outcome.reason = execute.mask(outcome.reason, source.secrets())
        clock.steps[:] = clock.masked(source.secrets())  # a failed step holds the error
        stack.callback(_start_teardown, outcome)
        yield Drilled(outcome, box if outcome.sandbox is not None else None, source)


def _start_teardown(outcome: DrillOutcome) -> None:
    outcome.teardown_from = time.monotonic()


def _end_teardown(
    outcome: DrillOutcome,
    exc_type: type[BaseException] | None,
    exc: BaseException | None,
    tb: TracebackType | None,
) -> None:
    """The sandbox stopped and removed, the fetched copy of the backup deleted (or an
    exception on the way, which goes on)."""
    if outcome.teardown_from is not None:
        result = "pass" if exc is None else "fail"
        detail = "" if exc is None else f"{type(exc).__name__} while tearing down"
        outcome.clock.add("teardown", result, time.monotonic() - outcome.teardown_from, detail)


def judge(outcome: DrillOutcome) -> None:
    """Fail the outcome on a content mismatch or a failing smoke check."""
    comparison = outcome.comparison
    if comparison is not None and not comparison.match:
        outcome.failed(
            "fail",
            "restored content differs from the backup's fingerprint: "
            + "; ".join(comparison.examples[:3]),
        )
    elif overall(outcome.smoke) != "pass":
        outcome.failed(
            "fail",
            "smoke contract failed on the sandbox: "
            + "; ".join(
                f"{o.name}: {o.detail}" for o in outcome.smoke if o.result in ("fail", "error")
            ),
        )


def presence_findings(comparison: Comparison | None) -> list[str]:
    """What a comparison on another major could not prove, said in the record."""
    if comparison is None or not comparison.presence_only:
        return []
    return [
        f"{comparison.presence_only} definition(s) (views, functions, defaults, indexes, "
        "constraints, triggers, policies) were printed by another PostgreSQL major than "
        "the backup's and compared by presence only: a drill on the backup's own major "
        "compares their content"
    ]


def run_restore_drill(
    ctx: ModuleContext,
    *,
    backup_id: str | None = None,
    engine_name: EngineName | None = None,
    engine_version: str | None = None,
    repository: str | None = None,
) -> StoredRecord:
    """Read back and verify, restore into a sandbox, compare fingerprints, smoke, tear
    down, record. ``repository`` names where to read the backup from."""
    config = ctx.require_config()
    ctx.require_signer()
    backup = find_backup(ctx.store, ctx.module_id, backup_id)
    bpred = backup_predicate(backup)
    engine = engine_for(config.sandbox, override=engine_name, module_image=ctx.image)
    started = now()
    outcome = DrillOutcome()
    try:
        with drilled(ctx, backup, engine, engine_version, repository) as done:
            outcome = done.outcome
    except (StategateError, OSError) as exc:  # the sandbox did not tear down cleanly
        secrets = provider_for(config, ctx.repo).secrets()
        outcome.failed("fail" if outcome.verified else "error", execute.mask(str(exc), secrets))
    predicate = DrillPredicate(
        **ctx.run_fields(new_id(started), started, outcome.result, outcome.reason),
        source=bpred.source,
        backup_id=bpred.backup_id,
        backup_record=backup.rel,
        backup_record_sha256=backup.sha256,
        artifacts_verified=outcome.verified,
        read_from=outcome.read_from,
        engine=engine.info(),
        sandbox=outcome.sandbox,
        fingerprint=outcome.comparison,
        smoke=outcome.smoke,
        steps=outcome.clock.steps,
        findings=[
            *bpred.findings,
            *presence_findings(outcome.comparison),
            *(f"the restore warned: {w}" for w in outcome.warnings),
        ],
    )
    subjects = [Subject(name=s.name, digest=dict(s.digest)) for s in backup.statement.subject]
    return write_record(ctx.store, statement(subjects, predicate), ctx.key)
