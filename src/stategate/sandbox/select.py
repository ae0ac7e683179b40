"""Choosing the sandbox engine of a drill: the policy's setting or a command-line override."""

from __future__ import annotations

from stategate.providers.config import SandboxSettings
from stategate.sandbox.docker import DockerEngine
from stategate.sandbox.engine import Engine, EngineName
from stategate.sandbox.local import LocalEngine


def engine_for(
    settings: SandboxSettings,
    *,
    override: EngineName | None = None,
    module_image: str | None = None,
) -> Engine:
    name = override or settings.engine
    if name == "docker":
        return DockerEngine(settings.image or module_image)
    return LocalEngine(settings)
