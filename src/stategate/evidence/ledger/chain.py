"""The evidence ledger: an append-only, hash-chained index of signed records.

One JSON line per record (``evidence/ledger.jsonl``), naming the record's path,
sha256, kind and signer, the previous entry's digest and its own digest (the
sha256 of the entry's canonical JSON without ``digest``). Editing, removing or
reordering entries breaks the chain; comparing with the ledger at a base git
ref (``verify --base``) also catches a chain rewritten from scratch.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stategate.errors import ExternalError, InputError
from stategate.evidence.files import fsync_dir
from stategate.evidence.findings import Finding, FindingCode
from stategate.evidence.signing.canonical import (
    canonical_json,
    is_sha256_hex,
    parse_json,
    sha256_bytes,
)
from stategate.evidence.trust.trustfile import Role
from stategate.regularfile import describe_kind, read_regular

GENESIS = "0" * 64
MAX_LEDGER_BYTES = 64 * 1024 * 1024  # about 100,000 entries


class LedgerEntry(BaseModel):
    """One ledger line."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seq: int = Field(..., ge=1, description="1 for the first entry, then +1 each.")
    path: str = Field(..., description="Record file, repo-relative POSIX path.")
    sha256: str = Field(..., description="sha256 of the record file's bytes.")
    kind: str = Field(..., description="Short kind: backup, restore-drill, approval, ...")
    predicate_type: str
    keyid: str = Field(..., description="Key that signed the record.")
    role: Role = Field(..., description="Role the record was signed in.")
    signed_at: str
    prev: str = Field(..., description="Digest of the previous entry (zeros for the first).")
    digest: str = Field(..., description="sha256 of this entry's canonical JSON without digest.")

    def body(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"digest"})

    def computed_digest(self) -> str:
        return sha256_bytes(canonical_json(self.body()))

    def line(self) -> bytes:
        return canonical_json(self.model_dump(mode="json")) + b"\n"


def make_entry(
    *,
    seq: int,
    prev: str,
    path: str,
    sha256: str,
    kind: str,
    predicate_type: str,
    keyid: str,
    role: Role,
    signed_at: str,
) -> LedgerEntry:
    """A new entry with its digest computed."""
    body: dict[str, Any] = {
        "seq": seq,
        "path": path,
        "sha256": sha256,
        "kind": kind,
        "predicate_type": predicate_type,
        "keyid": keyid,
        "role": role.value,
        "signed_at": signed_at,
        "prev": prev,
    }
    return LedgerEntry.model_validate({**body, "digest": sha256_bytes(canonical_json(body))})


@dataclass(frozen=True)
class LedgerLine:
    number: int  # 1-based line number in the ledger file
    raw: bytes
    entry: LedgerEntry | None  # None when the line is malformed


@dataclass(frozen=True)
class ChainCheck:
    """The ledger's lines and what is wrong with the chain itself."""

    lines: tuple[LedgerLine, ...]
    findings: tuple[Finding, ...]

    @property
    def entries(self) -> tuple[LedgerEntry, ...]:
        return tuple(line.entry for line in self.lines if line.entry is not None)

    def by_path(self) -> dict[str, LedgerLine]:
        """The first ledger line naming each path."""
        found: dict[str, LedgerLine] = {}
        for line in self.lines:
            if line.entry is not None:
                found.setdefault(line.entry.path, line)
        return found


def parse_line(raw: bytes) -> LedgerEntry:
    """Parse one ledger line (``ValueError`` if malformed)."""
    try:
        doc = parse_json(raw)
        entry = LedgerEntry.model_validate(doc)
    except (ValueError, UnicodeDecodeError) as exc:
        if isinstance(exc, ValidationError):
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "entry"
            raise ValueError(f"{where}: {err['msg']}") from exc
        raise ValueError(str(exc)) from exc
    for name in ("sha256", "prev", "digest"):
        if not is_sha256_hex(getattr(entry, name)):
            raise ValueError(f"{name} is not a sha256 hex digest")
    return entry


def split_lines(data: bytes) -> list[tuple[int, bytes]]:
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()  # the final newline
    return [(i + 1, raw) for i, raw in enumerate(lines)]


