"""The apply-stage gate on synthetic, already-verified evidence facts."""

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
from stategate.policy.gate import PullRequest
from stategate.policy.schema import ApplyRequirement
from stategate.policy.text import APPLY_TEXT
from stategate.pullrequest import load_pull_request
from tests.gitrepo import platform_repo

PG_OLD = (
    "postgres:16.4-alpine@sha256:963dbe32ce63a7c52ced1eddc8ad975efb564238419e88628e701469a8226a8e"
)
DEPLOYED = "sha256:963dbe32ce63a7c52ced1eddc8ad975efb564238419e88628e701469a8226a8e"
PG_NEW = "postgres:16.6-alpine@sha256:" + "ab" * 32
PG_MAJOR = "postgres:17.2-alpine@sha256:" + "cd" * 32
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
MOD = "platform/postgres"


def _pr(tmp_path: Path, target: str = PG_NEW, *, needs_restore: bool = False) -> PullRequest:
    repo = platform_repo(tmp_path / "p")
    repo.replace("compose/postgres.yml", PG_OLD, target)
    note = "    migration_note: dump/restore into 17\n" if target == PG_MAJOR else ""
    repo.write(
        "packets/pg.yaml",
        f"id: pg\nmodules:\n  - module: {MOD}\n    from: {PG_OLD}\n    to: {target}\n"
        f"    rollback: {{to: '{PG_OLD}', needs_restore: {str(needs_restore).lower()}}}\n{note}"
        "allowed_paths: [compose/postgres.yml]\n",
    )
    repo.commit("bump")
    pr, _ = load_pull_request(repo.path, "main", "HEAD")
    return pr


def _evidence(
    *,
    age_h: float = 1,
    digest: str = DEPLOYED,
    drill_backup: str = "b1",
    dr: bool = True,
    drill_version: str = "16.14",
    rehearsed_on: str | None = "16.6",
) -> list[EvidenceFact]:
    at = NOW - timedelta(hours=age_h)
    facts = [
        EvidenceFact(
            "evidence/platform/postgres/backup-1.json",
            "s1",
            "backup",
            MOD,
            "pass",
            at,
            image_digest=digest,
            backup_id="b1",
            server_version="16.4 (Debian 16.4-1.pgdg120+2)",
        ),
        EvidenceFact(
            "evidence/platform/postgres/restore-drill-1.json",
            "s2",
            "restore-drill",
            MOD,
            "pass",
            at,
            image_digest=digest,
            backup_id=drill_backup,
            fingerprint_match=True,
            engine="local",
            server_version=drill_version,
        ),
        EvidenceFact(
            "evidence/platform/postgres/smoke-1.json",
            "s3",
            "smoke",
            MOD,
            "pass",
            at,
            image_digest=digest,
            target="source",
            check_kinds=("sql",),
        ),
    ]
    if rehearsed_on is not None:
        facts.append(rehearsal(rehearsed_on, at=at))
    if dr:
        facts.append(
            EvidenceFact(
                "evidence/platform/dr-drill-1.json",
                "s4",
                "dr-drill",
                None,
                "pass",
                at,
                covers=(MOD, "platform/redis", "platform/minio"),
            )
        )
    return facts


REHEARSAL = "evidence/platform/postgres/rehearsal-1.json"
STEPS = (("verify-backup", "pass"), ("restore-on-target", "pass"), ("rollback-probe", "pass"))


def rehearsal(
    version: str,
    *,
    at: datetime = NOW - timedelta(hours=1),
    result: str = "pass",
    backup: str = "b1",
    steps: tuple[tuple[str, str], ...] = STEPS,
    match: bool = True,
    rollback: str = "previous-image",
    path: str = REHEARSAL,
    image: str | None = None,
) -> EvidenceFact:
    """A rehearsal on `version`, of the image the tests change to on that major unless
    `image` says otherwise."""
    if image is None:
        image = PG_MAJOR if version.startswith("17") else PG_NEW
    return EvidenceFact(
        path,
        "s5",
        "rehearsal",
        MOD,
        result,
        at,
        image_digest=DEPLOYED,
        backup_id=backup,
        backup_record="evidence/platform/postgres/backup-1.json",
        fingerprint_match=match,
        engine="local",
        server_version=version,
        steps=steps,
        rollback=rollback,
        target_image=image,
    )


