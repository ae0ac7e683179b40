"""`stategate check` at the merge stage on real git repositories."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from stategate.policy.gate import Verdict, evaluate_merge
from stategate.pullrequest import load_pull_request
from tests.conftest import installed_cli
from tests.gitrepo import Repo, init_repo, platform_repo

PG_OLD = (
    "postgres:16.4-alpine@sha256:963dbe32ce63a7c52ced1eddc8ad975efb564238419e88628e701469a8226a8e"
)
PG_MINOR = "postgres:16.6-alpine@sha256:" + "ab" * 32
PG_MAJOR = "postgres:17.2-alpine@sha256:" + "cd" * 32
REDIS_OLD = (
    "redis:7.2.5-alpine@sha256:9b09359c0f75e53b0a02347d05b2de7513c763a85500ebeeb80091d3774a7c7e"
)
RENDERER_OLD = "gotenberg/gotenberg:8.9.1@sha256:4b0a6e3d5f1c2a9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e"


def judge(repo: Repo) -> Verdict:
    pr, _ = load_pull_request(repo.path, "main", "HEAD")
    return evaluate_merge(pr)


def packet(repo: Repo, pid: str, modules: str, allowed: str, extra: str = "") -> None:
    repo.write(
        f"packets/{pid}.yaml",
        f"id: {pid}\nmodules:\n{modules}allowed_paths:\n{allowed}{extra}",
    )


def pg_module(to: str, *, note: str | None = None) -> str:
    text = (
        f"  - module: platform/postgres\n    from: {PG_OLD}\n    to: {to}\n"
        f"    rollback: {{to: '{PG_OLD}', needs_restore: false}}\n"
    )
    if note:
        text += f"    migration_note: {note}\n"
    return text


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return platform_repo(tmp_path / "platform")


def test_docs_only_pr_passes(repo: Repo) -> None:
    repo.write("state/cycle/W8-notes.md", "# Notes\n\nThe backup of postgres must exist.\n")
    repo.commit("docs")
    v = judge(repo)
    assert v.verdict.value == "pass"
    assert v.changes == [] and v.labels == ["merge/auto"]
    assert v.touched_paths == ["state/cycle/W8-notes.md"]


def test_a_pr_behind_its_base_is_judged_from_where_it_branched_off(repo: Repo) -> None:
    """CI passes the base branch's tip (the forge's base.sha): the base's own newer
    commits are not the PR's, neither as changes nor reverted."""
    repo.write("state/cycle/W8-notes.md", "# Notes\n")
    repo.commit("docs")
    repo.git("checkout", "-q", "main")
    repo.replace("compose/redis.yml", REDIS_OLD, "redis:7.2.6-alpine@sha256:" + "ef" * 32)
    main_tip = repo.commit("redis 7.2.6 on main")
    repo.git("checkout", "-q", "pr")
    pr, sides = load_pull_request(repo.path, main_tip, "pr")
    v = evaluate_merge(pr)
    assert (v.verdict.value, v.changes) == ("pass", [])
    assert v.touched_paths == ["state/cycle/W8-notes.md"]
    assert sides.base_rev == repo.git("merge-base", "main", "pr").strip() != main_tip


def test_docs_with_ungated_runtime_instruction_is_blocked(repo: Repo) -> None:
    repo.write(
        "state/cycle/W8-notes.md",
        "# Notes\n\n```sh operator-gated\ndocker compose pull postgres\n```\n\n"
        "Then run docker compose up -d postgres.\n",
    )
    repo.commit("docs")
    v = judge(repo)
    assert v.verdict.value == "blocked"
    assert [(f.rule, f.line) for f in v.findings] == [("docs-runtime-instruction", 7)]


def test_stateless_bump_passes_with_merge_auto(repo: Repo) -> None:
    repo.replace("compose/app.yml", RENDERER_OLD, "gotenberg/gotenberg:8.10.0@sha256:" + "12" * 32)
    repo.commit("renderer 8.10.0")
    v = judge(repo)
    assert v.verdict.value == "pass"
    assert "merge/auto" in v.labels
    (change,) = v.changes
    assert (change.module, change.kind.value, change.semver) == (
        "platform/renderer",
        "image-tag",
        "minor",
    )