def check_chain(data: bytes, *, shown: str) -> ChainCheck:
    """Parse the ledger and check its chain. Pure: takes the file's bytes.

    An unterminated final fragment that is no entry (an append killed mid-line)
    is not a line: it names nothing, and the next append removes it.
    """
    numbered = split_lines(_drop_torn_tail(data))
    lines: list[LedgerLine] = []
    findings: list[Finding] = []
    for number, raw in numbered:
        try:
            entry: LedgerEntry | None = parse_line(raw)
        except ValueError as exc:
            entry = None
            what = "blank line" if not raw.strip() else f"not a ledger entry: {exc}"
            findings.append(Finding(shown, FindingCode.LEDGER_MALFORMED, what, number))
        lines.append(LedgerLine(number, raw, entry))

    later_seqs: list[set[int]] = []
    remaining: set[int] = set()
    for line in reversed(lines):
        later_seqs.append(set(remaining))
        if line.entry is not None:
            remaining.add(line.entry.seq)
    later_seqs.reverse()

    # each entry must name the digest of the entry numbered one lower (by the digest
    # that entry claims: an edited entry is reported once, not again by its successor)
    digest_of: dict[int, str] = {0: GENESIS}
    for line in lines:
        if line.entry is not None:
            digest_of.setdefault(line.entry.seq, line.entry.digest)

    expected_seq = 1
    seen: dict[str, int] = {}
    for line, later in zip(lines, later_seqs, strict=True):
        entry = line.entry
        if entry is None:
            continue
        if entry.computed_digest() != entry.digest:
            findings.append(
                Finding(
                    shown,
                    FindingCode.ENTRY_EDITED,
                    f"entry for {entry.path} was edited: its digest does not match its content",
                    line.number,
                )
            )
        if entry.seq < expected_seq or (entry.seq > expected_seq and expected_seq in later):
            findings.append(
                Finding(
                    shown,
                    FindingCode.ENTRY_REORDERED,
                    f"entry seq {entry.seq} ({entry.path}) is out of order "
                    f"(expected seq {expected_seq} here): entries were reordered",
                    line.number,
                )
            )
        elif entry.seq > expected_seq:
            missing = (
                f"seq {expected_seq}"
                if entry.seq == expected_seq + 1
                else f"seq {expected_seq}-{entry.seq - 1}"
            )
            findings.append(
                Finding(
                    shown,
                    FindingCode.ENTRY_REMOVED,
                    f"entry {missing} before {entry.path} is missing: entries were removed",
                    line.number,
                )
            )
        wanted = digest_of.get(entry.seq - 1)
        if wanted is not None and entry.prev != wanted:
            findings.append(
                Finding(
                    shown,
                    FindingCode.CHAIN_BROKEN,
                    f"entry for {entry.path} does not chain to entry seq {entry.seq - 1} "
                    "(an entry was removed, inserted or rewritten)",
                    line.number,
                )
            )
        if entry.path in seen:
            findings.append(
                Finding(
                    shown,
                    FindingCode.DUPLICATE_ENTRY,
                    f"{entry.path} is already ledgered at line {seen[entry.path]}",
                    line.number,
                )
            )
        else:
            seen[entry.path] = line.number
        expected_seq = max(expected_seq, entry.seq + 1)
    return ChainCheck(tuple(lines), tuple(findings))


def compare_with_base(current: bytes, base: bytes, *, shown: str, ref: str) -> list[Finding]:
    """The ledger at ``ref`` must be a prefix of the current one (append-only)."""
    now_lines = split_lines(current)
    for number, raw in split_lines(base):
        if number > len(now_lines):
            return [
                Finding(
                    shown,
                    FindingCode.LEDGER_REWRITTEN,
                    f"ledger is shorter than at {ref}: entries from line {number} on were removed",
                    number,
                )
            ]
        if now_lines[number - 1][1] != raw:
            return [
                Finding(
                    shown,
                    FindingCode.LEDGER_REWRITTEN,
                    f"line differs from the ledger at {ref}: history was rewritten",
                    number,
                )
            ]
    return []


@dataclass(frozen=True)
class NewEntry:
    """What :func:`append_entry` needs to know about a record."""

    path: str
    sha256: str
    kind: str
    predicate_type: str
    keyid: str
    role: Role
    signed_at: str


# how long a writer waits for another one's append (each holds the lock for
# milliseconds: a record write and one fsynced line) before giving up clearly
LOCK_WAIT_SECONDS = 60.0
_LOCK_POLL_SECONDS = 0.02


def append_entry(
    ledger_path: Path, new: NewEntry, *, shown: str, wait: float | None = None
) -> LedgerEntry:
    """Append ``new`` under an exclusive lock, chained to the last entry; fsync'd.

    Refuses a path already in the ledger (records are write-once) and a ledger
    whose last complete line is damaged (the chain could not continue).
    """
    with locked_ledger(ledger_path, shown=shown, wait=wait) as ledger:
        return ledger.append(new)


