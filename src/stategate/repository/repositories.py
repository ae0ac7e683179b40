"""The repositories of one platform: where a backup is written, and where a drill reads
it back from.

A backup is written once and stored in every repository of ``evidence.backup_to`` at
the same time: each part is encrypted (age) as it is produced, and the same stored
bytes go to every repository. A part counts only when every repository stored it and
read it back; a backup counts only when every part does. On any failure, whatever was
stored of it is removed.

Reading back fetches the parts of one copy into a staging folder, verifying the stored
bytes (size and sha256, which needs no key) and the content after decryption; an
unencrypted copy in a local folder is verified where it is.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal, Protocol

from stategate.errors import ExternalError, InputError
from stategate.evidence.records.artifact import (
    CHUNK,
    BackupWriter,
    HashingFile,
    NoProgress,
    PartInfo,
    PartSink,
    Progress,
    StoredPart,
    parse_parts_jsonl,
    safe_part_name,
    verify_parts,
)
from stategate.evidence.records.predicates import Encryption, StoredCopy
from stategate.providers.access import resolve_credential
from stategate.providers.config import Credential
from stategate.regularfile import read_regular
from stategate.repository.config import LocalRepository, S3Repository
from stategate.repository.crypt import (
    SUFFIX,
    DecryptFailed,
    EncryptingWriter,
    decrypt_into,
    parse_identities,
    parse_recipients,
)
from stategate.repository.local import LocalStore

if TYPE_CHECKING:
    from stategate.policy.schema import EvidenceSettings
    from stategate.repository.s3 import S3Store  # imports botocore: only when S3 is used


LEGACY_NAME = "local"  # the artifacts folder when the policy names no repository


class ArtifactMismatch(ExternalError):
    """The stored artifact is not the one the backup record describes."""


class Upload(Protocol):
    def start(self) -> None: ...

    def open_part(self, name: str, *, sync_at_commit: bool) -> PartSink: ...

    def commit(self) -> None: ...

    def abort(self) -> None: ...


class Backend(Protocol):
    where: str

    def begin(self, location: str) -> Upload: ...

    def reader(self, location: str, name: str) -> Any: ...

    def listing(self, location: str = "") -> Iterator[tuple[str, int]]: ...

    def incomplete(self) -> list[str]: ...

    def remove(self, location: str) -> None: ...

    def retain(self, location: str, until: datetime) -> bool: ...


class Repository:
    """One configured repository; its store is opened (credentials resolved) on first use."""

    def __init__(
        self,
        name: str,
        type: Literal["local", "s3"],
        opener: Callable[[], Backend],
        module: str | None = None,
    ) -> None:
        self.name = name
        self.type = type
        self.module = module
        self._opener = opener
        self._backend: Backend | None = None

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            self._backend = self._opener()
        return self._backend

    def copy(self) -> StoredCopy:
        return StoredCopy(repository=self.name, type=self.type, where=self.backend.where)


@dataclass(frozen=True)
class Repositories:
    """Every configured repository, the ones backups go to, and the encryption."""

    every: tuple[Repository, ...]
    targets: tuple[Repository, ...]  # evidence.backup_to, in order
    legacy: Repository  # the artifacts folder: backups recorded before repositories
    recipients: tuple[str, ...] = ()  # age recipients; none: stored as written
    identity: Credential | None = None
    repo: Path = field(default_factory=Path)
    staging: Path | None = None  # where fetched parts are decrypted (default: the system's)

    def copies(self) -> list[StoredCopy]:
        """What a backup's record says about where it is stored: every target, or nothing
        when the policy names no repository (the artifacts folder, as records have always
        meant; a policy that later names that folder reads them back from it)."""
        if self.targets == (self.legacy,) and self.legacy.name == LEGACY_NAME:
            return []
        return [r.copy() for r in self.targets]

    @property
    def encryption(self) -> Encryption | None:
        return Encryption(recipients=list(self.recipients)) if self.recipients else None

    def named(self, name: str) -> Repository:
        for repository in self.every:
            if repository.name == name:
                return repository
        known = ", ".join(r.name for r in self.every)
        raise InputError(f"no repository called {name} in the policy (have {known})")

    # -- writing -------------------------------------------------------------

    @contextmanager
    def writing(self, location: str, progress: Progress | None = None) -> Iterator[BackupWriter]:
        """Write one backup to every target repository (see the module docstring)."""
        uploads = [r.backend.begin(location) for r in self.targets]
        try:
            for upload in uploads:
                upload.start()
            yield BackupWriter(_Target(uploads, self.recipients), progress or NoProgress())
            for upload in uploads:
                upload.commit()
        except BaseException:
            self.remove(location)
            raise

    def remove(self, location: str) -> None:
        """Remove a backup from every target repository (a failed or unrecorded one)."""
        for repository in self.targets:
            with suppress(ExternalError, OSError):
                repository.backend.remove(location)

    # -- reading -------------------------------------------------------------

    def holding(self, copies: Sequence[StoredCopy], prefer: str | None = None) -> Repository:
        """The repository to read a backup from: ``prefer`` when given, else the first
        target (then any configured repository) that the record says holds it. A record
        with no copies is in the local artifacts folder."""
        names = [c.repository for c in copies]
        if prefer is not None:
            if copies and prefer not in names:
                raise InputError(
                    f"the backup is not in repository {prefer} (it is in {', '.join(names)})"
                )
            return self.named(prefer)
        if not copies:
            return self.legacy
        for repository in (*self.targets, *self.every):
            if repository.name in names:
                return repository
        raise InputError(
            f"the backup is in {', '.join(names)}, none of which the policy configures"
        )

    @contextmanager
    def fetched(
        self,
        repository: Repository,
        location: str,
        parts: Sequence[PartInfo],
        progress: Progress | None = None,
        listed_in: str | None = None,
    ) -> Iterator[Path]:
        """A folder holding the backup's parts as written, every byte verified; with
        ``listed_in``, also the parts that part lists (once it is verified itself)."""
        prog = progress or NoProgress()
        safe_part_name(location)  # names come from a record: none may leave its folder
        for part in parts:
            safe_part_name(stored_name(part))
        encrypted = any(p.stored is not None for p in parts)
        if isinstance(repository.backend, LocalStore) and not encrypted:
            directory = repository.backend.path(location)
            _raise_failures(location, verify_parts(directory, list(parts), prog))
            if listed_in is not None and any(p.name == listed_in for p in parts):
                shown = f"{location}/{listed_in}"
                listed = parse_parts_jsonl((directory / listed_in).read_bytes(), shown=shown)
                _raise_failures(location, verify_parts(directory, listed, prog))
            yield directory
            return
        identities = self._identities() if encrypted else []
        staging = Path(tempfile.mkdtemp(prefix="stategate-fetch-", dir=self.staging))
        try:
            for part in parts:
                _fetch_part(repository, location, part, staging, identities, prog)
            if listed_in is not None and any(p.name == listed_in for p in parts):
                shown = f"{location}/{listed_in}"
                listed = parse_parts_jsonl((staging / listed_in).read_bytes(), shown=shown)
                for part in listed:
                    _fetch_part(repository, location, part, staging, identities, prog)
            yield staging
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _identities(self) -> list[Any]:
        if self.identity is None:
            raise InputError(
                "the backup is encrypted: set evidence.encryption.identity in the policy"
            )
        what = "evidence.encryption.identity"
        return parse_identities(_outside(self.identity, self.repo, what), what=what)


def _outside(ref: Credential, repo: Path, what: str) -> str:
    """A credential from the environment or a file outside the platform repo (a key
    committed beside the backups it opens protects nothing)."""
    if ref.file:
        path = Path(ref.file).expanduser()
        resolved, inside = (path if path.is_absolute() else repo / path).resolve(), repo.resolve()
        if resolved == inside or inside in resolved.parents:
            raise InputError(f"{what}: {ref.file} is inside the platform repo; keep it outside")
    return resolve_credential(ref, base=repo, what=what)


def stored_name(part: PartInfo) -> str:
    return part.stored.name if part.stored is not None else part.name


def _raise_failures(location: str, failures: Sequence[Any]) -> None:
    if failures:
        shown = "; ".join(f"{f.name}: {f.problem}" for f in failures[:3])
        raise ArtifactMismatch(f"backup {location} artifact check failed: {shown}")


class _HashingReader:
    """Reads a stream, hashing and counting what is read."""

    def __init__(self, stream: IO[bytes], progress: Progress) -> None:
        self._stream = stream
        self._progress = progress
        self.hash = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self._stream.read(n if n is not None and n >= 0 else CHUNK * 64)
        self.hash.update(data)
        self.size += len(data)
        self._progress.advance(len(data))
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def drain(self) -> None:
        while self.read(CHUNK):
            pass


def _fetch_part(
    repository: Repository,
    location: str,
    part: PartInfo,
    staging: Path,
    identities: list[Any],
    progress: Progress,
) -> None:
    name = stored_name(part)
    where = f"{name} in repository {repository.name}"
    path = staging / part.name
    path.parent.mkdir(parents=True, exist_ok=True)
    with repository.backend.reader(location, name) as body, open(path, "xb") as handle:
        stored = _HashingReader(body, progress)
        out = HashingFile(handle, NoProgress())
        if part.stored is None:
            while chunk := stored.read(CHUNK):
                out.write(chunk)
        else:
            try:
                decrypt_into(stored, out, identities, where)  # type: ignore[arg-type]
            except DecryptFailed:
                stored.drain()
                if (stored.size, stored.hash.hexdigest()) != (
                    part.stored.size,
                    part.stored.sha256,
                ):
                    raise ArtifactMismatch(
                        f"{where}: the stored bytes differ from the record (changed or "
                        "truncated in the repository); it does not decrypt"
                    ) from None
                raise ArtifactMismatch(
                    f"{where}: does not decrypt with the identity given (the stored bytes "
                    "are the ones recorded)"
                ) from None
    if part.stored is not None and (stored.size, stored.hash.hexdigest()) != (
        part.stored.size,
        part.stored.sha256,
    ):
        raise ArtifactMismatch(f"{where}: the stored bytes differ from the record")
    if out.size != part.size:
        raise ArtifactMismatch(f"{where}: {out.size} bytes read back, {part.size} recorded")
    if out.hexdigest() != part.sha256:
        raise ArtifactMismatch(f"{where}: sha256 differs from the recorded digest")


# -- the write path ---------------------------------------------------------------------


class _Tee:
    """Writes the stored bytes to every repository's sink, hashing them when asked."""

    def __init__(self, sinks: list[PartSink], hashing: bool) -> None:
        self.sinks = sinks
        self.hash = hashlib.sha256() if hashing else None
        self.size = 0
        self.failed: BaseException | None = None  # a sink refused a write: nothing counts

    def write(self, data: bytes | bytearray | memoryview, /) -> int:
        try:
            for sink in self.sinks:
                sink.write(data)
        except BaseException as exc:
            self.failed = self.failed or exc
            raise
        if self.hash is not None:
            self.hash.update(data)
        self.size += len(data)
        return len(data)


