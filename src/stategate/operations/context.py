"""What an evidence job needs to know about its module, passed explicitly."""

from __future__ import annotations

import socket
import urllib.parse
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TypedDict

from stategate import __version__
from stategate.errors import InputError
from stategate.evidence.records.artifact import NoProgress, Progress
from stategate.evidence.records.predicates import Result, SourceInfo, Tool
from stategate.evidence.store import EvidenceStore
from stategate.evidence.trust.keys import SigningKey
from stategate.evidence.trust.signer import require_evidence_signer
from stategate.policy.schema import EvidenceSettings
from stategate.providers.config import ProviderConfig, SmokeCheck
from stategate.repository.repositories import Repositories, from_policy

# (label, total bytes or None) -> a progress sink for one long step
ProgressFactory = Callable[[str, int | None], AbstractContextManager[Progress]]


def no_progress(_label: str, _total: int | None) -> AbstractContextManager[Progress]:
    return nullcontext(NoProgress())


@dataclass(frozen=True)
class ModuleContext:
    """One module's evidence settings, where records and artifacts go, and the signing key."""

    module_id: str
    config: ProviderConfig | None
    smoke: list[SmokeCheck]
    image: str | None  # image ref as written in the repo
    policy_digest: str | None
    repo: Path  # resolves relative credential files and volume paths
    store: EvidenceStore  # the repo's evidence: records are read verified, written signed
    key: SigningKey  # signs every record this job writes (role evidence)
    artifacts: Path
    progress: ProgressFactory = field(default=no_progress)
    # where backups are stored and read back from (None: the artifacts folder, as written)
    repositories: Repositories | None = None

    def stores(self) -> Repositories:
        if self.repositories is not None:
            return self.repositories
        return from_policy(EvidenceSettings(), self.repo, self.artifacts)

    def require_signer(self) -> None:
        """Refuse, before any work, a key the trust file does not allow to sign evidence."""
        require_evidence_signer(self.store, self.key)

    def require_config(self) -> ProviderConfig:
        if self.config is None:
            raise InputError(
                f"module {self.module_id} has no evidence: entry in the policy "
                "(which provider, how to reach it)"
            )
        return self.config

    def source_info(self, address: str) -> SourceInfo:
        """The module's source as the repo declares it (image, pinned digest), at ``address``."""
        return SourceInfo(image=self.image, image_digest=image_digest(self.image), address=address)

    def run_fields(
        self, run_id: str, started: datetime, result: Result, reason: str | None
    ) -> ModuleRunFields:
        """What every module record says about its module and its run; it finishes now."""
        return ModuleRunFields(
            module=self.module_id,
            provider=self.require_config().provider,
            **run_fields(run_id, started, result, reason, self.policy_digest),
        )


class RunFields(TypedDict):
    """The fields every predicate (module records and the DR drill) has about its run."""

    id: str
    result: Result
    reason: str | None
    started: datetime
    finished: datetime
    tool: Tool
    policy_digest: str | None


class ModuleRunFields(RunFields):
    """The run fields of a record about one module (backup, restore drill, smoke)."""

    module: str
    provider: str


def run_fields(
    run_id: str, started: datetime, result: Result, reason: str | None, policy_digest: str | None
) -> RunFields:
    """A run that finishes now, recorded by this version of stategate."""
    return RunFields(
        id=run_id,
        result=result,
        reason=reason,
        started=started,
        finished=now(),
        tool=tool(),
        policy_digest=policy_digest,
    )


def image_digest(image: str | None) -> str | None:
    if image and "@" in image:
        digest = image.rsplit("@", 1)[1]
        if digest.startswith("sha256:"):
            return digest
    return None


def now() -> datetime:
    return datetime.now(UTC)


def tool() -> Tool:
    return Tool(version=__version__)


def host_port(address: str) -> tuple[str, int] | None:
    """Loopback-normalised (host, port) of an address or URL; None for sockets and paths."""
    if "://" in address:
        url = urllib.parse.urlsplit(address)
        host, port = url.hostname or "", url.port or (443 if url.scheme == "https" else 80)
    elif address.startswith("/") or ":" not in address:
        return None
    else:
        host, raw = address.rsplit(":", 1)
        if host.startswith("/"):
            return None
        port = int(raw)
    with suppress(OSError):
        host = socket.gethostbyname(host)
    return host, port
