"""Writing signed records into the platform repo and loading them back verified.

This is the one-call API for evidence producers (:func:`write_signed`) and for
the gate (:func:`load_verified`). A record counts only if its file is ledgered
with the same sha256, the ledger's chain is intact, and its signature verifies
with a key trusted for the record's role at signing time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from stategate.errors import InputError
from stategate.evidence.files import read_bounded
from stategate.evidence.findings import FindingCode, Problem, VerificationError
from stategate.evidence.layout import RepoLayout
from stategate.evidence.ledger.chain import (
    ChainCheck,
    LedgerEntry,
    LedgerWriter,
    NewEntry,
    check_chain,
    locked_ledger,
    read_ledger,
)
from stategate.evidence.ledger.commit import (
    discard_pending,
    finish_interrupted,
    publish,
    write_pending,
)
from stategate.evidence.signing.canonical import sha256_bytes
from stategate.evidence.signing.dsse import Envelope, EnvelopeError, parse_envelope
from stategate.evidence.signing.sign import Signer, check_envelope, decode_statement, sign_statement
from stategate.evidence.signing.statement import Statement
from stategate.evidence.trust.keys import SigningKey
from stategate.evidence.trust.trustfile import Role, TrustRoots, load_trust

MAX_RECORD_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class VerifiedRecord:
    """A record that counts: its statement and the proven signer."""

    path: str  # repo-relative
    sha256: str  # of the record file
    statement: Statement
    signer: Signer


@dataclass(frozen=True)
class RecordFile:
    path: str
    data: bytes
    sha256: str


def read_record_file(layout: RepoLayout, rel: str) -> RecordFile:
    """Read a record file (bounded; refuses symlinks and paths outside the repo)."""
    path = layout.path(rel)
    if path.is_symlink():
        raise InputError("record is a symlink; records must be regular files", file=rel)
    layout.real_folders(rel)
    layout.inside(rel)
    data = read_bounded(path, MAX_RECORD_BYTES, shown=rel, root=layout.root)
    return RecordFile(rel, data, sha256_bytes(data))


def parse_record(record: RecordFile) -> Envelope:
    try:
        return parse_envelope(record.data)
    except EnvelopeError as exc:
        raise VerificationError(
            record.path, [Problem(FindingCode.RECORD_MALFORMED, str(exc))]
        ) from exc


class EvidenceStore:
    """The evidence of one platform repo: trust roots loaded once, ledger cached."""

    def __init__(self, layout: RepoLayout, trust: TrustRoots, *, now: datetime | None = None):
        self.layout = layout
        self.trust = trust
        self.now = now
        self._chain: ChainCheck | None = None

    @classmethod
    def open(cls, layout: RepoLayout, *, now: datetime | None = None) -> EvidenceStore:
        """Open the evidence at ``layout`` with the trust file found there; a malformed
        trust file is an ``InputError`` naming it."""
        trust = load_trust(
            layout.path(layout.trust_file), shown=layout.trust_file, root=layout.root
        )
        return cls(layout, trust, now=now)

    def chain(self) -> ChainCheck:
        if self._chain is None:
            data = read_ledger(
                self.layout.path(self.layout.ledger),
                shown=self.layout.ledger,
                root=self.layout.root,
            )
            self._chain = check_chain(data, shown=self.layout.ledger)
        return self._chain

    def entries(self, kind: str | None = None) -> tuple[LedgerEntry, ...]:
        """Ledger entries in order, optionally of one kind (``backup``, ``approval``, ...).

        Listing is not verifying: load each record with :meth:`load_verified`.
        """
        return tuple(e for e in self.chain().entries if kind is None or e.kind == kind)

    def write_signed(
        self,
        relpath: str,
        statement: Statement | Mapping[str, Any],
        key: SigningKey,
        role: Role,
        *,
        signed_at: datetime | None = None,
    ) -> VerifiedRecord:
        """Sign ``statement``, write it atomically to ``relpath`` and ledger it.

        Refuses (before writing anything) a key the trust file does not allow for
        ``role``, and never overwrites a record. The record file appears only after
        its ledger line is durable, so no unledgered record is ever left behind.
        """
        rel = self.layout.record_rel(relpath)
        self.layout.real_folders(rel)
        try:
            envelope = sign_statement(statement, key, role, signed_at=signed_at)
        except ValueError as exc:
            raise InputError(f"cannot sign: {exc}", file=rel) from exc
        check = check_envelope(envelope, self.trust, now=self.now)
        if not check.ok or check.statement is None or check.signer is None:
            raise VerificationError(rel, check.problems)
        data = envelope.to_json()
        target = self.layout.path(rel)
        digest = sha256_bytes(data)
        # the ledger line is the commit point (see stategate.evidence.ledger.commit): a writer
        # killed before it leaves nothing that names a record, one killed after it
        # leaves a ledgered record that the next writer puts in place
        with self._locked_ledger() as ledger:
            finish_interrupted(self.layout, ledger)
            if target.exists():
                raise InputError("file already exists; records are never overwritten", file=rel)
            write_pending(self.layout, data, shown=rel)
            try:
                self._append(rel, digest, check.statement, check.signer, ledger)
            except BaseException:
                discard_pending(self.layout)
                raise
            publish(self.layout, rel)
        return VerifiedRecord(rel, digest, check.statement, check.signer)

    def append(
        self, record_path: str | os.PathLike[str], *, require_trusted: bool = True
    ) -> LedgerEntry:
        """Ledger an existing record file (written by other means).

        With ``require_trusted`` (the default) the record must verify first.
        """
        rel = self.layout.record_rel(self.layout.to_rel(record_path))
        record = read_record_file(self.layout, rel)
        envelope = parse_record(record)
        if require_trusted:
            check = check_envelope(envelope, self.trust, now=self.now)
            if not check.ok or check.statement is None or check.signer is None:
                raise VerificationError(rel, check.problems)
            return self._append(rel, record.sha256, check.statement, check.signer)
        try:
            statement, claim = decode_statement(envelope)
        except ValueError as exc:
            raise VerificationError(rel, [Problem(FindingCode.RECORD_MALFORMED, str(exc))]) from exc
        signer = Signer(claim.keyid, None, claim.role, claim.signed_time)
        return self._append(rel, record.sha256, statement, signer)

    def _locked_ledger(self) -> AbstractContextManager[LedgerWriter]:
        return locked_ledger(self.layout.path(self.layout.ledger), shown=self.layout.ledger)

    def _append(
        self,
        rel: str,
        digest: str,
        statement: Statement,
        signer: Signer,
        ledger: LedgerWriter | None = None,
    ) -> LedgerEntry:
        claim = statement.signer_claim()
        signed_at = claim.signed_at if claim else ""
        if ledger is None:
            with self._locked_ledger() as writer:
                return self._append(rel, digest, statement, signer, writer)
        entry = ledger.append(
            NewEntry(
                path=rel,
                sha256=digest,
                kind=statement.kind,
                predicate_type=statement.predicate_type,
                keyid=signer.keyid,
                role=signer.role,
                signed_at=signed_at,
            )
        )
        self._chain = None
        return entry

    def load_verified(self, record_path: str | os.PathLike[str]) -> VerifiedRecord:
        """Load a record that counts, or raise :class:`VerificationError` saying why not."""
        rel = self.layout.record_rel(self.layout.to_rel(record_path))
        chain = self.chain()
        problems: list[Problem] = [
            Problem(f.code, f"ledger line {f.line}: {f.message}") for f in chain.findings
        ]
        line = chain.by_path().get(rel)
        try:
            record = read_record_file(self.layout, rel)
        except InputError as exc:
            raise VerificationError(
                rel, [*problems, Problem(FindingCode.RECORD_MISSING, exc.message)]
            ) from exc
        if line is None or line.entry is None:
            problems.append(Problem(FindingCode.UNLEDGERED_RECORD, f"not in {self.layout.ledger}"))
        elif line.entry.sha256 != record.sha256:
            problems.append(
                Problem(
                    FindingCode.RECORD_EDITED, "sha256 differs from the ledger: record was edited"
                )
            )
        try:
            envelope = parse_record(record)
        except VerificationError as exc:  # keep what the ledger said (e.g. record-edited)
            raise VerificationError(rel, [*problems, *exc.problems]) from exc
        check = check_envelope(envelope, self.trust, now=self.now)
        problems.extend(check.problems)
        if line is not None and line.entry is not None and check.claim is not None:
            resigned = resign_problem(line.entry, check.claim.keyid, check.claim.role)
            if resigned is not None:
                problems.append(resigned)
        if problems or check.statement is None or check.signer is None:
            raise VerificationError(rel, problems)
        return VerifiedRecord(rel, record.sha256, check.statement, check.signer)


def resign_problem(entry: LedgerEntry, keyid: str, role: Role) -> Problem | None:
    """A record now signed by another key (or in another role) than when it was ledgered."""
    if entry.keyid == keyid and entry.role is role:
        return None
    return Problem(
        FindingCode.RESIGNED,
        f"signed by key {keyid} as {role.value}, but the ledger records key {entry.keyid} "
        f"as {entry.role.value}: re-signed",
    )


def record_files(layout: RepoLayout) -> list[tuple[str, bool]]:
    """Every ``*.json`` under the evidence folder (repo-relative, sorted) and whether it
    is a symlink; symlinked folders are listed as symlinks and not followed."""
    base = layout.path(layout.evidence_dir)
    found: list[tuple[str, bool]] = []
    for folder, dirs, files in os.walk(base, followlinks=False):
        dirs.sort()
        for name in dirs:
            if (Path(folder) / name).is_symlink():  # not followed: report it
                found.append(((Path(folder) / name).relative_to(layout.root).as_posix(), True))
        for name in files:
            if not name.endswith(".json") or name.startswith("."):
                continue
            full = Path(folder) / name
            rel = full.relative_to(layout.root).as_posix()
            found.append((rel, full.is_symlink()))
    return sorted(found)
