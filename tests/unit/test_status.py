"""The status model and its renderers, on real signed evidence of known ages."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console

from stategate.evidence.records.predicates import (
    BackupPredicate,
    PrunedBackup,
    PrunePredicate,
    RetentionRule,
    SourceInfo,
    Subject,
    Tool,
    statement,
)
from stategate.evidence.records.typed import Rejected, scan_records, write_record
from stategate.platform import load_platform
from stategate.policy.schema import Freshness
from stategate.report.status import (
    STATUS_SCHEMA,
    Cell,
    ModuleStatus,
    State,
    StatusModel,
    build_status,
)
from stategate.report.status_html import status_html
from stategate.report.status_json import status_json
from stategate.report.status_table import status_lines, status_table
from tests.status_evidence import EvidenceRepo, backup, dr_drill, evidence_repo, smoke


@pytest.fixture(scope="module")
def ev(tmp_path_factory: pytest.TempPathFactory) -> EvidenceRepo:
    return evidence_repo(tmp_path_factory.mktemp("status") / "p")


def _model(ev: EvidenceRepo, freshness: Freshness | None = None, now: datetime | None = None):
    platform = load_platform(ev.repo.path)
    scan = scan_records(ev.store)
    return build_status(
        platform.modules, scan.records, scan.rejected, freshness or Freshness(), now or ev.now
    )


def _cells(model: StatusModel, module: str) -> dict[str, Cell]:
    found = next(m for m in model.modules if m.id == module)
    return {c.kind: c for c in found.cells}


def test_fresh_stale_failed_missing_untrusted(ev: EvidenceRepo) -> None:
    model = _model(ev)
    pg = _cells(model, "platform/postgres")
    assert {k: c.state for k, c in pg.items()} == dict.fromkeys(pg, State.FRESH)
    assert pg["backup"].age_hours == pytest.approx(2.0)
    assert pg["restore-drill"].age_hours == pytest.approx(1.5)
    assert pg["backup"].engine == "postgres 16.4"
    assert pg["rehearsal"].engine == "postgres 16.6 (local)"
    assert pg["dr-drill"].age_hours == pytest.approx(240.0)
    redis = _cells(model, "platform/redis")
    assert redis["backup"].state is State.STALE and redis["backup"].age_hours == pytest.approx(30)
    assert redis["restore-drill"].state is State.FAILED
    assert redis["restore-drill"].reason == "row counts differ in table orders"
    assert redis["smoke"].state is State.FRESH
    assert redis["rehearsal"].state is State.NONE  # only an upgrade needs one
    minio = _cells(model, "platform/minio")
    assert minio["backup"].state is State.FRESH
    assert minio["restore-drill"].state is State.MISSING
    # signed by a key no trust root names: never shown as evidence
    assert minio["smoke"].state is State.UNTRUSTED and minio["smoke"].result is None
    assert "unknown-key" in (minio["smoke"].reason or "")
    assert minio["dr-drill"].state is State.FAILED
    assert minio["dr-drill"].reason == "not in the drill: no evidence entry in the policy"
    assert [r.rel for r in model.untrusted] == [minio["smoke"].record]
    # a stateless module needs nothing: nothing flagged
    app = _cells(model, "platform/app")
    assert {c.state for c in app.values()} == {State.NONE}


def test_sidecar_shows_its_parent_and_needs_its_own_smoke(ev: EvidenceRepo) -> None:
    model = _model(ev)
    init = next(m for m in model.modules if m.id == "platform/minio-init")
    assert init.parent == "platform/minio"
    assert [c.kind for c in init.attention] == ["smoke"]
    assert "sidecar of platform/minio" in status_html(model)


def test_each_kind_has_its_own_limit(ev: EvidenceRepo) -> None:
    tight = Freshness(backup_max_age_hours=1.2, dr_drill_max_age_days=5)
    model = _model(ev, tight)
    pg = _cells(model, "platform/postgres")
    assert pg["backup"].state is State.STALE  # 2 h > 1.2 h
    assert pg["restore-drill"].state is State.STALE  # 1.5 h
    assert pg["smoke"].state is State.FRESH  # 1 h
    assert pg["dr-drill"].state is State.STALE  # 10 days > 5 days
    assert pg["dr-drill"].limit_hours == 120
    # and time passing makes evidence stale: the same records judged two days later
    later = _model(ev, now=ev.now + timedelta(days=2))
    assert _cells(later, "platform/postgres")["backup"].state is State.STALE


def test_the_newest_record_decides(ev: EvidenceRepo, tmp_path: Path) -> None:
    other = evidence_repo(tmp_path / "p")
    h = timedelta(hours=1)
    # a newer backup of redis: fresh again, the stale one stays on the timeline
    write_record(
        other.store, backup("platform/redis", "redis", "7.2.6", other.now - h, 20), other.key
    )
    # a newer, trusted smoke of minio replaces the untrusted one in the cell
    write_record(
        other.store, smoke("platform/minio", "s3", "RELEASE.2024", other.now - h / 2, 21), other.key
    )
    # a newer DR drill in which postgres restored but the drill as a whole failed: as the
    # apply gate reads it, postgres is not drilled by it
    write_record(
        other.store,
        dr_drill(other.now - h, 22, {"platform/postgres": True, "platform/redis": False}),
        other.key,
    )
    model = _model(other)
    pg_dr = _cells(model, "platform/postgres")["dr-drill"]
    assert pg_dr.state is State.FAILED and pg_dr.result == "fail"
    assert pg_dr.reason == "the drill as a whole did not pass: a module's restore failed"
    redis_dr = _cells(model, "platform/redis")["dr-drill"]
    assert redis_dr.state is State.FAILED and redis_dr.reason == "object manifest differs"
    redis = next(m for m in model.modules if m.id == "platform/redis")
    assert _cells(model, "platform/redis")["backup"].state is State.FRESH
    assert _cells(model, "platform/redis")["backup"].engine == "redis 7.2.6"
    assert [m.kind for m in redis.marks].count("backup") == 2
    assert _cells(model, "platform/minio")["smoke"].state is State.FRESH
    assert len(model.untrusted) == 1  # still listed, still counting for nothing


def test_json_document(ev: EvidenceRepo) -> None:
    doc = status_json(_model(ev))
    assert doc["schema"] == STATUS_SCHEMA == "stategate.status/v1"
    json.dumps(doc)  # plain JSON data
    mods = {m["id"]: m for m in doc["modules"]}
    assert mods["platform/redis"]["evidence"]["backup"]["state"] == "stale"
    assert mods["platform/redis"]["evidence"]["backup"]["age_hours"] == 30.0
    assert mods["platform/minio-init"]["parent"] == "platform/minio"
    assert doc["limits_hours"]["dr-drill"] == 720.0
    assert doc["attention"] == 6
    timeline = mods["platform/postgres"]["timeline"]
    assert [t["kind"] for t in timeline] == [
        "dr-drill",
        "backup",
        "restore-drill",
        "rehearsal",
        "smoke",
    ]


def test_plain_and_rich_table(ev: EvidenceRepo) -> None:
    model = _model(ev)
    text = "\n".join(status_lines(model))
    assert " ! backup         stale, 30.0 h (limit 24.0 h)  redis 7.2.5" in text
    assert " ! restore drill  missing" in text
    assert "1 record file(s) do not verify" in text
    console = Console(width=250, record=True, color_system=None)
    console.print(status_table(model))
    rendered = console.export_text()
    assert "stale, 30.0 h" in rendered and "untrusted" in rendered
    # a narrow terminal: the table shrinks to fit, it is not cut off at the right
    narrow = Console(width=100, record=True, color_system=None)
    narrow.print(status_table(model))
    rows = [line for line in narrow.export_text().splitlines() if line.startswith("│")]
    assert rows and all(len(line) <= 100 and line.endswith("│") for line in rows)


def _hostile_model() -> StatusModel:
    name = "<script>alert(1)</script>"
    cell = Cell(
        "backup",
        State.FAILED,
        24,
        1.0,
        datetime(2026, 1, 1, tzinfo=UTC),
        "fail",
        "postgres <b>16</b>",
        "evidence/x",
        'reason "<img src=x onerror=alert(2)>"',
    )
    module = ModuleStatus(name, ("stateful",), "leaf", "<i>parent</i>", False, (cell,), ())
    return StatusModel(
        datetime(2026, 1, 1, 1, tzinfo=UTC),
        {
            "backup": 24.0,
            "restore-drill": 24.0,
            "rehearsal": 24.0,
            "smoke": 24.0,
            "dr-drill": 720.0,
        },
        (module,),
        (),
        "<t>",
    )


def test_html_escapes_every_string() -> None:
    page = status_html(_hostile_model())
    assert "<script" not in page and "<img" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(2)&gt;" in page
    assert "&lt;i&gt;parent&lt;/i&gt;" in page


def test_rich_table_does_not_read_markup_in_names() -> None:
    model = _hostile_model()
    model = StatusModel(
        model.now,
        model.limits,
        (
            ModuleStatus(
                "[red]x[/red]", ("stateful",), "leaf", None, False, model.modules[0].cells, ()
            ),
        ),
        (),
        "",
    )
    console = Console(width=250, record=True, color_system=None)
    console.print(status_table(model))
    assert "[red]x[/red]" in console.export_text()


def test_html_needs_no_network(ev: EvidenceRepo) -> None:
    page = status_html(_model(ev))
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page and "<link" not in page and "@import" not in page
    assert "url(" not in page
    assert '<html lang="en">' in page and "<title>stategate status</title>" in page


def test_a_record_from_the_future_is_not_fresh(ev: EvidenceRepo) -> None:
    # the same records judged a day earlier: postgres's records all finished "later"
    model = _model(ev, now=ev.now - timedelta(days=1))
    pg = _cells(model, "platform/postgres")
    assert pg["backup"].state is State.UNTRUSTED
    assert "in the future" in (pg["backup"].reason or "")
    lines = [line for line in status_lines(model) if "untrusted: in the future" in line]
    assert any(" backup " in line for line in lines)
    # within the signing clock skew (5 minutes) a record is simply fresh
    near = _model(ev, now=ev.now - timedelta(hours=2, minutes=4))
    assert _cells(near, "platform/postgres")["backup"].state is State.FRESH


def test_a_pruned_backup_backs_nothing(tmp_path: Path) -> None:
    other = evidence_repo(tmp_path / "p")
    model = _model(other)
    backup_rel = _cells(model, "platform/minio")["backup"].record
    assert backup_rel is not None
    at = other.now - timedelta(minutes=30)
    prune = PrunePredicate(
        id=f"{at:%Y%m%dT%H%M%SZ}-0000ff",
        result="pass",
        started=at,
        finished=at,
        tool=Tool(version="0.1.0"),
        policy_digest=None,
        rule=RetentionRule(keep_last=1),
        pruned=[
            PrunedBackup(
                module="platform/minio",
                backup_id=backup_rel.rsplit("backup-", 1)[1].removesuffix(".json"),
                backup_record=backup_rel,
                backup_record_sha256="0" * 64,
                location="platform/minio/x",
                repositories=["here"],
            )
        ],
    )
    write_record(
        other.store,
        statement([Subject(name="prune", digest={"sha256": "2" * 64})], prune),
        other.key,
    )
    after = _model(other)
    assert _cells(after, "platform/minio")["backup"].state is State.MISSING


def test_a_replica_s_backup_fills_no_cell(tmp_path: Path) -> None:
    other = evidence_repo(tmp_path / "p")
    stmt = backup("platform/redis", "redis", "7.2.5", other.now - timedelta(minutes=10), 30)
    pred = stmt.predicate
    assert isinstance(pred, BackupPredicate)
    replica = statement(
        stmt.subject, pred.model_copy(update={"source": SourceInfo(address="r:1", role="replica")})
    )
    write_record(other.store, replica, other.key)
    model = _model(other)
    assert _cells(model, "platform/redis")["backup"].state is State.STALE  # the primary's
    redis = next(m for m in model.modules if m.id == "platform/redis")
    assert [m.counts for m in redis.marks if m.kind == "backup"] == [True, False]


def test_untrusted_files_are_placed_by_name_or_not_at_all(ev: EvidenceRepo) -> None:
    platform = load_platform(ev.repo.path)
    scan = scan_records(ev.store)
    newer = (ev.now - timedelta(hours=1)).strftime("%Y%m%dT%H%M%SZ")
    rejected = [
        *scan.rejected,
        # a newer DR drill that does not verify: every stateful module's DR cell says so
        Rejected(f"evidence/_platform/dr-drill-{newer}-abcdef.json", "bad-signature: x"),
        # digits that are no date: listed, placed nowhere, no crash
        Rejected("evidence/platform/redis/backup-20261399T990000Z-abcdef.json", "unknown-key"),
    ]
    model = build_status(platform.modules, scan.records, rejected, Freshness(), ev.now)
    for mid in ("platform/postgres", "platform/redis", "platform/minio"):
        assert _cells(model, mid)["dr-drill"].state is State.UNTRUSTED
    assert _cells(model, "platform/app")["dr-drill"].state is State.NONE
    assert _cells(model, "platform/redis")["backup"].state is State.STALE
    assert len(model.untrusted) == 3
