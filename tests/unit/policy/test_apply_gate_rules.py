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
from dataclasses import replace
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
REHEARSAL = "evidence/platform/postgres/rehearsal-1.json"
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


def rehearsal(
    *, backup_id: str = "b1", version: str = "16.14", image: str = PG_MINOR
) -> EvidenceFact:
    """A rehearsal of the backup on the target (a minor change: 16.14 is the 16 here)."""
    return EvidenceFact(
        REHEARSAL,
        "s5",
        "rehearsal",
        MOD,
        "pass",
        NOW - timedelta(hours=1),
        image_digest=DEPLOYED,
        backup_id=backup_id,
        backup_record=BACKUP,
        fingerprint_match=True,
        engine="local",
        server_version=version,
        steps=(("verify-backup", "pass"), ("restore-on-target", "pass")),
        rollback="previous-image",
        target_image=image,
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
    return [backup(), drill(), rehearsal(), smoke(), dr_drill()]


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
        Requirement(
            "apply/rehearsal", MOD, "stateful", "met", f"restore on the target {REHEARSAL} on 16.14"
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
    assert v.relied_evidence == [BACKUP, DRILL, REHEARSAL, SMOKE, DR]


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
    v = judge(pr, [older, backup(), failed, redis, drill(), rehearsal(), smoke(), dr_drill()])
    assert requirement(v, "apply/backup").hint == f"backup {BACKUP} (b1)"
    assert v.verdict.value == "approved"


def test_a_backup_of_another_module_does_not_count(pr: Platforms) -> None:
    redis = backup("evidence/platform/redis/backup-9.json", module="platform/redis")
    v = judge(pr, [redis, drill(), smoke(), dr_drill()])
    assert requirement(v, "apply/backup") == Requirement(
        "apply/backup", MOD, "stateful", "missing", f"{APPLY_TEXT[A.BACKUP]} ({MOD})"
    )


def test_a_stale_backup_says_how_old_it_is(pr: Platforms) -> None:
    stale = backup(at=NOW - timedelta(hours=100.06))
    v = judge(pr, [stale, drill(), smoke(), dr_drill()])
    assert requirement(v, "apply/backup") == Requirement(
        "apply/backup",
        MOD,
        "stateful",
        "missing",
        f"backup b1 is 100.1 h old, over the 24 h window: {APPLY_TEXT[A.BACKUP]}",
    )


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
APP_DIGEST = "sha256:f1330dca86a1bb3d39e4cb8d68db1a76424eb8be6ede417768d1706322d7dcc3"


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


def test_a_module_that_drops_its_secrets_is_still_applied_as_secret_bearing(
    tmp_path: Path,
) -> None:
    # the head's worker reads no secret any more (stateless there): the apply still
    # judges it by the stricter base side, so the changed references need a plan
    platforms = Platforms(tmp_path)
    text = (platforms.head / "compose/app.yml").read_text(encoding="utf-8")
    start, end = text.index("  worker:\n"), text.index("  # Stateless PDF renderer")
    worker = text[start:end]
    for line in (
        "      DB_PASSWORD_FILE: /run/secrets/postgres_password\n",
        "      REDIS_PASSWORD: ${REDIS_PASSWORD:?set in the host secret store}\n",
        "    secrets:\n      - postgres_password\n",
    ):
        assert line in worker
        worker = worker.replace(line, "")
    worker = worker.replace(APP_DIGEST, "sha256:" + "e1" * 32)
    platforms.write("compose/app.yml", text[:start] + worker + text[end:])
    v = judge(platforms, [], ApprovalResult(APPROVAL, True, (), ("platform/worker",)))
    assert v.verdict.value == "blocked"
    assert requirement(v, "apply/secret-refs", "platform/worker") == Requirement(
        "apply/secret-refs",
        "platform/worker",
        "secret-bearing",
        "missing",
        APPLY_TEXT[A.SECRET_REFS],
    )


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


# --- restore drills ------------------------------------------------------------------


def test_the_newest_drill_on_the_running_major_counts(pr: Platforms) -> None:
    newer = replace(drill(), path="evidence/platform/postgres/restore-drill-2.json", finished=NOW)
    v = judge(pr, [backup(), drill(), newer, smoke(), dr_drill()])
    assert requirement(v, "apply/restore-drill").hint == (
        f"restore drill {newer.path} of backup b1 on local 16.14"
    )


def test_drills_only_on_another_major_name_the_newest_of_them(pr: Platforms) -> None:
    old = drill(version=None)  # a drill that recorded no version
    newer = replace(
        drill(version="15.18"), path="evidence/platform/postgres/restore-drill-2.json", finished=NOW
    )
    v = judge(pr, [backup(), old, newer, smoke(), dr_drill()])
    assert requirement(v, "apply/restore-drill") == Requirement(
        "apply/restore-drill",
        MOD,
        "stateful",
        "missing",
        f"restore drill {newer.path} ran on 15.18, but {MOD} runs 16.4 (Debian 16.4-1.pgdg120+2): "
        f"a drill counts only on the running major (major 16); {APPLY_TEXT[A.RESTORE_DRILL]}",
    )
    v = judge(pr, [backup(), old, smoke(), dr_drill()])
    assert requirement(v, "apply/restore-drill").hint.startswith(
        f"restore drill {DRILL} ran on an unknown version, but {MOD} runs 16.4"
    )


def test_no_passing_drill_names_the_backup_it_needs(pr: Platforms) -> None:
    v = judge(pr, [backup(), drill(backup_id="b0"), smoke(), dr_drill()])
    assert requirement(v, "apply/restore-drill") == Requirement(
        "apply/restore-drill",
        MOD,
        "stateful",
        "missing",
        f"a passed restore drill of b1: {APPLY_TEXT[A.RESTORE_DRILL]}",
    )
    v = judge(pr, [drill(), smoke(), dr_drill()])
    assert requirement(v, "apply/restore-drill").hint == (
        f"a passed restore drill of the latest backup: {APPLY_TEXT[A.RESTORE_DRILL]}"
    )


# --- rollback path ---------------------------------------------------------------------

PG_MAJOR = "postgres:17.2-alpine@sha256:" + "cd" * 32
NEEDS_RESTORE = (
    "a major upgrade changes the data format: the rollback path must say it needs a restore "
    "(rollback.needs_restore: true)"
)


@pytest.mark.parametrize(
    ("rollback", "status", "hint"),
    [
        ("", "missing", APPLY_TEXT[A.ROLLBACK_PATH]),
        ("false", "missing", NEEDS_RESTORE),
        ("true", "met", APPLY_TEXT[A.ROLLBACK_PATH]),
    ],
)
def test_a_major_upgrade_needs_a_rollback_that_restores(
    tmp_path: Path, rollback: str, status: str, hint: str
) -> None:
    platforms = Platforms(tmp_path)
    platforms.replace("compose/postgres.yml", PG_OLD, PG_MAJOR)
    entry = f"  - module: {MOD}\n    from: {PG_OLD}\n    to: {PG_MAJOR}\n"
    entry += "    migration_note: dump and restore into 17\n"
    if rollback:
        entry += f"    rollback: {{to: '{PG_OLD}', needs_restore: {rollback}}}\n"
    platforms.packet("pg", entry, "[compose/postgres.yml]")
    v = judge(platforms, everything())
    assert requirement(v, "apply/rollback-path") == Requirement(
        "apply/rollback-path", MOD, "stateful", status, hint
    )


# --- smoke baselines ------------------------------------------------------------------


def test_the_baseline_is_the_newest_passing_source_smoke_of_the_module(pr: Platforms) -> None:
    at = NOW - timedelta(minutes=10)
    decoys = [
        replace(smoke("evidence/platform/postgres/smoke-failed.json"), result="fail", finished=at),
        replace(
            smoke("evidence/platform/redis/smoke-9.json", module="platform/redis"), finished=at
        ),
        replace(
            smoke("evidence/platform/postgres/smoke-rerun.json", target="sandbox"), finished=at
        ),
        replace(backup("evidence/platform/postgres/backup-0.json"), kind="smoke", target="source"),
    ]
    older = replace(
        smoke("evidence/platform/postgres/smoke-0.json"), finished=NOW - timedelta(hours=2)
    )
    v = judge(pr, [backup(), drill(), older, smoke(), *decoys, dr_drill()])
    assert requirement(v, "apply/smoke-baseline").hint == f"smoke {SMOKE}"
    v = judge(pr, [backup(), drill(), *decoys[:3], dr_drill()])
    assert requirement(v, "apply/smoke-baseline") == Requirement(
        "apply/smoke-baseline",
        MOD,
        "stateful",
        "missing",
        f"{APPLY_TEXT[A.SMOKE_BASELINE]} ({MOD})",
    )


TRAEFIK_OLD = (
    "traefik:v3.1.6@sha256:aef1c48e13d6027caed72e3cdec3a170323317664373aeb04b200be5f8208080"
)
TRAEFIK_NEW = "traefik:v3.1.7@sha256:" + "7e" * 32


@pytest.mark.parametrize(("kinds", "status"), [(("tcp",), "missing"), (("tcp", "http"), "met")])
def test_an_external_smoke_must_have_checked_http(
    tmp_path: Path, kinds: tuple[str, ...], status: str
) -> None:
    platforms = Platforms(tmp_path)
    platforms.replace("compose/traefik.yml", TRAEFIK_OLD, TRAEFIK_NEW)
    platforms.packet(
        "t",
        f"  - module: platform/traefik\n    from: {TRAEFIK_OLD}\n    to: {TRAEFIK_NEW}\n",
        "[compose/traefik.yml]",
    )
    route = replace(
        smoke("evidence/platform/traefik/smoke-1.json", module="platform/traefik"),
        image_digest=TRAEFIK_OLD.partition("@")[2],
        check_kinds=kinds,
    )
    v = judge(platforms, [route], ApprovalResult(APPROVAL, True, (), ("platform/traefik",)))
    got = requirement(v, "apply/external-smoke", "platform/traefik")
    assert got.status == status
    if status == "missing":
        assert got.hint == f"{APPLY_TEXT[A.EXTERNAL_SMOKE]} (platform/traefik)"


# --- DR drills -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("age", "status"),
    [(timedelta(days=30), "met"), (timedelta(days=30, seconds=1), "missing")],
)
def test_the_dr_drill_window_is_the_policys_days(
    pr: Platforms, age: timedelta, status: str
) -> None:
    dr = replace(dr_drill(), finished=NOW - age)
    v = judge(pr, [backup(), drill(), smoke(), dr])
    assert requirement(v, "apply/dr-drill").status == status


def test_a_stale_dr_drill_is_named_by_its_triggers_and_not_relied_on(pr: Platforms) -> None:
    dr = replace(dr_drill(), finished=NOW - timedelta(days=31))
    v = judge(pr, [backup(), drill(), smoke(), dr])
    assert requirement(v, "apply/dr-drill") == Requirement(
        "apply/dr-drill",
        MOD,
        "stateful",
        "missing",
        f"mandatory (core, stale): {APPLY_TEXT[A.DR_DRILL]}, restoring {MOD} within 30 days",
    )
    assert DR not in v.relied_evidence


# --- a job's idempotency ---------------------------------------------------------------------


@pytest.fixture
def job(tmp_path: Path) -> Platforms:
    platforms = Platforms(tmp_path)
    platforms.replace("compose/minio-init.yml", MC_OLD, MC_NEW)
    platforms.packet(
        "mc",
        f"  - module: {INIT}\n    from: {MC_OLD}\n    to: {MC_NEW}\n    rollback: {{to: '{MC_OLD}'}}\n",
        "[compose/minio-init.yml]",
    )
    return platforms


IDEMPOTENT = (
    APPLY_TEXT[A.IDEMPOTENCY] + " (a passing sandbox smoke of the job's contract after a re-run)"
)


def test_idempotency_is_the_newest_passing_sandbox_smoke_of_the_job(job: Platforms) -> None:
    at = NOW - timedelta(minutes=10)
    older = smoke("evidence/platform/minio-init/smoke-0.json", module=INIT, target="sandbox")
    newest = replace(older, path="evidence/platform/minio-init/smoke-1.json", finished=NOW)
    decoys = [
        replace(
            older, path="evidence/platform/minio-init/smoke-failed.json", result="fail", finished=at
        ),
        replace(
            older,
            path="evidence/platform/minio-init/smoke-source.json",
            target="source",
            finished=at,
        ),
        replace(
            older, path="evidence/platform/minio/smoke-9.json", module="platform/minio", finished=at
        ),
        replace(
            older, path="evidence/platform/minio-init/backup-9.json", kind="backup", finished=at
        ),
    ]
    v = judge(job, [older, newest, *decoys], ApprovalResult(APPROVAL, True, (), (INIT,)))
    assert requirement(v, "apply/idempotency", INIT) == Requirement(
        "apply/idempotency", INIT, "sidecar-bound", "met", IDEMPOTENT
    )
    assert newest.path in v.relied_evidence and older.path not in v.relied_evidence
    v = judge(job, decoys, ApprovalResult(APPROVAL, True, (), (INIT,)))
    assert requirement(v, "apply/idempotency", INIT) == Requirement(
        "apply/idempotency", INIT, "sidecar-bound", "missing", IDEMPOTENT
    )
    assert not any(d.path in v.relied_evidence for d in decoys)


# --- exposure ------------------------------------------------------------------------------


def test_the_exposure_diff_lists_published_ports_and_routes(tmp_path: Path) -> None:
    platforms = Platforms(tmp_path)
    platforms.replace("compose/traefik.yml", TRAEFIK_OLD, TRAEFIK_NEW)
    platforms.replace(
        "compose/traefik.yml",
        '      - "443:443"\n',
        '      - "10.0.0.5:8443:443/udp"\n      - "127.0.0.1:9000:9000"\n      - "9100"\n'
        "    labels:\n      - traefik.enable=true\n"
        "      - traefik.http.routers.dash.rule=Host(`dash.example`)\n",
    )
    platforms.packet(
        "t",
        f"  - module: platform/traefik\n    from: {TRAEFIK_OLD}\n    to: {TRAEFIK_NEW}\n",
        "[compose/traefik.yml]",
    )
    v = judge(platforms, [], ApprovalResult(APPROVAL, True, (), ("platform/traefik",)))
    assert requirement(v, "apply/exposure-diff", "platform/traefik") == Requirement(
        "apply/exposure-diff",
        "platform/traefik",
        "public-edge",
        "met",
        # "9100" publishes too: docker picks a free host port on all interfaces
        "exposure diff: added ['label traefik.http.routers.dash.rule=Host(`dash.example`)', "
        "'port *:random->9100/tcp', 'port 10.0.0.5:8443->443/udp'], "
        "removed ['port *:443->443/tcp']",
    )


def test_an_unchanged_exposure_says_none(tmp_path: Path) -> None:
    platforms = Platforms(tmp_path)
    platforms.replace("compose/traefik.yml", TRAEFIK_OLD, TRAEFIK_NEW)
    v = judge(platforms, [], ApprovalResult(APPROVAL, True, (), ("platform/traefik",)))
    assert requirement(v, "apply/exposure-diff", "platform/traefik").hint == (
        "exposure diff: added none, removed none"
    )


# --- the artifacts behind the relied evidence --------------------------------------------


def test_without_an_artifact_checker_nothing_is_verified(pr: Platforms) -> None:
    facts = ApplyFacts(everything(), NOW, approvals(VALID))
    v = evaluate_apply(pr.pull_request(), facts)
    assert requirement(v, "apply/artifacts-verified", None) == Requirement(
        "apply/artifacts-verified",
        None,
        None,
        "missing",
        "no backup artifact behind the relied evidence could be checked",
    )


@pytest.mark.parametrize(
    ("statuses", "status", "hint"),
    [
        (
            ("verified", "verified"),
            "met",
            "2 backup(s) hashed against their records: a.json: d0; b.json: d1",
        ),
        (("failed", "unreachable"), "missing", "a.json: failed: d0; b.json: unreachable: d1"),
    ],
)
def test_each_artifact_check_is_named(
    pr: Platforms, statuses: tuple[str, str], status: str, hint: str
) -> None:
    checks = [
        ArtifactCheck(f"{n}.json", s, f"d{i}")
        for i, (n, s) in enumerate(zip("ab", statuses, strict=True))
    ]
    facts = ApplyFacts(everything(), NOW, approvals(VALID), lambda _paths: checks)
    v = evaluate_apply(pr.pull_request(), facts)
    assert requirement(v, "apply/artifacts-verified", None) == Requirement(
        "apply/artifacts-verified", None, None, status, hint
    )


def test_evidence_that_stands_on_no_backup_needs_no_artifact_check(tmp_path: Path) -> None:
    platforms = Platforms(tmp_path)
    platforms.replace("compose/traefik.yml", TRAEFIK_OLD, TRAEFIK_NEW)
    route = replace(
        smoke("evidence/platform/traefik/smoke-1.json", module="platform/traefik"),
        image_digest=TRAEFIK_OLD.partition("@")[2],
        check_kinds=("http",),
    )
    facts = ApplyFacts(
        [route], NOW, approvals(ApprovalResult(APPROVAL, True, (), ("platform/traefik",)))
    )
    v = evaluate_apply(platforms.pull_request(), facts)
    assert v.relied_evidence == [route.path]
    assert "apply/artifacts-verified" not in {r.id for r in v.requirements}


# --- when a DR drill is mandatory ------------------------------------------------------------

REDIS_OLD = (
    "redis:7.2.5-alpine@sha256:9b09359c0f75e53b0a02347d05b2de7513c763a85500ebeeb80091d3774a7c7e"
)
REDIS_NEW = "redis:7.2.6-alpine@sha256:" + "01" * 32
MINIO_OLD = (
    "minio/minio:RELEASE.2024-10-13T13-34-11Z"
    "@sha256:74747fc07544840e196963076ba6f17e532225b23da90857ff8b8a47dacb6621"
)
MINIO_NEW = "minio/minio:RELEASE.2024-11-07T00-52-20Z@sha256:" + "aa" * 32


def dr_elsewhere(age: timedelta = timedelta(hours=2)) -> EvidenceFact:
    """A passing DR drill, fresh unless aged, that restored none of the modules judged."""
    return replace(dr_drill(), finished=NOW - age, covers=("platform/app",))


def why(v: Verdict, module: str = MOD) -> str:
    hint = requirement(v, "apply/dr-drill", module).hint
    assert hint.startswith("mandatory (")
    return hint.removeprefix("mandatory (").partition(")")[0]


def test_a_core_module_needs_a_dr_drill_for_being_core(pr: Platforms) -> None:
    assert why(judge(pr, [backup(), drill(), smoke(), dr_elsewhere()])) == "core"
    # the freshness window is the policy's 30 days
    assert why(judge(pr, [backup(), drill(), smoke(), dr_elsewhere(timedelta(days=30))])) == "core"
    stale = dr_elsewhere(timedelta(days=30, seconds=1))
    assert why(judge(pr, [backup(), drill(), smoke(), stale])) == "core, stale"
    assert why(judge(pr, [backup(), drill(), smoke()])) == "core, stale"


def test_two_stateful_modules_in_one_batch_make_it_broad(tmp_path: Path) -> None:
    platforms = Platforms(tmp_path)
    platforms.replace("compose/postgres.yml", PG_OLD, PG_MINOR)
    platforms.replace("compose/redis.yml", REDIS_OLD, REDIS_NEW)
    redis = f"  - module: platform/redis\n    from: {REDIS_OLD}\n    to: {REDIS_NEW}\n"
    platforms.packet("batch", pg(PG_MINOR) + redis)
    v = judge(platforms, [dr_elsewhere()], ApprovalResult(APPROVAL, True, (), (MOD,)))
    assert why(v) == "core, broad"
    assert why(v, "platform/redis") == "core, broad"


def test_a_major_upgrade_of_a_stateful_module_needs_a_dr_drill(tmp_path: Path) -> None:
    platforms = Platforms(tmp_path)
    platforms.replace("compose/postgres.yml", PG_OLD, PG_MAJOR)
    platforms.packet("pg", pg(PG_MAJOR, note="dump and restore into 17"))
    assert why(judge(platforms, [dr_elsewhere()])) == "core, major"


def test_the_backup_reference_module_needs_a_dr_drill(tmp_path: Path) -> None:
    platforms = Platforms(tmp_path)
    platforms.replace("compose/minio.yml", MINIO_OLD, MINIO_NEW)
    platforms.packet(
        "minio",
        f"  - module: platform/minio\n    from: {MINIO_OLD}\n    to: {MINIO_NEW}\n",
        "[compose/minio.yml]",
    )
    v = judge(platforms, [dr_elsewhere()], ApprovalResult(APPROVAL, True, (), ("platform/minio",)))
    assert why(v, "platform/minio") == "backup-reference"


# --- secret references -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "same"),
    [
        ("      - authelia_postgres_password\n", "", False),  # a secret dropped
        (
            "POSTGRES_PASSWORD_FILE: /run/secrets/postgres_password",
            "POSTGRES_PASSWORD_FILE: /run/secrets/postgres_password_v2",
            False,
        ),
        ("restart: unless-stopped\n", "restart: unless-stopped\n    env_file: [pg.env]\n", False),
        ("POSTGRES_DB: notes\n", "POSTGRES_DB: notes\n      PGTZ_FILE: /etc/timezone\n", True),
        ("POSTGRES_DB: notes\n", "POSTGRES_DB: notes\n      SSL_DIR: /run/secrets/tls\n", True),
        ("POSTGRES_DB: notes\n", "POSTGRES_DB: notes\n      LOG_FILE:\n", True),
    ],
)
def test_secret_references_are_secrets_env_files_and_secret_file_variables(
    pr: Platforms, old: str, new: str, same: bool
) -> None:
    pr.replace("compose/postgres.yml", old, new)
    if "env_file" in new:  # compose refuses an env_file that is not there
        pr.write("compose/pg.env", "PGTZ=UTC\n")
    v = judge(pr, everything())
    assert requirement(v, "apply/secret-refs") == Requirement(
        "apply/secret-refs",
        MOD,
        "secret-bearing",
        "met" if same else "missing",
        "secret references unchanged" if same else APPLY_TEXT[A.SECRET_REFS],
    )


