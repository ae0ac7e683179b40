"""The merge gate's rules, one at a time, on the example platform (no git).

Base and head are two copies of the example platform in temporary folders; the
head gets the PR's edits. Both are loaded by the real loaders and the gate judges
the result, so each test shows one rule deciding a verdict, with the exact words
the PR author is shown. The git-backed path is covered by
tests/integration/test_check_merge.py; these are fast enough to run for every
mutant of ``policy/gate.py`` (written against surviving mutants).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from stategate.diff.changes import diff_modules
from stategate.diff.scan import Finding
from stategate.git import ChangedPath
from stategate.packet import is_packet_path, load_packet
from stategate.platform import load_platform
from stategate.policy.gate import PullRequest, Requirement, Stop, Verdict, evaluate_merge, matches
from stategate.policy.schema import StopCondition
from stategate.source import WorkTree
from tests.conftest import EXAMPLE

PG_OLD = (
    "postgres:16.4-alpine@sha256:963dbe32ce63a7c52ced1eddc8ad975efb564238419e88628e701469a8226a8e"
)
PG_MINOR = "postgres:16.6-alpine@sha256:" + "ab" * 32
PG_MAJOR = "postgres:17.2-alpine@sha256:" + "cd" * 32
REDIS_OLD = (
    "redis:7.2.5-alpine@sha256:9b09359c0f75e53b0a02347d05b2de7513c763a85500ebeeb80091d3774a7c7e"
)
REDIS_NEW = "redis:7.2.6-alpine@sha256:" + "01" * 32
MINIO_OLD = (
    "minio/minio:RELEASE.2024-10-13T13-34-11Z"
    "@sha256:74747fc07544840e196963076ba6f17e532225b23da90857ff8b8a47dacb6621"
)
MINIO_NEW = "minio/minio:RELEASE.2024-11-07T00-52-20Z@sha256:" + "aa" * 32
RENDERER_OLD = (
    "gotenberg/gotenberg:8.9.1"
    "@sha256:4b0a6e3d5f1c2a9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e"
)
RENDERER_NEW = "gotenberg/gotenberg:8.9.2@sha256:" + "77" * 32


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


class Platforms:
    """A base and a head copy of the example platform; edits go to the head."""

    def __init__(self, tmp_path: Path) -> None:
        self.base, self.head = tmp_path / "base", tmp_path / "head"
        shutil.copytree(EXAMPLE, self.base)
        shutil.copytree(EXAMPLE, self.head)

    def write(self, rel: str, text: str, *, side: str = "head") -> None:
        path = (self.base if side == "base" else self.head) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")

    def replace(self, rel: str, old: str, new: str) -> None:
        text = (self.head / rel).read_text(encoding="utf-8")
        assert old in text
        self.write(rel, text.replace(old, new))

    def packet(
        self, pid: str, modules: str, allowed: str = "[compose/*.yml]", extra: str = ""
    ) -> None:
        self.write(
            f"packets/{pid}.yaml",
            f"id: {pid}\nmodules:\n{modules}allowed_paths: {allowed}\n{extra}",
        )

    def judge(
        self,
        *,
        merged: set[str] | None = None,
        secrets: list[Finding] | None = None,
        docs: list[Finding] | None = None,
    ) -> Verdict:
        return evaluate_merge(self.pull_request(merged=merged, secrets=secrets, docs=docs))

    def pull_request(
        self,
        *,
        merged: set[str] | None = None,
        secrets: list[Finding] | None = None,
        docs: list[Finding] | None = None,
    ) -> PullRequest:
        """The PR from base to head as the real loaders see it (what the gates judge)."""
        before, after = _files(self.base), _files(self.head)
        touched = [
            ChangedPath("A" if rel not in before else "D" if rel not in after else "M", rel)
            for rel in sorted(set(before) | set(after))
            if before.get(rel) != after.get(rel)
        ]
        base, head = load_platform(self.base), load_platform(self.head)
        packets = [
            load_packet(WorkTree(self.head), c.path)
            for c in touched
            if c.status != "D" and is_packet_path(c.path)
        ]
        return PullRequest(
            policy=base.policy,
            base=base.inventory,
            head=head.inventory,
            changes=diff_modules(base.modules, head.modules),
            touched=touched,
            packets=packets,
            merged_packet_ids=merged or set(),
            head_relaxations=head.relaxations,
            secret_findings=secrets or [],
            doc_findings=docs or [],
        )


@pytest.fixture
def pr(tmp_path: Path) -> Platforms:
    return Platforms(tmp_path)


def pg(to: str, *, from_: str = PG_OLD, note: str | None = None, rollback: bool = True) -> str:
    text = f"  - module: platform/postgres\n    from: {from_}\n    to: {to}\n"
    if rollback:
        text += f"    rollback: {{to: '{PG_OLD}', needs_restore: false}}\n"
    if note:
        text += f"    migration_note: {note}\n"
    return text


def requirement(v: Verdict, rid: str, module: str | None = None) -> Requirement:
    (found,) = [r for r in v.requirements if r.id == rid and r.module == module]
    return found


def test_a_declared_minor_bump_is_ready_for_the_operator(pr: Platforms) -> None:
    pr.replace("compose/postgres.yml", PG_OLD, PG_MINOR)
    pr.packet("pg", pg(PG_MINOR), "[compose/postgres.yml]")
    v = pr.judge()
    assert v.verdict.value == "ready_for_operator"
    assert v.stops == [] and v.missing == []
    assert [r.id for r in v.requirements] == [
        "merge/packet",
        "merge/digest-pinned",
        "merge/rollback-path",
        "merge/smoke-contract",
        "merge/manual-merge",
    ]
    assert {r.cls for r in v.requirements} == {"stateful"}
    assert v.labels == ["merge/manual-red-zone", "risk/process", "risk/runtime"]
    assert v.packets == ["pg"]
    assert v.touched_paths == ["compose/postgres.yml", "packets/pg.yaml"]


def test_packet_images_must_match_the_diff(pr: Platforms) -> None:
    pr.replace("compose/postgres.yml", PG_OLD, PG_MINOR)
    pr.packet("pg", pg(PG_MAJOR, from_=REDIS_OLD))
    v = pr.judge()
    assert v.verdict.value == "blocked"
    packet = requirement(v, "merge/packet", "platform/postgres")
    assert packet.status == "missing"
    assert packet.hint == (
        f"the packet entry for platform/postgres says from {REDIS_OLD!r} but the base has "
        f"{PG_OLD!r}; to {PG_MAJOR!r} but the head has {PG_MINOR!r}"
    )
    assert "merge/auto" not in v.labels


@pytest.mark.parametrize("side", ["from", "to"])
def test_either_packet_image_alone_is_enough_to_block(pr: Platforms, side: str) -> None:
    pr.replace("compose/postgres.yml", PG_OLD, PG_MINOR)
    pr.packet("pg", pg(PG_MAJOR) if side == "to" else pg(PG_MINOR, from_=REDIS_OLD))
    packet = requirement(pr.judge(), "merge/packet", "platform/postgres")
    assert packet.status == "missing"
    assert packet.hint.startswith(f"the packet entry for platform/postgres says {side} ")
    assert "; " not in packet.hint


def test_no_packet_at_all(pr: Platforms) -> None:
    pr.replace("compose/postgres.yml", PG_OLD, PG_MINOR)
    v = pr.judge()
    assert v.verdict.value == "blocked"
    packet = requirement(v, "merge/packet", "platform/postgres")
    assert packet.status == "missing"
    assert packet.hint.startswith("add packets/<id>.yaml declaring platform/postgres: ")
    assert requirement(v, "merge/rollback-path", "platform/postgres").status == "missing"
    assert v.stops == []  # without a packet there is no scope to leave


def test_packet_declaring_a_module_the_diff_does_not_change(pr: Platforms) -> None:
    pr.replace("compose/postgres.yml", PG_OLD, PG_MINOR)
    pr.packet(
        "pg",
        pg(PG_MINOR) + f"  - module: platform/redis\n    from: {REDIS_OLD}\n    to: {REDIS_NEW}\n",
    )
    v = pr.judge()
    assert v.verdict.value == "blocked"
    assert requirement(v, "merge/packet", "platform/redis") == Requirement(
        "merge/packet",
        "platform/redis",
        None,
        "missing",
        "packet pg declares platform/redis, which the diff does not change: "
        "the packet must match the diff exactly",
    )


def test_undeclared_change_stops_at_its_line(pr: Platforms) -> None:
    pr.replace("compose/postgres.yml", PG_OLD, PG_MINOR)
    pr.replace("compose/redis.yml", REDIS_OLD, REDIS_NEW)
    pr.packet("pg", pg(PG_MINOR))
    v = pr.judge()
    assert v.verdict.value == "stop"
    assert v.stops == [
        Stop(
            StopCondition.UNDECLARED_CHANGE,
            "platform/redis changes (image-tag) but no packet declares it",
            "platform/redis",
            "compose/redis.yml",
            6,
        )
    ]
    assert "merge/manual-unclear-scope" in v.labels and "risk/process" in v.labels


def test_floating_tag_on_a_stateful_module(pr: Platforms) -> None:
    pr.replace("compose/postgres.yml", PG_OLD, "postgres:16.6-alpine")
    pr.packet("pg", pg("postgres:16.6-alpine"))
    v = pr.judge()
    assert v.stops == [
        Stop(
            StopCondition.FLOATING_TAG,
            "platform/postgres target image postgres:16.6-alpine is not pinned by digest",
            "platform/postgres",
            "compose/postgres.yml",
            6,
        )
    ]
    assert requirement(v, "merge/digest-pinned", "platform/postgres").status == "missing"


def test_floating_tag_on_a_stateless_module_is_no_stop(pr: Platforms) -> None:
    pr.replace("compose/app.yml", RENDERER_OLD, "gotenberg/gotenberg:8.9.2")
    v = pr.judge()
    assert v.stops == []


def test_major_upgrade_needs_a_migration_note(pr: Platforms) -> None:
    pr.replace("compose/postgres.yml", PG_OLD, PG_MAJOR)
    pr.packet("pg", pg(PG_MAJOR))
    v = pr.judge()
    assert v.stops == [
        Stop(
            StopCondition.MAJOR_WITHOUT_MIGRATION_NOTE,
            f"platform/postgres changes major version ({PG_OLD} -> {PG_MAJOR}) with no "
            "migration note",
            "platform/postgres",
            "compose/postgres.yml",
            6,
        )
    ]
    assert requirement(v, "merge/migration-note", "platform/postgres").status == "missing"


def test_major_upgrade_with_a_migration_note(pr: Platforms) -> None:
    pr.replace("compose/postgres.yml", PG_OLD, PG_MAJOR)
    pr.packet("pg", pg(PG_MAJOR, note="dump and restore into 17"))
    v = pr.judge()
    assert v.verdict.value == "ready_for_operator"
    assert requirement(v, "merge/migration-note", "platform/postgres").status == "met"


def test_minor_upgrade_has_no_migration_note_requirement(pr: Platforms) -> None:
    pr.replace("compose/postgres.yml", PG_OLD, PG_MINOR)
    pr.packet("pg", pg(PG_MINOR))
    assert "merge/migration-note" not in {r.id for r in pr.judge().requirements}


def test_rollback_path_comes_from_the_packet(pr: Platforms) -> None:
    pr.replace("compose/postgres.yml", PG_OLD, PG_MINOR)
    pr.packet("pg", pg(PG_MINOR, rollback=False))
    v = pr.judge()
    assert v.verdict.value == "blocked"
    assert [r.id for r in v.missing] == ["merge/rollback-path"]


def test_forbidden_and_out_of_scope_paths(pr: Platforms) -> None:
    pr.replace("compose/postgres.yml", PG_OLD, PG_MINOR)
    pr.packet("pg", pg(PG_MINOR), "[compose/postgres.yml, docs/]")
    pr.write("README.md", "changed\n")
    pr.write("docs/runbook.md", "inside an allowed folder\n")
    pr.write("evidence/backups/x.json", "{}\n")  # what the tool writes for the packet
    pr.write("state/cutover/plan.md", "# plan\n")
    v = pr.judge()
    assert v.stops == [
        Stop(
            StopCondition.FORBIDDEN_PATH,
            "touches forbidden path state/cutover/plan.md",
            file="state/cutover/plan.md",
        ),
        Stop(
            StopCondition.OUT_OF_SCOPE_PATH,
            "touches README.md, outside the packet's allowed paths",
            file="README.md",
        ),
    ]
    assert {"merge/manual-red-zone", "merge/manual-unclear-scope"} <= set(v.labels)


def test_a_packet_can_forbid_paths_too(pr: Platforms) -> None:
    pr.replace("compose/postgres.yml", PG_OLD, PG_MINOR)
    pr.packet("pg", pg(PG_MINOR), "[compose/*.yml, notes/*]", "forbidden_paths: [notes/keep.md]\n")
    pr.write("notes/keep.md", "x\n")
    v = pr.judge()
    assert [(s.condition, s.file) for s in v.stops] == [
        (StopCondition.FORBIDDEN_PATH, "notes/keep.md")
    ]


def test_path_patterns() -> None:
    assert matches("docs/a/b.md", ["docs/"])
    assert not matches("docs", ["docs/"])
    assert not matches("docsx/a.md", ["docs/"])
    assert matches("compose/a.yml", ["x", "compose/*.yml"])
    assert not matches("compose/a.yml", ["compose"])
    assert not matches("compose/a.yml", [])


def test_merge_order_dependency(pr: Platforms) -> None:
    pr.replace("compose/postgres.yml", PG_OLD, PG_MINOR)
    pr.packet("pg", pg(PG_MINOR), extra="after: [pilot]\n")
    blocked = pr.judge()
    assert requirement(blocked, "merge/after") == Requirement(
        "merge/after", None, None, "missing", "packet pilot is merged before pg"
    )
    assert blocked.verdict.value == "blocked"
    after = pr.judge(merged={"pilot"})
    assert requirement(after, "merge/after").status == "met"
    assert after.verdict.value == "ready_for_operator"


def test_documentation_findings_block(pr: Platforms) -> None:
    finding = Finding("runtime-instruction", "README.md", 3, "docker compose up")
    v = pr.judge(docs=[finding])
    assert v.verdict.value == "blocked"
    assert v.requirements == [
        Requirement(
            "repo/docs-operator-gated",
            None,
            None,
            "missing",
            "README.md:3: put runtime instructions inside an operator-gated block "
            "(operator-gated) or describe the evidence instead",
        )
    ]
    assert v.findings == [finding]
    assert "merge/auto" not in v.labels


def test_secret_findings_stop_and_mark_the_pr_security_sensitive(pr: Platforms) -> None:
    finding = Finding("secret-value", "compose/app.yml", 9, "a credential-shaped value")
    v = pr.judge(secrets=[finding])
    assert v.stops == [
        Stop(StopCondition.SECRET_VALUE, "a credential-shaped value", None, "compose/app.yml", 9)
    ]
    assert {"merge/manual-security-sensitive", "class/security-sensitive", "risk/process"} <= set(
        v.labels
    )
    assert "merge/auto" not in v.labels


def test_a_pr_that_changes_nothing_that_runs_merges_automatically(pr: Platforms) -> None:
    pr.write("README.md", "typo fixed\n")
    v = pr.judge()
    assert v.verdict.value == "pass"
    assert "merge/auto" in v.labels


def test_a_pinned_stateless_bump_passes(pr: Platforms) -> None:
    pr.replace("compose/app.yml", RENDERER_OLD, RENDERER_NEW)
    v = pr.judge()
    assert v.verdict.value == "pass", (v.stops, v.missing)
    assert v.stops == [] and v.missing == []


def test_backup_reference_upgraded_with_modules_backed_up_in_it(pr: Platforms) -> None:
    pr.replace("compose/minio.yml", MINIO_OLD, MINIO_NEW)
    pr.replace("compose/postgres.yml", PG_OLD, PG_MINOR)
    pr.packet(
        "batch",
        pg(PG_MINOR)
        + f"  - module: platform/minio\n    from: {MINIO_OLD}\n    to: {MINIO_NEW}\n"
        + f"    rollback: {{to: '{MINIO_OLD}'}}\n",
    )
    v = pr.judge()
    (stop,) = v.stops
    assert stop.condition is StopCondition.BACKUP_REFERENCE_BATCH
    assert stop.module == "platform/minio"
    assert stop.message.startswith(
        "platform/minio (the backup reference module) is upgraded together with "
        "platform/postgres, whose backups live in it: "
    )
    assert "merge/manual-red-zone" in v.labels


def test_backup_reference_alone_is_no_batch(pr: Platforms) -> None:
    pr.replace("compose/minio.yml", MINIO_OLD, MINIO_NEW)
    pr.packet(
        "minio",
        f"  - module: platform/minio\n    from: {MINIO_OLD}\n    to: {MINIO_NEW}\n"
        f"    rollback: {{to: '{MINIO_OLD}'}}\n",
    )
    assert pr.judge().stops == []


def test_a_policy_relaxation_in_the_pr_stops(pr: Platforms) -> None:
    policy = (pr.head / "stategate.yaml").read_text(encoding="utf-8")
    pr.write("stategate.yaml", policy + "\nclasses:\n  public-edge: {always_manual: false}\n")
    v = pr.judge()
    (stop,) = v.stops
    assert stop.condition is StopCondition.POLICY_RELAXATION
    assert (stop.file, stop.line) == ("stategate.yaml", policy.count("\n") + 3)
    assert "merge/manual-security-sensitive" in v.labels


def test_stop_conditions_the_policy_does_not_enable_are_dropped(pr: Platforms) -> None:
    policy = (pr.base / "stategate.yaml").read_text(encoding="utf-8")
    pr.write("stategate.yaml", policy + "\nstops: [forbidden-path]\n", side="base")
    pr.write("stategate.yaml", policy + "\nstops: [forbidden-path]\n")
    pr.replace("compose/postgres.yml", PG_OLD, "postgres:16.6-alpine")
    pr.packet("pg", pg("postgres:16.6-alpine"), "[compose/postgres.yml]")
    pr.write("README.md", "out of scope, but that stop is off\n")
    v = pr.judge()
    assert v.stops == []
    assert v.verdict.value == "blocked"  # the unpinned digest is still a missing requirement


AUTHELIA_OLD = (
    "authelia/authelia:4.38.16"
    "@sha256:c74f6be7f2e7d84adae4bda375e34034949413671b76c918a2eac1d7bf88706c"
)
AUTHELIA_NEW = "authelia/authelia:4.38.17@sha256:" + "ab" * 32


def authelia(smoke: str = "") -> str:
    return (
        f"  - module: platform/authelia\n    from: {AUTHELIA_OLD}\n    to: {AUTHELIA_NEW}\n"
        f"    rollback: {{to: '{AUTHELIA_OLD}'}}\n{smoke}"
    )


def test_smoke_contract_from_the_packet_when_the_policy_has_none(pr: Platforms) -> None:
    pr.replace("compose/authelia.yml", AUTHELIA_OLD, AUTHELIA_NEW)
    pr.packet("auth", authelia())
    v = pr.judge()
    smoke = requirement(v, "merge/smoke-contract", "platform/authelia")
    assert (smoke.status, smoke.cls) == ("missing", "public-edge")
    assert [r.id for r in v.missing] == ["merge/smoke-contract"]
    pr.packet(
        "auth",
        authelia("    smoke:\n      - {kind: http, url: 'http://127.0.0.1:9091/api/health'}\n"),
    )
    v = pr.judge()
    assert requirement(v, "merge/smoke-contract", "platform/authelia").status == "met"
    assert v.verdict.value == "ready_for_operator"


def test_met_requirements_carry_what_they_ask_for(pr: Platforms) -> None:
    pr.replace("compose/postgres.yml", PG_OLD, PG_MINOR)
    pr.packet("pg", pg(PG_MINOR))
    v = pr.judge()
    assert requirement(v, "merge/digest-pinned", "platform/postgres").hint == (
        "the target image is pinned by digest (repo:tag@sha256:...)"
    )
    assert requirement(v, "merge/manual-merge", "platform/postgres").hint.startswith(
        "never auto-merged: the PR carries a merge/manual-<reason> label"
    )


REDIS_SERVICE = """
  cache2:
    image: {image}
    volumes:
      - cache2data:/data
