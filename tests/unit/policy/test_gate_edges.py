"""Edges of the merge gate the rule tests did not pin, on the example platform (no git).

Written against the survivors of the full mutation run of ``policy/gate.py``
(docs/mutation.md); ``Platforms`` and the images come from test_gate_rules.py.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from stategate.diff.scan import Finding
from stategate.policy.gate import Stop, evaluate_merge, matches
from stategate.policy.schema import StopCondition
from stategate.policy.trust_inputs import TrustChange
from tests.unit.policy.test_gate_rules import PG_MINOR, PG_OLD, Platforms, pg

APP_OLD = (
    "ghcr.io/example/notes:${APP_TAG:?set in .env}"
    "@sha256:f1330dca86a1bb3d39e4cb8d68db1a76424eb8be6ede417768d1706322d7dcc3"
)
APP_NEW = "ghcr.io/example/notes:${APP_TAG:?set in .env}@sha256:" + "e1" * 32


@pytest.fixture
def pr(tmp_path: Path) -> Platforms:
    return Platforms(tmp_path)


def both_policies(pr: Platforms, extra: str) -> None:
    """The same policy addition on the base (in force) and the head (no relaxation)."""
    for side, root in (("base", pr.base), ("head", pr.head)):
        policy = (root / "stategate.yaml").read_text(encoding="utf-8")
        pr.write("stategate.yaml", policy + extra, side=side)


def test_a_requirement_two_classes_impose_is_listed_once_for_the_first(tmp_path: Path) -> None:
    # app is secret-bearing, then public-edge: with secret-bearing asking for a smoke
    # contract too, public-edge's smoke contract is the same requirement, and its
    # manual merge after it still counts
    pr = Platforms(tmp_path)
    both_policies(pr, "\nclasses:\n  secret-bearing: {merge: [digest-pinned, smoke-contract]}\n")
    pr.replace("compose/app.yml", APP_OLD, APP_NEW)
    v = pr.judge()
    app = [(r.id, r.cls) for r in v.requirements if r.module == "platform/app"]
    assert app == [
        ("merge/digest-pinned", "secret-bearing"),
        ("merge/smoke-contract", "secret-bearing"),
        ("merge/packet", "public-edge"),
        ("merge/rollback-path", "public-edge"),
        ("merge/manual-merge", "public-edge"),
    ]


def test_the_evidence_folder_is_in_scope_as_written_without_its_trailing_slash(
    tmp_path: Path,
) -> None:
    pr = Platforms(tmp_path)
    for side, root in (("base", pr.base), ("head", pr.head)):
        policy = (root / "stategate.yaml").read_text(encoding="utf-8")
        assert "evidence:\n  dir: evidence\n" in policy
        policy = policy.replace("evidence:\n  dir: evidence\n", "evidence:\n  dir: records/BOX/\n")
        pr.write("stategate.yaml", policy, side=side)
    pr.replace("compose/postgres.yml", PG_OLD, PG_MINOR)
    pr.packet("pg", pg(PG_MINOR), "[compose/postgres.yml]")
    pr.write("records/BOX/platform/postgres/backup-1.json", "{}\n")
    assert pr.judge().stops == []
    pr.write("records/BO/stray.json", "{}\n")  # a sibling folder is not the evidence folder
    assert [(s.condition, s.file) for s in pr.judge().stops] == [
        (StopCondition.OUT_OF_SCOPE_PATH, "records/BO/stray.json")
    ]


def test_a_folder_pattern_matches_only_inside_that_folder() -> None:
    assert matches("docs/X/a.md", ["docs/X/"])
    assert not matches("docs/a.md", ["docs/X/"])


def test_a_trust_root_change_is_always_a_stop_at_its_line(pr: Platforms) -> None:
    base = pr.pull_request()
    stops = [s for s in StopCondition if s is not StopCondition.TRUST_ROOT_CHANGE]
    change = TrustChange("the PR adds an operator key", "trust/allowed_signers.yaml", 7)
    v = evaluate_merge(
        replace(
            base,
            policy=base.policy.model_copy(update={"stops": stops}),
            trust_changes=[change, TrustChange("the trust file moved", "stategate.yaml")],
        )
    )
    assert v.verdict.value == "stop"
    assert v.stops == [
        Stop(
            StopCondition.TRUST_ROOT_CHANGE,
            "the PR adds an operator key",
            file="trust/allowed_signers.yaml",
            line=7,
        ),
        Stop(StopCondition.TRUST_ROOT_CHANGE, "the trust file moved", file="stategate.yaml"),
    ]


def test_a_policy_relaxation_stop_says_what_was_relaxed(pr: Platforms) -> None:
    policy = (pr.head / "stategate.yaml").read_text(encoding="utf-8")
    pr.write("stategate.yaml", policy + "\nclasses:\n  public-edge: {always_manual: false}\n")
    (stop,) = pr.judge().stops
    assert stop.condition is StopCondition.POLICY_RELAXATION
    assert stop.message == (
        "class public-edge is always manual; setting always_manual: false needs a decision record"
    )


def test_a_module_declared_twice_says_why_one_entry(pr: Platforms) -> None:
    pr.replace("compose/postgres.yml", PG_OLD, PG_MINOR)
    pr.packet("a", pg(PG_MINOR), "[compose/postgres.yml]")
    pr.packet("b", pg(PG_MINOR), "[compose/postgres.yml]")
    assert pr.judge().stops == [
        Stop(
            StopCondition.UNDECLARED_CHANGE,
            "platform/postgres is declared more than once (a, b): one packet entry per module, "
            "so what is approved is what is applied",
            module="platform/postgres",
        )
    ]


def test_a_stop_of_no_special_kind_is_labelled_a_process_risk_only(pr: Platforms) -> None:
    base = pr.pull_request()
    change = TrustChange("the PR adds an operator key", "trust/allowed_signers.yaml", 7)
    v = evaluate_merge(replace(base, trust_changes=[change]))
    assert v.labels == ["risk/process"]


def test_a_forbidden_path_alone_is_a_red_zone(pr: Platforms) -> None:
    pr.write("state/cutover/plan.md", "# plan\n")
    v = pr.judge()
    assert [s.condition for s in v.stops] == [StopCondition.FORBIDDEN_PATH]
    assert v.labels == ["merge/manual-red-zone", "risk/process"]


RENDERER_OLD = "gotenberg/gotenberg:8.9.1@sha256:4b0a6e3d5f1c2a9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e"
RENDERER_NEW = "gotenberg/gotenberg:8.9.2@sha256:" + "77" * 32


def test_a_blocked_automatic_bump_loses_merge_auto(pr: Platforms) -> None:
    pr.replace("compose/app.yml", RENDERER_OLD, RENDERER_NEW)
    finding = Finding("runtime-instruction", "README.md", 3, "docker compose up")
    v = pr.judge(docs=[finding])
    assert v.verdict.value == "blocked"
    assert "merge/auto" not in v.labels


WORKER_SERVICE_OLD = "  worker:\n    image: " + (
    "ghcr.io/example/notes:${APP_TAG:?set in .env}"
    "@sha256:f1330dca86a1bb3d39e4cb8d68db1a76424eb8be6ede417768d1706322d7dcc3"
)


def test_a_module_with_apply_requirements_is_ready_for_the_operator(pr: Platforms) -> None:
    # the worker is only secret-bearing: never manual, but its apply needs an approval
    new = f"  worker:\n    image: {APP_NEW}"
    pr.replace("compose/app.yml", WORKER_SERVICE_OLD, new)
    v = pr.judge()
    assert [c.module for c in v.changes] == ["platform/worker"]
    assert v.verdict.value == "ready_for_operator"


MINIO_OLD = (
    "minio/minio:RELEASE.2024-10-13T13-34-11Z"
    "@sha256:74747fc07544840e196963076ba6f17e532225b23da90857ff8b8a47dacb6621"
)
MINIO_NEW = "minio/minio:RELEASE.2024-11-07T00-52-20Z@sha256:" + "aa" * 32
REDIS_OLD = (
    "redis:7.2.5-alpine@sha256:9b09359c0f75e53b0a02347d05b2de7513c763a85500ebeeb80091d3774a7c7e"
)
REDIS_NEW = "redis:7.2.6-alpine@sha256:" + "01" * 32


def batch(pr: Platforms) -> None:
    """minio (the backup reference), postgres and redis upgraded in one packet."""
    pr.replace("compose/minio.yml", MINIO_OLD, MINIO_NEW)
    pr.replace("compose/postgres.yml", PG_OLD, PG_MINOR)
    pr.replace("compose/redis.yml", REDIS_OLD, REDIS_NEW)
    pr.packet(
        "batch",
        pg(PG_MINOR)
        + f"  - module: platform/minio\n    from: {MINIO_OLD}\n    to: {MINIO_NEW}\n"
        + f"    rollback: {{to: '{MINIO_OLD}'}}\n"
        + f"  - module: platform/redis\n    from: {REDIS_OLD}\n    to: {REDIS_NEW}\n"
        + f"    rollback: {{to: '{REDIS_OLD}'}}\n",
    )


def test_the_backup_reference_batch_names_every_module_backed_up_in_it(pr: Platforms) -> None:
    batch(pr)
    (stop,) = pr.judge().stops
    assert stop.condition is StopCondition.BACKUP_REFERENCE_BATCH
    assert stop.message.startswith(
        "platform/minio (the backup reference module) is upgraded together with "
        "platform/postgres, platform/redis, whose backups live in it: "
    )


def test_a_module_backed_up_elsewhere_is_not_part_of_the_reference_batch(pr: Platforms) -> None:
    policy = (pr.base / "stategate.yaml").read_text(encoding="utf-8")
    assert "  platform/redis:\n" in policy
    policy = policy.replace("  platform/redis:\n", "  platform/redis:\n    backups_in: offsite\n")
    pr.write("stategate.yaml", policy, side="base")
    pr.write("stategate.yaml", policy)
    batch(pr)
    (stop,) = pr.judge().stops
    assert stop.message.startswith(
        "platform/minio (the backup reference module) is upgraded together with "
        "platform/postgres, whose backups live in it: "
    )
