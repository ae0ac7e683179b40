"""A directory (bind source or named-volume mountpoint) as a GNU tar archive.

GNU tar writes the archive (POSIX format, numeric owners, modes, extended
attributes, POSIX ACLs, hard links, FIFOs, sparse files) and a drill restores it
as a production restore does: GNU tar as root, owners and permissions kept. The
fingerprint is read from the archive's own stream while it is written, so it
describes exactly what the archive holds (see :mod:`volume_entries`).

A live directory is not a snapshot: the tree's metadata is read before and after
the archive, and the backup is ``consistent`` only when nothing changed between,
nor within two ticks of the file system's timestamps before (1 s ticks: 2 s).
Sockets cannot be archived (named as findings); a device node fails the backup.

Before extracting, every member is checked: anything absolute, with ``..``, a
device, a symlink leaving the tree (by its own text, or followed through the
archive's other symlinks), a hard link to anything but an earlier file, a member
below a symlink or a name met twice fails the restore before tar extracts anything,
as does an archive whose members GNU tar lists otherwise; after extracting, every
symlink is resolved on disk once more.
"""

from __future__ import annotations

import codecs
import hashlib
import logging
import os
import stat
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import IO, Literal, NamedTuple

from stategate import execute
from stategate.errors import ExternalError
from stategate.evidence.records.artifact import CHUNK, BackupWriter, HashingFile
from stategate.evidence.records.steps import StepClock
from stategate.providers.access import VolumeAccess
from stategate.providers.base import BackupHooks, BackupOutput, Origin, SmokeTarget, StoredBackup
from stategate.providers.fingerprint import FIELDS, Fingerprint, FingerprintItem
from stategate.providers.volume_entries import (
    GROUP,
    ArchiveReader,
    Entry,
    items,
    member_name,
    special_kind,
    tree_entries,
    walk,
)
from stategate.providers.volume_links import escapes
from stategate.sandbox.engine import Engine

log = logging.getLogger(__name__)

TAR_PART = "volume.tar"
TAR = "tar"
# messages in English whatever the host's locale; names are bytes either way
TAR_ENV = {"LC_ALL": "C.UTF-8"}
METADATA = ("--xattrs", "--xattrs-include=*", "--acls", "--sparse", "--numeric-owner")
# a change's ctime can equal an earlier one's within the kernel's coarse clock tick
# (a few ms): a change this recent before the first scan cannot be told apart
RECENT_NS = 100_000_000
# units a file system may keep timestamps in, coarsest first: 2 s (FAT's mtime), 1 s
# (ext3, ext4 with 128-byte inodes), 10 ms; anything finer counts as fine
GRAINS_NS = (2_000_000_000, 1_000_000_000, 10_000_000, 1)
_SHOWN = 5  # paths named in a message


def create_argv(root: Path) -> list[str]:
    return [
        TAR,
        "--create",
        "--file=-",
        "--format=posix",
        *METADATA,
        "--sort=name",
        "--pax-option=delete=atime,delete=ctime",
        f"--directory={root}",
        ".",
    ]


def extract_argv(archive: Path, target: Path) -> list[str]:
    """As a production restore runs as root. The target's own owner and mode are
    restored from the archive's ``.`` (so no ``--no-overwrite-dir``); each
    directory's mode is set once its contents are in (a 0500 directory)."""
    return [
        TAR,
        "--extract",
        f"--file={archive}",
        f"--directory={target}",
        *METADATA,
        "--same-owner",
        "--preserve-permissions",
        "--delay-directory-restore",
    ]


