"""The one way stategate reads a file a user or a pull request supplies.

Only regular files are read, never more than a size limit, and (given the repo
root) only inside the repo: a FIFO would block forever, a device (``/dev/zero``)
never ends and reports size 0, and a symlink may point anywhere. The file is
opened without following a final symlink and without blocking, and the checks
are made on the opened descriptor (``fstat``), so what is checked is what is
read. Every refusal is an :class:`InputError` naming the file as shown.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from stategate.errors import InputError

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)  # a FIFO opens at once instead of waiting for a writer
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


def describe_kind(mode: int) -> str:
    """What a non-regular file is, for messages: 'a FIFO', 'a device', ..."""
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a directory"
    return "not a regular file"


def resolve_inside(path: Path, root: Path, *, shown: str) -> Path:
    """``path`` with every symlink resolved, refused when that leaves ``root``.

    A symlink loop does not raise here (``os.path.realpath`` stops at it); opening
    the result then fails with ``ELOOP`` and is reported as a loop.
    """
    real_root = Path(os.path.realpath(root))
    real = Path(os.path.realpath(path))
    if real != real_root and not real.is_relative_to(real_root):
        raise InputError("resolves outside the repository (symlink?); refused", file=shown)
    return real


def read_regular(path: Path, limit: int, *, shown: str, root: Path | None = None) -> bytes:
    """The bytes of the regular file ``path`` (at most ``limit``); refusals name ``shown``.

    With ``root``, symlinks are followed only while they stay inside ``root``.
    A missing file raises ``FileNotFoundError`` (callers word "not found" their way).
    """
    target = resolve_inside(path, root, shown=shown) if root is not None else path
    try:
        # inside a root the target is already resolved: a symlink now is a swap or a loop
        fd = os.open(target, _OPEN_FLAGS | _NOFOLLOW if root is not None else _OPEN_FLAGS)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise InputError(_open_problem(exc), file=shown) from None
    except ValueError:  # an embedded NUL byte, a lone surrogate
        raise InputError("invalid file name", file=shown) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InputError(
                f"is {describe_kind(info.st_mode)}, not a regular file; refused", file=shown
            )
        if info.st_size > limit:
            raise InputError(
                f"file is too large: {info.st_size} bytes, over the {limit}-byte limit", file=shown
            )
        os.set_blocking(fd, True)
        data = _read_upto(fd, limit + 1)
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", file=shown) from None
    finally:
        os.close(fd)
    if len(data) > limit:  # grew since fstat (or a /proc-style file reporting size 0)
        raise InputError(f"file is too large: over the {limit}-byte limit", file=shown)
    return data


def _open_problem(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "is a symlink loop (or a symlink that cannot be followed); refused"
    if exc.errno == errno.EISDIR:
        return "is a directory, not a file"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.ENOTDIR:
        return "a part of the path is not a directory"
    if exc.errno == errno.ENAMETOOLONG:
        return "file name too long"
    return f"cannot open: {exc.strerror or exc}"


def _read_upto(fd: int, size: int) -> bytes:
    chunks: list[bytes] = []
    remaining = size
    while remaining > 0:
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)