# --- labels, and modules without a base image ---------------------------------------------------


def test_an_apply_is_never_automatic_and_is_a_runtime_risk(pr: Platforms) -> None:
    v = judge(pr, everything())
    assert v.labels == ["merge/manual-red-zone", "risk/process", "risk/runtime"]


def test_a_pinned_stateless_bump_loses_merge_auto_at_apply(tmp_path: Path) -> None:
    renderer_old = (
        "gotenberg/gotenberg:8.9.1"
        "@sha256:4b0a6e3d5f1c2a9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e"
    )
    platforms = Platforms(tmp_path)
    platforms.replace(
        "compose/app.yml", renderer_old, "gotenberg/gotenberg:8.9.2@sha256:" + "77" * 32
    )
    v = judge(platforms, [])
    assert v.verdict.value == "approved"
    assert v.labels == ["risk/runtime"]


def test_nothing_that_runs_changes_has_no_apply_labels(tmp_path: Path) -> None:
    platforms = Platforms(tmp_path)
    platforms.write("README.md", "typo fixed\n")
    v = judge(platforms, [])
    assert (v.verdict.value, v.labels) == ("pass", [])


def added_cache(tmp_path: Path) -> Platforms:
    """A PR that adds a stateful service, platform/cache2 (no base image)."""
    platforms = Platforms(tmp_path)
    text = (platforms.head / "compose/redis.yml").read_text(encoding="utf-8")
    head, sep, rest = text.partition("\nservices:\n")
    service = f"  cache2:\n    image: {REDIS_NEW}\n    volumes:\n      - cache2data:/data\n"
    added = (head + sep + service + rest).replace("\nvolumes:\n", "\nvolumes:\n  cache2data: {}\n")
    platforms.write("compose/redis.yml", added)
    return platforms


