"""A volume's entries as a restore must reproduce them, read from a tree or a tar.

One :class:`Entry` per path (the volume's root is ``.``): its type, owner, mode
(setuid, setgid and sticky bits included), content sha256, symlink target,
whether a file is sparse, its extended attributes and POSIX ACLs, and which
other paths are the same inode (hard links). The same entries are read from a
directory tree (:func:`tree_entries`: a source, a restored sandbox) and from
GNU tar's archive stream (:class:`ArchiveReader`), and become one fingerprint
item each (:func:`items`), a ``fields:`` digest whose differences a drill names.

Sparseness is compared as "has a hole or not", not as the exact data/hole map:
the map follows the filesystem's block size and allocation (a 64 KiB-block or
compressing filesystem, or a restore onto another filesystem, gives another map
of the same file), while a file that had holes and is restored without any has
lost what the restore must keep. Modification times are not compared.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import IO, Literal, cast

from stategate.errors import ExternalError
from stategate.evidence.records.artifact import CHUNK
from stategate.providers.fingerprint import FingerprintItem, fields_digest

GROUP = "volume"
ROOT = "."
Kind = Literal["file", "dir", "symlink", "fifo"]

# the POSIX ACLs, stored as these two extended attributes (compared as ACLs, not bytes)
ACL_ACCESS = "system.posix_acl_access"
ACL_DEFAULT = "system.posix_acl_default"
XATTR_PAX = "SCHILY.xattr."  # GNU tar's PAX keyword prefix for an extended attribute


@dataclass(frozen=True)
class Entry:
    name: str  # "." or a relative POSIX path
    kind: Kind
    mode: int  # the 12 permission bits
    uid: int
    gid: int
    size: int = 0
    sha256: str = ""
    target: str = ""  # a symlink's
    sparse: bool = False
    xattrs: tuple[tuple[str, bytes], ...] = ()  # sorted, ACLs left out
    acl: str = ""
    default_acl: str = ""
    inode: object = None  # the same for paths that are one inode (hard links)


def items(entries: Iterable[Entry]) -> list[FingerprintItem]:
    """One item per entry; paths sharing an inode name the group's first path."""
    listed = list(entries)
    groups: dict[object, list[str]] = {}
    for entry in listed:
        if entry.inode is not None:
            groups.setdefault(entry.inode, []).append(entry.name)
    label = {name: min(names) for names in groups.values() if len(names) > 1 for name in names}
    return [
        FingerprintItem(GROUP, e.name, e.size, fields_digest(_fields(e, label.get(e.name))))
        for e in listed
    ]


def _fields(entry: Entry, hardlink: str | None) -> dict[str, str]:
    fields = {"type": entry.kind, "uid": str(entry.uid), "gid": str(entry.gid)}
    if entry.kind != "symlink":  # a symlink's mode is always 0777 on Linux
        fields["mode"] = f"{entry.mode:04o}"
    if entry.kind == "file":
        fields["sha256"] = entry.sha256
        fields["sparse"] = "yes" if entry.sparse else "no"
    if entry.kind == "symlink":
        fields["target"] = entry.target
    for name, value in entry.xattrs:
        fields[f"xattr:{name}"] = hashlib.sha256(value).hexdigest()
    if entry.acl:
        fields["acl"] = entry.acl
    if entry.default_acl:
        fields["default-acl"] = entry.default_acl
    if hardlink is not None:
        fields["hardlink"] = hardlink
    return fields


_ACL_TAGS = {1: "user", 2: "user", 4: "group", 8: "group", 16: "mask", 32: "other"}
_QUALIFIED = {2, 8}


def acl_text(raw: bytes) -> str:
    """An ACL extended attribute (the kernel's binary form) as short text,
    ``user::rwx,user:1234:r--,group::r-x,mask::r-x,other::r-x``; an ACL holding
    only the owner, group and other entries (what the mode already says) is ``""``."""
    if len(raw) < 4 or (len(raw) - 4) % 8 or int.from_bytes(raw[:4], "little") != 2:
        return "unreadable:" + hashlib.sha256(raw).hexdigest()
    entries = []
    for at in range(4, len(raw), 8):
        tag = int.from_bytes(raw[at : at + 2], "little")
        perm = int.from_bytes(raw[at + 2 : at + 4], "little")
        ident = int.from_bytes(raw[at + 4 : at + 8], "little")
        entries.append((tag, ident if tag in _QUALIFIED else 0, perm))
    if all(tag in (1, 4, 32) for tag, _, _ in entries):
        return ""
    return ",".join(
        f"{_ACL_TAGS.get(tag, str(tag))}:{ident if tag in _QUALIFIED else ''}:"
        + "".join(c if perm & bit else "-" for c, bit in (("r", 4), ("w", 2), ("x", 1)))
        for tag, ident, perm in sorted(entries)
    )


