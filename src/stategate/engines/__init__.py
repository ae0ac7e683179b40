"""Server and client binaries per engine and version: the one place that finds them."""

from stategate.engines.catalogue import (
    Catalogue,
    EngineBuild,
    EngineKind,
    EngineUnavailable,
    discover,
)

__all__ = ["Catalogue", "EngineBuild", "EngineKind", "EngineUnavailable", "discover"]