CACHE2 = ApprovalResult(APPROVAL, True, (), ("platform/cache2",))


def test_an_added_module_is_judged_without_a_deployed_image(tmp_path: Path) -> None:
    # a backup of a module of that name (an earlier one, removed since) is of no deployed image
    old = backup("evidence/platform/cache2/backup-1.json", module="platform/cache2", digest=None)
    v = judge(added_cache(tmp_path), [old], CACHE2)
    assert v.stops == []
    assert requirement(v, "apply/backup", "platform/cache2").status == "met"
    assert "apply/version-match" not in {r.id for r in v.requirements}


def test_an_added_modules_smoke_is_no_drift(tmp_path: Path) -> None:
    baseline = smoke("evidence/platform/cache2/smoke-1.json", module="platform/cache2", digest=None)
    v = judge(added_cache(tmp_path), [baseline], CACHE2)
    assert v.stops == []
    assert requirement(v, "apply/smoke-baseline", "platform/cache2") == Requirement(
        "apply/smoke-baseline", "platform/cache2", "stateful", "met", f"smoke {baseline.path}"
    )


def test_changed_secret_references_need_a_rotation_plan(pr: Platforms) -> None:
    pr.replace("compose/postgres.yml", "      - authelia_postgres_password\n", "")
    pr.packet("pg", pg(PG_MINOR) + "    rotation_plan: the operator rotates it first\n")
    v = judge(pr, everything())
    assert requirement(v, "apply/secret-refs") == Requirement(
        "apply/secret-refs", MOD, "secret-bearing", "met", APPLY_TEXT[A.SECRET_REFS]
    )