def _approvals(  # type: ignore[no-untyped-def]
    valid: bool, seen: list[Sequence[str]] | None = None, covers: tuple[str, ...] = (MOD,)
):
    def check(paths: Sequence[str]) -> list[ApprovalResult]:
        if seen is not None:
            seen.append(tuple(paths))
        return [
            ApprovalResult(
                "evidence/approvals/pg/a.json", valid, () if valid else ("expired",), covers
            )
        ]

    return check


def _artifacts(status: str = "verified", seen: list[Sequence[str]] | None = None):  # type: ignore[no-untyped-def]
    def check(paths: Sequence[str]) -> list[ArtifactCheck]:
        if seen is not None:
            seen.append(tuple(paths))
        return [ArtifactCheck("evidence/platform/postgres/backup-1.json", status, "detail")]

    return check


def _facts(  # type: ignore[no-untyped-def]
    evidence: list[EvidenceFact], approvals=None, artifacts=None
) -> ApplyFacts:
    return ApplyFacts(
        evidence,
        NOW,
        approvals if approvals is not None else _approvals(True),
        artifacts if artifacts is not None else _artifacts(),
    )


def test_everything_present_is_approved_and_binds_the_evidence(tmp_path: Path) -> None:
    seen: list[Sequence[str]] = []
    v = evaluate_apply(_pr(tmp_path), _facts(_evidence(), _approvals(True, seen)))
    assert v.verdict.value == "approved", [r for r in v.requirements if r.status != "met"]
    assert v.stage == "apply"
    assert set(seen[0]) == {
        "evidence/platform/postgres/backup-1.json",
        "evidence/platform/postgres/restore-drill-1.json",
        REHEARSAL,
        "evidence/platform/postgres/smoke-1.json",
        "evidence/platform/dr-drill-1.json",
    }
    assert v.relied_evidence == list(seen[0])


def test_nothing_recorded_is_blocked_listing_what_is_missing(tmp_path: Path) -> None:
    v = evaluate_apply(_pr(tmp_path), ApplyFacts([], NOW))
    assert v.verdict.value == "blocked"
    missing = {r.id for r in v.requirements if r.status != "met"}
    assert missing == {
        "apply/backup",
        "apply/restore-drill",
        "apply/rehearsal",
        "apply/smoke-baseline",
        "apply/dr-drill",
        "apply/operator-approval",
    }


def test_stale_backup_is_blocked(tmp_path: Path) -> None:
    v = evaluate_apply(_pr(tmp_path), _facts(_evidence(age_h=30), _approvals(True)))
    assert v.verdict.value == "blocked"
    (stale,) = [r for r in v.requirements if r.id == "apply/backup"]
    assert stale.status == "missing" and "over the 24 h window" in stale.hint


def test_backup_of_another_digest_is_drift(tmp_path: Path) -> None:
    other = "sha256:" + "99" * 32
    v = evaluate_apply(_pr(tmp_path), _facts(_evidence(digest=other), _approvals(True)))
    assert v.verdict.value == "stop"
    assert {s.condition.value for s in v.stops} == {"digest-drift"}


def test_drill_of_another_backup_is_blocked(tmp_path: Path) -> None:
    v = evaluate_apply(_pr(tmp_path), _facts(_evidence(drill_backup="b0"), _approvals(True)))
    assert v.verdict.value == "blocked"
    assert [r.id for r in v.requirements if r.status != "met"] == ["apply/restore-drill"]


def test_missing_dr_drill_when_mandatory(tmp_path: Path) -> None:
    v = evaluate_apply(_pr(tmp_path), _facts(_evidence(dr=False), _approvals(True)))
    assert v.verdict.value == "blocked"
    (dr,) = [r for r in v.requirements if r.id == "apply/dr-drill"]
    assert dr.status == "missing" and "core" in dr.hint


def test_invalid_approval_is_blocked(tmp_path: Path) -> None:
    v = evaluate_apply(_pr(tmp_path), _facts(_evidence(), _approvals(False)))
    assert v.verdict.value == "blocked"
    (approval,) = [r for r in v.requirements if r.id == "apply/operator-approval"]
    assert approval.status == "missing" and "expired" in approval.hint