class _Part:
    """One part: encrypted in front (when there are recipients), then the tee."""

    def __init__(self, name: str, sinks: list[PartSink], recipients: Sequence[str]) -> None:
        self.name = name
        self._tee = _Tee(sinks, hashing=bool(recipients))
        self._crypt = EncryptingWriter(self._tee, recipients) if recipients else None

    def write(self, data: bytes | bytearray | memoryview, /) -> int:
        return (self._crypt or self._tee).write(data)

    def finish(self) -> StoredPart | None:
        if self._crypt is not None:
            self._crypt.close()
        if self._tee.failed is not None:
            raise ExternalError(f"{self.name} was not stored whole: {self._tee.failed}")
        for sink in self._tee.sinks:
            sink.finish()
        if self._tee.hash is None:
            return None
        return StoredPart(self.name, self._tee.size, self._tee.hash.hexdigest())

    def discard(self) -> None:
        if self._crypt is not None:
            self._crypt.abort()
        for sink in self._tee.sinks:
            sink.discard()


class _Target:
    def __init__(self, uploads: list[Upload], recipients: Sequence[str]) -> None:
        self._uploads = uploads
        self._recipients = recipients

    def open_part(self, name: str, *, sync_at_commit: bool) -> _Part:
        stored = name + SUFFIX if self._recipients else name
        sinks: list[PartSink] = []
        try:
            for upload in self._uploads:
                sinks.append(upload.open_part(stored, sync_at_commit=sync_at_commit))
        except BaseException:
            for sink in sinks:
                sink.discard()
            raise
        return _Part(stored, sinks, self._recipients)


