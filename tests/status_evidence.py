"""A platform repo with real signed evidence of known ages, for the status page's tests.

The example platform committed on main with a trust file naming a real evidence key;
records are signed with that key and ledgered by the real store (``write_record``),
one is signed by a key nobody trusts. The ages are relative to ``now``:

- platform/postgres: backup 2 h, restore drill 1.5 h, rehearsal 1 h, smoke 1 h: fresh
- platform/redis: backup 30 h (stale), restore drill failed 29 h ago
- platform/minio: backup 3 h, no restore drill (missing), a smoke record signed by an
  untrusted key (untrusted)
- a DR drill 10 days ago: postgres and redis passed, minio left out (uncovered)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from stategate.evidence.layout import RepoLayout
from stategate.evidence.records.predicates import (
    BackupPredicate,
    DrDrillPredicate,
    DrillPredicate,
    DrModule,
    RehearsalPredicate,
    RollbackFinding,
    SmokePredicate,
    SourceInfo,
    Statement,
    Subject,
    Tool,
    statement,
)
from stategate.evidence.records.typed import record_path, write_record
from stategate.evidence.store import EvidenceStore
from stategate.evidence.testing import sign_as, trust_entry, write_envelope, write_trust_file
from stategate.evidence.trust.keys import SigningKey
from stategate.evidence.trust.trustfile import Role
from stategate.platform import load_platform
from stategate.sandbox.engine import EngineInfo
from tests.conftest import EXAMPLE
from tests.gitrepo import Repo, init_repo

TOOL = Tool(version="0.1.0")


@dataclass
class EvidenceRepo:
    repo: Repo
    now: datetime
    key: SigningKey
    store: EvidenceStore  # judged with the committed trust file


def _rid(moment: datetime, n: int) -> str:
    return f"{moment:%Y%m%dT%H%M%SZ}-{n:06x}"


def _source(version: str) -> SourceInfo:
    return SourceInfo(address="127.0.0.1:5432", server_version=version)


def _subject(name: str) -> list[Subject]:
    return [Subject(name=name, digest={"sha256": "1" * 64})]


def backup(module: str, provider: str, version: str, at: datetime, n: int) -> Statement:
    rid = _rid(at, n)
    pred = BackupPredicate(
        module=module,
        provider=provider,
        id=rid,
        result="pass",
        started=at - timedelta(minutes=1),
        finished=at,
        tool=TOOL,
        policy_digest=None,
        source=_source(version),
        backup_id=rid,
        location=f"{module}/{rid}",
    )
    return statement(_subject(f"{module}/{rid}/dump"), pred)


def drill(
    module: str, provider: str, version: str, at: datetime, n: int, backup_rel: str, ok: bool
) -> Statement:
    rid = _rid(at, n)
    pred = DrillPredicate(
        module=module,
        provider=provider,
        id=rid,
        result="pass" if ok else "fail",
        reason=None if ok else "row counts differ in table orders",
        started=at - timedelta(minutes=1),
        finished=at,
        tool=TOOL,
        policy_digest=None,
        source=_source(version),
        backup_id=backup_rel.rsplit("backup-", 1)[1].removesuffix(".json"),
        backup_record=backup_rel,
        engine=EngineInfo(name="local", available=True, version=version),
        sandbox=SourceInfo(address="127.0.0.1:1", server_version=version),
    )
    return statement(_subject(f"{module}/{rid}/drill"), pred)


def smoke(module: str, provider: str, version: str, at: datetime, n: int) -> Statement:
    pred = SmokePredicate(
        module=module,
        provider=provider,
        id=_rid(at, n),
        result="pass",
        started=at - timedelta(minutes=1),
        finished=at,
        tool=TOOL,
        policy_digest=None,
        source=_source(version),
        target="source",
    )
    return statement(_subject(f"{module}/smoke"), pred)


def rehearsal(module: str, at: datetime, n: int, backup_rel: str, target: str) -> Statement:
    pred = RehearsalPredicate(
        module=module,
        provider="postgres",
        id=_rid(at, n),
        result="pass",
        started=at - timedelta(minutes=1),
        finished=at,
        tool=TOOL,
        policy_digest=None,
        source=_source("16.4"),
        packet="pg-up",
        target_image=f"postgres:{target}-alpine",
        target_version=target,
        backup_id=backup_rel.rsplit("backup-", 1)[1].removesuffix(".json"),
        backup_record=backup_rel,
        engine=EngineInfo(name="local", available=True, version=target),
        rollback=RollbackFinding(kind="previous-image", detail="same on-disk format"),
    )
    return statement(_subject(f"{module}/rehearsal"), pred)


def dr_drill(
    at: datetime, n: int, results: dict[str, bool], *, uncovered: tuple[str, ...] = ()
) -> Statement:
    pred = DrDrillPredicate(
        id=_rid(at, n),
        result="pass" if all(results.values()) else "fail",
        reason=None if all(results.values()) else "a module's restore failed",
        uncovered=list(uncovered),
        started=at - timedelta(minutes=5),
        finished=at,
        tool=TOOL,
        policy_digest=None,
        modules=[
            DrModule(
                module=mid,
                provider=mid.split("/")[1],
                result="pass" if ok else "fail",
                reason=None if ok else "object manifest differs",
                engine=EngineInfo(name="local", available=True, version="1"),
            )
            for mid, ok in results.items()
        ],
    )
    return statement(_subject("dr-drill"), pred)


def evidence_repo(path: Path) -> EvidenceRepo:
    """The example platform with the evidence above, committed on main."""
    now = datetime.now(UTC).replace(microsecond=0)
    key = SigningKey.generate()
    repo = init_repo(path, EXAMPLE)
    layout = RepoLayout.from_policy(repo.path, load_platform(repo.path).policy)
    write_trust_file(layout, [trust_entry(key, Role.EVIDENCE, "ci-host")])
    repo.commit("platform and trust roots")
    store = EvidenceStore(layout, EvidenceStore.open(layout).trust)
    h = timedelta(hours=1)
    pg = write_record(store, backup("platform/postgres", "postgres", "16.4", now - 2 * h, 1), key)
    write_record(
        store,
        drill("platform/postgres", "postgres", "16.4", now - 1.5 * h, 2, pg.rel, ok=True),
        key,
    )
    write_record(store, rehearsal("platform/postgres", now - h, 3, pg.rel, "16.6"), key)
    write_record(store, smoke("platform/postgres", "postgres", "16.4", now - h, 4), key)
    rd = write_record(store, backup("platform/redis", "redis", "7.2.5", now - 30 * h, 5), key)
    write_record(
        store, drill("platform/redis", "redis", "7.2.5", now - 29 * h, 6, rd.rel, ok=False), key
    )
    write_record(store, smoke("platform/redis", "redis", "7.2.5", now - 2 * h, 7), key)
    write_record(store, backup("platform/minio", "s3", "RELEASE.2024", now - 3 * h, 8), key)
    write_record(
        store,
        dr_drill(
            now - 240 * h,
            9,
            {"platform/postgres": True, "platform/redis": True},
            uncovered=("platform/minio",),
        ),
        key,
    )
    # a smoke record of minio signed by a key no trust root names: it must not count
    forged = smoke("platform/minio", "s3", "RELEASE.2024", now - h, 10)
    envelope = sign_as(forged.to_json_obj(), SigningKey.generate(), Role.EVIDENCE)
    write_envelope(layout, record_path(layout, forged), envelope)
    repo.commit("evidence")
    return EvidenceRepo(repo, now, key, store)