@pytest.mark.parametrize("needs_restore", [False, True])
def test_major_upgrade_rollback_must_need_a_restore(tmp_path: Path, needs_restore: bool) -> None:
    pr = _pr(tmp_path, PG_MAJOR, needs_restore=needs_restore)
    v = evaluate_apply(pr, _facts(_evidence(rehearsed_on="17.2"), _approvals(True)))
    (rollback,) = [r for r in v.requirements if r.id == "apply/rollback-path"]
    assert (rollback.status == "met") is needs_restore
    assert v.verdict.value == ("approved" if needs_restore else "blocked")


def test_merge_stage_stops_carry_into_apply(tmp_path: Path) -> None:
    repo = platform_repo(tmp_path / "p")
    repo.replace("compose/postgres.yml", PG_OLD, "postgres:16.6-alpine")
    repo.commit("floating")
    pr, _ = load_pull_request(repo.path, "main", "HEAD")
    v = evaluate_apply(pr, _facts(_evidence(), _approvals(True)))
    assert v.verdict.value == "stop"


def test_an_approval_covers_only_the_modules_it_names(tmp_path: Path) -> None:
    other = _approvals(True, covers=("platform/redis",))
    v = evaluate_apply(_pr(tmp_path), _facts(_evidence(), other))
    assert v.verdict.value == "blocked"
    (approval,) = [r for r in v.requirements if r.id == "apply/operator-approval"]
    assert approval.module == MOD and approval.status == "missing"
    assert f"no operator approval names {MOD}" in approval.hint


@pytest.mark.parametrize("status", ["failed", "unreachable"])
def test_artifacts_that_do_not_verify_block_the_apply(tmp_path: Path, status: str) -> None:
    seen: list[Sequence[str]] = []
    v = evaluate_apply(_pr(tmp_path), _facts(_evidence(), artifacts=_artifacts(status, seen)))
    assert v.verdict.value == "blocked"
    (req,) = [r for r in v.requirements if r.status != "met"]
    assert req.id == "apply/artifacts-verified" and f": {status}: detail" in req.hint
    assert "evidence/platform/postgres/backup-1.json" in seen[0]


def test_no_artifact_checker_fails_closed(tmp_path: Path) -> None:
    v = evaluate_apply(_pr(tmp_path), ApplyFacts(_evidence(), NOW, _approvals(True)))
    assert v.verdict.value == "blocked"
    assert [r.id for r in v.requirements if r.status != "met"] == ["apply/artifacts-verified"]


def test_nothing_that_runs_changes_is_pass_not_approved(tmp_path: Path) -> None:
    repo = platform_repo(tmp_path / "p")
    repo.write("docs/notes.md", "# notes\n")
    repo.commit("docs only")
    pr, _ = load_pull_request(repo.path, "main", "HEAD")
    v = evaluate_apply(pr, _facts([]))
    assert v.verdict.value == "pass"


def test_a_drill_on_another_major_than_the_running_one_is_not_counted(tmp_path: Path) -> None:
    v = evaluate_apply(_pr(tmp_path), _facts(_evidence(drill_version="15.18")))
    assert v.verdict.value == "blocked"
    (drill,) = [r for r in v.requirements if r.status != "met"]
    assert drill.id == "apply/restore-drill"
    assert "ran on 15.18" in drill.hint and "runs 16.4" in drill.hint
    assert "only on the running major (major 16)" in drill.hint


def test_the_image_major_must_be_the_running_major(tmp_path: Path) -> None:
    facts = _evidence()
    facts[0] = replace(facts[0], server_version="15.8")
    facts[1] = replace(facts[1], server_version="15.18")  # the drill ran on the running major
    v = evaluate_apply(_pr(tmp_path), _facts(facts))
    assert v.verdict.value == "blocked"
    (req,) = [r for r in v.requirements if r.status != "met"]
    assert req.id == "apply/version-match" and req.module == MOD
    assert "names major 16, but the server reports 15.8" in req.hint