@contextmanager
def locked_ledger(
    ledger_path: Path, *, shown: str, wait: float | None = None
) -> Iterator[LedgerWriter]:
    """The ledger opened for appending, under its exclusive lock (``flock``).

    Another writer holding the lock is waited for at most ``wait`` seconds
    (default :data:`LOCK_WAIT_SECONDS`), then this one fails with an error naming
    the ledger. The lock is released when the block ends, or by the kernel when
    the process dies (even SIGKILL).
    """
    wait = LOCK_WAIT_SECONDS if wait is None else wait
    try:
        ledger_path.parent.mkdir(parents=True, exist_ok=True)
        created = not ledger_path.exists()
        fd = _open_for_append(ledger_path, shown)
    except OSError as exc:
        raise ExternalError(f"cannot open the ledger: {exc.strerror or exc}", file=shown) from exc
    try:
        _lock(fd, wait, shown)
        yield LedgerWriter(fd, shown)
        if created:
            fsync_dir(ledger_path.parent)
    except OSError as exc:
        raise ExternalError(f"cannot append: {exc.strerror or exc}", file=shown) from exc
    finally:
        os.close(fd)  # releases the lock


def _lock(fd: int, wait: float, shown: str) -> None:
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise ExternalError(
                    f"another stategate process has been appending for over {wait:g} s "
                    "(the ledger is locked); nothing was recorded, try again",
                    file=shown,
                ) from None
            time.sleep(_LOCK_POLL_SECONDS)


class LedgerWriter:
    """Appends entries to a ledger whose lock this process holds."""

    def __init__(self, fd: int, shown: str) -> None:
        self._fd = fd
        self._shown = shown

    def last_entry(self) -> LedgerEntry | None:
        """The last entry of the ledger (None when empty or its last line is damaged)."""
        lines = split_lines(_drop_torn_tail(_read_all(self._fd, self._shown)))
        if not lines:
            return None
        try:
            return parse_line(lines[-1][1])
        except ValueError:
            return None

    def append(self, new: NewEntry) -> LedgerEntry:
        data = _read_all(self._fd, self._shown)
        complete = _drop_torn_tail(data)
        if len(complete) < len(data):
            # an append that died (or hit a full disk) mid-line: never an entry
            os.ftruncate(self._fd, len(complete))
            os.fsync(self._fd)
        # never extend a chain that does not verify: the new entry would chain onto
        # damage (an edited, removed, reordered or unreadable entry) and look sound
        checked = check_chain(complete, shown=self._shown)
        if checked.findings:
            first = checked.findings[0]
            raise InputError(
                f"the ledger's chain is damaged ({first.code.value}: {first.message}); "
                "nothing was recorded; run 'stategate evidence verify'",
                file=self._shown,
                line=first.line,
            )
        for line in checked.lines:
            if line.entry is not None and line.entry.path == new.path:
                raise InputError(
                    f"{new.path} is already ledgered", file=self._shown, line=line.number
                )
        entries = checked.entries
        last = entries[-1] if entries else None
        entry = make_entry(
            seq=last.seq + 1 if last else 1,
            prev=last.digest if last else GENESIS,
            path=new.path,
            sha256=new.sha256,
            kind=new.kind,
            predicate_type=new.predicate_type,
            keyid=new.keyid,
            role=new.role,
            signed_at=new.signed_at,
        )
        prefix = b"" if not complete or complete.endswith(b"\n") else b"\n"
        try:
            _write_all(self._fd, prefix + entry.line())
            os.fsync(self._fd)
        except BaseException:
            # a short write (disk full) must not leave half a line behind
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, len(complete))
            raise
        return entry


def _read_all(fd: int, shown: str) -> bytes:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks: list[bytes] = []
    size = 0
    while chunk := os.read(fd, 1024 * 1024):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_LEDGER_BYTES:
            raise InputError(f"ledger is over the {MAX_LEDGER_BYTES}-byte limit", file=shown)
    return b"".join(chunks)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _drop_torn_tail(data: bytes) -> bytes:
    """``data`` without a final line that lacks its newline and is no entry.

    Every entry is written whole with its newline; an unterminated fragment that
    does not parse is what a writer killed mid-write (or a full disk) leaves.
    """
    if not data or data.endswith(b"\n"):
        return data
    cut = data.rfind(b"\n") + 1
    try:
        parse_line(data[cut:])
    except ValueError:
        return data[:cut]
    return data


def _open_for_append(ledger_path: Path, shown: str) -> int:
    """The ledger opened for reading and appending: a regular file, never a symlink."""
    flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(ledger_path, flags, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputError("is a symlink, not a regular file; refused", file=shown) from None
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise InputError(
            f"is {describe_kind(info.st_mode)}, not a regular file; refused", file=shown
        )
    os.set_blocking(fd, True)
    return fd


def read_ledger(ledger_path: Path, *, shown: str, root: Path | None = None) -> bytes:
    """The ledger's bytes (a regular file inside ``root``, bounded); absent is empty."""
    try:
        return read_regular(ledger_path, MAX_LEDGER_BYTES, shown=shown, root=root)
    except FileNotFoundError:
        return b""


def paths_of(entries: Sequence[LedgerEntry]) -> set[str]:
    return {e.path for e in entries}