class VolumeProvider:
    name: Literal["volume"] = "volume"

    def __init__(
        self, access: VolumeAccess, *, legacy: bool = False, restore_warnings: tuple[str, ...] = ()
    ) -> None:
        self.access = access
        self.legacy = legacy  # fingerprint as backups before GNU tar did (content only)
        self.restore_warnings = restore_warnings  # a sandbox's: what tar could not set

    def address(self) -> str:
        return self.access.address()

    def secrets(self) -> tuple[str, ...]:
        return ()

    def identity(self) -> str:
        return f"volume:{self.access.path.resolve()}"

    def settings(self) -> dict[str, str]:
        return {}

    def client_version(self) -> str | None:
        return None

    def server_version(self) -> str:
        return "filesystem"

    def origin(self) -> Origin:
        """The directory's device and inode: another folder at the same path (a volume
        re-created, a mount missing) is another source."""
        st = self._require_dir().stat()
        return Origin(
            None,
            {"path": str(self.access.path.resolve()), "device_inode": f"{st.st_dev}:{st.st_ino}"},
        )

    def _require_dir(self) -> Path:
        root = self.access.path
        if not root.is_dir():
            raise ExternalError(f"volume path is not a directory: {root}")
        return root

    def fingerprint(self) -> Fingerprint:
        root = self._require_dir()
        if self.legacy:
            return Fingerprint(legacy_items(root))
        return Fingerprint(items(tree_entries(root)))

    def backup(self, out: BackupWriter, hooks: BackupHooks) -> BackupOutput:
        root = self._require_dir()
        started = time.time_ns()
        before, sockets = scan(root)
        hooks.fingerprinted()
        with out.part(TAR_PART) as dest:
            entries, warnings = archive(root, dest)
        after, late = scan(root)
        consistent, note = judge(before, after, started)
        findings = [
            f"socket {name} is not in the backup: a socket cannot be archived "
            "(the program listening on it creates it again)"
            for name in sorted({*sockets, *late})
        ]
        return BackupOutput(
            Fingerprint(items(entries)),
            consistent=consistent,
            note=note,
            findings=(*findings, *(f"tar: {w}" for w in warnings)),
        )

    def derived_fingerprint(self, directory: Path) -> None:
        return None  # every backup stores its listing part

    @contextmanager
    def restore(
        self, backup: StoredBackup, engine: Engine, steps: StepClock | None = None
    ) -> Iterator[VolumeProvider]:
        legacy = not any(i.digest.startswith(FIELDS) for i in backup.fingerprint.items)
        with engine.volume() as sandbox:
            # one level down: the archive's "." gives the volume its own mode (0755, say)
            # while the sandbox stays 0700, so no other user reaches a restored setuid file
            sandbox.chmod(0o700)
            target = sandbox / "volume"
            target.mkdir()
            with (steps or StepClock()).step("restore-files"):
                warnings = extract_safely(backup.directory / TAR_PART, target)
            for line in warnings:  # the comparison fails on what is lost; this says why
                log.warning(
                    "%s",
                    execute.mask(f"restoring volume into {target}: tar: {line}", self.secrets()),
                )
            yield VolumeProvider(VolumeAccess(target), legacy=legacy, restore_warnings=warnings)

    def smoke_target(self, name: Literal["source", "sandbox"]) -> SmokeTarget:
        return SmokeTarget(name=name, volume=self.access)


# --- backup -------------------------------------------------------------------------


class Meta(NamedTuple):
    """What a change to an entry changes (content included: it moves mtime and ctime)."""

    inode: int
    mode: int
    uid: int
    gid: int
    size: int
    mtime_ns: int
    ctime_ns: int
    links: int


Snapshot = dict[str, Meta]


def scan(root: Path) -> tuple[Snapshot, list[str]]:
    """Every entry's metadata (inode, mode, owner, size, mtime, ctime, links), and the
    sockets; a device node fails the backup."""
    snapshot: Snapshot = {}
    sockets: list[str] = []
    for name, path, st in walk(root):
        kind = special_kind(st)
        if kind == "device":
            raise ExternalError(
                f"volume entry {path} is a device node: a backup refuses device nodes "
                "(a drill would not create one); move it out of the volume"
            )
        if kind == "socket":
            sockets.append(name)
        snapshot[name] = Meta(
            st.st_ino,
            st.st_mode,
            st.st_uid,
            st.st_gid,
            st.st_size,
            st.st_mtime_ns,
            st.st_ctime_ns,
            st.st_nlink,
        )
    return snapshot, sockets


def timestamp_grain(*snapshots: Snapshot) -> int:
    """The coarsest of :data:`GRAINS_NS` that every observed mtime and ctime is a
    multiple of: 1 s where every nanosecond part is 0. A fine clock lands on a whole
    10 ms once in 10**7 stamps, so a tree of any size shows it; a tree seen as coarser
    than it is only waits longer (an empty one counts as coarsest)."""
    stamps = [
        t for snapshot in snapshots for m in snapshot.values() for t in (m.mtime_ns, m.ctime_ns)
    ]
    return next(g for g in GRAINS_NS if all(t % g == 0 for t in stamps))