def test_a_module_declared_by_two_packets_is_a_stop(tmp_path: Path) -> None:
    repo = platform_repo(tmp_path / "p")
    repo.replace("compose/postgres.yml", PG_OLD, PG_NEW)
    for name in ("a", "b"):
        repo.write(
            f"packets/{name}.yaml",
            f"id: {name}\nmodules:\n  - module: {MOD}\n    from: {PG_OLD}\n    to: {PG_NEW}\n"
            f"    rollback: {{to: '{PG_OLD}', needs_restore: false}}\n"
            "allowed_paths: [compose/postgres.yml]\n",
        )
    repo.commit("two packets")
    pr, _ = load_pull_request(repo.path, "main", "HEAD")
    v = evaluate_apply(pr, _facts(_evidence()))
    assert v.verdict.value == "stop"
    (stop,) = [s for s in v.stops if s.module == MOD]
    assert "declared more than once (a, b)" in stop.message


_PRS: dict[tuple[Path, str], PullRequest] = {}


def _rehearsal_req(tmp_path: Path, facts: list[EvidenceFact], target: str = PG_NEW):  # type: ignore[no-untyped-def]
    key = (tmp_path, target)
    if key not in _PRS:
        _PRS[key] = _pr(tmp_path / target[9:13], target, needs_restore=True)
    v = evaluate_apply(_PRS[key], _facts(facts))
    (req,) = [r for r in v.requirements if r.id == "apply/rehearsal"]
    return v, req


def test_a_minor_change_needs_a_rehearsal_of_the_drilled_backup(tmp_path: Path) -> None:
    v, req = _rehearsal_req(tmp_path, _evidence(rehearsed_on=None))
    assert v.verdict.value == "blocked" and req.status == "missing" and req.module == MOD
    assert req.hint.startswith("no rehearsal of backup b1 on major 16: on a major or minor")
    v, req = _rehearsal_req(tmp_path, _evidence())
    assert v.verdict.value == "approved"
    assert req.hint == f"restore on the target {REHEARSAL} on 16.6"
    assert REHEARSAL in v.relied_evidence  # the approval binds it, its backup is hashed


def test_a_minor_change_needs_only_the_restore_on_the_target(tmp_path: Path) -> None:
    late = (*STEPS[:2], ("rollback-probe", "fail"))
    facts = [*_evidence(rehearsed_on=None), rehearsal("16.6", result="fail", steps=late)]
    assert _rehearsal_req(tmp_path, facts)[1].status == "met"
    early = (("verify-backup", "pass"), ("restore-on-target", "fail"))
    facts = [*_evidence(rehearsed_on=None), rehearsal("16.6", result="fail", steps=early)]
    v, req = _rehearsal_req(tmp_path, facts)
    assert req.status == "missing" and v.verdict.value == "blocked"
    assert req.hint.startswith(
        f"rehearsal {REHEARSAL} of backup b1 did not pass (restore-on-target)"
    )


def test_a_rehearsal_whose_content_differs_does_not_count(tmp_path: Path) -> None:
    facts = [*_evidence(rehearsed_on=None), rehearsal("16.6", match=False)]
    assert _rehearsal_req(tmp_path, facts)[1].status == "missing"
    facts = [*_evidence(rehearsed_on=None), rehearsal("17.2", match=False, steps=())]
    assert _rehearsal_req(tmp_path, facts, PG_MAJOR)[1].status == "missing"


def test_a_major_change_needs_the_whole_rehearsal_to_pass(tmp_path: Path) -> None:
    in_place = (*STEPS, ("upgrade-check-defaults", "fail"), ("upgrade-check", "pass"))
    facts = [*_evidence(rehearsed_on=None), rehearsal("17.2", steps=in_place)]
    v, req = _rehearsal_req(tmp_path, facts, PG_MAJOR)
    assert req.status == "met" and req.hint == f"rehearsal {REHEARSAL} on 17.2"
    assert v.verdict.value == "approved"
    refused = (*STEPS, ("upgrade-check", "fail"))
    facts = [*_evidence(rehearsed_on=None), rehearsal("17.2", result="fail", steps=refused)]
    v, req = _rehearsal_req(tmp_path, facts, PG_MAJOR)
    assert v.verdict.value == "blocked"
    assert req.hint.startswith(f"rehearsal {REHEARSAL} of backup b1 did not pass (upgrade-check)")


