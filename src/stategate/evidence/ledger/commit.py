"""Committing one record: its ledger line is the commit point.

Under the ledger's lock a record is written to one hidden pending file in the
evidence folder (fsynced), its ledger line is appended (fsynced: from then on
it is recorded), and only then is it moved to its name. So a writer killed
before the ledger line leaves only the pending file, which names nothing (no
record file without a ledger line, ever); one killed after it leaves a ledgered
record not yet in place, which the next writer moves into place once its
sha256 matches the ledger's last line. Writers are serialised by the lock, so
there is at most one pending file, and only the last ledger line can be the
one it belongs to.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from stategate.errors import ExternalError, InputError, StategateError
from stategate.evidence.files import fsync_dir, read_bounded
from stategate.evidence.layout import RepoLayout
from stategate.evidence.ledger.chain import LedgerWriter
from stategate.evidence.signing.canonical import sha256_bytes

PENDING_NAME = ".pending-record"


def pending_path(layout: RepoLayout) -> Path:
    return layout.path(layout.evidence_dir) / PENDING_NAME


def write_pending(layout: RepoLayout, data: bytes, *, shown: str) -> Path:
    """Write ``data`` (a signed record) to the pending file, durably."""
    path = pending_path(layout)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        discard_pending(layout)
        raise ExternalError(f"cannot write: {exc.strerror or exc}", file=shown) from exc
    return path


def discard_pending(layout: RepoLayout) -> None:
    with contextlib.suppress(OSError):
        pending_path(layout).unlink()


def publish(layout: RepoLayout, rel: str) -> None:
    """Move the pending file to record ``rel`` (never over an existing file)."""
    pending, target = pending_path(layout), layout.path(rel)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(pending, target)
        os.unlink(pending)
        fsync_dir(target.parent)
        fsync_dir(pending.parent)
    except FileExistsError as exc:
        raise InputError("file already exists; records are never overwritten", file=rel) from exc
    except OSError as exc:
        raise ExternalError(
            f"recorded in the ledger but not put in place ({exc.strerror or exc}); "
            "the next record written completes it",
            file=rel,
        ) from exc


def finish_interrupted(layout: RepoLayout, ledger: LedgerWriter) -> str | None:
    """Complete or discard what a killed writer left; returns the record put in place.

    Call with the ledger's lock held (``ledger``).
    """
    pending = pending_path(layout)
    if not pending.is_file() or pending.is_symlink():
        return None
    last = ledger.last_entry()
    try:
        data = read_bounded(pending, 16 * 1024 * 1024, shown=PENDING_NAME)
        if last is None or sha256_bytes(data) != last.sha256:
            return None  # never ledgered: it names nothing
        rel = layout.record_rel(last.path)
        if layout.path(rel).exists():
            return None
        publish(layout, rel)
        return rel
    except StategateError:
        return None
    finally:
        discard_pending(layout)