def test_postgres_minor_bump_with_packet_is_ready_for_operator(repo: Repo) -> None:
    repo.replace("compose/postgres.yml", PG_OLD, PG_MINOR)
    packet(repo, "pg-16-6", pg_module(PG_MINOR), "  - compose/postgres.yml\n")
    repo.commit("postgres 16.6")
    v = judge(repo)
    assert v.verdict.value == "ready_for_operator", v.missing
    assert "merge/manual-red-zone" in v.labels and "merge/auto" not in v.labels
    assert "risk/runtime" in v.labels
    assert all(r.status == "met" for r in v.requirements)


def test_postgres_bump_without_packet_is_blocked(repo: Repo) -> None:
    repo.replace("compose/postgres.yml", PG_OLD, PG_MINOR)
    repo.commit("postgres 16.6")
    v = judge(repo)
    assert v.verdict.value == "blocked"
    missing = {r.id for r in v.missing}
    assert {"merge/packet", "merge/rollback-path"} <= missing
    assert all(r.hint for r in v.missing)


def test_digest_only_bump(repo: Repo) -> None:
    new = PG_OLD.split("@")[0] + "@sha256:" + "ef" * 32
    repo.replace("compose/postgres.yml", PG_OLD, new)
    packet(repo, "pg-digest", pg_module(new), "  - compose/postgres.yml\n")
    repo.commit("digest")
    v = judge(repo)
    (change,) = v.changes
    assert change.kind.value == "image-digest" and change.semver is None
    assert v.verdict.value == "ready_for_operator"


def test_major_bump_without_migration_note_stops(repo: Repo) -> None:
    repo.replace("compose/postgres.yml", PG_OLD, PG_MAJOR)
    packet(repo, "pg-17", pg_module(PG_MAJOR), "  - compose/postgres.yml\n")
    repo.commit("postgres 17")
    v = judge(repo)
    assert v.verdict.value == "stop"
    assert [s.condition.value for s in v.stops] == ["major-without-migration-note"]
    assert v.changes[0].semver == "major"


def test_major_bump_with_migration_note_is_ready(repo: Repo) -> None:
    repo.replace("compose/postgres.yml", PG_OLD, PG_MAJOR)
    packet(
        repo,
        "pg-17",
        pg_module(PG_MAJOR, note="dump and restore into 17; rollback restores the 16 backup"),
        "  - compose/postgres.yml\n",
    )
    repo.commit("postgres 17")
    assert judge(repo).verdict.value == "ready_for_operator"


def test_undeclared_module_change_stops(repo: Repo) -> None:
    repo.replace("compose/postgres.yml", PG_OLD, PG_MINOR)
    repo.replace("compose/redis.yml", REDIS_OLD, "redis:7.2.6-alpine@sha256:" + "01" * 32)
    packet(repo, "pg-16-6", pg_module(PG_MINOR), "  - compose/*.yml\n")
    repo.commit("postgres and a sneaky redis")
    v = judge(repo)
    assert v.verdict.value == "stop"
    (stop,) = v.stops
    assert stop.condition.value == "undeclared-change" and stop.module == "platform/redis"
    assert "merge/manual-unclear-scope" in v.labels


def test_out_of_scope_and_forbidden_paths_stop(repo: Repo) -> None:
    repo.replace("compose/postgres.yml", PG_OLD, PG_MINOR)
    packet(repo, "pg-16-6", pg_module(PG_MINOR), "  - compose/postgres.yml\n")
    repo.write("README.md", "changed\n")
    repo.write("state/cutover/plan.md", "# plan\n")
    repo.commit("scope creep")
    v = judge(repo)
    conds = {(s.condition.value, s.file) for s in v.stops}
    assert ("out-of-scope-path", "README.md") in conds
    assert ("forbidden-path", "state/cutover/plan.md") in conds


def test_floating_tag_on_stateful_stops(repo: Repo) -> None:
    repo.replace("compose/postgres.yml", PG_OLD, "postgres:16.6-alpine")
    packet(repo, "pg-16-6", pg_module("postgres:16.6-alpine"), "  - compose/postgres.yml\n")
    repo.commit("floating")
    v = judge(repo)
    assert "floating-tag" in [s.condition.value for s in v.stops]
    assert v.verdict.value == "stop"