def test_a_rehearsal_on_another_major_or_of_another_backup_does_not_count(
    tmp_path: Path,
) -> None:
    # the image names 17 but the rehearsal's server said 16: it rehearsed the wrong engine
    facts = [*_evidence(rehearsed_on=None), rehearsal("16.6", image=PG_MAJOR)]
    _v, req = _rehearsal_req(tmp_path, facts, PG_MAJOR)
    assert req.status == "missing"
    assert req.hint.startswith("rehearsals of backup b1 ran on 16.6, not major 17")
    facts = [*_evidence(rehearsed_on=None), rehearsal("16.6", backup="b0")]
    _v, req = _rehearsal_req(tmp_path, facts)
    assert req.hint.startswith("no rehearsal of backup b1 on major 16")


def test_only_a_rehearsal_of_the_image_the_change_runs_counts(tmp_path: Path) -> None:
    # same backup, same major, but another image (another build of 17): not this change's
    other = "postgres:17.2-bookworm@sha256:" + "ef" * 32
    facts = [*_evidence(rehearsed_on=None), rehearsal("17.2", image=other)]
    v, req = _rehearsal_req(tmp_path, facts, PG_MAJOR)
    assert req.status == "missing" and v.verdict.value == "blocked"
    assert req.hint.startswith(f"backup b1 was rehearsed on {other}, not on {PG_MAJOR}: ")
    assert REHEARSAL not in v.relied_evidence
    # the same image without its digest is another reference too: the digest is what runs
    bare = PG_MAJOR.partition("@")[0]
    facts = [*_evidence(rehearsed_on=None), rehearsal("17.2", image=bare)]
    assert _rehearsal_req(tmp_path / "bare", facts, PG_MAJOR)[1].status == "missing"
    # every other image is named, and a record that names none says so
    older = replace(rehearsal("17.2", path="r-none.json"), target_image=None)
    facts = [*_evidence(rehearsed_on=None), rehearsal("17.2", image=other), older]
    _v, req = _rehearsal_req(tmp_path / "named", facts, PG_MAJOR)
    assert req.hint == (
        f"backup b1 was rehearsed on an unknown image, {other}, not on {PG_MAJOR}: "
        f"{APPLY_TEXT[ApplyRequirement.REHEARSAL]}"
    )
    # beside one of the right image, it changes nothing
    facts = [*facts, rehearsal("17.2", path="evidence/platform/postgres/rehearsal-2.json")]
    v, req = _rehearsal_req(tmp_path / "both", facts, PG_MAJOR)
    assert req.status == "met"
    assert req.hint == "rehearsal evidence/platform/postgres/rehearsal-2.json on 17.2"


def _rollback_req(tmp_path: Path, facts: list[EvidenceFact], *, needs_restore: bool):  # type: ignore[no-untyped-def]
    pr = _pr(tmp_path / str(needs_restore), PG_NEW, needs_restore=needs_restore)
    v = evaluate_apply(pr, _facts(facts))
    (req,) = [r for r in v.requirements if r.id == "apply/rollback-path"]
    return v, req


def test_a_rehearsal_that_found_a_restore_overrules_a_re_pin(tmp_path: Path) -> None:
    older = "evidence/platform/postgres/rehearsal-0.json"
    facts = [
        *_evidence(rehearsed_on=None),
        rehearsal("16.6", rollback="restore-backup", path=older, at=NOW - timedelta(hours=2)),
        rehearsal("16.6", rollback="restore-backup"),
    ]
    v, req = _rollback_req(tmp_path, facts, needs_restore=False)
    assert v.verdict.value == "blocked" and req.status == "missing"
    assert req.hint == (
        f"rehearsal {REHEARSAL} found that rolling back needs a restore of backup b1, but "
        "the packet's rollback path re-pins the previous image (rollback.needs_restore: false)"
    )
    v, req = _rollback_req(tmp_path, facts, needs_restore=True)
    assert req.status == "met" and v.verdict.value == "approved"