def recent_window(grain_ns: int) -> int:
    """How long before the first scan a change cannot be told from one made during
    the archive: two ticks of the file system's timestamps, at least RECENT_NS."""
    return max(RECENT_NS, 2 * grain_ns)


def _clock(grain_ns: int, window_ns: int) -> str:
    if grain_ns == GRAINS_NS[-1]:
        return (
            f"timestamps are fine-grained: a change up to {_seconds(window_ns)} before the "
            "archive counts as during it"
        )
    return (
        f"this file system keeps timestamps to {_seconds(grain_ns)} only (every mtime and "
        f"ctime is a multiple of it): a change up to {_seconds(window_ns)} before the "
        "archive counts as during it"
    )


def _seconds(ns: int) -> str:
    return f"{ns / 1e9:g} s"


def judge(before: Snapshot, after: Snapshot, started_ns: int) -> tuple[bool, str]:
    """Whether the archive is of one point in time, and the record's note saying why."""
    how = "GNU tar archive of a live directory; fingerprint read from the archive's own stream"
    changed = sorted(
        (before.keys() ^ after.keys())
        | {n for n in before.keys() & after.keys() if before[n] != after[n]}
    )
    grain = timestamp_grain(before, after)
    window = recent_window(grain)
    if changed:
        return False, (
            f"{how}; not one point in time: {len(changed)} entries changed while it was "
            f"written ({_names(changed)}); {_clock(grain, window)}"
        )
    recent = sorted(n for n, meta in before.items() if meta.ctime_ns > started_ns - window)
    if recent:
        return False, (
            f"{how}; not provably one point in time: {len(recent)} entries changed just "
            f"before it began ({_names(recent)}), too close to tell from a change while it "
            f"was written; {_clock(grain, window)}"
        )
    return True, (
        f"{how}; no entry changed from before the archive to after it (inode, mode, owner, "
        "size, mtime, ctime of every entry compared), so it holds one point in time; "
        + _clock(grain, window)
    )


def _names(names: list[str]) -> str:
    more = len(names) - _SHOWN
    return ", ".join(names[:_SHOWN]) + (f" and {more} more" if more > 0 else "")


class _Tee:
    """tar's output for tarfile, every byte also written into the part: a file that
    reads forward only (tarfile seeks past padding, never back), so member data
    reaches the hash without the copies of tarfile's stream mode."""

    def __init__(self, source: IO[bytes], dest: HashingFile) -> None:
        self._source = source
        self._dest = dest
        self._position = 0

    def read(self, size: int = -1) -> bytes:
        data = self._source.read(size)
        self._dest.write(data)
        self._position += len(data)
        return data

    def tell(self) -> int:
        return self._position

    def seek(self, position: int, whence: int = os.SEEK_SET) -> int:
        if whence != os.SEEK_SET or position < self._position:
            raise tarfile.ReadError("GNU tar's stream is read forward only")
        while self._position < position and self.read(min(CHUNK, position - self._position)):
            pass
        return self._position

    def drain(self) -> None:
        while self.read(CHUNK):
            pass


def archive(root: Path, dest: HashingFile) -> tuple[list[Entry], list[str]]:
    """Run GNU tar on ``root`` into ``dest``; the entries the archive holds and tar's
    warnings (a socket it skipped is left out of them: the scan names it)."""
    with tempfile.TemporaryFile() as err:
        proc = execute.popen(
            create_argv(root), env=TAR_ENV, stdout=subprocess.PIPE, stderr=err.fileno()
        )
        assert proc.stdout is not None
        failure: Exception | None = None
        entries: list[Entry] = []
        try:
            tee = _Tee(proc.stdout, dest)
            try:
                with tarfile.open(fileobj=tee, mode="r:") as tar:  # type: ignore[call-overload]
                    entries = ArchiveReader().read(tar)
                tee.drain()
            except (tarfile.TarError, ExternalError) as exc:
                failure = exc
                proc.kill()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            proc.stdout.close()
        code = proc.wait()
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    problem = tar_failure(code, stderr, root)
    # tar's own account first; a tar killed here is explained by what went wrong here
    if problem is not None and (code > 0 or failure is None):
        raise problem
    if isinstance(failure, ExternalError):
        raise failure
    if failure is not None:
        raise ExternalError(f"the archive GNU tar wrote of volume {root} is unreadable: {failure}")
    return entries, [w for w in tar_lines(stderr) if not w.endswith(": socket ignored")]