def _split_xattrs(
    pairs: Iterable[tuple[str, bytes]],
) -> tuple[tuple[tuple[str, bytes], ...], str, str]:
    plain, acl, default = [], "", ""
    for name, value in pairs:
        if name == ACL_ACCESS:
            acl = acl_text(value)
        elif name == ACL_DEFAULT:
            default = acl_text(value)
        else:
            plain.append((name, value))
    return tuple(sorted(plain)), acl, default


# --- a directory tree ---------------------------------------------------------------


def walk(root: Path) -> Iterator[tuple[str, Path, os.stat_result]]:
    """Every path under ``root`` (itself first, as ``.``) with its lstat, sorted per
    directory; a directory that cannot be listed fails, naming it."""
    try:  # the root as tar --directory sees it: a symlink to the volume is followed
        yield ROOT, root, root.stat()
    except OSError as exc:
        raise ExternalError(f"cannot read volume directory {root}: {exc.strerror}") from exc
    yield from _walk_below(root, PurePosixPath())


def _walk_below(directory: Path, rel: PurePosixPath) -> Iterator[tuple[str, Path, os.stat_result]]:
    try:
        names = sorted(os.listdir(directory))
    except OSError as exc:
        raise ExternalError(f"cannot read volume directory {directory}: {exc.strerror}") from exc
    for name in names:
        path = directory / name
        st = _lstat(path)
        yield (rel / name).as_posix(), path, st
        if stat.S_ISDIR(st.st_mode):
            yield from _walk_below(path, rel / name)


def _lstat(path: Path) -> os.stat_result:
    try:
        return path.lstat()
    except OSError as exc:
        raise ExternalError(f"cannot read volume entry {path}: {exc.strerror}") from exc


def special_kind(st: os.stat_result) -> str | None:
    """What a backup cannot carry: ``socket``, ``device`` (None: it can)."""
    if stat.S_ISSOCK(st.st_mode):
        return "socket"
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        return "device"
    return None


def tree_entries(root: Path) -> Iterator[Entry]:
    """The entries of a directory tree; sockets are left out (no archive holds one),
    a device node fails (a backup refuses it)."""
    for name, path, st in walk(root):
        kind = special_kind(st)
        if kind == "socket":
            continue
        if kind == "device":
            raise ExternalError(f"volume entry {path} is a device node: not backed up")
        yield _tree_entry(name, path, st)


def _tree_entry(name: str, path: Path, st: os.stat_result) -> Entry:
    mode = st.st_mode
    xattrs, acl, default = _split_xattrs(_read_xattrs(path))
    entry = Entry(
        name=name,
        kind=_tree_kind(mode),
        mode=stat.S_IMODE(mode),
        uid=st.st_uid,
        gid=st.st_gid,
        xattrs=xattrs,
        acl=acl,
        default_acl=default,
        inode=(st.st_dev, st.st_ino) if st.st_nlink > 1 and not stat.S_ISDIR(mode) else None,
    )
    if stat.S_ISLNK(mode):
        return replace(entry, target=os.readlink(path))
    if stat.S_ISREG(mode):
        digest, sparse = _read_file(path, st)
        return replace(entry, size=st.st_size, sha256=digest, sparse=sparse)
    return entry


def _tree_kind(mode: int) -> Kind:
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISFIFO(mode):
        return "fifo"
    return "file"


def _read_xattrs(path: Path) -> list[tuple[str, bytes]]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
        return [(n, os.getxattr(path, n, follow_symlinks=False)) for n in names]
    except OSError as exc:
        if exc.errno in (errno.ENOTSUP, errno.ENODATA):
            return []
        raise ExternalError(f"cannot read extended attributes of {path}: {exc.strerror}") from exc


def _read_file(path: Path, st: os.stat_result) -> tuple[str, bool]:
    h = hashlib.sha256()
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NOCTTY)
    except OSError as exc:
        raise ExternalError(f"cannot read volume file {path}: {exc.strerror}") from exc
    with os.fdopen(fd, "rb") as handle:
        sparse = _has_hole(fd, st)
        while chunk := handle.read(CHUNK):
            h.update(chunk)
    return h.hexdigest(), sparse