def test_only_a_rehearsal_of_the_latest_backup_decides_the_rollback(tmp_path: Path) -> None:
    other = rehearsal("16.6", rollback="restore-backup", backup="b0", path="r-old.json")
    facts = [*_evidence(rehearsed_on="16.6"), other]
    v, req = _rollback_req(tmp_path, facts, needs_restore=False)
    assert req.status == "met" and v.verdict.value == "approved"
    elsewhere = rehearsal("16.6", rollback="restore-backup", image=PG_MAJOR, path="r-17.json")
    v, req = _rollback_req(
        tmp_path / "image", [*_evidence(rehearsed_on="16.6"), elsewhere], needs_restore=False
    )
    assert req.status == "met"  # it rehearsed another image: it says nothing of this one
    unknown = rehearsal("16.6", rollback="unknown", path="r-unknown.json")
    v, req = _rollback_req(
        tmp_path / "again", [*_evidence(rehearsed_on="16.6"), unknown], needs_restore=False
    )
    assert req.status == "met"


def _only(v, rid: str = "apply/rehearsal"):  # type: ignore[no-untyped-def]
    (req,) = [r for r in v.requirements if r.id == rid]
    return req


def test_each_rehearsal_answer_names_the_module_its_class_and_why(tmp_path: Path) -> None:
    tail = (
        ": on a major or minor version change (or a move to another image repository), an "
        "upgrade rehearsal of that same backup on the target version"
    )
    cases = {
        "met": ([*_evidence()], True, f"restore on the target {REHEARSAL} on 16.6"),
        "none": (_evidence(rehearsed_on=None), False, "no rehearsal of backup b1 on major 16"),
        "no backup": (
            [e for e in _evidence() if e.kind != "backup"],
            False,
            "no backup to rehearse with",
        ),
        "skipped steps are not failures": (
            [
                *_evidence(rehearsed_on=None),
                rehearsal(
                    "16.6",
                    result="fail",
                    steps=(("verify-backup", "skipped"), ("restore-on-target", "fail")),
                ),
            ],
            False,
            f"rehearsal {REHEARSAL} of backup b1 did not pass (restore-on-target)",
        ),
        "no failed step: the result says why": (
            [*_evidence(rehearsed_on=None), rehearsal("16.6", result="error", steps=())],
            False,
            f"rehearsal {REHEARSAL} of backup b1 did not pass (error)",
        ),
    }
    for name, (facts, met, hint) in cases.items():
        req = _rehearsal_req(tmp_path, facts)[1]
        assert (req.module, req.cls, req.status) == (
            MOD,
            "stateful",
            "met" if met else "missing",
        ), name
        assert req.hint == hint if met else req.hint.startswith(hint + tail), (name, req.hint)


def test_a_move_to_an_image_without_a_version_has_no_target_to_rehearse(
    tmp_path: Path,
) -> None:
    v, req = _rehearsal_req(tmp_path, _evidence(), "valkey/valkey@sha256:" + "ef" * 32)
    assert (req.module, req.cls, req.status) == (MOD, "stateful", "missing")
    assert req.hint.startswith("no target version: on a major or minor")
    assert v.verdict.value in ("blocked", "stop")


def test_a_failed_rehearsal_is_reported_by_its_newest_run_and_every_failed_step(
    tmp_path: Path,
) -> None:
    older = rehearsal(
        "16.6",
        result="fail",
        steps=(("restore-on-target", "fail"),),
        path="older.json",
        at=NOW - timedelta(hours=3),
    )
    newer = rehearsal(
        "16.6",
        result="fail",
        steps=(
            ("verify-backup", "pass"),
            ("restore-on-target", "fail"),
            ("rollback-probe", "error"),
        ),
    )
    _v, req = _rehearsal_req(tmp_path, [*_evidence(rehearsed_on=None), older, newer])
    assert req.hint.startswith(
        f"rehearsal {REHEARSAL} of backup b1 did not pass (restore-on-target, rollback-probe): "
    )


def test_rehearsals_on_other_majors_are_listed_by_version(tmp_path: Path) -> None:
    # of the image the change runs (its tag says 17), on servers that said otherwise
    on16 = rehearsal("16.6", image=PG_MAJOR)
    unknown = replace(rehearsal("16.6", path="r-unknown.json", image=PG_MAJOR), server_version=None)
    facts = [*_evidence(rehearsed_on=None), on16, unknown]
    _v, req = _rehearsal_req(tmp_path, facts, PG_MAJOR)
    assert req.hint.startswith(
        "rehearsals of backup b1 ran on 16.6, an unknown version, not major 17: "
    )
