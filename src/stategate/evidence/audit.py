"""``verify``: audit every record, the ledger and (where reachable) the artifacts."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stategate.errors import InputError
from stategate.evidence.findings import Finding, FindingCode, VerificationError
from stategate.evidence.layout import RepoLayout, safe_relpath
from stategate.evidence.ledger.chain import (
    MAX_LEDGER_BYTES,
    LedgerEntry,
    check_chain,
    compare_with_base,
    read_ledger,
)
from stategate.evidence.signing.canonical import sha256_file
from stategate.evidence.signing.sign import check_envelope
from stategate.evidence.signing.statement import APPROVAL_KIND, Statement
from stategate.evidence.store import (
    EvidenceStore,
    parse_record,
    read_record_file,
    record_files,
    resign_problem,
)
from stategate.execute import run

VERIFY_SCHEMA = "stategate.evidence-verify/v1"


@dataclass
class VerifyReport:
    """Everything ``stategate evidence verify`` found. ``ok`` when there are no findings."""

    records: int = 0  # ledger entries checked
    artifacts_checked: int = 0
    artifacts_unreachable: int = 0
    findings: list[Finding] = field(default_factory=list)
    # (record, artifact, why) for each unreachable artifact, so none is left unnamed
    unreachable: list[tuple[str, str, str]] = field(default_factory=list)

    def add_unreachable(self, record: str, artifact: str, why: str) -> None:
        self.artifacts_unreachable += 1
        self.unreachable.append((record, artifact, why))

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_json_obj(self) -> dict[str, Any]:
        return {
            "schema": VERIFY_SCHEMA,
            "ok": self.ok,
            "records": self.records,
            "artifacts": {
                "checked": self.artifacts_checked,
                "unreachable": self.artifacts_unreachable,
                "unreachable_files": [
                    {"record": rec, "artifact": name, "why": why}
                    for rec, name, why in self.unreachable
                ],
            },
            "findings": [
                {"file": f.file, "line": f.line, "code": f.code.value, "message": f.message}
                for f in self.findings
            ],
        }


def verify(
    store: EvidenceStore,
    *,
    artifacts: str | os.PathLike[str] | None = None,
    base_ref: str | None = None,
) -> VerifyReport:
    """Audit the evidence of an opened store (its layout, its trust roots, its clock).

    Finds edited, removed, reordered, duplicated or unledgered records; forged,
    re-signed or wrongly-signed records (unknown key, wrong role, key expired or
    revoked at signing time); with ``artifacts``, artifacts whose sha256 no longer
    matches a record's subject; with ``base_ref``, a ledger that is not an
    append-only extension of the ledger at that git ref. The caller opens the store
    with the trust roots to judge by (the base revision's, when judging a PR).
    """
    layout = store.layout
    report = VerifyReport()
    data = read_ledger(layout.path(layout.ledger), shown=layout.ledger, root=layout.root)
    chain = check_chain(data, shown=layout.ledger)
    report.findings.extend(chain.findings)
    if base_ref is not None:
        base = _ledger_at(layout, base_ref)
        report.findings.extend(compare_with_base(data, base, shown=layout.ledger, ref=base_ref))

    artifact_root = Path(artifacts) if artifacts is not None else None
    hashed: dict[Path, str] = {}
    ledgered: set[str] = set()
    for line in chain.lines:
        entry = line.entry
        if entry is None or entry.path in ledgered:
            continue
        ledgered.add(entry.path)
        report.records += 1
        statement = _check_record(store, entry, line.number, report)
        # approvals name repo files (the packet), not artifacts
        if statement is not None and artifact_root is not None and statement.kind != APPROVAL_KIND:
            _check_artifacts(entry.path, statement, artifact_root, hashed, report)

    for rel, is_symlink in record_files(layout):
        if is_symlink:
            report.findings.append(
                Finding(
                    rel, FindingCode.UNSAFE_PATH, "symlink in the evidence folder (not followed)"
                )
            )
        elif rel not in ledgered:
            report.findings.append(
                Finding(
                    rel,
                    FindingCode.UNLEDGERED_RECORD,
                    f"record file is not in {layout.ledger} (inserted or never ledgered)",
                )
            )
    return report


def _check_record(
    store: EvidenceStore, entry: LedgerEntry, number: int, report: VerifyReport
) -> Statement | None:
    layout = store.layout
    try:
        rel = safe_relpath(entry.path)
    except InputError:
        rel = ""
    if not rel or not layout.is_record(rel):
        report.findings.append(
            Finding(
                layout.ledger,
                FindingCode.UNSAFE_PATH,
                f"ledger names {entry.path!r}, which is not a record path under "
                f"{layout.evidence_dir}/",
                number,
            )
        )
        return None
    target = layout.path(rel)
    if not target.exists() and not target.is_symlink():
        report.findings.append(
            Finding(
                rel,
                FindingCode.RECORD_MISSING,
                f"ledgered at {layout.ledger}:{number} but the file is gone",
            )
        )
        return None
    try:
        record = read_record_file(layout, rel)
    except InputError as exc:
        report.findings.append(Finding(rel, FindingCode.UNSAFE_PATH, exc.message))
        return None
    if record.sha256 != entry.sha256:
        report.findings.append(
            Finding(
                rel,
                FindingCode.RECORD_EDITED,
                f"sha256 {record.sha256[:12]}... differs from {entry.sha256[:12]}... in "
                f"{layout.ledger}:{number}: record was edited",
            )
        )
    try:
        envelope = parse_record(record)
    except VerificationError as exc:
        report.findings.extend(Finding(rel, p.code, p.message) for p in exc.problems)
        return None
    check = check_envelope(envelope, store.trust, now=store.now)
    report.findings.extend(Finding(rel, p.code, p.message) for p in check.problems)
    if check.claim is not None:
        problem = resign_problem(entry, check.claim.keyid, check.claim.role)
        if problem is not None:
            report.findings.append(Finding(rel, problem.code, problem.message))
    return check.statement


def _check_artifacts(
    rel: str,
    statement: Statement,
    root: Path,
    hashed: dict[Path, str],
    report: VerifyReport,
) -> None:
    """Subjects named by a relative path that exists under ``root`` must match by sha256,
    and so must a backup's parts as they are stored (encrypted: their digest needs no key).

    Subjects that are not files there (image names, artifacts on another host or in an
    S3 repository) are counted as unreachable, not as findings.
    """
    resolved_root = Path(os.path.realpath(root))
    for subject_name, expected in _expected_files(statement):
        try:
            name = safe_relpath(subject_name)
        except InputError:
            report.add_unreachable(rel, subject_name, "not a file path (an image or a remote)")
            continue
        path = Path(os.path.realpath(resolved_root / name))
        if not path.is_relative_to(resolved_root):
            report.add_unreachable(rel, name, "leads outside the artifacts folder")
            continue
        if not path.is_file():
            sealed = path.with_name(path.name + ".age").is_file()
            why = (
                "stored encrypted (.age): its plaintext digest needs the age identity; "
                "the stored part is checked instead"
                if sealed
                else f"not found under {root}"
            )
            report.add_unreachable(rel, name, why)
            continue
        if path not in hashed:
            hashed[path] = sha256_file(path)
        report.artifacts_checked += 1
        if hashed[path] != expected:
            report.findings.append(
                Finding(
                    rel,
                    FindingCode.ARTIFACT_MISMATCH,
                    f"artifact {name} has sha256 {hashed[path][:12]}..., the record says "
                    f"{expected[:12]}...",
                )
            )


def _expected_files(statement: Statement) -> list[tuple[str, str]]:
    """(relative path, sha256) of every file a record describes: its subjects, and the
    stored form of a backup's encrypted parts."""
    files = [
        (s.name, s.digest["sha256"]) for s in statement.subject if s.name and "sha256" in s.digest
    ]
    pred = statement.predicate
    location, artifacts = pred.get("location"), pred.get("artifacts")
    if statement.kind == "backup" and isinstance(location, str) and isinstance(artifacts, list):
        for artifact in artifacts:
            if not isinstance(artifact, dict):
                continue
            stored, digest = artifact.get("stored_name"), artifact.get("stored_sha256")
            if isinstance(stored, str) and isinstance(digest, str):
                files.append((f"{location}/{stored}", digest))
    return files


def _ledger_at(layout: RepoLayout, ref: str) -> bytes:
    """The ledger's bytes at git ``ref`` (empty if it did not exist there)."""
    if ref.startswith("-"):
        raise InputError("a git ref must not start with '-'", file=ref)
    found = run(
        ["git", "-C", str(layout.root), "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
        check=False,
    )
    if found.returncode != 0:
        raise InputError("not a commit in this repo", file=ref)
    blob = f"{ref}:./{layout.ledger}"
    size = run(["git", "-C", str(layout.root), "cat-file", "-s", blob], check=False)
    if size.returncode != 0:
        return b""
    if int(size.stdout.strip() or 0) > MAX_LEDGER_BYTES:  # refused before it is read
        raise InputError(
            f"ledger at {ref} is over the {MAX_LEDGER_BYTES}-byte limit", file=layout.ledger
        )
    shown = run(["git", "-C", str(layout.root), "cat-file", "blob", blob], check=False)
    return shown.stdout if shown.returncode == 0 else b""