# --- the server a backup came from ------------------------------------------------

PRODUCTION = "127.0.0.1:5432"  # the example policy's platform/postgres address


def _from(address: str | None, role: str | None = "primary", **ids: str) -> EvidenceFact:
    return replace(backup(), address=address, role=role, server_ids=tuple(sorted(ids.items())))


def test_a_backup_of_the_configured_primary_counts(pr: Platforms) -> None:
    v = judge(pr, [_from(PRODUCTION), drill(), rehearsal(), smoke(), dr_drill()])
    assert requirement(v, "apply/backup").status == "met"


def test_a_backup_of_a_replica_does_not_count(pr: Platforms) -> None:
    v = judge(pr, [_from(PRODUCTION, "replica"), drill(), rehearsal(), smoke(), dr_drill()])
    assert requirement(v, "apply/backup") == Requirement(
        "apply/backup",
        MOD,
        "stateful",
        "missing",
        f"backup b1 was taken of a replica ({PRODUCTION}), not of production's primary: "
        f"{APPLY_TEXT[A.BACKUP]}",
    )
    assert BACKUP not in v.relied_evidence


def test_a_backup_of_another_address_does_not_count(pr: Platforms) -> None:
    v = judge(pr, [_from("127.0.0.1:5433"), drill(), rehearsal(), smoke(), dr_drill()])
    assert requirement(v, "apply/backup").hint == (
        f"backup b1 was taken of 127.0.0.1:5433, but the policy names {PRODUCTION} as "
        f"{MOD}'s production: {APPLY_TEXT[A.BACKUP]}"
    )


