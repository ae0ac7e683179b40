"""Building a job's :class:`ModuleContext` from the opened platform repo."""

from __future__ import annotations

from pathlib import Path

from stategate.evidence.records.typed import artifacts_root
from stategate.evidence.trust.keys import SigningKey
from stategate.evidence.trust.signer import require_evidence_signer
from stategate.operations.context import ModuleContext, ProgressFactory, no_progress
from stategate.policy.classify import Module
from stategate.providers.config import ProviderConfig, S3Source
from stategate.repository.config import S3Repository
from stategate.repository.repositories import from_policy
from stategate.workspace import Workspace


def module_context(
    ws: Workspace,
    module_id: str,
    *,
    key: SigningKey,
    artifacts: Path | None = None,
    progress: ProgressFactory = no_progress,
) -> ModuleContext:
    """Policy entry, image ref and policy digest of one module of the opened repo.

    ``key`` signs the records; it must be trusted for ``evidence`` (checked here,
    before any work).
    """
    require_evidence_signer(ws.store, key)
    return context_for(
        ws,
        ws.platform.module(module_id),
        key=key,
        artifacts=job_artifacts(ws, artifacts),
        progress=progress,
    )


def job_artifacts(ws: Workspace, override: Path | None) -> Path:
    """Where this job's artifacts go: ``override``, else ``$STATEGATE_ARTIFACTS``, else
    the policy's ``evidence.artifacts``."""
    return artifacts_root(ws.repo, ws.policy.evidence.artifacts, override)


def _without_repositories(
    ws: Workspace, module_id: str, config: ProviderConfig | None
) -> ProviderConfig | None:
    """An S3 module that holds backup repositories skips their prefixes: backups are not
    backed up again (each has its own copies), and a backup never lists itself."""
    if not isinstance(config, S3Source):
        return config
    homes = ws.policy.repository_homes()
    skip = [
        f"{r.bucket}/{r.prefix}/" if r.prefix else f"{r.bucket}/"
        for r in ws.policy.evidence.repositories
        if isinstance(r, S3Repository) and homes.get(r.name) == module_id
    ]
    if not skip:
        return config
    return config.model_copy(update={"skip": [*config.skip, *skip]})


def context_for(
    ws: Workspace,
    module: Module,
    *,
    key: SigningKey,
    artifacts: Path,
    progress: ProgressFactory = no_progress,
) -> ModuleContext:
    """The context of one module of the opened repo."""
    entry = ws.policy.module(module.id)
    return ModuleContext(
        module_id=module.id,
        config=_without_repositories(ws, module.id, entry.evidence),
        smoke=list(entry.smoke),
        image=module.image,
        policy_digest=ws.platform.policy_digest,
        repo=ws.repo,
        store=ws.store,
        key=key,
        artifacts=artifacts,
        progress=progress,
        repositories=from_policy(ws.policy.evidence, ws.repo, artifacts),
    )