def tar_lines(stderr: str) -> list[str]:
    """tar's messages without its ``tar:`` prefix and its closing summary line."""
    return [
        line.removeprefix("tar: ")
        for line in stderr.splitlines()
        if line.strip() and not line.startswith("tar: Exiting with failure status")
    ]


def tar_failure(code: int, stderr: str, root: Path) -> ExternalError | None:
    """GNU tar's exit status as an error naming what it could not archive: 1, a file
    changed while it was read (its copy is torn: a shrunk file is padded with zeros);
    2, a path it could not read (``./x: Cannot open: Permission denied``)."""
    if code == 0:
        return None
    lines = tar_lines(stderr)
    said = "; ".join(lines[:_SHOWN]) + (
        f" and {len(lines) - _SHOWN} more" if len(lines) > _SHOWN else ""
    )
    if code == 1:
        return ExternalError(
            f"volume {root} changed while GNU tar read it, so the archive holds a torn copy "
            f"({said or 'exit status 1'}): back up again when it is quiet"
        )
    return ExternalError(
        f"GNU tar could not archive volume {root}: {said or f'exit status {code}'}"
    )


def legacy_items(root: Path) -> list[FingerprintItem]:
    """The fingerprint of backups written before GNU tar (Python's tarfile): files'
    sha256, ``dir``, ``link:<target>``; the root and anything else left out."""
    out = []
    for name, path, st in walk(root):
        if name == ".":
            continue
        if stat.S_ISLNK(st.st_mode):
            out.append(FingerprintItem(GROUP, name, 0, "link:" + os.readlink(path)))
        elif stat.S_ISDIR(st.st_mode):
            out.append(FingerprintItem(GROUP, name, 0, "dir"))
        elif stat.S_ISREG(st.st_mode):
            h = hashlib.sha256()
            with open(path, "rb") as handle:
                while chunk := handle.read(CHUNK):
                    h.update(chunk)
            out.append(FingerprintItem(GROUP, name, st.st_size, h.hexdigest()))
    return out


# --- restore ------------------------------------------------------------------------


def _escapes(path: PurePosixPath) -> bool:
    return path.is_absolute() or ".." in path.parts


def check_member(member: tarfile.TarInfo) -> None:
    """Refuse a tar member that could write outside the target or is not data."""
    name = PurePosixPath(member.name)
    if not member.name or _escapes(name):
        raise ExternalError(f"volume archive member escapes the target: {member.name!r}")
    if member.ischr() or member.isblk():
        raise ExternalError(f"volume archive member is a device node: {member.name!r}")
    if member.issym():
        target = PurePosixPath(member.linkname)
        depth = 0
        for part in (name.parent / target).parts:
            depth += -1 if part == ".." else (0 if part == "." else 1)
            if depth < 0:
                break
        if not member.linkname or target.is_absolute() or depth < 0:
            raise ExternalError(f"volume archive symlink leaves the target: {member.name!r}")
    elif member.islnk():
        if not member.linkname or _escapes(PurePosixPath(member.linkname)):
            raise ExternalError(f"volume archive hard link leaves the target: {member.name!r}")
    elif not (member.isreg() or member.isdir() or member.isfifo()):
        raise ExternalError(f"volume archive member has an unknown type: {member.name!r}")


