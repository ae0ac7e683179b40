"""Image references: ``[registry/]repository[:tag][@sha256:digest]`` and tag versions."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_VERSION = re.compile(r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?")


@dataclass(frozen=True)
class ImageRef:
    registry: str | None
    repository: str  # e.g. library/postgres, minio/minio
    tag: str | None
    digest: str | None

    @property
    def name(self) -> str:
        """The last path segment of the repository: postgres, minio, mc."""
        return self.repository.rsplit("/", 1)[-1]

    @property
    def full_repository(self) -> str:
        return f"{self.registry}/{self.repository}" if self.registry else self.repository

    @property
    def is_digest_pinned(self) -> bool:
        return self.digest is not None and bool(_DIGEST.match(self.digest))

    @property
    def is_floating(self) -> bool:
        """Tags move (even 16.4 is re-pushed); only a digest pins what runs."""
        return not self.is_digest_pinned

    def __str__(self) -> str:
        text = self.full_repository
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


@functools.lru_cache(maxsize=8192)  # the classifier's rules each ask about the same image
def parse_image(text: str) -> ImageRef:
    rest, _, digest = text.strip().partition("@")
    tag: str | None = None
    last_slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > last_slash:
        rest, tag = rest[:colon], rest[colon + 1 :]
    registry: str | None = None
    first, sep, remainder = rest.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        registry, rest = first, remainder
    repository = rest
    if registry in (None, "docker.io", "index.docker.io") and "/" not in repository:
        repository = f"library/{repository}"
    if registry in ("docker.io", "index.docker.io"):
        registry = None
    return ImageRef(registry, repository, tag or None, digest or None)


@dataclass(frozen=True, order=True)
class Version:
    major: int
    minor: int | None
    patch: int | None


def tag_version(tag: str | None) -> Version | None:
    """The numeric version a tag starts with: 16.3-alpine -> 16.3; latest -> None."""
    if not tag:
        return None
    match = _VERSION.match(tag)
    if not match:
        match = re.search(r"(?:^|[-_.])v?(\d+)\.(\d+)(?:\.(\d+))?", tag)
        if not match:
            return None
    major, minor, patch = match.groups()
    return Version(int(major), int(minor) if minor else None, int(patch) if patch else None)


def semver_delta(old: str | None, new: str | None) -> str | None:
    """major, minor, patch, or None (same tag, or a tag without a version)."""
    a, b = tag_version(old), tag_version(new)
    if a is None or b is None:
        return None
    if a.major != b.major:
        return "major"
    if (a.minor or 0) != (b.minor or 0):
        return "minor"
    if (a.patch or 0) != (b.patch or 0):
        return "patch"
    # Same leading version: identical tags are no version change; a different suffix
    # (7.1.1-0012 -> 7.1.1-0015, a rebuild) counts as the smallest step.
    return None if old == new else "patch"
