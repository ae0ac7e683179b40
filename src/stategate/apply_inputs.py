"""The I/O edge of the apply stage: verified evidence facts, artifact checks and
approval checks, read from one revision and judged with trust from the base.

* Evidence records, the ledger, approvals and packets come from the **head
  revision's git objects** (extracted into a private folder), never from the work
  tree, so ``check --head REV`` judges exactly REV.
* Trust roots come from the base (:mod:`stategate.evidence.trust.roots`), so a pull request
  cannot bring its own key.
* Every artifact the gate relies on is hashed against its record (size and sha256,
  streamed) where the artifacts folder is reachable.

:func:`stategate.policy.apply_gate.evaluate_apply` stays pure.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from stategate import execute
from stategate.diff.changes import runtime_digest
from stategate.errors import InputError, StategateError
from stategate.evidence.approvals.approval import ApprovalExpectation
from stategate.evidence.approvals.packet import PacketFacts, read_packet
from stategate.evidence.approvals.store import check_approval
from stategate.evidence.findings import VerificationError
from stategate.evidence.layout import APPROVALS_SCOPE, RepoLayout
from stategate.evidence.records.artifact import PartInfo, verify_parts
from stategate.evidence.records.predicates import (
    BackupPredicate,
    DrDrillPredicate,
    DrillPredicate,
    PrunePredicate,
    RehearsalPredicate,
    SmokePredicate,
)
from stategate.evidence.records.typed import StoredRecord, list_records, read_record
from stategate.evidence.store import EvidenceStore
from stategate.evidence.trust.roots import TrustBase
from stategate.packet import LoadedPacket
from stategate.policy.apply_gate import (
    ApplyFacts,
    ApprovalChecker,
    ApprovalResult,
    ArtifactCheck,
    ArtifactChecker,
    EvidenceFact,
)
from stategate.policy.classify import Module

MAX_EXTRACT_BYTES = 64 * 1024 * 1024  # one evidence file from git (records are far smaller)
MAX_EXTRACT_TOTAL = 1024 * 1024 * 1024  # the whole evidence folder of one revision


@contextmanager
def evidence_at_revision(
    repo: Path, rev: str, trust: TrustBase, packets: Sequence[LoadedPacket], now: datetime
) -> Iterator[EvidenceStore]:
    """The evidence folder and packets of ``rev`` (git objects) as a store judged with
    ``trust``; the extracted copy is removed afterwards."""
    settings = trust.policy.policy.evidence
    evidence_dir = settings.dir.strip("/")
    with tempfile.TemporaryDirectory(prefix="stategate-rev-") as tmp:
        root = Path(tmp)
        _extract(repo, rev, [evidence_dir, *(p.path for p in packets)], root)
        layout = RepoLayout(root, evidence_dir, settings.trust_file)
        yield EvidenceStore(layout, trust.roots, now=now)


def _extract(repo: Path, rev: str, paths: Sequence[str], into: Path) -> None:
    """Write the regular files under ``paths`` at ``rev`` into ``into``, from git objects.

    Not ``git archive``: that applies the tree's own ``.gitattributes`` (export-subst,
    export-ignore), which the pull request controls. Symlinks and submodules are
    skipped (a record must be a regular file; a missing one simply does not count).
    """
    listed = execute.run(
        ["git", "-C", str(repo), "ls-tree", "-r", "-z", "-l", "--full-tree", rev, "--", *paths],
        check=False,
    )
    if listed.returncode != 0:
        raise InputError(f"cannot list revision {rev[:12]}", file=str(repo))
    blobs: list[tuple[str, str, int]] = []  # (path, sha, size)
    for entry in listed.stdout.split(b"\0"):
        if not entry:
            continue
        meta, _, raw_path = entry.partition(b"\t")
        mode, kind, sha, size = meta.decode().split()
        path = raw_path.decode("utf-8", "surrogateescape")
        if kind != "blob" or mode not in ("100644", "100755"):
            continue
        if int(size) > MAX_EXTRACT_BYTES:
            raise InputError(
                f"file is {size} bytes at {rev[:12]}, over the {MAX_EXTRACT_BYTES}-byte limit",
                file=path,
            )
        blobs.append((path, sha, int(size)))
    total = sum(size for _, _, size in blobs)
    if total > MAX_EXTRACT_TOTAL:
        raise InputError(
            f"the evidence at {rev[:12]} is {total} bytes, over the {MAX_EXTRACT_TOTAL}-byte limit",
            file=paths[0] if paths else str(repo),
        )
    if not blobs:
        return  # nothing there: no evidence at that revision
    done = execute.run(
        ["git", "-C", str(repo), "cat-file", "--batch"],
        input=b"".join(sha.encode() + b"\n" for _, sha, _ in blobs),
        check=False,
    )
    if done.returncode != 0:
        raise InputError(f"cannot read the evidence of revision {rev[:12]}", file=str(repo))
    out, at = done.stdout, 0
    root = into.resolve()
    for path, sha, length in blobs:
        header_end = out.index(b"\n", at)
        if out[at:header_end].split() != [sha.encode(), b"blob", str(length).encode()]:
            raise InputError(f"git cat-file answered out of order for {path}", file=str(repo))
        data = out[header_end + 1 : header_end + 1 + length]
        at = header_end + 1 + length + 1
        target = (root / path).resolve()
        if not target.is_relative_to(root):
            raise InputError(f"path escapes the repository at {rev[:12]}", file=path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def evidence_facts(store: EvidenceStore) -> list[EvidenceFact]:
    """The facts the gate judges: every record that counts, except prune records and the
    backups they deleted (a backup whose artifacts are gone backs nothing)."""
    records = list_records(store)
    pruned = {
        p.backup_record
        for r in records
        if isinstance(r.statement.predicate, PrunePredicate)
        for p in r.statement.predicate.pruned
    }
    return [
        _fact(r)
        for r in records
        if not isinstance(r.statement.predicate, PrunePredicate) and r.rel not in pruned
    ]


def _fact(record: StoredRecord) -> EvidenceFact:
    pred = record.statement.predicate
    assert not isinstance(pred, PrunePredicate)  # evidence_facts leaves them out
    if isinstance(pred, DrDrillPredicate):
        return EvidenceFact(
            path=record.rel,
            sha256=record.sha256,
            kind=pred.kind,
            module=None,
            result=pred.result,
            finished=pred.finished,
            covers=tuple(m.module for m in pred.modules if m.result == "pass"),
        )
    backup_id: str | None = None
    backup_record: str | None = None
    match: bool | None = None
    engine: str | None = None
    server_version = pred.source.server_version
    target: str | None = None
    check_kinds: tuple[str, ...] = ()
    steps: tuple[tuple[str, str], ...] = ()
    rollback: str | None = None
    target_image: str | None = None
    copies: tuple[str, ...] = ()
    address: str | None = None
    role: str | None = None
    server_ids: tuple[tuple[str, str], ...] = ()
    if isinstance(pred, BackupPredicate):
        backup_id = pred.backup_id
        copies = tuple(c.repository for c in pred.copies)
        address, role = pred.source.address, pred.source.role
        server_ids = tuple(sorted(pred.source.server_ids.items()))
    elif isinstance(pred, DrillPredicate):
        backup_id, backup_record = pred.backup_id, pred.backup_record
        match = pred.fingerprint.match if pred.fingerprint else None
        engine = pred.engine.name
        # the version the drill ran on: the sandbox's, not the source's
        server_version = (pred.sandbox.server_version if pred.sandbox else None) or (
            pred.engine.version
        )
    elif isinstance(pred, RehearsalPredicate):
        backup_id, backup_record = pred.backup_id, pred.backup_record
        match = pred.fingerprint.match if pred.fingerprint else None
        engine = pred.engine.name
        server_version = pred.target_version  # the version it upgraded to
        steps = tuple((s.name, s.result) for s in pred.steps)
        rollback = pred.rollback.kind
        target_image = pred.target_image
    elif isinstance(pred, SmokePredicate):
        target, check_kinds = pred.target, tuple(c.kind for c in pred.checks)
    return EvidenceFact(
        path=record.rel,
        sha256=record.sha256,
        kind=pred.kind,
        module=pred.module,
        result=pred.result,
        finished=pred.finished,
        image_digest=pred.source.image_digest,
        backup_id=backup_id,
        backup_record=backup_record,
        target=target,
        fingerprint_match=match,
        check_kinds=check_kinds,
        engine=engine,
        server_version=server_version,
        steps=steps,
        rollback=rollback,
        target_image=target_image,
        copies=copies,
        address=address,
        role=role,
        server_ids=server_ids,
    )


def artifact_checker(store: EvidenceStore, artifacts: Path | None) -> ArtifactChecker:
    """Checks the artifacts behind the records the gate relies on (size and sha256,
    streamed): a backup's own parts, and the backups a drill or DR drill restored."""

    def check(relied: Sequence[str]) -> list[ArtifactCheck]:
        backups: dict[str, None] = {}
        for rel in relied:
            for backup in _backups_behind(store, rel):
                backups.setdefault(backup)
        return [_check_backup(store, rel, artifacts) for rel in backups]

    return check