def from_policy(settings: EvidenceSettings, repo: Path, artifacts: Path) -> Repositories:
    """The policy's repositories (none configured: the artifacts folder, as before), the
    ones backups go to, and the age recipients read from the repo's recipients file."""
    legacy = Repository(LEGACY_NAME, "local", lambda: LocalStore(artifacts))
    every: list[Repository] = []
    for config in settings.repositories:
        if isinstance(config, S3Repository):
            every.append(
                Repository(config.name, "s3", partial(s3_store, config, repo), config.module)
            )
        else:
            root = _local_root(config, repo, artifacts)
            local = Repository(config.name, "local", partial(LocalStore, root), config.module)
            every.append(local)
            if root.resolve() == artifacts.resolve():
                legacy = local  # the artifacts folder by its configured name
    if not every:
        every = [legacy]
    names = settings.backup_to or [r.name for r in every]
    targets = tuple(r for name in names for r in every if r.name == name)
    recipients: tuple[str, ...] = ()
    identity = None
    if settings.encryption is not None:
        file = settings.encryption.recipients_file
        path = repo / file
        try:
            text = read_regular(path, MAX_RECIPIENTS_BYTES, shown=file, root=repo).decode("utf-8")
        except FileNotFoundError:
            raise InputError("age recipients file not found", file=file) from None
        except UnicodeDecodeError:
            raise InputError("age recipients file is not UTF-8", file=file) from None
        recipients = tuple(parse_recipients(text, file=file))
        identity = settings.encryption.identity
    return Repositories(tuple(every), targets, legacy, recipients, identity, repo, staging=None)


MAX_RECIPIENTS_BYTES = 64 * 1024


def _local_root(config: LocalRepository, repo: Path, artifacts: Path) -> Path:
    if config.path is None:
        return artifacts
    root = Path(config.path).expanduser()
    root = root if root.is_absolute() else (repo / root)
    resolved, inside = root.resolve(), repo.resolve()
    if resolved == inside or inside in resolved.parents:
        raise InputError(
            f"repository {config.name}: {config.path} is inside the platform repo; backups "
            "stay outside git"
        )
    return root


def s3_store(config: S3Repository, repo: Path) -> S3Store:
    """An S3 repository's store, credentials resolved (never shown)."""
    from stategate.repository.s3 import S3Store, client_for

    what = f"repository {config.name}"
    access = _outside(config.access_key, repo, f"{what} access_key")
    secret = _outside(config.secret_key, repo, f"{what} secret_key")
    client = client_for(config.endpoint, access, secret, config.region, config.path_style)
    where = f"{config.endpoint.rstrip('/')}/{config.bucket}" + (
        f"/{config.prefix}" if config.prefix else ""
    )
    return S3Store(client, config.bucket, config.prefix, where)