"""


def test_an_added_stateful_service_is_judged_by_its_head_module(pr: Platforms) -> None:
    text = (pr.head / "compose/redis.yml").read_text(encoding="utf-8")
    head, sep, rest = text.partition("\nservices:\n")
    added = head + sep + REDIS_SERVICE.format(image=REDIS_NEW).lstrip("\n") + rest
    added = added.replace("\nvolumes:\n", "\nvolumes:\n  cache2data: {}\n")
    pr.write("compose/redis.yml", added)
    v = pr.judge()
    (change,) = v.changes
    assert (change.module, change.kind.value) == ("platform/cache2", "added")
    assert requirement(v, "merge/packet", "platform/cache2").cls == "stateful"
    assert "merge/manual-red-zone" in v.labels  # from the module, which only the head has


def test_a_removed_stateful_service_is_judged_by_its_base_module(pr: Platforms) -> None:
    text = (pr.head / "compose/redis.yml").read_text(encoding="utf-8")
    head, _, _ = text.partition("\nservices:\n")
    pr.write("compose/redis.yml", head + "\nservices: {}\n")  # compose refuses a null
    # compose refuses a depends_on naming a service that is gone: drop those too
    dependency = "      redis:\n        condition: service_healthy\n"
    pr.replace("compose/app.yml", dependency, "")
    v = pr.judge()
    # app and worker change too (their depends_on), judged on their own
    assert sorted(c.module for c in v.changes) == [
        "platform/app",
        "platform/redis",
        "platform/worker",
    ]
    assert requirement(v, "merge/packet", "platform/redis").cls == "stateful"
    assert "merge/manual-red-zone" in v.labels


def test_a_module_that_gains_state_is_judged_as_stateful_only(pr: Platforms) -> None:
    # a policy that asks stateless upgrades for a pinned digest too: the renderer's
    # requirements must still all come from its stricter, stateful side
    policy = (pr.base / "stategate.yaml").read_text(encoding="utf-8")
    policy += "\nclasses:\n  stateless: {merge: [digest-pinned]}\n"
    pr.write("stategate.yaml", policy, side="base")
    pr.write("stategate.yaml", policy)
    text = (pr.head / "compose/app.yml").read_text(encoding="utf-8")
    text = text.replace(RENDERER_OLD, RENDERER_NEW).replace(
        '    command: ["gotenberg", "--api-timeout=60s"]\n',
        '    command: ["gotenberg", "--api-timeout=60s"]\n    volumes:\n      - renders:/data\n',
    )
    pr.write("compose/app.yml", text + "\nvolumes:\n  renders: {}\n")
    v = pr.judge()
    (change,) = v.changes
    assert change.module == "platform/renderer"
    ours = [r for r in v.requirements if r.module == "platform/renderer"]
    assert ours and {r.cls for r in ours} == {"stateful"}  # stateless on the base side drops out
    assert requirement(v, "merge/packet", "platform/renderer").status == "missing"


def test_a_stop_takes_merge_auto_away_from_an_otherwise_automatic_bump(pr: Platforms) -> None:
    pr.replace("compose/app.yml", RENDERER_OLD, RENDERER_NEW)
    assert "merge/auto" in pr.judge().labels
    finding = Finding("secret-value", "compose/app.yml", 9, "a credential-shaped value")
    v = pr.judge(secrets=[finding])
    assert v.verdict.value == "stop"
    assert "merge/auto" not in v.labels
