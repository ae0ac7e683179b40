"""The operator's apply plan: metadata-only outside operator-gated blocks."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from stategate.diff.scan import Finding, lint_docs
from stategate.evidence.records.predicates import InPlaceUpgrade, RehearsalPredicate
from stategate.packet import load_packet
from stategate.platform import load_platform
from stategate.policy.apply_gate import EvidenceFact
from stategate.report.plan import render_plan
from tests.gitrepo import platform_repo

PG_OLD = (
    "postgres:16.4-alpine@sha256:963dbe32ce63a7c52ced1eddc8ad975efb564238419e88628e701469a8226a8e"
)


def _plan(
    tmp_path: Path,
    needs_restore: bool,
    rehearsals: dict[str, tuple[str, RehearsalPredicate]] | None = None,
    hazards: dict[str, list[Finding]] | None = None,
) -> str:
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
    return render_plan(
        loaded, platform.inventory, policy, [backup], policy.docs.gate_marker, rehearsals, hazards
    )


def test_plan_is_operator_gated_and_lints_clean(tmp_path: Path) -> None:
    text = _plan(tmp_path, needs_restore=True)
    assert "```sh operator-gated" in text
    assert "docker compose -f compose/postgres.yml pull postgres" in text
    from stategate.policy.default import RUNTIME_PATTERNS

    assert lint_docs("plan.md", text, RUNTIME_PATTERNS, "operator-gated") == []
    assert "rolling back means restoring backup `20261127T100000Z-abcdef`" in text
    assert "what each of the backup's findings calls for: docs/restore.md" in text
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
    assert "docs/restore.md" not in text


def _rehearsal() -> RehearsalPredicate:
    at = datetime(2026, 11, 27, 11, tzinfo=UTC)
    return RehearsalPredicate.model_validate(
        {
            "module": "platform/postgres",
            "provider": "postgres",
            "id": "20261127T110000Z-abcdef",
            "result": "pass",
            "started": at,
            "finished": at,
            "tool": {"version": "0.1.0"},
            "policy_digest": None,
            "source": {"address": "db:5432", "server_version": "16.4"},
            "packet": "pg17",
            "target_image": "postgres:17.2-alpine",
            "target_version": "17.2",
            "backup_id": "20261127T100000Z-abcdef",
            "backup_record": "evidence/platform/postgres/backup-x.json",
            "engine": {"name": "local", "available": True},
            "steps": [
                {"name": "restore-on-target", "result": "pass", "duration_s": 5.25},
                {
                    "name": "upgrade-in-place",
                    "result": "pass",
                    "duration_s": 3.5,
                    "detail": "Upgrade Complete",
                },
            ],
            "rollback": {
                "kind": "restore-backup",
                "detail": "PostgreSQL 17.2 data files cannot be opened by 16.4: rolling back "
                "means restoring backup 20261127T100000Z-abcdef",
                "backup_id": "20261127T100000Z-abcdef",
            },
            "in_place": InPlaceUpgrade(
                source_version="16.4",
                target_version="17.2",
                initdb_flags=[
                    "-U",
                    "app",
                    "-E",
                    "UTF8",
                    "--lc-collate=C",
                    "--lc-ctype=C",
                    "--data-checksums",
                ],
                default_check="old cluster uses data checksums but the new one does not",
            ),
        }
    )


def test_plan_gives_what_the_rehearsal_found(tmp_path: Path) -> None:
    path = "evidence/platform/postgres/rehearsal-x.json"
    text = _plan(
        tmp_path, needs_restore=True, rehearsals={"platform/postgres": (path, _rehearsal())}
    )
    section = text.split("### Rehearsed\n\n")[1]
    assert section.startswith(
        f"Rehearsal `{path}` (pass) of backup `20261127T100000Z-abcdef` on 17.2:\n\n"
        "- restore-on-target: pass (5.2 s)\n- upgrade-in-place: pass (3.5 s) Upgrade Complete\n"
    )
    assert "its check says: old cluster uses data checksums but the new one does not" in section
    assert (
        "initdb -D <new 17 data directory> -U app -E UTF8 --lc-collate=C --lc-ctype=C "
        "--data-checksums\n"
    ) in section
    assert (
        "pg_upgrade -b <16 bin> -B <17 bin> -d <old data> -D <new data> -U app --link\n" in section
    )
    assert "Rollback, as rehearsed: PostgreSQL 17.2 data files cannot be opened by 16.4" in section
    from stategate.policy.default import RUNTIME_PATTERNS

    assert lint_docs("plan.md", text, RUNTIME_PATTERNS, "operator-gated") == []


def test_plan_lists_the_known_hazards_inside_a_gated_block(tmp_path: Path) -> None:
    hazard = Finding(
        "hazard/postgres-18-pgdata",
        "compose/postgres.yml",
        16,
        "postgres 18+ images moved PGDATA: upgrade the cluster with pg_upgrade --link",
    )
    text = _plan(tmp_path, needs_restore=True, hazards={"platform/postgres": [hazard]})
    section = text.split("### Known hazards of this upgrade\n\n")[1]
    assert section.startswith(
        "```text operator-gated\nhazard/postgres-18-pgdata compose/postgres.yml:16: "
        "postgres 18+ images moved PGDATA: upgrade the cluster with pg_upgrade --link\n```\n"
    )
    from stategate.policy.default import RUNTIME_PATTERNS

    assert lint_docs("plan.md", text, RUNTIME_PATTERNS, "operator-gated") == []
    assert "### Known hazards" not in _plan(tmp_path / "none", needs_restore=True)
