"""Where backups live, judged against the platform: which repository is inside which
module, and the rule that the backup reference module is never its own only copy."""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping, Sequence

from stategate.providers.config import S3Source
from stategate.repository.config import RepositoryConfig, S3Repository

REFERENCE_RULE = (
    "a backup of the backup reference module, and any backup whose only repository is "
    "inside it, must also go to a repository that does not live in that module"
)


def _endpoint(url: str) -> tuple[str, int]:
    parts = urllib.parse.urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    host = "127.0.0.1" if host in ("localhost", "::1") else host
    return host, parts.port or (443 if parts.scheme == "https" else 80)


def repository_homes(
    repositories: Sequence[RepositoryConfig], sources: Mapping[str, object]
) -> dict[str, str]:
    """Repository name -> the module whose server holds it: as the policy says
    (``module:``), else the module whose S3 evidence endpoint is the repository's."""
    homes: dict[str, str] = {}
    by_endpoint = {
        _endpoint(source.endpoint): module
        for module, source in sources.items()
        if isinstance(source, S3Source)
    }
    for repository in repositories:
        if repository.module:
            homes[repository.name] = repository.module
        elif isinstance(repository, S3Repository):
            home = by_endpoint.get(_endpoint(repository.endpoint))
            if home is not None:
                homes[repository.name] = home
    return homes


def reference_rule_problem(
    targets: Sequence[str], homes: Mapping[str, str], references: Sequence[str]
) -> str | None:
    """Why the backup targets break :data:`REFERENCE_RULE` (None: they keep it)."""
    for reference in references:
        inside = [name for name in targets if homes.get(name) == reference]
        if inside and len(inside) == len(targets):
            return (
                f"every repository backups go to ({', '.join(inside)}) lives in {reference}, "
                f"the backup reference module: {REFERENCE_RULE}"
            )
    return None