def _has_hole(fd: int, st: os.stat_result) -> bool:
    """A hole before the end, by SEEK_HOLE; only asked when fewer blocks are allocated
    than the size needs (GNU tar's own test for a sparse candidate)."""
    if st.st_size == 0 or st.st_blocks * 512 >= st.st_size:
        return False
    try:
        return os.lseek(fd, 0, os.SEEK_HOLE) < st.st_size
    except OSError:
        return False
    finally:
        os.lseek(fd, 0, os.SEEK_SET)


# --- a tar stream -------------------------------------------------------------------


def member_name(member: tarfile.TarInfo) -> str:
    """``./a/b`` (GNU tar's names), ``a/b/`` and ``a/b`` all as ``a/b``; the root ``.``."""
    return PurePosixPath(member.name).as_posix() or ROOT


class ArchiveReader:
    """Entries from a tar as tarfile reads it (PAX headers: xattrs, ACLs, sparse maps)."""

    def __init__(self) -> None:
        self._seen: dict[str, Entry] = {}

    def read(self, archive: tarfile.TarFile) -> list[Entry]:
        while (member := archive.next()) is not None:
            # tarfile keeps every member it read (millions of files); typeshed omits it
            archive.members.clear()  # type: ignore[attr-defined]
            entry = self._entry(member, archive)
            self._seen[entry.name] = entry
        return list(self._seen.values())

    def _entry(self, member: tarfile.TarInfo, archive: tarfile.TarFile) -> Entry:
        name = member_name(member)
        if member.islnk():
            first = self._seen.get(PurePosixPath(member.linkname).as_posix())
            if first is None or first.kind == "dir":
                raise ExternalError(
                    f"volume archive hard link {name!r} names no earlier file: {member.linkname!r}"
                )
            first = self._seen[first.name] = replace(first, inode=first.inode or first.name)
            return replace(first, name=name)
        kind = _member_kind(member)
        xattrs, acl, default = _split_xattrs(_pax_xattrs(member))
        entry = Entry(
            name=name,
            kind=kind,
            mode=member.mode & 0o7777,
            uid=member.uid,
            gid=member.gid,
            target=member.linkname if kind == "symlink" else "",
            xattrs=xattrs,
            acl=acl,
            default_acl=default,
        )
        if kind != "file":
            return entry
        data = archive.extractfile(member)
        assert data is not None  # a regular member always has a file object
        # the sparse map's (offset, bytes) segments (typeshed says int: it is a list)
        segments = cast("list[tuple[int, int]] | None", member.sparse)
        data_bytes = sum(size for _, size in segments) if segments is not None else None
        return replace(
            entry,
            size=member.size,
            sha256=_hash(data),
            sparse=data_bytes is not None and data_bytes < member.size,
        )


def _member_kind(member: tarfile.TarInfo) -> Kind:
    if member.isreg():
        return "file"
    if member.isdir():
        return "dir"
    if member.issym():
        return "symlink"
    if member.isfifo():
        return "fifo"
    what = "a device node" if member.ischr() or member.isblk() else f"of type {member.type!r}"
    raise ExternalError(f"volume archive member {member.name!r} is {what}: not backed up")


def _pax_xattrs(member: tarfile.TarInfo) -> list[tuple[str, bytes]]:
    # tarfile decodes PAX values as UTF-8 with surrogateescape: encoding back gives the bytes
    return [
        (xattr_name(key[len(XATTR_PAX) :]), value.encode("utf-8", "surrogateescape"))
        for key, value in member.pax_headers.items()
        if key.startswith(XATTR_PAX)
    ]


_KEYWORD_ESCAPES = re.compile("%(3D|25)")


def xattr_name(keyword: str) -> str:
    """An attribute's name from GNU tar's PAX keyword: tar writes ``=`` (which ends a
    keyword) as ``%3D`` and ``%`` as ``%25``, nothing else, and reads back exactly these
    two, left to right (``%253D`` is ``%3D``; ``%41`` stays ``%41``)."""
    return _KEYWORD_ESCAPES.sub(lambda m: "=" if m.group(1) == "3D" else "%", keyword)


def _hash(data: IO[bytes]) -> str:
    h = hashlib.sha256()
    while chunk := data.read(CHUNK):
        h.update(chunk)
    return h.hexdigest()