def _backups_behind(store: EvidenceStore, rel: str) -> list[str]:
    try:
        pred = read_record(store, rel).statement.predicate
    except (VerificationError, InputError):
        return []  # the gate only relies on records that verified; nothing to add
    if isinstance(pred, BackupPredicate):
        return [rel]
    if isinstance(pred, DrillPredicate | RehearsalPredicate):
        return [pred.backup_record]
    if isinstance(pred, DrDrillPredicate):
        return [m.backup_record for m in pred.modules if m.backup_record]
    return []


def _check_backup(store: EvidenceStore, rel: str, artifacts: Path | None) -> ArtifactCheck:
    try:
        pred = read_record(store, rel).statement.predicate
    except (VerificationError, InputError) as exc:
        return ArtifactCheck(rel, "failed", f"backup record does not verify: {exc}")
    if not isinstance(pred, BackupPredicate):
        return ArtifactCheck(rel, "failed", "not a backup record")
    if artifacts is None or not artifacts.is_dir():
        where = str(artifacts) if artifacts is not None else "no artifacts folder configured"
        return ArtifactCheck(rel, "unreachable", f"artifacts not reachable ({where})")
    if not pred.artifacts:
        return ArtifactCheck(rel, "failed", "the backup record lists no artifacts")
    if pred.copies and not any(c.type == "local" for c in pred.copies):
        held = ", ".join(f"{c.repository} ({c.where})" for c in pred.copies)
        return ArtifactCheck(rel, "unreachable", f"backup {pred.location} is stored in {held}")
    directory = (artifacts / pred.location).resolve()
    if not directory.is_relative_to(artifacts.resolve()):
        return ArtifactCheck(rel, "failed", f"location {pred.location!r} escapes the artifacts")
    if not directory.is_dir():
        return ArtifactCheck(
            rel, "unreachable", f"backup {pred.location} not found under {artifacts}"
        )
    # the stored bytes (encrypted ones too: their digest needs no key)
    parts = [
        PartInfo(a.stored_name or a.name, a.stored_size or a.size, a.stored_sha256 or a.sha256)
        for a in pred.artifacts
    ]
    try:
        failures = verify_parts(directory, parts)
    except (StategateError, OSError) as exc:
        return ArtifactCheck(rel, "failed", f"cannot read the artifacts: {exc}")
    if failures:
        detail = "; ".join(f"{f.name}: {f.problem}" for f in failures[:3])
        return ArtifactCheck(rel, "failed", f"{pred.location}: {detail}")
    size = sum(p.size for p in parts)
    return ArtifactCheck(rel, "verified", f"{len(parts)} artifact(s), {size} bytes, sha256 match")


