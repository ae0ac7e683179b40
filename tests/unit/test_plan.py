"""The operator's apply plan: metadata-only outside operator-gated blocks."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from stategate.diff.scan import lint_docs
from stategate.packet import load_packet
from stategate.platform import load_platform
from stategate.policy.apply_gate import EvidenceFact
from stategate.report.plan import render_plan
from tests.gitrepo import platform_repo

PG_OLD = (
    "postgres:16.4-alpine@sha256:963dbe32ce63a7c52ced1eddc8ad975efb564238419e88628e701469a8226a8e"
)


def _plan(tmp_path: Path, needs_restore: bool) -> str:
    repo = platform_repo(tmp_path / "p")
    to = "postgres:17.2-alpine@sha256:" + "cd" * 32
    repo.write(
        "packets/pg17.yaml",
        f"id: pg17\nmodules:\n  - module: platform/postgres\n    from: {PG_OLD}\n    to: {to}\n"
        f"    rollback: {{to: '{PG_OLD}', needs_restore: {str(needs_restore).lower()}}}\n"
        "    migration_note: dump and restore into 17\n",
    )
    platform = load_platform(repo.path)
    loaded = load_packet(platform.source, "packets/pg17.yaml")
    backup = EvidenceFact(
        "evidence/platform/postgres/backup-x.json",
        "s",
        "backup",
        "platform/postgres",
        "pass",
        datetime(2026, 11, 27, 10, tzinfo=UTC),
        backup_id="20261127T100000Z-abcdef",
    )
    policy = platform.policy
    return render_plan(loaded, platform.inventory, policy, [backup], policy.docs.gate_marker)


def test_plan_is_operator_gated_and_lints_clean(tmp_path: Path) -> None:
    text = _plan(tmp_path, needs_restore=True)
    assert "```sh operator-gated" in text
    assert "docker compose -f compose/postgres.yml pull postgres" in text
    from stategate.policy.default import RUNTIME_PATTERNS

    assert lint_docs("plan.md", text, RUNTIME_PATTERNS, "operator-gated") == []
    assert "rolling back means restoring backup `20261127T100000Z-abcdef`" in text
    assert "Migration note: dump and restore into 17" in text
    # the policy's smoke contract for postgres (the packet declares none), check by check
    smoke = text.split("### Smoke checks after the step\n\n")[1].split("\n\n")[0]
    assert smoke == (
        "- notes schema answers (sql: database=notes, "
        "query=select count(*) >= 0 from notes, expect=True)"
    )


def test_plan_without_restore_says_repin(tmp_path: Path) -> None:
    text = _plan(tmp_path, needs_restore=False)
    assert "no restore is needed" in text
    assert "rolling back means restoring" not in text
