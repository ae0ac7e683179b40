"""Building a job's :class:`ModuleContext` from the platform repo."""

from __future__ import annotations

from pathlib import Path

from stategate.attest.keys import SigningKey
from stategate.attest.layout import RepoLayout
from stategate.attest.store import EvidenceStore
from stategate.evidence.signer import require_evidence_signer
from stategate.evidence.store import artifacts_root
from stategate.image import parse_image, tag_version
from stategate.operations.context import ModuleContext, ProgressFactory, no_progress
from stategate.platform import Platform, load_platform
from stategate.policy.classify import Module
from stategate.providers.config import ProviderConfig


def module_context(
    repo: Path,
    module_id: str,
    *,
    key: SigningKey,
    artifacts: Path | None = None,
    progress: ProgressFactory = no_progress,
) -> ModuleContext:
    """Policy entry, image ref and policy digest of one module, at the repo's work tree.

    ``key`` signs the records; it must be trusted for ``evidence`` (checked here,
    before any work).
    """
    platform, store = open_for_signing(repo, key)
    return context_for(
        platform,
        platform.module(module_id),
        repo=repo,
        store=store,
        key=key,
        artifacts=artifacts_root(repo, platform.policy.evidence.artifacts, artifacts),
        progress=progress,
    )


def open_store(repo: Path, platform: Platform) -> EvidenceStore:
    """The repo's evidence (records, ledger, trust roots) where the policy puts it."""
    return EvidenceStore.open(RepoLayout.from_policy(repo, platform.policy))


def open_for_signing(repo: Path, key: SigningKey) -> tuple[Platform, EvidenceStore]:
    """The platform and its evidence store, once ``key`` is known to be trusted to sign
    evidence there (checked before any work, so a long job never ends unsigned)."""
    platform = load_platform(repo)
    store = open_store(repo, platform)
    require_evidence_signer(store, key)
    return platform, store


def context_for(
    platform: Platform,
    module: Module,
    *,
    repo: Path,
    store: EvidenceStore,
    key: SigningKey,
    artifacts: Path,
    progress: ProgressFactory = no_progress,
) -> ModuleContext:
    """The context of one module of an already loaded platform."""
    entry = platform.policy.module(module.id)
    return ModuleContext(
        module_id=module.id,
        config=entry.evidence,
        smoke=list(entry.smoke),
        image=module.image,
        policy_digest=platform.policy_digest,
        repo=repo,
        store=store,
        key=key,
        artifacts=artifacts,
        progress=progress,
    )


def evidence_sources(repo: Path) -> dict[str, ProviderConfig]:
    """Every module with an ``evidence:`` entry, e.g. to start stand-in services for them."""
    policy = load_platform(repo).policy
    return {mid: entry.evidence for mid, entry in policy.modules.items() if entry.evidence}


def image_majors(repo: Path) -> dict[str, str]:
    """Module id -> the major version its image tag names (``postgres:16.4-alpine`` -> 16),
    for stand-in services that run what the compose files say."""
    majors: dict[str, str] = {}
    for mid, module in load_platform(repo).modules.items():
        image = module.image
        version = tag_version(parse_image(image).tag) if image else None
        if version is not None:
            majors[mid] = str(version.major)
    return majors