def with_configs(packet: PacketFacts, configs: Mapping[str, str]) -> PacketFacts:
    """The packet's modules, each bound to its resolved compose service at the revision
    judged (``configs``: module id -> :func:`~stategate.diff.changes.runtime_digest`)."""
    modules = tuple(m.model_copy(update={"config": configs.get(m.module)}) for m in packet.modules)
    return replace(packet, modules=modules)


def runtime_configs(modules: Mapping[str, Module]) -> dict[str, str]:
    return {mid: runtime_digest(module.service) for mid, module in modules.items()}


def approval_checker(
    store: EvidenceStore,
    packets: Sequence[LoadedPacket],
    policy_digest: str,
    max_age_hours: float,
    now: datetime,
    configs: Mapping[str, str],
) -> ApprovalChecker:
    """Checks every approval recorded for the PR's packets against the current facts.

    An approval covers the modules of the packet it approves, by name, and nothing else.
    """
    layout = store.layout

    def check(relied: Sequence[str]) -> list[ApprovalResult]:
        results: list[ApprovalResult] = []
        for loaded in packets:
            folder = layout.path(f"{layout.evidence_dir}/{APPROVALS_SCOPE}/{loaded.packet.id}")
            if not folder.is_dir() or folder.is_symlink():
                continue
            facts = with_configs(read_packet(layout, layout.path(loaded.path)), configs)
            expected = ApprovalExpectation(
                packet_id=facts.id,
                packet_sha256=facts.sha256,
                modules=facts.modules,
                evidence={},
                policy_digest=policy_digest,
                max_age_hours=max_age_hours,
                required_evidence=tuple(relied),
            )
            covers = tuple(m.module for m in facts.modules)
            for path in sorted(folder.glob("*.json")):
                result = check_approval(store, path, expected, now=now)
                rel = path.relative_to(layout.root).as_posix()
                issues = tuple(f"{i.reason.value}: {i.message}" for i in result.issues)
                results.append(ApprovalResult(rel, result.valid, issues, covers))
        return results

    return check


def apply_facts(
    store: EvidenceStore,
    packets: Sequence[LoadedPacket],
    *,
    policy_digest: str,
    approval_max_age_hours: float,
    artifacts: Path | None,
    now: datetime,
    configs: Mapping[str, str],
) -> ApplyFacts:
    """Everything the pure apply gate needs, from one store judged with base trust;
    ``configs`` are the head's modules' runtime digests, which approvals bind."""
    return ApplyFacts(
        evidence_facts(store),
        now,
        approval_checker(store, packets, policy_digest, approval_max_age_hours, now, configs),
        artifact_checker(store, artifacts),
    )