def test_secret_in_diff_stops_and_is_never_printed(repo: Repo) -> None:
    secret = "Zq8#vL2m!Rt5xPw9"
    repo.replace(
        "compose/app.yml",
        "      RENDERER_URL:",
        f"      SMTP_PASSWORD: '{secret}'\n      RENDERER_URL:",
    )
    repo.commit("oops")
    v = judge(repo)
    assert v.verdict.value == "stop"
    assert [s.condition.value for s in v.stops] == ["secret-value"]
    assert v.stops[0].file == "compose/app.yml"
    for fmt in ("text", "json", "markdown", "sarif"):
        proc = subprocess.run(
            [installed_cli(), "check", "--repo", str(repo.path), "--base", "main", "--format", fmt],
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 3
        assert secret not in proc.stdout + proc.stderr
    # the change itself names the variable, not the value
    assert v.changes[0].fields == ("environment", "environment.SMTP_PASSWORD")


def test_env_file_change_shows_every_affected_module(repo: Repo) -> None:
    repo.replace(".env", "APP_TAG=2.3.1", "APP_TAG=2.4.0")
    repo.commit("notes 2.4.0")
    v = judge(repo)
    assert [(c.module, c.kind.value, c.semver, c.file) for c in v.changes] == [
        ("platform/app", "image-tag", "minor", "compose/app.yml"),
        ("platform/worker", "image-tag", "minor", "compose/app.yml"),
    ]
    assert v.touched_paths == [".env"]


def test_renamed_compose_file_is_not_a_change(repo: Repo) -> None:
    repo.git("mv", "compose/redis.yml", "compose/cache.yml")
    repo.replace("stategate.yaml", "compose/redis.yml", "compose/cache.yml")
    repo.commit("rename")
    v = judge(repo)
    assert v.changes == []
    assert "compose/cache.yml" in v.touched_paths and "compose/redis.yml" in v.touched_paths


def test_renamed_service_is_one_change(repo: Repo) -> None:
    repo.replace("compose/app.yml", "\n  renderer:\n", "\n  pdf:\n")
    repo.replace(
        "compose/app.yml", "      renderer:\n        condition", "      pdf:\n        condition"
    )
    repo.commit("rename service")
    v = judge(repo)
    kinds = {(c.module, c.kind.value, c.renamed_from) for c in v.changes}
    assert ("platform/pdf", "renamed", "platform/renderer") in kinds
    assert not any(c.kind.value in ("added", "removed") for c in v.changes)


def test_override_files_and_extends_report_on_the_defining_file(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "p")
    repo.write(
        "compose.yaml",
        "name: shop\nservices:\n  db:\n    extends: {file: base.yml, service: pg}\n"
        "  web: {image: 'nginx:1.27.0'}\nvolumes: {pg: {}}\n",  # compose needs it declared
    )
    repo.write(
        "base.yml",
        "services:\n  pg:\n    image: 'postgres:${PG}'\n    volumes: [pg:/var/lib/postgresql/data]\n",
    )
    repo.write("compose.override.yaml", "services:\n  web:\n    environment: {MODE: a}\n")
    repo.write(".env", "PG=16.4\n")
    repo.commit("base")
    repo.write("compose.override.yaml", "services:\n  web:\n    environment: {MODE: b}\n")
    repo.write(".env", "PG=16.5\n")
    repo.commit("bump")
    pr, _ = load_pull_request(repo.path, "HEAD~1", "HEAD")
    got = [(c.module, c.kind.value, c.file, c.fields) for c in pr.changes]
    assert got == [
        ("shop/db", "image-tag", "compose.yaml", ()),
        ("shop/web", "config", "compose.yaml", ("environment", "environment.MODE")),
    ]
    v = evaluate_merge(pr)
    assert v.verdict.value == "stop"  # stateful postgres on a floating tag
    assert "floating-tag" in {s.condition.value for s in v.stops}


def test_repo_without_policy_uses_defaults_and_discovery(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "p")
    repo.write("docker-compose.yml", "services:\n  cache: {image: 'memcached:1.6.20'}\n")
    repo.commit("base")
    repo.replace("docker-compose.yml", "1.6.20", "1.6.21")
    repo.commit("bump")
    pr, _ = load_pull_request(repo.path, "HEAD~1", None)
    v = evaluate_merge(pr)
    assert v.verdict.value == "pass"
    assert v.changes[0].semver == "patch"


def test_after_dependency_blocks_until_merged(repo: Repo) -> None:
    repo.replace("compose/postgres.yml", PG_OLD, PG_MINOR)
    packet(
        repo,
        "pg-16-6",
        pg_module(PG_MINOR),
        "  - compose/postgres.yml\n",
        "after: [minio-init-pilot]\n",
    )
    repo.commit("postgres 16.6 after the pilot")
    v = judge(repo)
    assert v.verdict.value == "blocked"
    assert [r.id for r in v.missing] == ["merge/after"]


def test_backup_reference_in_same_batch_stops(repo: Repo) -> None:
    minio = repo.path.joinpath("compose/minio.yml").read_text().split("image: ")[1].split("\n")[0]
    new_minio = "minio/minio:RELEASE.2024-11-07T00-52-20Z@sha256:" + "aa" * 32
    repo.replace("compose/minio.yml", minio, new_minio)
    repo.replace("compose/postgres.yml", PG_OLD, PG_MINOR)
    packet(
        repo,
        "batch",
        pg_module(PG_MINOR)
        + f"  - module: platform/minio\n    from: {minio}\n    to: {new_minio}\n"
        + f"    rollback: {{to: '{minio}'}}\n",
        "  - compose/*.yml\n",
    )
    repo.commit("batch")
    v = judge(repo)
    assert "backup-reference-batch" in {s.condition.value for s in v.stops}


def test_policy_relaxation_in_pr_stops(repo: Repo) -> None:
    repo.write(
        "stategate.yaml",
        repo.path.joinpath("stategate.yaml").read_text()
        + "\nclasses:\n  public-edge: {always_manual: false}\n",
    )
    repo.commit("relax")
    v = judge(repo)
    assert v.verdict.value == "stop"
    assert v.stops[0].condition.value == "policy-relaxation"
    assert v.stops[0].file == "stategate.yaml"


def test_cli_json_exit_codes_and_markdown(repo: Repo) -> None:
    repo.replace("compose/postgres.yml", PG_OLD, PG_MINOR)
    repo.commit("postgres 16.6")
    cli = installed_cli()
    proc = subprocess.run(
        [cli, "check", "--repo", str(repo.path), "--format", "json"], capture_output=True, text=True
    )
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["schema"] == "stategate.verdict/v1" and doc["verdict"] == "blocked"
    md = subprocess.run(
        [cli, "check", "--repo", str(repo.path), "--format", "markdown"],
        capture_output=True,
        text=True,
    ).stdout
    assert "`blocked`" in md and "platform/postgres" in md
    bad = subprocess.run(
        [cli, "check", "--repo", str(repo.path), "--base", "nope"], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "unknown revision 'nope'" in bad.stderr


PG_OTHER_DIGEST = "sha256:" + "ee" * 32


@pytest.mark.parametrize(
    ("side", "declared"),
    [
        ("from", "postgres:16.3-alpine@" + PG_OLD.split("@")[1]),  # tag differs
        ("from", PG_OLD.split("@")[0] + "@" + PG_OTHER_DIGEST),  # digest differs
        ("from", "bitnami/postgresql:16.4-alpine@" + PG_OLD.split("@")[1]),  # repo differs
        ("to", "postgres:16.5-alpine@" + PG_MINOR.split("@")[1]),
        ("to", PG_MINOR.split("@")[0] + "@" + PG_OTHER_DIGEST),
        ("to", "bitnami/postgresql:16.6-alpine@" + PG_MINOR.split("@")[1]),
    ],
)
def test_packet_images_that_differ_from_the_diff_block(
    repo: Repo, side: str, declared: str
) -> None:
    """The packet must declare the images the PR really changes, on both sides."""
    repo.replace("compose/postgres.yml", PG_OLD, PG_MINOR)
    from_, to = (declared, PG_MINOR) if side == "from" else (PG_OLD, declared)
    entry = (
        f"  - module: platform/postgres\n    from: {from_}\n    to: {to}\n"
        f"    rollback: {{to: '{PG_OLD}', needs_restore: false}}\n"
    )
    packet(repo, "pg-16-6", entry, "  - compose/postgres.yml\n")
    repo.commit("postgres 16.6, packet declares other images")
    v = judge(repo)
    assert v.verdict.value == "blocked"
    (wrong,) = v.missing
    assert (wrong.id, wrong.module) == ("merge/packet", "platform/postgres")
    actual = PG_OLD if side == "from" else PG_MINOR
    where = "base" if side == "from" else "head"
    assert f"{side} {declared!r} but the {where} has {actual!r}" in wrong.hint
    assert "merge/auto" not in v.labels


def _cli_check(repo: Repo, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [installed_cli(), "check", "--repo", str(repo.path), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_exit_code_is_0_on_pass(repo: Repo) -> None:
    repo.replace("compose/app.yml", RENDERER_OLD, "gotenberg/gotenberg:8.10.0@sha256:" + "12" * 32)
    repo.commit("renderer 8.10.0")
    proc = _cli_check(repo, "--base", "main", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["verdict"] == "pass"
    text = _cli_check(repo, "--base", "main")
    assert text.returncode == 0 and "verdict: pass (merge stage)" in text.stdout


def test_base_and_head_come_from_git_objects_not_the_work_tree(repo: Repo) -> None:
    """With --base/--head, nothing in the work tree (edits, staged or untracked files,
    another checked-out branch) changes the verdict."""
    repo.replace("compose/postgres.yml", PG_OLD, PG_MINOR)
    packet(repo, "pg-16-6", pg_module(PG_MINOR), "  - compose/postgres.yml\n")
    repo.commit("postgres 16.6")
    clean = _cli_check(repo, "--base", "main", "--head", "pr", "--format", "json")
    assert clean.returncode == 0, clean.stderr
    assert json.loads(clean.stdout)["verdict"] == "ready_for_operator"

    # a floating tag, an undeclared redis bump, a relaxed policy, a leaked secret and an
    # out-of-scope file: each would change the verdict if the work tree were read
    repo.replace("compose/postgres.yml", PG_MINOR, "postgres:17-alpine")
    repo.replace("compose/redis.yml", REDIS_OLD, "redis:7.4-alpine")
    policy = repo.path / "stategate.yaml"
    policy.write_text(policy.read_text() + "\nclasses:\n  public-edge: {always_manual: false}\n")
    repo.git("add", "compose/redis.yml")  # staged, not committed
    repo.write("notes.md", "SMTP_PASSWORD='Zq8#vL2m!Rt5xPw9'\ndocker compose up -d\n")
    dirty = _cli_check(repo, "--base", "main", "--head", "pr", "--format", "json")
    assert dirty.returncode == 0, dirty.stderr
    assert dirty.stdout == clean.stdout

    repo.git("stash", "-u", "-q")
    repo.git("checkout", "-q", "main")  # the work tree now holds the base
    on_main = _cli_check(repo, "--base", "main", "--head", "pr", "--format", "json")
    assert on_main.stdout == clean.stdout


DECISION = "decisions/0040-public-edge-auto-merge.md"


@pytest.mark.parametrize(
    ("cited", "record", "stops"),
    [
        (DECISION, True, False),  # a decision record the PR adds
        ("decisions/0022-module-source-and-release-boundaries.md", False, False),  # on main
        ("decisions/0041-not-written.md", False, True),  # names no file
        ("README.md", False, True),  # a file, but not a decision record
        ("decisions/../README.md", False, True),  # escapes decisions/
    ],
)
def test_policy_relaxation_needs_a_decision_record(
    repo: Repo, cited: str, record: bool, stops: bool
) -> None:
    if record:
        repo.write(
            DECISION,
            "# 0040 Public-edge modules may merge automatically\n\n"
            "Status: accepted. The edge is covered by exposure diffs in CI.\n",
        )
    policy = repo.path / "stategate.yaml"
    policy.write_text(
        policy.read_text()
        + f"\ndecision: {cited}\nclasses:\n  public-edge: {{always_manual: false}}\n"
    )
    repo.commit("relax public-edge")
    v = judge(repo)
    if stops:
        assert v.verdict.value == "stop"
        assert [s.condition.value for s in v.stops] == ["policy-relaxation"]
        assert v.stops[0].file == "stategate.yaml"
        assert "public-edge" in v.stops[0].message
    else:
        assert v.verdict.value == "pass", v.stops
        assert v.stops == [] and v.missing == []


def test_the_text_report_goes_to_the_output_file(tmp_path: Path) -> None:
    from stategate.cli import main

    repo = platform_repo(tmp_path / "p")
    repo.write("docs/notes.md", "# notes\n")
    repo.commit("docs only")
    report = tmp_path / "verdict.txt"
    with pytest.raises(SystemExit) as done:
        main(["check", "--repo", str(repo.path), "--base", "main", "-o", str(report)])
    assert done.value.code == 0
    text = report.read_text()
    assert text.startswith("verdict: pass (merge stage)") and "\x1b[" not in text