@pytest.mark.parametrize(
    ("ids", "status"),
    [
        ({"system_identifier": "7301"}, "met"),
        ({"system_identifier": "7302"}, "missing"),
        ({}, "missing"),  # a role that could not read it: not shown to be production
    ],
)
def test_a_pinned_system_identifier_must_be_the_one_reported(
    pr: Platforms, ids: dict[str, str], status: str
) -> None:
    for side in ("base", "head"):
        path = (pr.base if side == "base" else pr.head) / "stategate.yaml"
        text = path.read_text(encoding="utf-8")
        pinned = text.replace(
            "      databases: [notes, authelia]\n",
            "      databases: [notes, authelia]\n      system_identifier: '7301'\n",
            1,
        )
        assert pinned != text
        pr.write("stategate.yaml", pinned, side=side)
    v = judge(pr, [_from(PRODUCTION, **ids), drill(), rehearsal(), smoke(), dr_drill()])
    found = requirement(v, "apply/backup")
    assert found.status == status
    if status == "missing":
        shown = ids.get("system_identifier", "unknown")
        assert f"whose system identifier is {shown}, not 7301" in found.hint


def test_an_older_backup_of_production_counts_past_a_newer_one_of_a_replica(
    pr: Platforms,
) -> None:
    older = replace(
        _from(PRODUCTION),
        path="evidence/platform/postgres/backup-0.json",
        finished=NOW - timedelta(hours=2),
        backup_id="b0",
    )
    replica = _from(PRODUCTION, "replica")
    evidence = [older, replica, replace(drill(), backup_id="b0"), rehearsal(), smoke(), dr_drill()]
    v = judge(pr, evidence)
    assert (
        requirement(v, "apply/backup").hint
        == "backup evidence/platform/postgres/backup-0.json (b0)"
    )
    # the drill that counts is the production backup's, not the replica's
    assert requirement(v, "apply/restore-drill").status == "met"
    assert BACKUP not in v.relied_evidence


@pytest.mark.parametrize(
    ("written", "address"),
    [("/srv//vol/", "/srv/vol"), ("/srv/./vol", "/srv/vol"), ("data/vol", None)],
)
def test_a_volume_path_is_compared_as_a_backup_records_it(
    written: str, address: str | None
) -> None:
    from stategate.providers.config import VolumeSource, production_address

    assert production_address(VolumeSource(path=written)) == address
