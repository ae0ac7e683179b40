"""``stategate backup``: take the backup a module's class needs, record the evidence."""

from __future__ import annotations

from stategate import execute
from stategate.errors import StategateError
from stategate.evidence.records.artifact import PartInfo, module_lock, parts_jsonl
from stategate.evidence.records.predicates import (
    Artifact,
    BackupPredicate,
    Result,
    Subject,
    content_subject,
    statement,
)
from stategate.evidence.records.typed import StoredRecord, module_path, new_id, write_record
from stategate.operations.context import ModuleContext, now
from stategate.providers.base import FINGERPRINT_PART, PARTS_PART, BackupHooks, Provider
from stategate.providers.fingerprint import FingerprintSummary
from stategate.providers.registry import provider_for


def run_backup(ctx: ModuleContext, *, hooks: BackupHooks | None = None) -> StoredRecord:
    """Back up the module's source; write the artifact and a record (pass or not).

    Only a backup whose every part was written, fsynced and renamed into place
    gets a passing record; any failure leaves no backup directory behind.
    """
    config = ctx.require_config()
    ctx.require_signer()
    provider = provider_for(config, ctx.repo)
    with module_lock(ctx.artifacts / module_path(ctx.module_id), ctx.module_id):
        return _locked_backup(ctx, provider, hooks)


def _locked_backup(
    ctx: ModuleContext, provider: Provider, hooks: BackupHooks | None
) -> StoredRecord:
    started = now()
    backup_id = new_id(started)
    location = module_path(ctx.module_id) / backup_id
    source = ctx.source_info(provider.address())
    artifacts: list[Artifact] = []
    summary: FingerprintSummary | None = None
    consistent, note = False, ""
    findings: list[str] = []
    result: Result = "pass"
    reason: str | None = None
    client: str | None = None
    repositories = ctx.stores()
    copies = repositories.copies()
    try:
        source.server_version = provider.server_version()
        source.identity = provider.identity()
        origin = provider.origin()
        source.role, source.server_ids = origin.role, dict(origin.ids)
        source.settings = provider.settings()
        client = provider.client_version()  # refuses a server no installed client can read
        with (
            ctx.progress(f"backup {ctx.module_id}", None) as progress,
            repositories.writing(location.as_posix(), progress) as writer,
        ):
            output = provider.backup(writer, hooks or BackupHooks())
            if output.listing_stored:
                with writer.part(FINGERPRINT_PART) as dest:
                    dest.write(output.fingerprint.to_jsonl())
            summary = output.fingerprint.summary()
            consistent, note = output.consistent, output.note
            findings = [execute.mask(f, provider.secrets()) for f in output.findings]
            if origin.role == "replica":
                findings.append(
                    f"taken of a replica ({provider.address()} says it is one): it counts "
                    "for no apply gate, which needs a backup of production's primary"
                )
            covered = output.covered_prefix
            if covered:
                listed = [p for p in writer.parts if p.name.startswith(covered)]
                with writer.part(PARTS_PART) as dest:
                    dest.write(parts_jsonl(listed))
            artifacts = [
                _artifact(p)
                for p in sorted(writer.parts, key=lambda p: p.name)
                if not (covered and p.name.startswith(covered))
            ]
            total = sum(p.size for p in writer.parts)
    except (StategateError, OSError) as exc:
        result, reason = "error", execute.mask(str(exc), provider.secrets())
        artifacts, summary, total, copies = [], None, 0, []
        repositories.remove(location.as_posix())
    predicate = BackupPredicate(
        **ctx.run_fields(backup_id, started, result, reason),
        source=source,
        backup_id=backup_id,
        client=client,
        location=location.as_posix(),
        artifacts=artifacts,
        total_size=total,
        fingerprint=summary,
        consistent=consistent,
        note=note,
        findings=findings,
        copies=copies,
        encryption=repositories.encryption if artifacts else None,
    )
    subjects = [
        Subject(name=f"{location.as_posix()}/{a.name}", digest={"sha256": a.sha256})
        for a in artifacts
    ]
    if not subjects:
        subjects = [content_subject(location.as_posix(), {"result": result, "reason": reason})]
    try:
        return write_record(ctx.store, statement(subjects, predicate), ctx.key)
    except BaseException:
        # no record, no backup: an artifact nothing describes is only clutter
        repositories.remove(location.as_posix())
        raise


def _artifact(part: PartInfo) -> Artifact:
    stored = part.stored
    if stored is None:
        return Artifact(name=part.name, size=part.size, sha256=part.sha256)
    return Artifact(
        name=part.name,
        size=part.size,
        sha256=part.sha256,
        stored_name=stored.name,
        stored_size=stored.size,
        stored_sha256=stored.sha256,
    )
