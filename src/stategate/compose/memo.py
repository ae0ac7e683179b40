"""A project loaded once serves both sides of a pull request when everything it read is
the same on both.

Loading a project records what it read, in order: every file's bytes (or that it was
absent), every existence check, the listing of the tree, the env files it took
variables from, and the warnings it gave. The other side reuses the loaded project only
when reading the same things there gives the same answers; it then replays the
recording (the env files' variables and warnings, the budgets a load spends) so that
the load ends exactly as a fresh one would. Nothing else is consulted: a project whose
inputs differ in a single byte, or that would cross a limit, is loaded again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from stategate.compose.diagnostics import Diagnostics, Warning
from stategate.errors import StategateError
from stategate.source import Source
from stategate.yamlfile import Loc

if TYPE_CHECKING:
    from stategate.compose.cache import InterpolationKey
    from stategate.compose.load import Project


@dataclass(frozen=True)
class Read:
    """One answer the source gave: ``file`` (bytes, None: absent), ``exists``, ``list``."""

    kind: Literal["file", "exists", "list"]
    rel: str
    answer: bytes | bool | tuple[str, ...] | None


@dataclass(frozen=True)
class Compose:
    """Compose file ``rel`` read by the loader (its bytes count towards the load's
    limit the first time)."""

    rel: str
    size: int


@dataclass(frozen=True)
class Spent:
    """Interpolation budget spent where nothing is cached (a project's ``name:``)."""

    chars: int


@dataclass(frozen=True)
class Interpolation:
    """An interpolated document used (by its cache key): the first use in a load spends
    its budget."""

    key: InterpolationKey


@dataclass(frozen=True)
class EnvUsed:
    """Variables taken from env file ``rel`` (parsed at this point when not yet)."""

    rel: str


@dataclass(frozen=True)
class Warned:
    warning: Warning


Event = Read | Compose | Spent | Interpolation | EnvUsed | Warned


@dataclass
class Recording:
    """What one project's load read and did, in order."""

    events: list[Event] = field(default_factory=list)

    def reads(self) -> list[Read]:
        return [e for e in self.events if isinstance(e, Read)]


@dataclass
class ProjectMemo:
    recording: Recording
    project: Project
    services: int  # service definitions it counted (the load's limit)
    ports: int  # ports it counted
    # it passed the checks that follow loading (consistency, env files): only then is
    # it reused, and those checks are not run again for it
    checked: bool = False


class RecordingSource:
    """``source``, noting every answer into the recordings open at the time."""

    def __init__(self, source: Source) -> None:
        self.inner = source
        self.label = source.label
        self.root_name = source.root_name
        self.open: list[Recording] = []

    def note(self, event: Event) -> None:
        for recording in self.open:
            recording.events.append(event)

    def read_bytes(self, rel: str) -> bytes:
        try:
            data = self.inner.read_bytes(rel)
        except FileNotFoundError:
            self.note(Read("file", rel, None))
            raise
        self.note(Read("file", rel, data))
        return data

    def is_file(self, rel: str) -> bool:
        found = self.inner.is_file(rel)
        self.note(Read("exists", rel, found))
        return found

    def list_files(self) -> list[str]:
        files = self.inner.list_files()
        self.note(Read("list", "", tuple(files)))
        return files


class RecordingDiagnostics(Diagnostics):
    """Diagnostics that also note each warning into the open recordings."""

    def __init__(self, inner: Diagnostics, source: RecordingSource) -> None:
        super().__init__()
        self._inner = inner
        self._source = source
        self.items = inner.items

    def warn(self, loc: Loc, message: str) -> None:
        self._source.note(Warned(Warning(loc, message)))
        self._inner.warn(loc, message)


def same_answers(reads: list[Read], source: Source) -> bool:
    """Whether ``source`` answers every read as recorded (any error: no)."""
    listing: tuple[str, ...] | None = None
    try:
        for read in reads:
            if read.kind == "file":
                try:
                    now: bytes | None = source.read_bytes(read.rel)
                except FileNotFoundError:
                    now = None
                if now != read.answer:
                    return False
            elif read.kind == "exists":
                if source.is_file(read.rel) != read.answer:
                    return False
            else:
                if listing is None:
                    listing = tuple(source.list_files())
                if listing != read.answer:
                    return False
    except (OSError, StategateError):  # a read that fails now: load it again, which says why
        return False
    return True
