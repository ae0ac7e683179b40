"""Building a job's :class:`ModuleContext` from the platform repo."""

from __future__ import annotations

from pathlib import Path

from stategate.evidence.store import artifacts_root
from stategate.operations.context import ModuleContext, ProgressFactory, no_progress
from stategate.platform import load_platform
from stategate.providers.config import ProviderConfig


def module_context(
    repo: Path,
    module_id: str,
    *,
    artifacts: Path | None = None,
    progress: ProgressFactory = no_progress,
) -> ModuleContext:
    """Policy entry, image ref and policy digest of one module, at the repo's work tree."""
    platform = load_platform(repo)
    module = platform.module(module_id)
    policy = platform.policy
    entry = policy.module(module.id)
    return ModuleContext(
        module_id=module.id,
        config=entry.evidence,
        smoke=list(entry.smoke),
        image=module.image,
        policy_digest=platform.policy_digest,
        repo=repo,
        evidence_dir=repo / policy.evidence.dir,
        artifacts=artifacts_root(repo, policy.evidence.artifacts, artifacts),
        progress=progress,
    )


def evidence_sources(repo: Path) -> dict[str, ProviderConfig]:
    """Every module with an ``evidence:`` entry, e.g. to start stand-in services for them."""
    policy = load_platform(repo).policy
    return {mid: entry.evidence for mid, entry in policy.modules.items() if entry.evidence}
