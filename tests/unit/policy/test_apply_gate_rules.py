"""The apply gate's rules one at a time, on the example platform (no git).

Base and head are two copies of the example platform (``Platforms`` from the merge
gate's rule tests); the evidence is synthetic, already-verified facts. Each test
shows one rule deciding a requirement, with the exact words the operator is
shown. Written against the survivors of the mutation run of
``policy/apply_gate.py`` (docs/mutation.md); the git-backed path is
tests/unit/policy/test_apply_gate.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from stategate.policy.apply_gate import (
    ApplyFacts,
    ApprovalResult,
    ArtifactCheck,
    EvidenceFact,
    evaluate_apply,
)
from stategate.policy.gate import Requirement, Stop, Verdict
from stategate.policy.schema import ApplyRequirement, StopCondition
from stategate.policy.text import APPLY_TEXT
from tests.unit.policy.test_gate_rules import PG_MINOR, PG_OLD, Platforms, pg

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
MOD = "platform/postgres"
DEPLOYED = PG_OLD.partition("@")[2]
OTHER = "sha256:" + "99" * 32
BACKUP = "evidence/platform/postgres/backup-1.json"
DRILL = "evidence/platform/postgres/restore-drill-1.json"
SMOKE = "evidence/platform/postgres/smoke-1.json"
DR = "evidence/platform/dr-drill-1.json"
APPROVAL = "evidence/_approvals/pg/approval-1.json"
A = ApplyRequirement


def backup(
    path: str = BACKUP,
    *,
    module: str = MOD,
    at: datetime = NOW - timedelta(hours=1),
    digest: str | None = DEPLOYED,
    backup_id: str = "b1",
    result: str = "pass",
    version: str | None = "16.4 (Debian 16.4-1.pgdg120+2)",
) -> EvidenceFact:
    return EvidenceFact(
        path,
        "s-" + path,
        "backup",
        module,
        result,
        at,
        image_digest=digest,
        backup_id=backup_id,
        server_version=version,
    )


def drill(*, backup_id: str = "b1", version: str | None = "16.14") -> EvidenceFact:
    return EvidenceFact(
        DRILL,
        "s2",
        "restore-drill",
        MOD,
        "pass",
        NOW - timedelta(hours=1),
        image_digest=DEPLOYED,
        backup_id=backup_id,
        fingerprint_match=True,
        engine="local",
        server_version=version,
    )


def smoke(
    path: str = SMOKE, *, module: str = MOD, digest: str | None = DEPLOYED, target: str = "source"
) -> EvidenceFact:
    return EvidenceFact(
        path,
        "s3",
        "smoke",
        module,
        "pass",
        NOW - timedelta(hours=1),
        image_digest=digest,
        target=target,
        check_kinds=("sql",),
    )


def dr_drill() -> EvidenceFact:
    return EvidenceFact(
        DR,
        "s4",
        "dr-drill",
        None,
        "pass",
        NOW - timedelta(hours=1),
        covers=(MOD, "platform/redis", "platform/minio"),
    )


def everything() -> list[EvidenceFact]:
    return [backup(), drill(), smoke(), dr_drill()]


def approvals(*results: ApprovalResult):  # type: ignore[no-untyped-def]
    return lambda _paths: list(results)


VALID = ApprovalResult(APPROVAL, True, (), (MOD,))


def verified(paths: Sequence[str]) -> list[ArtifactCheck]:
    return [ArtifactCheck(BACKUP, "verified", "2 artifacts match")]


@pytest.fixture
def pr(tmp_path: Path) -> Platforms:
    platforms = Platforms(tmp_path)
    platforms.replace("compose/postgres.yml", PG_OLD, PG_MINOR)
    platforms.packet("pg", pg(PG_MINOR), "[compose/postgres.yml]")
    return platforms


def judge(
    pr: Platforms,
    evidence: list[EvidenceFact],
    *results: ApprovalResult,
) -> Verdict:
    facts = ApplyFacts(evidence, NOW, approvals(*(results or (VALID,))), verified)
    return evaluate_apply(pr.pull_request(), facts)


def requirement(v: Verdict, rid: str, module: str | None = MOD) -> Requirement:
    (found,) = [r for r in v.requirements if r.id == rid and r.module == module]
    return found


def test_everything_present_each_requirement_says_what_met_it(pr: Platforms) -> None:
    v = judge(pr, everything())
    assert v.verdict.value == "approved"
    apply = [r for r in v.requirements if r.id.startswith("apply/")]
    assert apply == [
        Requirement("apply/backup", MOD, "stateful", "met", f"backup {BACKUP} (b1)"),
        Requirement(
            "apply/version-match",
            MOD,
            None,
            "met",
            f"{PG_OLD} names major 16 and the server reports 16.4 (Debian 16.4-1.pgdg120+2)",
        ),
        Requirement(
            "apply/restore-drill",
            MOD,
            "stateful",
            "met",
            f"restore drill {DRILL} of backup b1 on local 16.14",
        ),
        Requirement("apply/rollback-path", MOD, "stateful", "met", APPLY_TEXT[A.ROLLBACK_PATH]),
        Requirement("apply/smoke-baseline", MOD, "stateful", "met", f"smoke {SMOKE}"),
        Requirement("apply/dr-drill", MOD, "stateful", "met", f"DR drill {DR}"),
        Requirement(
            "apply/secret-refs", MOD, "secret-bearing", "met", "secret references unchanged"
        ),
        Requirement(
            "apply/artifacts-verified",
            None,
            None,
            "met",
            f"1 backup(s) hashed against their records: {BACKUP}: 2 artifacts match",
        ),
        Requirement(
            "apply/operator-approval", MOD, None, "met", f"valid operator approval {APPROVAL}"
        ),
    ]
    assert v.relied_evidence == [BACKUP, DRILL, SMOKE, DR]


# --- freshness -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("finished", "status"),
    [
        (NOW - timedelta(hours=24), "met"),  # exactly the 24 h window
        (NOW - timedelta(hours=24, seconds=1), "missing"),
        (NOW, "met"),
        (NOW + timedelta(minutes=5), "met"),  # a host clock up to 5 minutes ahead
        (NOW + timedelta(minutes=5, seconds=1), "missing"),
    ],
)
def test_the_freshness_window_and_its_clock_skew(
    pr: Platforms, finished: datetime, status: str
) -> None:
    v = judge(pr, [backup(at=finished), drill(), smoke(), dr_drill()])
    assert requirement(v, "apply/backup").status == status


def test_the_newest_passing_backup_of_the_module_counts(pr: Platforms) -> None:
    older = backup("evidence/platform/postgres/backup-0.json", at=NOW - timedelta(hours=3))
    failed = backup(
        "evidence/platform/postgres/backup-2.json", at=NOW - timedelta(minutes=30), result="fail"
    )
    redis = backup(
        "evidence/platform/redis/backup-9.json", module="platform/redis", at=NOW, backup_id="r9"
    )
    v = judge(pr, [older, backup(), failed, redis, drill(), smoke(), dr_drill()])
    assert requirement(v, "apply/backup").hint == f"backup {BACKUP} (b1)"
    assert v.verdict.value == "approved"


def test_a_backup_of_another_module_does_not_count(pr: Platforms) -> None:
    redis = backup("evidence/platform/redis/backup-9.json", module="platform/redis")
    v = judge(pr, [redis, drill(), smoke(), dr_drill()])
    got = requirement(v, "apply/backup")
    assert got.status == "missing"
    assert got.hint == f"{APPLY_TEXT[A.BACKUP]} ({MOD})"


# --- drift ---------------------------------------------------------------------


def test_a_backup_of_another_digest_is_a_drift_stop_and_not_relied_on(pr: Platforms) -> None:
    v = judge(pr, [backup(digest=OTHER), drill(), smoke(), dr_drill()])
    assert v.verdict.value == "stop"
    assert v.stops == [
        Stop(
            StopCondition.DIGEST_DRIFT,
            f"{BACKUP} was taken of {OTHER}, but {MOD} runs {DEPLOYED}",
            module=MOD,
            file=BACKUP,
        )
    ]
    assert requirement(v, "apply/backup").status == "missing"
    assert BACKUP not in v.relied_evidence


def test_a_smoke_of_another_digest_is_a_drift_stop_and_does_not_count(pr: Platforms) -> None:
    v = judge(pr, [backup(), drill(), smoke(digest=OTHER), dr_drill()])
    assert v.stops == [
        Stop(
            StopCondition.DIGEST_DRIFT,
            f"{SMOKE} was taken of {OTHER}, but {MOD} runs {DEPLOYED}",
            module=MOD,
            file=SMOKE,
        )
    ]
    assert requirement(v, "apply/smoke-baseline").status == "missing"
    assert SMOKE not in v.relied_evidence


def test_a_backup_of_an_unpinned_image_is_drift_too(pr: Platforms) -> None:
    v = judge(pr, [backup(digest=None), drill(), smoke(), dr_drill()])
    assert [s.message for s in v.stops] == [
        f"{BACKUP} was taken of an unpinned image, but {MOD} runs {DEPLOYED}"
    ]


# --- versions --------------------------------------------------------------------


def test_a_v_before_the_reported_version_is_read_past(pr: Platforms) -> None:
    v = judge(pr, [backup(version="v16.4"), drill(), smoke(), dr_drill()])
    assert requirement(v, "apply/restore-drill").status == "met"
    assert requirement(v, "apply/version-match").status == "met"


def test_a_backup_without_a_server_version_cannot_vouch_for_a_drill(pr: Platforms) -> None:
    v = judge(pr, [backup(version=None), drill(), smoke(), dr_drill()])
    got = requirement(v, "apply/restore-drill")
    assert got.status == "missing"
    assert got.hint == (
        f"restore drill {DRILL} ran on 16.14, but {MOD} runs an unrecorded version: a drill "
        f"counts only on the running major (a known version); {APPLY_TEXT[A.RESTORE_DRILL]}"
    )
    # and nothing to compare the image's major with
    assert "apply/version-match" not in {r.id for r in v.requirements}


def test_an_image_major_other_than_the_running_one_says_what_to_do(pr: Platforms) -> None:
    v = judge(pr, [backup(version="15.8"), drill(version="15.18"), smoke(), dr_drill()])
    assert requirement(v, "apply/version-match") == Requirement(
        "apply/version-match",
        MOD,
        None,
        "missing",
        f"{PG_OLD} names major 16, but the server reports 15.8 ({BACKUP}): make the compose "
        "file say what runs, or find out what runs, before an apply",
    )


# --- approvals -------------------------------------------------------------------


def test_no_approval_recorded(pr: Platforms) -> None:
    v = evaluate_apply(pr.pull_request(), ApplyFacts(everything(), NOW, artifacts=verified))
    assert requirement(v, "apply/operator-approval").hint == (
        f"no operator approval recorded; {APPLY_TEXT[A.OPERATOR_APPROVAL]}"
    )


def test_every_invalid_approval_is_listed_with_its_issues(pr: Platforms) -> None:
    first = ApprovalResult("a.json", False, ("expired", "policy-changed"), (MOD,))
    second = ApprovalResult("b.json", False, ("forged-signature",), (MOD,))
    v = judge(pr, everything(), first, second)
    got = requirement(v, "apply/operator-approval")
    assert got.status == "missing"
    assert got.hint == (
        "no valid operator approval (a.json: expired, policy-changed; b.json: forged-signature); "
        + APPLY_TEXT[A.OPERATOR_APPROVAL]
    )


@pytest.mark.parametrize(
    ("covers", "named"),
    [
        (
            (("platform/redis",), ("platform/minio", "platform/redis")),
            "platform/minio, platform/redis",
        ),
        (((),), "nothing"),
    ],
)
def test_approvals_of_other_modules_are_named(
    pr: Platforms, covers: tuple[tuple[str, ...], ...], named: str
) -> None:
    results = [ApprovalResult(f"a{i}.json", True, (), c) for i, c in enumerate(covers)]
    v = judge(pr, everything(), *results)
    got = requirement(v, "apply/operator-approval")
    assert got.status == "missing"
    assert got.hint == (
        f"no operator approval names {MOD} (approvals on record cover {named}); "
        + APPLY_TEXT[A.OPERATOR_APPROVAL]
    )


# --- a sidecar job: its parent's evidence ------------------------------------------------

MC_OLD = (
    "minio/mc:RELEASE.2024-10-08T09-37-26Z"
    "@sha256:a5549833891d79a12fb465822afb8ca0c74a7337ca19c13957276f28aec78cb2"
)
MC_NEW = "minio/mc:RELEASE.2024-11-21T17-21-54Z@sha256:" + "3c" * 32
MINIO_DIGEST = "sha256:74747fc07544840e196963076ba6f17e532225b23da90857ff8b8a47dacb6621"
INIT = "platform/minio-init"


def test_a_sidecar_job_relies_on_its_parents_backup_and_smoke(tmp_path: Path) -> None:
    platforms = Platforms(tmp_path)
    platforms.replace("compose/minio-init.yml", MC_OLD, MC_NEW)
    platforms.packet(
        "mc",
        f"  - module: {INIT}\n    from: {MC_OLD}\n    to: {MC_NEW}\n    rollback: {{to: '{MC_OLD}'}}\n",
        "[compose/minio-init.yml]",
    )
    parent_backup = backup(
        "evidence/platform/minio/backup-1.json",
        module="platform/minio",
        digest=MINIO_DIGEST,
        version=None,
    )
    parent_smoke = smoke(
        "evidence/platform/minio/smoke-1.json", module="platform/minio", digest=MINIO_DIGEST
    )
    rerun = smoke("evidence/platform/minio-init/smoke-1.json", module=INIT, target="sandbox")
    facts = ApplyFacts(
        [parent_backup, parent_smoke, rerun],
        NOW,
        approvals(ApprovalResult(APPROVAL, True, (), (INIT,))),
        lambda _paths: [ArtifactCheck(parent_backup.path, "verified", "ok")],
    )
    v = evaluate_apply(platforms.pull_request(), facts)
    assert v.stops == []  # the parent's evidence is of the parent's digest, not the job's
    assert v.verdict.value == "approved", v.missing
    assert requirement(v, "apply/parent-backup", INIT) == Requirement(
        "apply/parent-backup",
        INIT,
        "sidecar-bound",
        "met",
        "backup evidence/platform/minio/backup-1.json (b1)",
    )
    assert requirement(v, "apply/parent-smoke", INIT).hint == (
        "smoke evidence/platform/minio/smoke-1.json"
    )
    assert requirement(v, "apply/idempotency", INIT).status == "met"


# --- the stricter side, and modules without a base image --------------------------------


def test_a_module_that_loses_its_volume_is_still_applied_as_stateful(pr: Platforms) -> None:
    text = (pr.head / "compose/redis.yml").read_text(encoding="utf-8")
    volume = "    volumes:\n      - redisdata:/data\n"
    assert volume in text
    pr.write("compose/redis.yml", text.replace(volume, ""))
    v = judge(pr, everything())
    ids = {r.id for r in v.requirements if r.module == "platform/redis"}
    assert {"apply/backup", "apply/restore-drill", "apply/smoke-baseline"} <= ids


def test_without_the_drift_stop_evidence_of_another_image_still_does_not_count(
    pr: Platforms,
) -> None:
    # a policy may turn the digest-drift stop off (with a decision record); the backup
    # and smoke of another image must then block, never approve (they used to be dropped
    # from the requirements, and the smoke counted: the apply was approved)
    stops = [s.value for s in StopCondition if s is not StopCondition.DIGEST_DRIFT]
    for side, root in (("base", pr.base), ("head", pr.head)):
        policy = (root / "stategate.yaml").read_text(encoding="utf-8")
        policy += "\ndecision: decisions/0031-minio-is-the-backup-reference-module.md\n"
        pr.write("stategate.yaml", policy + f"stops: [{', '.join(stops)}]\n", side=side)
    v = judge(pr, [backup(digest=OTHER), drill(), smoke(digest=OTHER), dr_drill()])
    assert v.stops == []
    assert v.verdict.value == "blocked"
    assert requirement(v, "apply/backup") == Requirement(
        "apply/backup",
        MOD,
        "stateful",
        "missing",
        f"{BACKUP} was taken of {OTHER}, but {MOD} runs {DEPLOYED}: {APPLY_TEXT[A.BACKUP]}",
    )
    assert requirement(v, "apply/smoke-baseline") == Requirement(
        "apply/smoke-baseline",
        MOD,
        "stateful",
        "missing",
        f"{SMOKE} was taken of {OTHER}, but {MOD} runs {DEPLOYED}: " + APPLY_TEXT[A.SMOKE_BASELINE],
    )
    assert BACKUP not in v.relied_evidence and SMOKE not in v.relied_evidence