class Fence:
    """The members of one archive, in order: each checked alone and against those
    before it (a hard link names an earlier file; nothing below a symlink; no name
    twice); once all are in, :meth:`finish` follows every symlink through the others
    (see :mod:`volume_links`)."""

    def __init__(self) -> None:
        self._dirs: set[str] = set()
        self._others: set[str] = set()
        self._links: dict[str, str] = {}  # a symlink's path -> its text

    def admit(self, member: tarfile.TarInfo) -> None:
        check_member(member)
        name = member_name(member)
        if name in self._dirs or name in self._others:
            raise ExternalError(f"volume archive holds {member.name!r} twice")
        self._below_symlink(name, member.name)
        if member.islnk():
            first = PurePosixPath(member.linkname).as_posix()
            self._below_symlink(first, member.name)
            if first not in self._others:
                raise ExternalError(
                    f"volume archive hard link {member.name!r} names no earlier file: "
                    f"{member.linkname!r}"
                )
            if first in self._links:  # tar links the symlink itself: its text, here
                self._links[name] = self._links[first]
        (self._dirs if member.isdir() else self._others).add(name)
        if member.issym():
            self._links[name] = member.linkname

    def _below_symlink(self, name: str, shown: str) -> None:
        for parent in PurePosixPath(name).parents:
            if parent.as_posix() in self._links:
                raise ExternalError(f"volume archive member {shown!r} is below a symlink")

    def finish(self) -> None:
        """Refuse the archive if any symlink, followed through the others, leaves it."""
        found = escapes(self._links)
        if found:
            said = [f"{name!r} -> {self._links[name]!r}: {why}" for name, why in found]
            raise ExternalError(
                "volume archive symlink leaves the target through other symlinks: " + _names(said)
            )


def check_archive(archive: Path) -> list[str]:
    """Every member of ``archive`` admitted by a :class:`Fence`; their names in order."""
    fence = Fence()
    names = []
    try:
        with tarfile.open(archive, mode="r:") as tar:
            while (member := tar.next()) is not None:
                tar.members.clear()  # type: ignore[attr-defined]  # (typeshed omits it)
                fence.admit(member)
                names.append(member_name(member))
    except tarfile.TarError as exc:
        raise ExternalError(f"volume archive {archive} is unreadable: {exc}") from exc
    fence.finish()
    return names


def listed_by_tar(archive: Path) -> list[str]:
    """The member names GNU tar itself reads in ``archive``, in order (C-quoted by tar,
    so a name holding a newline is one line)."""
    argv = [TAR, "--list", f"--file={archive}", "--quoting-style=c"]
    done = execute.run(argv, env=TAR_ENV, check=False)
    if done.returncode != 0:
        said = "; ".join(tar_lines(done.stderr.decode("utf-8", "replace"))[:_SHOWN])
        raise ExternalError(f"GNU tar cannot read volume archive {archive}: {said}")
    return [
        PurePosixPath(os.fsdecode(codecs.escape_decode(line[1:-1])[0])).as_posix()
        for line in done.stdout.splitlines()
        if line
    ]


def extract_safely(archive: Path, target: Path) -> tuple[str, ...]:
    """Check every member, check that GNU tar reads the same members as the check did
    (an archive two parsers read differently is refused: a header tarfile takes for the
    end and GNU tar skips would hide members from the check), then extract with GNU
    tar as a production restore does; tar's warnings (an extended attribute or ACL it
    could not set: tar still exits 0), returned."""
    checked = check_archive(archive)
    if listed_by_tar(archive) != checked:
        raise ExternalError(
            f"volume archive {archive} reads differently to GNU tar and to the member "
            "check: refused"
        )
    done = execute.run(extract_argv(archive, target), env=TAR_ENV, check=False)
    if done.returncode != 0:
        lines = tar_lines(done.stderr.decode("utf-8", "replace"))
        hint = "" if os.geteuid() == 0 else " (only root restores owners: run the drill as root)"
        raise ExternalError(
            f"GNU tar could not restore {archive} into {target}: "
            + ("; ".join(lines[:_SHOWN]) or f"exit status {done.returncode}")
            + hint
        )
    check_restored_links(target)
    return tuple(tar_lines(done.stderr.decode("utf-8", "replace")))


def check_restored_links(target: Path) -> None:
    """Every symlink under ``target``, resolved link by link on disk (realpath),
    stays inside it: a second look, after the member check, at what tar made."""
    root = Path(os.path.realpath(target))
    for _, path, st in walk(target):
        if not stat.S_ISLNK(st.st_mode):
            continue
        resolved = Path(os.path.realpath(path))
        if resolved != root and root not in resolved.parents:
            raise ExternalError(
                f"restored volume symlink {path} -> {os.readlink(path)!r} resolves outside "
                f"{target}, to {resolved}: the restore is refused"
            )
