"""The platform repo opened once, at a command's edge, and handed down.

A command that produces or reads evidence opens its repo here, exactly once: the
policy in force, the compose projects and their modules (:class:`Platform`), where
the evidence lives (:class:`RepoLayout`, from the policy), and the evidence store
with its trust roots. Everything below (``operations/``, ``evidence/``) receives
what it needs from this object and never reads the policy again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stategate.evidence.layout import RepoLayout
from stategate.evidence.store import EvidenceStore
from stategate.evidence.trust.trustfile import TrustRoots
from stategate.image import parse_image, tag_version
from stategate.platform import Platform, load_platform
from stategate.policy.load import LoadedPolicy, load_policy
from stategate.policy.schema import Policy
from stategate.providers.config import ProviderConfig
from stategate.source import WorkTree


@dataclass(frozen=True)
class Workspace:
    """A platform repo's work tree, opened: its platform and its evidence store."""

    repo: Path
    platform: Platform
    store: EvidenceStore

    @property
    def policy(self) -> Policy:
        return self.platform.policy

    @property
    def layout(self) -> RepoLayout:
        return self.store.layout

    def evidence_sources(self) -> dict[str, ProviderConfig]:
        """Every module with an ``evidence:`` entry, e.g. to start stand-in services."""
        return {mid: entry.evidence for mid, entry in self.policy.modules.items() if entry.evidence}

    def image_majors(self) -> dict[str, str]:
        """Module id -> the major version its image tag names (``postgres:16.4-alpine`` ->
        16), for stand-in services that run what the compose files say."""
        majors: dict[str, str] = {}
        for mid, module in self.platform.modules.items():
            version = tag_version(parse_image(module.image).tag) if module.image else None
            if version is not None:
                majors[mid] = str(version.major)
        return majors


def open_workspace(repo: Path, *, trust: TrustRoots | None = None) -> Workspace:
    """Open ``repo``'s work tree: platform, evidence layout and store.

    ``trust`` replaces the trust file found in the work tree (an operator-held file,
    or the base revision's, when the command judges something).
    """
    platform = load_platform(repo)
    layout = RepoLayout.from_policy(repo, platform.policy)
    store = EvidenceStore.open(layout) if trust is None else EvidenceStore(layout, trust)
    return Workspace(repo, platform, store)


def open_policy(repo: Path) -> tuple[LoadedPolicy, RepoLayout]:
    """Only the policy in force at ``repo``'s work tree and the evidence layout it sets,
    for commands that manage keys or evidence without reading the compose projects."""
    loaded = load_policy(WorkTree(repo))
    return loaded, RepoLayout.from_policy(repo, loaded.policy)
