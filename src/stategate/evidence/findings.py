"""What verification can find wrong, as typed values (printing happens in the CLI)."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from stategate.errors import ExitCode, StategateError


class FindingCode(enum.StrEnum):
    # the ledger itself
    LEDGER_MALFORMED = "ledger-malformed"  # a line that is not a ledger entry
    ENTRY_EDITED = "entry-edited"  # an entry whose own digest does not match
    CHAIN_BROKEN = "chain-broken"  # prev does not name the previous entry
    ENTRY_REMOVED = "entry-removed"  # a gap in the sequence numbers
    ENTRY_REORDERED = "entry-reordered"  # sequence numbers out of order
    DUPLICATE_ENTRY = "duplicate-entry"  # the same record ledgered twice
    LEDGER_REWRITTEN = "ledger-rewritten"  # differs from the ledger at the base ref
    # records
    RECORD_MISSING = "record-missing"  # ledgered, but the file is gone
    RECORD_EDITED = "record-edited"  # the file's sha256 differs from the ledger
    UNLEDGERED_RECORD = "unledgered-record"  # a record file the ledger does not name
    RECORD_MALFORMED = "record-malformed"  # not a DSSE envelope over a Statement
    UNSAFE_PATH = "unsafe-path"  # absolute, '..', or a symlink
    RESIGNED = "re-signed"  # signed by another key than the ledger says
    # signatures and trust
    BAD_SIGNATURE = "bad-signature"  # forged or corrupted signature
    UNKNOWN_KEY = "unknown-key"  # key not in the trust file
    WRONG_ROLE = "wrong-role"  # key or claim outside the role the record needs
    KEY_NOT_YET_VALID = "key-not-yet-valid"
    KEY_EXPIRED = "key-expired"  # expired at signing time
    KEY_REVOKED = "key-revoked"  # revoked at signing time
    SIGNED_IN_FUTURE = "signed-in-future"
    # artifacts
    ARTIFACT_MISMATCH = "artifact-mismatch"  # sha256 differs from the record's subject


@dataclass(frozen=True)
class Problem:
    """One reason something does not verify."""

    code: FindingCode
    message: str


@dataclass(frozen=True)
class Finding:
    """A problem located in a file (and line, for the ledger)."""

    file: str
    code: FindingCode
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.code.value}: {self.message}"


class VerificationError(StategateError):
    """Evidence that does not verify; it must not count (the gate reports ``blocked``)."""

    exit_code = ExitCode.BLOCKED

    def __init__(self, file: str, problems: Iterable[Problem]):
        self.problems = tuple(problems)
        text = "; ".join(f"{p.code.value}: {p.message}" for p in self.problems)
        super().__init__(text or "does not verify", file=file)
